"""Evaluation protocols, one per setting of the taxonomy.

- **transductive**: fit on source rows (labelled) + target rows (labels masked), score the target
  test split. Target labels reach only the scorer, after ``predict``. For a strategy that keeps
  every epoch's weights (deep strategies with ``keep_epoch_weights=True``), the protocol also scores
  each epoch and records the target-label *oracle* (``target/acc_oracle``, the best epoch) and the
  last epoch (``target/acc_last``) beside the strategy's own, honest choice (``target/acc``). With
  ``protocol.source_per_class=k``, each seed draws k labelled source rows per class (the "standard
  protocol" of the Office-Caltech papers). With ``selection=scores``, a seeded, stratified
  ``protocol.source_val_fraction`` of the labelled source rows is held out of the fit and the label-free
  selection scores of :mod:`tltaxonomy.selection` are recorded (``select/*``) beside ``target/acc``.
- **inductive**: draw ``protocol.labels_per_class`` labelled rows per class from the target train
  split (seeded), fit on those only, score the target test split (where the task's test split is its
  target pool itself, e.g. a single domain, the rows not drawn). ``labels_per_class=null`` = every
  labelled row of the target train split. A self-taught strategy (``_uses_unlabelled``) also receives
  the task's source rows as ``X_unlabelled`` — rows only, never their labels.
- **multi-task** (a task whose ``meta["multitask"]`` is set; multi-task strategies only): fit on
  ``Y`` of shape ``(n_rows, n_tasks)`` (NaN = unobserved), predict every task; where the test split is
  the pool itself (School), a seeded ``protocol.train_fraction`` of each task's rows trains and the
  rest tests. Metrics: mean accuracy over the classification tasks, pooled explained variance over
  the regression tasks, and each task's score when there are at most 10.
- **unsupervised**: cluster the target rows (no label is given to the strategy), score the
  clustering against the held-back labels (accuracy under the optimal matching, NMI, ARI). A
  self-taught clusterer (``_uses_unlabelled``) also receives the task's source rows as
  ``X_auxiliary`` (rows only). A refining clusterer with ``init_labels_`` (DEC) also gets its
  starting clusters scored, as ``target/init_acc``, ``target/init_nmi``, ``target/init_ari``.
"""

from __future__ import annotations

import time

import numpy as np

from ._errors import ConfigError
from .metrics import accuracy, ari, clustering_accuracy, nmi

__all__ = ["run_protocol", "draw_labelled_subset", "multitask_split", "multitask_metrics"]


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
    held_out = None
    if config.get("selection") == "scores":
        # Selection scores: a seeded, stratified share of the labelled source rows is held out (not fitted
        # on); after the fit they, and the unlabelled target rows, are scored (tltaxonomy.selection).
        from .selection import source_validation_split

        fraction = (config.get("protocol") or {}).get("source_val_fraction", 0.2)
        source = np.flatnonzero(sd > 0)
        fit_src, val_src = source_validation_split(y[source], fraction, int(config["seed"]))
        held_out = (X[source[val_src]], y[source[val_src]], sd[source[val_src]])
        keep = np.sort(np.r_[source[fit_src], np.flatnonzero(sd <= 0)])
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
    if held_out is not None:
        from .selection import selection_scores

        t = time.perf_counter()
        target = sd < 0  # the unlabelled target rows of the fit (their y is -1: no target label is passed)
        scores, info["selection"] = selection_scores(
            strategy, *held_out, X[sd > 0], X[target], sd[target], random_state=int(config["seed"])
        )
        metrics.update(scores)
        timings["selection_s"] = time.perf_counter() - t
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
    per_class = (config.get("protocol") or {}).get("labels_per_class", 10)
    if per_class is None:  # every labelled row of the target train split
        if task.X_test is task.X_target:
            raise ConfigError(
                f"protocol.labels_per_class=null (every target row labelled) leaves no test rows on "
                f"{task.dataset}/{task.task}, whose test set is the rows not drawn; set a number per class."
            )
        rows = np.arange(task.X_target.shape[0])
    else:
        per_class = int(per_class)
        rows = draw_labelled_subset(np.asarray(task.y_target), per_class, int(config["seed"]))
    fit_kwargs = {}
    if getattr(strategy, "_uses_unlabelled", False) and task.X_source is not None:
        # self-taught learning: the source rows enter unlabelled (their labels are never passed)
        fit_kwargs["X_unlabelled"] = task.X_source
    t = time.perf_counter()
    strategy.fit(task.X_target[rows], task.y_target[rows], **fit_kwargs)
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
    if "X_unlabelled" in fit_kwargs:
        info["n_unlabelled"] = int(task.X_source.shape[0])
    return metrics, info


