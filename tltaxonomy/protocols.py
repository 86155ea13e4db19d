"""Evaluation protocols, one per setting of the taxonomy.

- **transductive**: fit on source rows (labelled) + target rows (labels masked), score the target
  test split. Target labels reach only the scorer, after ``predict``. For a strategy that keeps
  every epoch's weights (deep strategies with ``keep_epoch_weights=True``), the protocol also scores
  each epoch and records the target-label *oracle* (``target/acc_oracle``, the best epoch) and the
  last epoch (``target/acc_last``) beside the strategy's own, honest choice (``target/acc``). With
  ``protocol.source_per_class=k``, each seed draws k labelled source rows per class (the "standard
  protocol" of the Office-Caltech papers).
- **inductive**: draw ``protocol.labels_per_class`` labelled rows per class from the target train
  split (seeded), fit on those only, score the target test split (where the task's test split is its
  target pool itself, e.g. a single domain, the rows not drawn).
- **unsupervised**: cluster the target rows (no label is given to the strategy), score the
  clustering against the held-back labels (accuracy under the optimal matching, NMI, ARI).
"""

from __future__ import annotations

import time

import numpy as np

from ._errors import ConfigError
from .metrics import accuracy, ari, clustering_accuracy, nmi

__all__ = ["run_protocol", "draw_labelled_subset"]


def draw_labelled_subset(y: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Indices of ``per_class`` rows of each class of ``y`` drawn without replacement (all rows of a
    class that has fewer), sorted. Deterministic given ``seed``."""
    if per_class < 1:
        raise ConfigError(f"protocol.labels_per_class must be >= 1, got {per_class}.")
    rng = np.random.default_rng(seed)
    picked = []
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        picked.append(rng.choice(rows, size=min(per_class, rows.size), replace=False))
    return np.sort(np.concatenate(picked))


def _transductive(strategy, task, config, timings):
    X, y, sd = task.domain_adaptation_view()
    per_class = (config.get("protocol") or {}).get("source_per_class")
    n_source = task.X_source.shape[0]
    if per_class is not None:  # the "standard protocol": a seeded draw of k labelled source rows per class
        keep = np.r_[draw_labelled_subset(np.asarray(task.y_source), int(per_class), int(config["seed"])),
                     np.arange(n_source, X.shape[0])]
        X, y, sd = X[keep], y[keep], sd[keep]
        n_source = int((sd > 0).sum())
    t = time.perf_counter()
    strategy.fit(X, y, sample_domain=sd)
    timings["fit_s"] = time.perf_counter() - t
    t = time.perf_counter()
    y_pred = strategy.predict(task.X_test, sample_domain=-np.ones(task.X_test.shape[0], dtype=int))
    timings["predict_s"] = time.perf_counter() - t
    metrics = {"target/acc": accuracy(task.y_test, y_pred)}
    info = {"n_source": int(n_source), "n_target": int(task.X_target.shape[0]), "n_test": int(task.X_test.shape[0])}
    if getattr(strategy, "epoch_weights_", None):
        # The target-label oracle, computed here by the protocol (the strategy never sees the labels):
        # the best test accuracy over the epochs' weights, beside the strategy's honest choice above.
        t = time.perf_counter()
        sd_test = -np.ones(task.X_test.shape[0], dtype=int)
        accs = [accuracy(task.y_test, p) for p in strategy.staged_predict(task.X_test, sample_domain=sd_test)]
        timings["oracle_s"] = time.perf_counter() - t
        metrics["target/acc_oracle"] = max(accs)
        metrics["target/acc_last"] = accs[-1]
        info["oracle_epoch"] = int(np.argmax(accs)) + 1
        info["selected_epoch"] = int(getattr(strategy, "best_epoch_", len(accs)))
    return metrics, info


def _inductive(strategy, task, config, timings):
    per_class = int(config.get("protocol", {}).get("labels_per_class", 10))
    rows = draw_labelled_subset(np.asarray(task.y_target), per_class, int(config["seed"]))
    t = time.perf_counter()
    strategy.fit(task.X_target[rows], task.y_target[rows])
    timings["fit_s"] = time.perf_counter() - t
    X_test, y_test = task.X_test, task.y_test
    if task.X_test is task.X_target:  # one pool (e.g. a single domain): the rows not drawn are the test set
        rest = np.setdiff1d(np.arange(task.X_target.shape[0]), rows)
        X_test, y_test = task.X_target[rest], np.asarray(task.y_target)[rest]
    t = time.perf_counter()
    y_pred = strategy.predict(X_test)
    timings["predict_s"] = time.perf_counter() - t
    metrics = {"target/acc": accuracy(y_test, y_pred)}
    info = {"labels_per_class": per_class, "n_labelled": int(rows.size), "n_test": int(X_test.shape[0])}
    return metrics, info


def _unsupervised(strategy, task, config, timings):
    t = time.perf_counter()
    labels = strategy.fit_predict(task.X_target)
    timings["fit_s"] = time.perf_counter() - t
    y = task.y_target
    metrics = {"target/acc": clustering_accuracy(y, labels), "target/nmi": nmi(y, labels), "target/ari": ari(y, labels)}
    info = {"n_target": int(task.X_target.shape[0]), "n_clusters": int(len(np.unique(labels)))}
    return metrics, info


_PROTOCOLS = {"transductive": _transductive, "inductive": _inductive, "unsupervised": _unsupervised}


def run_protocol(strategy, task, config: dict, timings: dict) -> tuple[dict, dict]:
    """Run the protocol of ``strategy``'s setting on ``task``; return ``(metrics, info)``."""
    setting = getattr(type(strategy), "_setting", "")
    if setting not in _PROTOCOLS:
        raise ConfigError(
            f"{type(strategy).__name__} is not a registered strategy (setting {setting!r}); "
            "register it with @tltaxonomy.register(name, setting=..., family=...)."
        )
    if setting == "transductive" and task.X_source is None:
        raise ConfigError(
            f"{type(strategy).__name__} is transductive but {task.dataset}/{task.task} has no source split; "
            "pick a transfer task (see `tltax list tasks`)."
        )
    return _PROTOCOLS[setting](strategy, task, config, timings)
