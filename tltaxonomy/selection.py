r"""Model selection as an explicit axis: scorers without target labels, the oracle, and the selection pass.

Domain adaptation has no labelled target data to choose hyper-parameters with; a number chosen with
the target *test* labels (the "oracle") is an upper bound, not a result. This module gives

- the **scorers** that use no target label, each a small function with its reference:
  :func:`source_accuracy` (held-out source rows), :func:`importance_weights` +
  :func:`iwcv_risk` (IWCV, Sugiyama et al. 2007), :func:`dev_risk` (DEV, You et al. 2019),
  :func:`prediction_entropy`, :func:`soft_neighborhood_density` (SND, Saito et al. 2021);
- :func:`selection_scores`, which the transductive protocol calls (with ``selection=scores``) on a
  fitted strategy to record them all as ``select/*`` metrics beside ``target/acc``;
- :data:`PROTOCOLS` and :func:`select_records`: the selection *pass* over logged records (DomainBed's
  ``model_selection.py``): records that differ only by ``hparams_seed`` form one group, and each
  protocol picks one record per group, so every protocol is compared on the same runs. The oracle
  is the protocol ``"oracle"``, labelled ``"oracle (target labels)"`` wherever it is printed.

The losses of IWCV and DEV are 0-1 losses (misclassification), defined for every strategy whatever
its outputs (probabilities, scores or labels only).

References
----------
.. [1] M. Sugiyama, M. Krauledat, K.-R. Müller. "Covariate Shift Adaptation by Importance Weighted
   Cross Validation". JMLR 8, 2007.
.. [2] K. You, X. Wang, M. Long, M. I. Jordan. "Towards Accurate Model Selection in Deep Unsupervised
   Domain Adaptation". ICML 2019.
.. [3] K. Saito, D. Kim, P. Teterwak, S. Sclaroff, T. Darrell, K. Saenko. "Tune it the Right Way:
   Unsupervised Validation of Domain Adaptation via Soft Neighborhood Density". ICCV 2021.
.. [4] I. Gulrajani, D. Lopez-Paz. "In Search of Lost Domain Generalization". ICLR 2021.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from ._errors import ConfigError, unknown_name_error
from ._linalg import memoize_on_content
from .store import config_hash

__all__ = [
    "PROTOCOLS",
    "ORACLE_LABEL",
    "Selection",
    "SelectionProtocol",
    "class_probabilities",
    "dev_risk",
    "importance_weights",
    "iwcv_risk",
    "parse_protocols",
    "prediction_entropy",
    "select_records",
    "selection_scores",
    "soft_neighborhood_density",
    "source_accuracy",
    "source_validation_split",
]

#: how the oracle is named in every table and record
ORACLE_LABEL = "oracle (target labels)"


# --- outputs of a fitted strategy -----------------------------------------------------------------


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class _DecisionAsPredict:
    """Stands in for a strategy's fitted classifier so that the strategy's own prediction path
    returns that classifier's ``decision_function`` instead of its labels."""

    def __init__(self, estimator):
        self._estimator = estimator

    def predict(self, X):
        return np.asarray(self._estimator.decision_function(X), dtype=float)


def _final_classifier_scores(strategy, X, sample_domain) -> np.ndarray | None:
    """The decision scores of a domain-adaptation strategy's final classifier (``estimator_``) on the
    target rows, computed on exactly what its ``predict`` feeds that classifier (the aligned /
    embedded rows or the released code's precomputed similarity), or ``None`` where this does not
    apply (no ``estimator_`` with ``decision_function``, no ``_predict_encoded`` path, or any row that
    is not a target row).

    CORAL, SA, GFK, PCA and SourceOnly wrap an SVM but expose neither ``predict_proba`` nor
    ``decision_function``; without this, the entropy and SND scorers would see one-hot predictions."""
    inner = getattr(strategy, "estimator_", None)
    if inner is None or not hasattr(inner, "decision_function") or not hasattr(strategy, "_predict_encoded"):
        return None
    if sample_domain is not None and np.any(np.asarray(sample_domain) > 0):
        return None  # source rows may take another path (CORAL maps them by A_ first)
    X = strategy._validate_predict_X(X, sample_domain)
    strategy.estimator_ = _DecisionAsPredict(inner)
    try:
        scores = np.asarray(strategy._predict_encoded(X), dtype=float)
    finally:
        strategy.estimator_ = inner
    n_classes = len(strategy.classes_)
    expected = (X.shape[0],) if n_classes == 2 else (X.shape[0], n_classes)
    return scores if scores.shape == expected else None


