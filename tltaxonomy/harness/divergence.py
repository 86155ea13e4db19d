"""A divergence column for benchmark tables: how far apart each task's domains are.

``tltax bench TABLE --divergence`` adds, per task column, the proxy A-distance (Ben-David et al. 2007)
and the Gaussian MMD² between the task's source and target rows, measured exactly as ``tltax advise``
measures them (:func:`tltaxonomy.advise.domain_divergence`: at most 2000 rows per domain, a truncated
SVD to 256 components above that many features). No label is used. A reader then sees where
adaptation has room to help (a large distance) and where a source-only model is already close.

The values are cached in the store (``<store>/cache/divergence/<hash>.json``, keyed by the dataset
config and the task), so a table computes them once. A task without two domains (a single-domain or
multi-task dataset) or with raw text gets no value; the reason is kept and printed under the table.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..store import ResultStore, atomic_write_text, config_hash

__all__ = ["task_divergence", "column_divergences"]


def task_divergence(dataset_cfg: dict, task: str, data_dir: str | None, *, store: ResultStore | None = None) -> dict:
    """``{"proxy_a_distance", "mmd2"}`` of one task, or ``{"reason": ...}`` where none applies.

    ``dataset_cfg`` is the ``dataset`` section of a run config (name, preprocess, parameters)."""
    key = config_hash({"dataset": dataset_cfg, "task": task, "what": "divergence-v1"})
    path = None if store is None else Path(store.cache_dir) / "divergence" / f"{key}.json"
    if path is not None and path.exists():
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            pass  # a damaged cache entry is recomputed
    from ..advise import _is_text, domain_divergence
    from ..runner import _load_task

    options = tuple(sorted((k, v) for k, v in dataset_cfg.items() if k not in ("name", "preprocess")))
    data = _load_task(dataset_cfg["name"], task, dataset_cfg.get("preprocess"), data_dir, options)
    if data.X_source is None or data.X_target is None or data.X_target.shape[0] == 0:
        value = {"reason": "one domain (no source rows)"}
    elif _is_text(data.X_source) or _is_text(data.X_target):
        value = {"reason": "raw text (embed it first)"}
    else:
        value = domain_divergence(data.X_source, data.X_target)
    if path is not None:
        atomic_write_text(path, json.dumps(value, sort_keys=True) + "\n")
    return value


def column_divergences(jobs, *, store: ResultStore | None = None) -> dict[str, dict]:
    """The divergence of each column of a planned table (``jobs``: ``(row, column, seed, config)``),
    from the first cell of each column (every row of a column runs on the same task)."""
    out: dict[str, dict] = {}
    for _, column, _, cfg in jobs:
        if column in out:
            continue
        data_dir = (cfg.get("runtime") or {}).get("data_dir")
        out[column] = task_divergence(dict(cfg["dataset"]), str(cfg["task"]), data_dir, store=store)
    return out