def multitask_split(Y: np.ndarray, train_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks ``(train, test)`` of the observed entries of ``Y`` (NaN = unobserved): per task, a
    seeded ``train_fraction`` of its observed rows (at least 2, and at least 1 left to test) is drawn
    for training, the others are for testing."""
    if not 0 < train_fraction < 1:
        raise ConfigError(f"protocol.train_fraction must be in (0, 1), got {train_fraction}.")
    rng = np.random.default_rng(seed)
    observed = ~np.isnan(Y)
    train = np.zeros_like(observed)
    for t in range(Y.shape[1]):
        rows = np.flatnonzero(observed[:, t])
        if rows.size < 3:
            raise ConfigError(f"task {t} has {rows.size} labelled rows; the multi-task protocol needs at least 3 per task.")
        k = min(max(int(round(train_fraction * rows.size)), 2), rows.size - 1)
        train[rng.choice(rows, size=k, replace=False), t] = True
    return train, observed & ~train


def _masked(Y: np.ndarray, keep: np.ndarray) -> np.ndarray:
    out = np.array(Y, dtype=np.float64, copy=True)
    out[~keep] = np.nan
    return out


def _multitask(strategy, task, config, timings):
    if not getattr(type(strategy), "_multitask", False):
        from .registry import list_strategies

        names = [s.name for s in list_strategies(family="multi_task")]
        raise ConfigError(
            f"{type(strategy).__name__} is a single-task strategy but {task.dataset}/{task.task} is multi-task "
            f"(y has {task.y_target.shape[1]} task columns); use a multi-task strategy: {', '.join(names)}."
        )
    Y = np.asarray(task.y_target, dtype=np.float64)
    types = list(task.meta.get("task_types") or [])
    info: dict = {"n_tasks": int(Y.shape[1])}
    if task.X_test is task.X_target:  # one pool: a seeded fraction of each task's rows trains, the rest tests
        fraction = float((config.get("protocol") or {}).get("train_fraction", 0.2))
        train, test = multitask_split(Y, fraction, int(config["seed"]))
        rows_tr, rows_te = np.flatnonzero(train.any(axis=1)), np.flatnonzero(test.any(axis=1))
        X_tr, Y_tr = task.X_target[rows_tr], _masked(Y, train)[rows_tr]
        X_te, Y_te = task.X_target[rows_te], _masked(Y, test)[rows_te]
        info["train_fraction"] = fraction
    else:
        X_tr, Y_tr, X_te, Y_te = task.X_target, Y, task.X_test, np.asarray(task.y_test, dtype=np.float64)
    t = time.perf_counter()
    strategy.fit(X_tr, Y_tr)
    timings["fit_s"] = time.perf_counter() - t
    t = time.perf_counter()
    P = np.asarray(strategy.predict(X_te), dtype=np.float64)
    timings["predict_s"] = time.perf_counter() - t
    metrics = multitask_metrics(Y_te, P, types or ["classification"] * Y.shape[1],
                                names=task.meta.get("task_names"))
    info.update({"n_train_rows": int(X_tr.shape[0]), "n_test_rows": int(X_te.shape[0]),
                 "n_train_labels": int((~np.isnan(Y_tr)).sum()), "n_test_labels": int((~np.isnan(Y_te)).sum())})
    return metrics, info


#: per-task metrics are recorded for multi-task problems with at most this many tasks
_MAX_PER_TASK_METRICS = 10


def multitask_metrics(Y_true: np.ndarray, Y_pred: np.ndarray, task_types, names=None) -> dict[str, float]:
    r"""Scores of multi-task predictions on the observed entries of ``Y_true`` (NaN = unobserved).

    ``target/acc``: mean over the classification tasks of their accuracy; ``target/ev``: explained
    variance pooled over every observed regression entry, :math:`1 - \sum (y-\hat y)^2 / \sum (y-\bar y)^2`
    (:math:`\bar y` the mean of all of them; Argyriou et al. 2008's School metric); ``target/nmse``:
    the pooled MSE over the variance. With at most 10 tasks each task's score is recorded as well,
    ``target/<name>/acc`` or ``target/<name>/ev``.
    """
    from .metrics import explained_variance

    observed = ~np.isnan(Y_true)
    metrics: dict[str, float] = {}
    accs = []
    reg_true, reg_pred = [], []
    per_task = Y_true.shape[1] <= _MAX_PER_TASK_METRICS
    for t, kind in enumerate(task_types):
        rows = observed[:, t]
        name = names[t] if names is not None else f"task{t}"
        if kind == "classification":
            acc = accuracy(Y_true[rows, t], Y_pred[rows, t])
            accs.append(acc)
            if per_task:
                metrics[f"target/{name}/acc"] = acc
        else:
            reg_true.append(Y_true[rows, t])
            reg_pred.append(Y_pred[rows, t])
            if per_task:
                metrics[f"target/{name}/ev"] = explained_variance(Y_true[rows, t], Y_pred[rows, t])
    if accs:
        metrics["target/acc"] = float(np.mean(accs))
    if reg_true:
        yt, yp = np.concatenate(reg_true), np.concatenate(reg_pred)
        metrics["target/ev"] = explained_variance(yt, yp)
        metrics["target/nmse"] = 1.0 - metrics["target/ev"]
    return metrics


def _unsupervised(strategy, task, config, timings):
    kwargs = {}
    if getattr(strategy, "_uses_unlabelled", False) and task.X_source is not None:
        kwargs["X_auxiliary"] = task.X_source  # self-taught clustering: auxiliary rows, never their labels
    t = time.perf_counter()
    labels = strategy.fit_predict(task.X_target, **kwargs)
    timings["fit_s"] = time.perf_counter() - t
    y = task.y_target
    metrics = {"target/acc": clustering_accuracy(y, labels), "target/nmi": nmi(y, labels), "target/ari": ari(y, labels)}
    init = getattr(strategy, "init_labels_", None)
    if init is not None:  # a refining clusterer (DEC): its starting clusters, e.g. k-means on the encoder's features
        metrics.update(
            {"target/init_acc": clustering_accuracy(y, init), "target/init_nmi": nmi(y, init), "target/init_ari": ari(y, init)}
        )
    info = {"n_target": int(task.X_target.shape[0]), "n_clusters": int(len(np.unique(labels)))}
    if kwargs:
        info["n_auxiliary"] = int(task.X_source.shape[0])
    if getattr(strategy, "best_params_", None) is not None:  # a label-free search: what it chose
        info["selected"] = {k: str(v) for k, v in strategy.best_params_.items()}
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
    if config.get("selection") == "scores" and setting != "transductive":
        raise ConfigError(
            f"selection=scores scores transductive strategies (source labelled, target unlabelled); "
            f"{type(strategy).__name__} is {setting}. Drop selection=scores or pick a transductive strategy."
        )
    if setting == "transductive" and task.X_source is None:
        raise ConfigError(
            f"{type(strategy).__name__} is transductive but {task.dataset}/{task.task} has no source split; "
            "pick a transfer task (see `tltax list tasks`)."
        )
    if task.meta.get("multitask") or getattr(type(strategy), "_multitask", False):
        if not task.meta.get("multitask"):
            raise ConfigError(
                f"{type(strategy).__name__} is a multi-task strategy but {task.dataset}/{task.task} has one task; "
                "use a multi-task dataset (school, newsgroups_mtl, multimnist)."
            )
        return _multitask(strategy, task, config, timings)
    return _PROTOCOLS[setting](strategy, task, config, timings)