def class_probabilities(estimator, X, sample_domain=None, n_classes: int | None = None) -> tuple[np.ndarray, str]:
    """Class-probability rows of ``estimator`` on ``X`` and which output produced them.

    ``predict_proba`` where the estimator has it; otherwise the softmax of ``decision_function``
    (a binary problem's single score ``s`` becomes the two columns ``(-s, s)``); otherwise the one-hot
    rows of ``predict``.

    Returns
    -------
    proba : ndarray of shape (n_rows, n_classes)
    kind : {"predict_proba", "decision_function", "final_classifier_decision_function", "predict"}
        ``"final_classifier_decision_function"``: the strategy has neither method, but its fitted
        classifier ``estimator_`` has ``decision_function``: its scores on the inputs the strategy's
        ``predict`` gives it (see :func:`_final_classifier_scores`).
    """
    kw = {} if sample_domain is None else {"sample_domain": sample_domain}
    classes = getattr(estimator, "classes_", None)
    k = len(classes) if classes is not None else n_classes
    if hasattr(estimator, "predict_proba"):
        return np.asarray(estimator.predict_proba(X, **kw), dtype=float), "predict_proba"
    if hasattr(estimator, "decision_function"):
        d = np.asarray(estimator.decision_function(X, **kw), dtype=float)
        if d.ndim == 1:
            d = np.c_[-d, d]
        return _softmax(d), "decision_function"
    inner = _final_classifier_scores(estimator, X, sample_domain)
    if inner is not None:
        d = inner if inner.ndim == 2 else np.c_[-inner, inner]
        return _softmax(d), "final_classifier_decision_function"
    pred = np.asarray(estimator.predict(X, **kw))
    if classes is None:
        raise ConfigError(f"{type(estimator).__name__} has no classes_; cannot turn its predictions into one-hot rows.")
    onehot = (pred[:, None] == np.asarray(classes)[None, :]).astype(float)
    return onehot, "predict"


# --- the scorers -----------------------------------------------------------------------------------


