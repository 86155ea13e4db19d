"""Learning-curve tables: the curve axis of a table spec, its aggregation, rendering and figures, and a
smoke version of the `finetune_digits` benchmark (the full curves are `tltax bench finetune_*`)."""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest
import yaml

from tltaxonomy._errors import ConfigError
from tltaxonomy.harness import render, run_table
from tltaxonomy.harness import tables as tables_mod
from tltaxonomy.harness.tables import Cell, TableResult, load_table


def _curve_table(bench_dir, name="tinycurve", **extra):
    spec = {
        "title": "tiny curve",
        "paper": None,
        "dataset": "digits",
        "metric": "target/acc",
        "seeds": [0, 1],
        "selection": "none",
        "protocol": "a tiny learning curve for the tests",
        "overrides": ["pretrain=none"],
        "curve": {"key": "protocol.labels_per_class", "values": [1, 3], "label": "labels per class"},
        "columns": {"M→U": "MNIST_to_USPS"},
        "rows": [
            {"name": "probe", "overrides": ["strategy=linear_probe"]},
            {"name": "scratch", "overrides": ["strategy=scratch", "strategy.max_epochs=1"]},
        ],
        **extra,
    }
    (bench_dir / f"{name}.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True))


def test_curve_spec_expands_the_columns_and_sets_the_value_per_cell(tmp_path, monkeypatch):
    monkeypatch.setattr(tables_mod, "BENCH_DIR", tmp_path)
    _curve_table(tmp_path, curve={"key": "protocol.labels_per_class", "values": [1, 3], "label": "labels per class",
                                  "rows": {"scratch": [3]}})
    spec = load_table("tinycurve")
    assert list(spec.columns) == ["M→U/1", "M→U/3"]
    assert spec.column_overrides["M→U/3"] == ("protocol.labels_per_class", 3)
    assert spec.curve.base_columns == {"M→U": "MNIST_to_USPS"}
    _, _, _, jobs, _ = tables_mod._plan("tinycurve", None, None, None, ())
    cells = [(row, col, seed, cfg["protocol"]["labels_per_class"]) for row, col, seed, cfg in jobs]
    # the probe runs at both values, scratch (restricted by curve.rows) only at 3
    assert cells == [
        ("probe", "M→U/1", 0, 1), ("probe", "M→U/1", 1, 1), ("probe", "M→U/3", 0, 3), ("probe", "M→U/3", 1, 3),
        ("scratch", "M→U/3", 0, 3), ("scratch", "M→U/3", 1, 3),
    ]


@pytest.mark.parametrize(
    "curve, message",
    [
        ({"values": [1]}, "curve` must be a mapping with key"),
        ({"key": "protocol.labels_per_class", "values": []}, "non-empty list of distinct values"),
        ({"key": "protocol.labels_per_class", "values": [1, 1]}, "non-empty list of distinct values"),
        ({"key": "protocol.labels_per_class", "values": [1], "rows": {"scratch": [5]}}, "has values not in curve.values"),
    ],
)
def test_malformed_curves_are_named(tmp_path, monkeypatch, curve, message):
    monkeypatch.setattr(tables_mod, "BENCH_DIR", tmp_path)
    _curve_table(tmp_path, curve=curve)
    with pytest.raises(ConfigError, match=message):
        load_table("tinycurve")


def test_a_curve_key_that_is_not_in_the_config_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(tables_mod, "BENCH_DIR", tmp_path)
    _curve_table(tmp_path, curve={"key": "protocol.label_per_class", "values": [1]})
    with pytest.raises(ConfigError, match="curve.key 'protocol.label_per_class' is not a key of row 'probe'"):
        tables_mod._plan("tinycurve", None, None, None, ())


def test_unknown_row_in_curve_rows_suggests_names(tmp_path, monkeypatch):
    monkeypatch.setattr(tables_mod, "BENCH_DIR", tmp_path)
    _curve_table(tmp_path, curve={"key": "protocol.labels_per_class", "values": [1], "rows": {"scrach": [1]}})
    with pytest.raises(KeyError, match="scratch"):
        load_table("tinycurve")


def _result(tmp_path, monkeypatch):
    """A curve result with hand-made cells: two tasks, two values, seeds 0-2, one row missing a value."""
    monkeypatch.setattr(tables_mod, "BENCH_DIR", tmp_path)
    _curve_table(tmp_path, columns={"M→U": "MNIST_to_USPS", "U→M": "USPS_to_MNIST"},
                 curve={"key": "protocol.labels_per_class", "values": [1, 3], "label": "labels per class",
                        "rows": {"scratch": [3]}})
    spec = load_table("tinycurve")
    per_seed = {
        ("probe", "M→U/1"): (60.0, 62.0, 64.0), ("probe", "U→M/1"): (40.0, 44.0, 42.0),
        ("probe", "M→U/3"): (80.0, 81.0, 82.0), ("probe", "U→M/3"): (70.0, 70.0, 73.0),
        ("scratch", "M→U/3"): (50.0, 55.0, 60.0), ("scratch", "U→M/3"): (30.0, 30.0, 30.0),
    }
    cells = []
    for row in ("probe", "scratch"):
        for column in spec.columns:
            vals = per_seed.get((row, column))
            if vals is None:
                cells.append(Cell(row, column, None, None, 0, None))
            else:
                cells.append(Cell(row, column, float(np.mean(vals)), tables_mod._se(list(vals)), 3, None, vals,
                                  2.0 if row == "probe" else 10.0))
    return TableResult(spec, tuple(cells), 0, 0, seeds=(0, 1, 2))


def test_curve_points_average_tasks_and_pair_seeds(tmp_path, monkeypatch):
    result = _result(tmp_path, monkeypatch)
    (v1, m1, se1, t1), (v3, m3, se3, t3) = result.curve("probe")
    assert (v1, v3) == (1, 3)
    assert m1 == pytest.approx(52.0) and m3 == pytest.approx(76.0)
    # s.e. over seeds of the task average: seed means 50, 53, 53 -> sd sqrt(3), se 1
    assert se1 == pytest.approx(np.std([50, 53, 53], ddof=1) / np.sqrt(3))
    assert t1 == t3 == 2.0
    assert [p[0] for p in result.curve("scratch")] == [3]  # the value it did not run at is left out
    with pytest.raises(ValueError, match="no learning-curve axis"):
        TableResult(dataclasses.replace(result.spec, curve=None), (), 0, 0).curve("probe")


def test_curve_markdown_and_json(tmp_path, monkeypatch):
    result = _result(tmp_path, monkeypatch)
    md = render(result, "md")
    assert "| strategy | 1 | 3 |" in md
    assert "| probe | 52.0 ± 1.0 | 76.0 ± " in md
    assert "| scratch | — | 42.5 ± " in md
    assert "Training time per run" in md and "| probe | 2.0 | 2.0 |" in md
    assert "| M→U/1 |" in md  # the per-task detail follows
    payload = json.loads(render(result, "json"))
    assert payload["curve"]["values"] == [1, 3]
    assert [p["value"] for p in payload["curve"]["rows"]["scratch"]] == [3]
    assert "fit_s" in render(result, "csv").splitlines()[0]


def test_learning_curve_figures_are_written(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from tltaxonomy.harness.figures import learning_curve_figures

    result = _result(tmp_path, monkeypatch)
    labels, time = learning_curve_figures(result, tmp_path / "figs" / "curve.png")
    assert labels.name == "curve.png" and time.name == "curve_time.png"
    for path in (labels, time):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    with pytest.raises(ConfigError, match="no learning-curve axis"):
        learning_curve_figures(TableResult(dataclasses.replace(result.spec, curve=None), (), 0, 0), tmp_path / "x.png")


@pytest.mark.skipif(not os.path.isdir(os.environ.get("TLTAX_DATA_DIR", "")), reason="real data directory not found")
def test_finetune_digits_smoke(tmp_store):
    """Two cells per row of the real curve table (1 and 10 labels per class, seed 0; the table has 3
    seeds and 5 budgets): the pretrained LeNet's probe beats scratch with one label per class."""
    result = run_table("finetune_digits", seeds=(0,), rows=("linear_probe", "scratch"),
                       columns=("MNIST→USPS/1", "MNIST→USPS/10"), store=tmp_store, progress=False,
                       extra_overrides=("pretrain.trainer.max_epochs=1",))  # the table pretrains 5 epochs
    cells = {(c.row, c.column): c for c in result.cells}
    probe1, scratch1 = cells["linear_probe", "MNIST→USPS/1"], cells["scratch", "MNIST→USPS/1"]
    assert probe1.ours_mean > scratch1.ours_mean + 5
    assert probe1.fit_s is not None and probe1.fit_s > 0
    points = result.curve("linear_probe")
    assert [p[0] for p in points] == [1, 10]
    assert points[1][1] > points[0][1]  # more labels, better probe
