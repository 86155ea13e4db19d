"""The result store: one JSON record per run, content-addressed by the hash of its resolved config.

A record is written atomically (temporary file in the same directory, then :func:`os.replace`), so a
reader never sees half a record and a sweep that is killed and rerun skips exactly the runs whose
record exists. Concurrent workers computing the same config write the same path; the last
``os.replace`` wins and both contents are complete.

Layout: ``<root>/records/<hash[:2]>/<hash>.json`` (records) and ``<root>/cache/`` (pretrained
checkpoints and other content-addressed artefacts).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ._io import atomic_open

__all__ = ["ResultStore", "config_hash", "atomic_write_text", "default_store_dir"]

RECORD_VERSION = 1


def default_store_dir() -> Path:
    """``$TLTAX_STORE`` or ``./outputs/store``."""
    return Path(os.environ.get("TLTAX_STORE", "outputs/store"))


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def config_hash(config: Mapping[str, Any]) -> str:
    """sha256 (hex) of the canonical JSON of ``config`` (key order does not matter)."""
    return hashlib.sha256(_canonical(config).encode()).hexdigest()


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that ``path`` is either absent/old or complete, never partial."""
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


class ResultStore:
    """A directory of run records keyed by config hash.

    Examples
    --------
    >>> import tempfile
    >>> store = ResultStore(tempfile.mkdtemp())
    >>> h = config_hash({"strategy": "coral", "seed": 0})
    >>> store.get(h) is None
    True
    >>> _ = store.put(h, {"metrics": {"target/acc": 0.5}})
    >>> store.get(h)["metrics"]
    {'target/acc': 0.5}
    """

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_store_dir()

    def path(self, key: str) -> Path:
        return self.root / "records" / key[:2] / f"{key}.json"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    def get(self, key: str) -> dict | None:
        """The record stored under ``key``, or ``None``. A corrupt record is treated as absent."""
        path = self.path(key)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None  # cannot happen with atomic writes, but a hand-edited file must not crash a sweep
        if record.get("config_hash") != key or "metrics" not in record:
            return None
        return record

    def put(self, key: str, record: Mapping[str, Any]) -> Path:
        """Store ``record`` under ``key`` atomically and return its path."""
        record = {**record, "config_hash": key, "record_version": RECORD_VERSION}
        path = self.path(key)
        atomic_write_text(path, json.dumps(record, indent=2, sort_keys=True, default=str) + "\n")
        return path

    def __iter__(self) -> Iterator[dict]:
        for path in sorted((self.root / "records").glob("*/*.json")):
            record = self.get(path.stem)
            if record is not None:
                yield record

    def __len__(self) -> int:
        return sum(1 for _ in self)
