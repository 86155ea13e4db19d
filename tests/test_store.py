"""The result store: content addressing and atomic writes."""

from __future__ import annotations

import json
import os

import pytest

from tltaxonomy.store import ResultStore, atomic_write_text, config_hash


def test_config_hash_ignores_key_order_and_sees_values():
    a = {"strategy": {"_target_": "x", "reg": 1.0}, "seed": 0}
    b = {"seed": 0, "strategy": {"reg": 1.0, "_target_": "x"}}
    assert config_hash(a) == config_hash(b)
    assert config_hash(a) != config_hash({**a, "seed": 1})
    assert len(config_hash(a)) == 64


def test_put_get_round_trip_and_iteration(tmp_path):
    store = ResultStore(tmp_path)
    key = config_hash({"k": 1})
    assert store.get(key) is None
    path = store.put(key, {"metrics": {"target/acc": 0.25}})
    assert path == tmp_path / "records" / key[:2] / f"{key}.json"
    record = store.get(key)
    assert record["metrics"] == {"target/acc": 0.25}
    assert record["config_hash"] == key
    assert [r["config_hash"] for r in store] == [key]
    assert len(store) == 1


def test_corrupt_or_foreign_record_is_treated_as_absent(tmp_path):
    store = ResultStore(tmp_path)
    key = config_hash({"k": 2})
    store.path(key).parent.mkdir(parents=True)
    store.path(key).write_text('{"metrics": {"target/acc": 0.')  # a truncated file
    assert store.get(key) is None
    store.path(key).write_text(json.dumps({"config_hash": "other", "metrics": {}}))
    assert store.get(key) is None


def test_atomic_write_leaves_nothing_half_written(tmp_path, monkeypatch):
    target = tmp_path / "sub" / "record.json"
    atomic_write_text(target, "old")

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(target, "new content")
    monkeypatch.undo()
    assert target.read_text() == "old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["record.json"]  # no temp file left


def test_atomic_write_gives_the_usual_permissions(tmp_path):
    # mkstemp creates 0600 files; a written table or record must be readable like any other file
    mask = os.umask(0o022)
    try:
        target = tmp_path / "table.md"
        atomic_write_text(target, "| a |")
        assert (target.stat().st_mode & 0o777) == 0o644
    finally:
        os.umask(mask)