def source_validation_split(y_source, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(fit_rows, val_rows)``: a seeded, stratified ``fraction`` of the source rows held out.

    Every class keeps at least one row on each side (a class of one row stays in the fit rows)."""
    if not 0.0 < float(fraction) < 1.0:
        raise ConfigError(f"protocol.source_val_fraction must be in (0, 1), got {fraction!r}.")
    y = np.asarray(y_source)
    rng = np.random.default_rng(seed)
    val = []
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        k = min(int(round(fraction * rows.size)), rows.size - 1)
        if k > 0:
            val.append(rng.choice(rows, size=k, replace=False))
    val_rows = np.sort(np.concatenate(val)) if val else np.array([], dtype=int)
    if val_rows.size == 0:
        raise ConfigError(f"source_val_fraction={fraction} holds out no source row ({y.size} rows); use a larger fraction.")
    return np.setdiff1d(np.arange(y.size), val_rows), val_rows


def source_accuracy(y_true, y_pred) -> float:
    """Accuracy on held-out labelled source rows (higher is better).

    The usual "source validation" protocol of domain adaptation (e.g. Ganin et al., JMLR 2016,
    who also call it reverse-free source risk): the source risk bounds the target risk only up to the
    domain divergence, so it favours hyper-parameters that do not adapt.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float(np.mean(y_true == y_pred)) if y_true.size else float("nan")


def importance_weights(X_fit_source, X_target, X_eval, *, Cs: int | Iterable[float] = (1e-4, 1e-3, 1e-2, 1e-1, 1.0),
                       cv: int = 3, random_state: int = 0) -> np.ndarray:
    r"""Density ratio :math:`w(x) = p_T(x) / p_S(x)` at ``X_eval`` by a domain classifier.

    A logistic regression (features standardised) is fitted to tell target rows (label 1) from
    source rows (label 0), its ``C`` chosen by ``cv``-fold cross-validated log-loss among ``Cs``
    (:class:`~sklearn.linear_model.LogisticRegressionCV`): the ratio needs calibrated
    probabilities, and with more features than rows an unregularised classifier separates the
    domains and gives weights of :math:`10^{7}`. By Bayes' rule

    .. math::

        w(x) = \frac{n_S}{n_T} \, \frac{P(T \mid x)}{P(S \mid x)},

    the classifier's odds corrected by the ratio of the sample sizes (Bickel et al. 2007; You et al.
    2019, Sec. 4.1), so that :math:`\mathbb E_S[w] = 1` when the classifier is calibrated.

    Parameters
    ----------
    X_fit_source : array or sparse matrix of shape (n_S, d)
        Source rows the domain classifier is trained on (the strategy's training source rows).
    X_target : array or sparse matrix of shape (n_T, d)
        Unlabelled target rows.
    X_eval : array or sparse matrix of shape (n, d)
        Rows to weight (the held-out source rows).

    Returns
    -------
    w : ndarray of shape (n,)

    Notes
    -----
    The weights depend on the data only, not on the strategy or its hyper-parameters, so they are
    computed once per process for the same arrays (:func:`tltaxonomy._linalg.memoize_on_content`):
    the runs of a sweep over ``hparams_seed`` share them.
    """
    Cs = Cs if isinstance(Cs, int) else tuple(float(c) for c in Cs)  # hashable, for the cache
    return np.array(_importance_weights(X_fit_source, X_target, X_eval, Cs, cv, random_state))


@memoize_on_content(maxsize=16)
def _importance_weights(X_fit_source, X_target, X_eval, Cs, cv, random_state) -> np.ndarray:
    import warnings

    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    sparse = sp.issparse(X_fit_source) or sp.issparse(X_target)
    X = sp.vstack([X_fit_source, X_target]).tocsr() if sparse else np.vstack([X_fit_source, X_target])
    n_s, n_t = X_fit_source.shape[0], X_target.shape[0]
    d = np.r_[np.zeros(n_s), np.ones(n_t)]
    clf = make_pipeline(
        StandardScaler(with_mean=not sparse),
        LogisticRegressionCV(Cs=Cs, cv=StratifiedKFold(cv, shuffle=True, random_state=random_state),
                             scoring="neg_log_loss", max_iter=1000),
    )
    with warnings.catch_warnings():  # scikit-learn 1.8's notices about LogisticRegressionCV's future defaults
        warnings.simplefilter("ignore", FutureWarning)
        clf.fit(X, d)
    p = np.clip(clf.predict_proba(X_eval)[:, 1], 1e-12, 1 - 1e-12)
    return (n_s / n_t) * p / (1.0 - p)


def iwcv_risk(losses, weights) -> float:
    r"""Importance-weighted validation risk (IWCV; Sugiyama et al., JMLR 2007), lower is better.

    .. math:: \hat R_{IW} = \frac{1}{n} \sum_{i=1}^n w(x_i)\, \ell_i

    over held-out source rows, an unbiased estimate of the target risk under covariate shift when
    :math:`w = p_T / p_S`.

    Examples
    --------
    >>> iwcv_risk([1, 0, 1], [2.0, 1.0, 0.5])
    0.8333333333333334
    """
    losses, weights = np.asarray(losses, dtype=float), np.asarray(weights, dtype=float)
    return float(np.mean(weights * losses))


def dev_risk(losses, weights) -> float:
    r"""Deep embedded validation risk (DEV; You et al., ICML 2019, Algorithm 1), lower is better.

    IWCV with a control variate: with :math:`L_i = w_i \ell_i` and :math:`\mathbb E[w] = 1`,

    .. math::

        \eta = -\frac{\widehat{\mathrm{Cov}}(L, w)}{\widehat{\mathrm{Var}}(w)}, \qquad
        \hat R_{DEV} = \bar L + \eta\, \bar w - \eta,

    which has the expectation of :math:`\bar L` and a variance no larger (for the optimal
    :math:`\eta`). With constant weights (:math:`\widehat{\mathrm{Var}}(w) = 0`), :math:`\eta = 0`.

    Examples
    --------
    >>> round(dev_risk([1, 0, 1, 0], [2.0, 1.0, 1.0, 2.0]), 6)
    0.5
    """
    losses, weights = np.asarray(losses, dtype=float), np.asarray(weights, dtype=float)
    L = weights * losses
    if L.size < 2:
        return float(L.mean()) if L.size else float("nan")
    var_w = np.var(weights, ddof=1)
    eta = 0.0 if var_w <= 0 else -np.cov(L, weights, ddof=1)[0, 1] / var_w
    return float(L.mean() + eta * weights.mean() - eta)


def prediction_entropy(proba) -> float:
    r"""Mean entropy of the predicted class distributions on the target rows, lower is better.

    .. math:: H = -\frac{1}{n} \sum_i \sum_k p_{ik} \log p_{ik}

    (natural log, :math:`0 \log 0 = 0`); the "entropy" baseline of Morerio et al. (ICLR 2018) and
    You et al. (2019). One-hot outputs (a strategy without probabilities) all score 0.

    Examples
    --------
    >>> round(prediction_entropy([[0.5, 0.5], [1.0, 0.0]]), 6)  # (log 2 + 0) / 2
    0.346574
    """
    P = np.asarray(proba, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(P > 0, P * np.log(P), 0.0)
    return float(-terms.sum(axis=1).mean()) + 0.0  # no -0.0


def soft_neighborhood_density(proba, temperature: float = 0.05, *, chunk: int = 1024) -> float:
    r"""Soft neighbourhood density of the target predictions (SND; Saito et al., ICCV 2021), higher
    is better.

    With :math:`f_i` the prediction vector of target row :math:`i` normalised to unit length,
    :math:`s_{ij} = f_i^\top f_j` (cosine similarity), self-similarity excluded,

    .. math::

        P_{ij} = \frac{\exp(s_{ij}/\tau)}{\sum_{k \ne i} \exp(s_{ik}/\tau)}, \qquad
        \mathrm{SND} = -\frac{1}{n} \sum_i \sum_{j \ne i} P_{ij} \log P_{ij},

    :math:`\tau = 0.05` as in the paper: a high entropy of each row's soft neighbourhood means dense
    clusters of predictions. Computed in chunks of rows (memory :math:`O(\text{chunk} \cdot n)`).

    Examples
    --------
    Three rows with the same prediction: each has two neighbours of equal similarity.

    >>> round(soft_neighborhood_density([[1, 0], [1, 0], [1, 0]]), 6)  # log 2
    0.693147
    """
    F = np.asarray(proba, dtype=float)
    n = F.shape[0]
    if n < 2:
        return float("nan")
    norms = np.linalg.norm(F, axis=1, keepdims=True)
    F = F / np.where(norms > 0, norms, 1.0)
    total = 0.0
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        S = (F[start:stop] @ F.T) / temperature
        S[np.arange(stop - start), np.arange(start, stop)] = -np.inf  # exclude self
        S -= S.max(axis=1, keepdims=True)
        E = np.exp(S)
        P = E / E.sum(axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            total += float(-np.where(P > 0, P * np.log(P), 0.0).sum())
    return total / n


def selection_scores(
    strategy,
    X_val,
    y_val,
    sd_val,
    X_fit_source,
    X_target,
    sd_target,
    *,
    random_state: int = 0,
    temperature: float = 0.05,
) -> tuple[dict[str, float], dict[str, Any]]:
    """Every label-free selection score of a fitted transductive ``strategy``.

    Receives held-out *source* rows with their labels and the unlabelled target rows — never a target
    label. Returns ``(metrics, info)``: ``select/source_acc``, ``select/iwv``, ``select/dev``,
    ``select/entropy``, ``select/snd``; and which output the probabilities came from, the sizes and a
    summary of the importance weights (mean, max, effective sample size).
    """
    y_val = np.asarray(y_val)
    y_pred = np.asarray(strategy.predict(X_val, sample_domain=sd_val))
    losses = (y_pred != y_val).astype(float)
    w = importance_weights(X_fit_source, X_target, X_val, random_state=random_state)
    proba, kind = class_probabilities(strategy, X_target, sd_target)
    metrics = {
        "select/source_acc": source_accuracy(y_val, y_pred),
        "select/iwv": iwcv_risk(losses, w),
        "select/dev": dev_risk(losses, w),
        "select/entropy": prediction_entropy(proba),
        "select/snd": soft_neighborhood_density(proba, temperature),
    }
    info = {
        "output": kind,
        "n_val": int(y_val.size),
        "n_target_scored": int(X_target.shape[0]),
        "weights_mean": float(w.mean()),
        "weights_max": float(w.max()),
        "weights_ess": float(w.sum() ** 2 / max((w**2).sum(), 1e-300)),
    }
    return metrics, info


# --- selection protocols and the selection pass ---------------------------------------------------


@dataclass(frozen=True)
class SelectionProtocol:
    """How one record is chosen among the runs of a configuration that differ by ``hparams_seed``."""

    name: str
    #: the record metric the choice maximises or minimises (``None``: the default, hparams_seed 0)
    metric: str | None
    higher_is_better: bool
    label: str
    #: True only for the oracle: its numbers are not valid results
    uses_target_labels: bool = False

    @property
    def title(self) -> str:
        """How a table chosen under this protocol is titled."""
        if self.uses_target_labels:
            return "ORACLE — selected with target test labels; not a valid result"
        return f"selection: {self.label}"


PROTOCOLS: dict[str, SelectionProtocol] = {
    p.name: p
    for p in (
        SelectionProtocol("default", None, True, "none (the defaults, hparams_seed=0)"),
        SelectionProtocol("source_acc", "select/source_acc", True, "source validation accuracy (held-out source rows)"),
        SelectionProtocol("iwv", "select/iwv", False, "importance-weighted validation (IWCV, Sugiyama et al. 2007)"),
        SelectionProtocol("dev", "select/dev", False, "deep embedded validation (DEV, You et al. 2019)"),
        SelectionProtocol("entropy", "select/entropy", False, "target prediction entropy (lowest)"),
        SelectionProtocol("snd", "select/snd", True, "soft neighbourhood density (SND, Saito et al. 2021)"),
        SelectionProtocol("oracle", "target/acc", True, ORACLE_LABEL, uses_target_labels=True),
    )
}


def parse_protocols(spec: str | Iterable[str]) -> tuple[SelectionProtocol, ...]:
    """Protocols from ``"all"`` or comma-separated names (unknown names list the valid ones)."""
    names = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    if names == ["all"]:
        return tuple(PROTOCOLS.values())
    out = []
    for name in names:
        if name not in PROTOCOLS:
            raise unknown_name_error("selection protocol", name, [*PROTOCOLS, "all"])
        out.append(PROTOCOLS[name])
    return tuple(out)


@dataclass(frozen=True)
class Selection:
    """The record one protocol chose in one group of runs."""

    protocol: str
    #: config hash of the group's config (the config without ``hparams_seed`` / ``hparams``)
    group: str
    group_config: dict
    record: dict
    hparams_seed: int | None
    score: float | None
    #: the chosen record's target accuracy (``target/acc``)
    target_acc: float
    n_candidates: int


#: the config keys that tell the runs of one group apart
_SWEEP_KEYS = ("hparams_seed", "hparams", "runtime", "hydra")


def _group_config(record: Mapping) -> dict:
    return {k: v for k, v in dict(record["config"]).items() if k not in _SWEEP_KEYS}


def _hseed(record: Mapping) -> int:
    seed = dict(record["config"]).get("hparams_seed")
    return -1 if seed is None else int(seed)


def select_records(records: Iterable[Mapping], protocol: str | SelectionProtocol,
                   metric: str = "target/acc") -> list[Selection]:
    """The selection pass: per group of records that differ only by ``hparams_seed``, the record that
    is best under ``protocol``.

    Parameters
    ----------
    records : iterable of dict
        Records of the store (``config`` and ``metrics`` are read). Records run with
        ``selection=scores`` carry the ``select/*`` metrics that the honest protocols read.
    protocol : str or SelectionProtocol
        A name of :data:`PROTOCOLS`. Ties go to the smallest ``hparams_seed`` (the defaults first).
    metric : str, default="target/acc"
        The target metric reported for the chosen record.

    Returns
    -------
    list of Selection
        One per group, in the order the groups first appear.
    """
    proto = protocol if isinstance(protocol, SelectionProtocol) else parse_protocols([protocol])[0]
    groups: dict[str, list[Mapping]] = {}
    configs: dict[str, dict] = {}
    for record in records:
        cfg = _group_config(record)
        key = config_hash(cfg)
        groups.setdefault(key, []).append(record)
        configs.setdefault(key, cfg)
    out = []
    for key, members in groups.items():
        members = sorted(members, key=_hseed)
        if proto.metric is None:  # the defaults: hparams_seed 0 (or the config as written)
            candidates = [r for r in members if _hseed(r) in (0, -1)]
            if not candidates:
                raise ConfigError(
                    f"selection protocol 'default' needs the run with hparams_seed=0 in every group; group "
                    f"{configs[key].get('strategy', {}).get('_target_')} / {configs[key].get('task')} has seeds "
                    f"{[_hseed(r) for r in members]}."
                )
            chosen, score = candidates[0], None
        else:
            scored = [(float(r["metrics"][proto.metric]), r) for r in members
                      if proto.metric in r["metrics"] and not math.isnan(float(r["metrics"][proto.metric]))]
            if not scored:
                raise ConfigError(
                    f"selection protocol {proto.name!r} reads {proto.metric!r}, which no record of the group "
                    f"{configs[key].get('strategy', {}).get('_target_')} / task {configs[key].get('task')} has; "
                    "run them with selection=scores (e.g. `tltax bench TABLE --selection all --hparams 8`)."
                )
            sign = 1.0 if proto.higher_is_better else -1.0
            best = max(sign * s for s, _ in scored)
            score, chosen = next((s, r) for s, r in scored if sign * s == best)  # ties: smallest hparams_seed
        seed = dict(chosen["config"]).get("hparams_seed")
        out.append(Selection(proto.name, key, configs[key], dict(chosen), seed, score,
                             float(chosen["metrics"][metric]), len(members)))
    return out
