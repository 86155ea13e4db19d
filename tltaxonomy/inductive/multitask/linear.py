r"""Linear multi-task regression: independent, pooled, mean-regularised, trace-norm and MTFL models.

Every estimator here shares one data contract (the form of the School benchmark and of MALSAR):

- ``X`` of shape ``(n_samples, n_features)``: finite floats, the rows of every task stacked;
- ``Y`` of shape ``(n_samples, n_tasks)``: ``Y[i, t]`` is the label of row ``i`` for task ``t`` and
  **NaN means "row i has no label for task t"**. On School each row is observed in exactly one task
  (its school); in general a row may be observed in several. Every task needs at least 2 observed rows.
- ``predict(X)`` returns the ``(n_samples, n_tasks)`` predictions of every task for every row;
- ``score(X, Y)`` is :func:`explained_variance` pooled over the observed entries of ``Y``.

With ``fit_intercept=True`` (the default) every task gets its own unpenalised intercept: ``X`` and
``y`` are centred per task over that task's observed rows before the penalised problem is solved
(:class:`PooledRidge`, which ignores the task, has one intercept). A constant column in ``X`` (School's
last column) is then harmless. The losses are **sums** of squared errors over the observed entries
(not means), so a task with more rows weighs more, as in MALSAR and in the papers below.

A hyper-parameter set to ``"cv"`` (the default) is chosen from its grid by k-fold cross-validation on
the training rows only: the folds split rows, stratified by task (each task's rows are spread evenly
over the folds), and a candidate's score is the pooled :func:`explained_variance` of the held-out
entries, averaged over folds; the best candidate (first in grid order on ties) is refit on all rows.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ...base import BaseStrategy, check_input
from ...metrics import explained_variance as _explained_variance_1d
from ...registry import register
from ._targets import check_multitask_targets

__all__ = [
    "DEFAULT_REG_GRID",
    "MeanRegularizedMTL",
    "MultiTaskFeatureLearning",
    "PooledRidge",
    "SingleTaskRidge",
    "TRACE_NORM_REG_FRACTIONS",
    "TraceNormMTL",
    "explained_variance",
    "normalized_mse",
    "singular_value_thresholding",
]

#: The default grid of ridge-like penalties (half decades from 1e-2 to 1e4): a penalty of the sum of
#: squared errors is on the scale of the eigenvalues of :math:`X_t^\top X_t` (rows times feature variance).
DEFAULT_REG_GRID = tuple(float(v) for v in np.logspace(-2, 4, 13))

#: :class:`TraceNormMTL`'s default grid, as fractions of :math:`\lambda_{\max}` (the smallest penalty
#: whose solution is ``W = 0``), computed on the training rows.
TRACE_NORM_REG_FRACTIONS = tuple(float(v) for v in np.logspace(-3, 0, 10))


# ---------------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------------
def _observed_pairs(name: str, Y_true, Y_pred) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The observed entries of ``Y_true`` (non-NaN), the matching predictions and their task index."""
    Y_true = np.asarray(Y_true, dtype=float)
    Y_pred = np.asarray(Y_pred, dtype=float)
    if Y_true.ndim == 1:
        Y_true = Y_true[:, None]
    if Y_pred.ndim == 1:
        Y_pred = Y_pred[:, None]
    if Y_true.shape != Y_pred.shape or Y_true.ndim != 2:
        raise ValueError(
            f"{name}: Y_true has shape {Y_true.shape} but Y_pred has shape {Y_pred.shape}; pass one prediction "
            "per entry of Y_true (n_samples, n_tasks), NaN in Y_true for unobserved entries."
        )
    observed = ~np.isnan(Y_true)
    y, p = Y_true[observed], Y_pred[observed]
    if y.size == 0:
        raise ValueError(f"{name}: Y_true has no observed (non-NaN) entry; pass at least one label.")
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(p))):
        raise ValueError(
            f"{name}: Y_true holds inf or Y_pred holds NaN/inf at an observed entry; predictions must be finite "
            "wherever Y_true is observed (NaN in Y_true marks an unobserved entry)."
        )
    return y, p, np.nonzero(observed)[1]


def explained_variance(Y_true, Y_pred) -> float:
    r"""Explained variance pooled over the observed entries of a multi-task target.

    .. math::

        \mathrm{EV} = 1 - \frac{\sum_{(i,t) \in \Omega} (y_{it} - \hat y_{it})^2}
                               {\sum_{(i,t) \in \Omega} (y_{it} - \bar y)^2},
        \qquad \bar y = \frac{1}{|\Omega|}\sum_{(i,t)\in\Omega} y_{it},

    where :math:`\Omega` is the set of observed (non-NaN) entries of ``Y_true`` and :math:`\bar y` is
    the mean of **all** observed targets (one mean, not one per task). This is the "explained
    variance" reported on the School data by Bakker & Heskes (2003) and Argyriou, Evgeniou & Pontil
    (2008), usually as a percentage: ``100 * explained_variance(...)``. It equals ``1 - nMSE`` for the
    pooled :func:`normalized_mse`, and sklearn's ``r2_score`` of the observed entries flattened.

    Parameters
    ----------
    Y_true : array-like of shape (n_samples, n_tasks) or (n_samples,)
        Targets; NaN marks an unobserved entry (ignored).
    Y_pred : array-like of the same shape
        Predictions; must be finite wherever ``Y_true`` is observed.

    Returns
    -------
    float
        At most 1; 0 for predicting :math:`\bar y` everywhere, negative for worse.

    References
    ----------
    .. [1] Bakker, Heskes. "Task clustering and gating for Bayesian multitask learning." JMLR 4, 2003.
    .. [2] Argyriou, Evgeniou, Pontil. "Convex multi-task feature learning." Machine Learning 73(3), 2008.

    Examples
    --------
    >>> Y = np.array([[1.0, np.nan], [2.0, np.nan], [np.nan, 3.0], [np.nan, 6.0]])
    >>> round(explained_variance(Y, np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0], [0.0, 4.0]])), 4)  # 1 - 4/14
    0.7143
    """
    y, p, _ = _observed_pairs("explained_variance", Y_true, Y_pred)
    return _explained_variance_1d(y, p)


def normalized_mse(Y_true, Y_pred, *, average: str = "pooled") -> float:
    r"""Normalised mean squared error (nMSE) over the observed entries of a multi-task target.

    .. math::

        \text{pooled:}\quad \frac{\sum_{(i,t)\in\Omega}(y_{it}-\hat y_{it})^2}{\sum_{(i,t)\in\Omega}(y_{it}-\bar y)^2}
        = 1 - \mathrm{EV}, \qquad
        \text{tasks:}\quad \frac{1}{T}\sum_{t=1}^{T}
            \frac{\sum_{i\in\Omega_t}(y_{it}-\hat y_{it})^2}{\sum_{i\in\Omega_t}(y_{it}-\bar y_t)^2}.

    ``"pooled"`` divides the MSE by the variance of all observed targets (the complement of
    :func:`explained_variance`); ``"tasks"`` divides each task's MSE by that task's own target
    variance and averages over the tasks that have observed entries (the per-task nMSE of the
    MALSAR-era papers, e.g. Chen, Zhou & Ye, KDD 2011). Lower is better; 1 = predicting the mean.

    Parameters
    ----------
    Y_true : array-like of shape (n_samples, n_tasks) or (n_samples,)
        Targets; NaN marks an unobserved entry (ignored).
    Y_pred : array-like of the same shape
        Predictions; must be finite wherever ``Y_true`` is observed.
    average : {"pooled", "tasks"}, default="pooled"

    Returns
    -------
    float

    References
    ----------
    .. [1] Chen, Zhou, Ye. "Integrating low-rank and group-sparse structures for robust multi-task
       learning." KDD 2011.

    Examples
    --------
    >>> Y = np.array([[1.0, np.nan], [2.0, np.nan], [np.nan, 3.0], [np.nan, 6.0]])
    >>> P = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0], [0.0, 4.0]])
    >>> round(normalized_mse(Y, P), 6), round(normalized_mse(Y, P, average="tasks"), 6)
    (0.285714, 0.444444)
    """
    if average not in ("pooled", "tasks"):
        raise ValueError(f"normalized_mse: average={average!r} is not supported; use 'pooled' or 'tasks'.")
    if average == "pooled":
        return 1.0 - explained_variance(Y_true, Y_pred)
    y, p, task = _observed_pairs("normalized_mse", Y_true, Y_pred)
    ratios = []
    for t in np.unique(task):
        yt, pt = y[task == t], p[task == t]
        sst = float(np.sum((yt - yt.mean()) ** 2))
        if sst == 0.0:
            raise ValueError(
                f"normalized_mse: the observed targets of task {t} are all equal, so its nMSE is undefined; "
                "use average='pooled' or drop that task."
            )
        ratios.append(float(np.sum((yt - pt) ** 2)) / sst)
    return float(np.mean(ratios))


def _pooled_ev_or_nan(y: np.ndarray, p: np.ndarray) -> float:
    """:func:`explained_variance` of flat arrays, NaN where it is undefined (a degenerate CV fold)."""
    sst = float(np.sum((y - y.mean()) ** 2)) if y.size else 0.0
    return 1.0 - float(np.sum((y - p) ** 2)) / sst if sst > 0 else np.nan


# ---------------------------------------------------------------------------------------------------
# Proximal operator of the trace norm
# ---------------------------------------------------------------------------------------------------
def _svt(M: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    U, s, Vt = np.linalg.svd(M, full_matrices=False)
    s = np.maximum(s - threshold, 0.0)
    return (U * s) @ Vt, s


def singular_value_thresholding(M, threshold: float) -> np.ndarray:
    r"""Proximal operator of the trace norm: soft-threshold the singular values of ``M``.

    .. math::

        \operatorname{prox}_{\tau\|\cdot\|_*}(M)
        = \arg\min_{W} \tfrac12\|W - M\|_F^2 + \tau\|W\|_*
        = U \operatorname{diag}\big(\max(\sigma_i - \tau, 0)\big) V^\top,

    with :math:`M = U\operatorname{diag}(\sigma)V^\top` the thin SVD (Cai, Candès & Shen, 2010).

    Parameters
    ----------
    M : array-like of shape (m, n)
    threshold : float
        :math:`\tau \ge 0`.

    Returns
    -------
    ndarray of shape (m, n)

    References
    ----------
    .. [1] Cai, Candès, Shen. "A singular value thresholding algorithm for matrix completion."
       SIAM J. Optim. 20(4), 2010.

    Examples
    --------
    >>> singular_value_thresholding(np.diag([3.0, 1.0]), 2.0)
    array([[1., 0.],
           [0., 0.]])
    """
    M = np.asarray(M, dtype=float)
    if M.ndim != 2:
        raise ValueError(f"singular_value_thresholding: M must be a 2-D matrix, got shape {M.shape}.")
    if not (np.isfinite(threshold) and threshold >= 0):
        raise ValueError(f"singular_value_thresholding: threshold must be a finite number >= 0, got {threshold!r}.")
    return _svt(M, float(threshold))[0]


# ---------------------------------------------------------------------------------------------------
# Per-task sufficient statistics and cross-validation folds
# ---------------------------------------------------------------------------------------------------
def _batched_matvec(A: np.ndarray, V: np.ndarray) -> np.ndarray:
    """``A[t] @ V[t]`` for every t: (T, d, d) x (T, d) -> (T, d)."""
    return np.matmul(A, V[..., None])[..., 0]


@dataclass(frozen=True)
class _TaskStats:
    """Sufficient statistics of the squared loss, per task (after per-task centring if an intercept).

    ``gram[t] = X_tᵀX_t``, ``cross[t] = X_tᵀy_t``, ``yy[t] = y_tᵀy_t`` on the (centred) observed rows
    of task ``t``; ``eigvals, eigvecs`` the eigendecomposition of each ``gram[t]``. A task without rows
    (possible only inside a CV fold when rows are shared by tasks) has zero statistics and the pooled
    mean as intercept.
    """

    gram: np.ndarray  # (T, d, d)
    cross: np.ndarray  # (T, d)
    yy: np.ndarray  # (T,)
    x_mean: np.ndarray  # (T, d)
    y_mean: np.ndarray  # (T,)
    n: np.ndarray  # (T,)
    eigvals: np.ndarray  # (T, d), >= 0
    eigvecs: np.ndarray  # (T, d, d), columns

    @property
    def n_tasks(self) -> int:
        return self.gram.shape[0]

    @property
    def n_features(self) -> int:
        return self.gram.shape[1]

    def intercepts(self, coef: np.ndarray) -> np.ndarray:
        """Per-task intercepts ``ȳ_t - x̄_tᵀw_t`` of the coefficients ``coef`` (T, d)."""
        return self.y_mean - np.einsum("td,td->t", self.x_mean, coef)

    def loss(self, coef: np.ndarray) -> float:
        """``sum_t ||y_t - X_t w_t||²`` (centred data) for ``coef`` of shape (T, d)."""
        quad = np.sum(coef * _batched_matvec(self.gram, coef))
        return float(quad - 2.0 * np.sum(self.cross * coef) + np.sum(self.yy))

    def ridge(self, reg: float) -> np.ndarray:
        """Independent ridge solutions ``(A_t + reg I)^{-1} c_t``, shape (T, d)."""
        proj = np.einsum("tji,tj->ti", self.eigvecs, self.cross)
        return np.einsum("tij,tj->ti", self.eigvecs, proj / (self.eigvals + reg))


def _task_stats(X: np.ndarray, Y: np.ndarray, fit_intercept: bool) -> _TaskStats:
    n_tasks, d = Y.shape[1], X.shape[1]
    observed = ~np.isnan(Y)
    gram = np.zeros((n_tasks, d, d))
    cross = np.zeros((n_tasks, d))
    yy = np.zeros(n_tasks)
    x_mean = np.zeros((n_tasks, d))
    y_mean = np.zeros(n_tasks)
    n = observed.sum(axis=0)
    fallback = float(np.mean(Y[observed])) if fit_intercept and observed.any() else 0.0
    for t in range(n_tasks):
        rows = np.flatnonzero(observed[:, t])
        if rows.size == 0:
            y_mean[t] = fallback
            continue
        Xt, yt = X[rows], Y[rows, t]
        if fit_intercept:
            x_mean[t], y_mean[t] = Xt.mean(axis=0), yt.mean()
            Xt, yt = Xt - x_mean[t], yt - y_mean[t]
        gram[t] = Xt.T @ Xt
        cross[t] = Xt.T @ yt
        yy[t] = yt @ yt
    eigvals, eigvecs = np.linalg.eigh(gram)
    return _TaskStats(gram, cross, yy, x_mean, y_mean, n, np.maximum(eigvals, 0.0), eigvecs)


def _task_stratified_folds(observed: np.ndarray, n_splits: int, random_state) -> list[tuple[np.ndarray, np.ndarray]]:
    """k folds of the rows, stratified by each row's first observed task (a random, even spread)."""
    rng = check_random_state(random_state)
    stratum = np.where(observed.any(axis=1), observed.argmax(axis=1), -1)
    fold = np.empty(observed.shape[0], dtype=int)
    for s in np.unique(stratum):
        rows = rng.permutation(np.flatnonzero(stratum == s))
        fold[rows] = (rng.randint(n_splits) + np.arange(rows.size)) % n_splits
    return [(np.flatnonzero(fold != k), np.flatnonzero(fold == k)) for k in range(n_splits)]


@dataclass(frozen=True)
class _Fit:
    """One solution: coefficients (T, d), intercepts (T,), solver diagnostics and one extra array."""

    coef: np.ndarray
    intercept: np.ndarray
    n_iter: int = 0
    converged: bool = True
    objective_history: np.ndarray | None = None
    aux: np.ndarray | None = None  # estimator-specific: MeanRegularizedMTL's w_0, MTFL's D


# ---------------------------------------------------------------------------------------------------
# The shared estimator machinery
# ---------------------------------------------------------------------------------------------------
_REG = [Interval(Real, 0, None, closed="neither"), StrOptions({"cv"})]


class _BaseMultiTaskLinear(RegressorMixin, BaseStrategy):
    """Validation, CV selection, prediction and scoring shared by the linear multi-task regressors.

    Subclasses declare ``_tuned`` (hyper-parameter name -> grid parameter name) and implement
    ``_solve(stats, candidates) -> list[_Fit]`` (one fit per candidate dict, same order).
    """

    _tuned: dict[str, str] = {"reg": "reg_grid"}
    #: the runner's multi-task protocol applies (Y with one column per task)
    _multitask = True

    _parameter_constraints = {
        "reg": _REG,
        "reg_grid": ["array-like"],
        "fit_intercept": ["boolean"],
        "cv": [Interval(Integral, 2, None, closed="left")],
        "random_state": ["random_state"],
    }

    # ---- validation --------------------------------------------------------------------------------
    def _check_X(self, X, *, reset: bool) -> np.ndarray:
        X = check_input(self, X, reset=reset, dtype=np.float64, allow_nan=True)  # its own message below
        if not np.all(np.isfinite(X)):
            raise ValueError(
                f"{type(self).__name__}: X contains NaN or inf. NaN marks a missing label in Y, never a missing "
                "feature in X; impute or drop those rows of X."
            )
        return X

    def _check_X_Y(self, X, Y) -> tuple[np.ndarray, np.ndarray]:
        X = self._check_X(X, reset=True)
        return X, check_multitask_targets(type(self).__name__, Y, X.shape[0], allow_1d=False)

    def _grid(self, grid_name: str) -> np.ndarray:
        raw = getattr(self, grid_name)
        grid = np.asarray(raw, dtype=float) if raw is not None else np.empty(0)
        if grid.ndim != 1 or grid.size == 0 or not np.all(np.isfinite(grid)) or np.any(grid <= 0):
            raise ValueError(
                f"{type(self).__name__}: {grid_name} must be a non-empty 1-D sequence of positive finite numbers, "
                f"got {raw!r}."
            )
        return grid

    def _candidates(self, stats: _TaskStats) -> list[dict]:
        """Every combination of the grids of the ``"cv"`` hyper-parameters (fixed ones as they are)."""
        axes = [
            self._grid(grid) if getattr(self, name) == "cv" else np.array([float(getattr(self, name))])
            for name, grid in self._tuned.items()
        ]
        mesh = np.meshgrid(*axes, indexing="ij")
        return [dict(zip(self._tuned, map(float, values))) for values in zip(*(m.ravel() for m in mesh))]

    def _is_tuned(self) -> bool:
        return any(isinstance(getattr(self, name), str) for name in self._tuned)

    # ---- fit ---------------------------------------------------------------------------------------
    def fit(self, X, Y):
        """Fit on the observed entries of ``Y``, choosing ``"cv"`` hyper-parameters on these rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite features of the rows of every task.
        Y : array-like of shape (n_samples, n_tasks)
            Labels; NaN where a row has no label for a task. Every task needs >= 2 observed rows.

        Returns
        -------
        self
        """
        self._validate_params()
        X, Y = self._check_X_Y(X, Y)
        stats = _task_stats(X, Y, self.fit_intercept)
        candidates = self._candidates(stats)
        if self._is_tuned():
            scores = self._cross_validate(X, Y, candidates)
            mean = np.nanmean(np.where(np.isnan(scores).all(axis=1, keepdims=True), -np.inf, scores), axis=1)
            best = candidates[int(np.argmax(mean))]
            self.cv_results_ = {
                **{name: np.array([c[name] for c in candidates]) for name in self._tuned},
                "mean_test_score": mean,
                "std_test_score": np.nanstd(scores, axis=1),
                "split_test_scores": scores,
            }
        else:
            best = candidates[0]
            self.cv_results_ = None
        for name, value in best.items():
            setattr(self, f"{name}_", value)
        fit = self._solve(stats, [best])[0]
        self.coef_, self.intercept_ = fit.coef, fit.intercept
        self.n_tasks_ = Y.shape[1]
        self._set_diagnostics(fit)
        return self

    def _set_diagnostics(self, fit: _Fit) -> None:
        """Store solver diagnostics of the final fit (iterative solvers override)."""

    def _cross_validate(self, X: np.ndarray, Y: np.ndarray, candidates: list[dict]) -> np.ndarray:
        folds = _task_stratified_folds(~np.isnan(Y), self.cv, self.random_state)
        scores = np.full((len(candidates), len(folds)), np.nan)
        for k, (train, test) in enumerate(folds):
            fits = self._solve(_task_stats(X[train], Y[train], self.fit_intercept), candidates)
            Y_test = Y[test]
            rows, tasks = np.nonzero(~np.isnan(Y_test))
            X_obs, y_obs = X[test][rows], Y_test[rows, tasks]
            for j, fit in enumerate(fits):
                pred = np.einsum("nd,nd->n", X_obs, fit.coef[tasks]) + fit.intercept[tasks]
                scores[j, k] = _pooled_ev_or_nan(y_obs, pred)
        return scores

    def _solve(self, stats: _TaskStats, candidates: list[dict]) -> list[_Fit]:  # pragma: no cover - abstract
        raise NotImplementedError

    # ---- predict / score ---------------------------------------------------------------------------
    def predict(self, X) -> np.ndarray:
        """Predictions of every task for every row, shape (n_samples, n_tasks)."""
        check_is_fitted(self, "coef_")
        X = self._check_X(X, reset=False)
        return X @ self.coef_.T + self.intercept_

    def score(self, X, Y, sample_weight=None) -> float:
        """:func:`explained_variance` of :meth:`predict` pooled over the observed entries of ``Y``.

        ``sample_weight`` is not supported (sklearn's signature); pass None.
        """
        if sample_weight is not None:
            raise ValueError(f"{type(self).__name__}.score does not support sample_weight; pass None.")
        return explained_variance(Y, self.predict(X))

    def selection_protocol(self) -> str:
        """``"train_cv"`` when a hyper-parameter is ``"cv"`` (k-fold CV on the training rows), else ``"none"``."""
        return "train_cv" if self._is_tuned() else "none"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = False
        tags.target_tags.required = True
        return tags


_SHARED_PARAMS_DOC = """
    fit_intercept : bool, default=True
        Fit unpenalised intercepts by centring ``X`` and ``y``: one per task, centred per task
        (:class:`PooledRidge`: one for all tasks, centred over all observed entries).
    cv : int, default=3
        Number of folds of the inner cross-validation (used only when a hyper-parameter is ``"cv"``).
    random_state : int, RandomState or None, default=None
        Seeds the assignment of rows to folds."""

_SHARED_ATTRS_DOC = """
    coef_ : ndarray of shape (n_tasks, n_features)
        Row ``t`` is task ``t``'s weight vector :math:`w_t`.
    intercept_ : ndarray of shape (n_tasks,)
    n_tasks_ : int
    n_features_in_ : int
    cv_results_ : dict or None
        With a ``"cv"`` hyper-parameter: the candidate values (one array per hyper-parameter name),
        ``mean_test_score``, ``std_test_score`` and ``split_test_scores`` (n_candidates, cv) of the
        held-out pooled explained variance. ``None`` when every hyper-parameter is fixed (no CV runs)."""


_RIDGE_PARAMS_DOC = """
    reg : float or "cv", default="cv"
        :math:`\\lambda > 0`, or ``"cv"`` to choose it from ``reg_grid``.
    reg_grid : sequence of float, default=DEFAULT_REG_GRID
        Candidate values of ``reg`` for ``reg="cv"``.""" + _SHARED_PARAMS_DOC


def _doc(cls):
    """Fill the shared parts of a class docstring (``{ridge_params}``, ``{shared_params}``, ``{shared_attrs}``)."""
    parts = {"ridge_params": _RIDGE_PARAMS_DOC, "shared_params": _SHARED_PARAMS_DOC, "shared_attrs": _SHARED_ATTRS_DOC}
    for key, text in parts.items():
        cls.__doc__ = cls.__doc__.replace("    {" + key + "}", text.strip("\n"))
    return cls


# ---------------------------------------------------------------------------------------------------
# Independent and pooled ridge
# ---------------------------------------------------------------------------------------------------
class _OnePenalty(_BaseMultiTaskLinear):
    """The constructor of the estimators with one ridge penalty ``reg``."""

    def __init__(self, *, reg="cv", reg_grid=DEFAULT_REG_GRID, fit_intercept=True, cv=3, random_state=None):
        self.reg = reg
        self.reg_grid = reg_grid
        self.fit_intercept = fit_intercept
        self.cv = cv
        self.random_state = random_state


@_doc
@register("single_task_ridge", setting="inductive", family="multi_task")
class SingleTaskRidge(_OnePenalty):
    r"""Independent ridge regression per task (no transfer): the multi-task baseline.

    .. math::

        \min_{w_t, b_t} \; \sum_{i \in \Omega_t} (y_{it} - x_i^\top w_t - b_t)^2 + \lambda \|w_t\|_2^2
        \qquad \text{for each task } t,

    solved exactly (eigendecomposition of each task's centred Gram matrix). One :math:`\lambda` is
    shared by all tasks and, with ``reg="cv"``, chosen by the pooled held-out explained variance.

    Parameters
    ----------
    {ridge_params}

    Attributes
    ----------
    reg_ : float
        The penalty used (chosen or given).
    {shared_attrs}

    References
    ----------
    .. [1] Hoerl, Kennard. "Ridge regression: biased estimation for nonorthogonal problems."
       Technometrics 12(1), 1970.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 3)); Y = np.full((40, 2), np.nan)
    >>> Y[:20, 0] = X[:20] @ [1.0, 0, 0]; Y[20:, 1] = X[20:] @ [0, 1.0, 0]
    >>> SingleTaskRidge(reg=1e-6).fit(X, Y).coef_.round(3) + 0.0
    array([[1., 0., 0.],
           [0., 1., 0.]])
    """

    def _solve(self, stats, candidates):
        fits = []
        for cand in candidates:
            coef = stats.ridge(cand["reg"])
            fits.append(_Fit(coef, stats.intercepts(coef)))
        return fits


@_doc
@register("pooled_ridge", setting="inductive", family="multi_task")
class PooledRidge(_OnePenalty):
    r"""One ridge regression on the rows of all tasks pooled (the task is ignored).

    .. math::

        \min_{w, b} \; \sum_{t=1}^{T} \sum_{i \in \Omega_t} (y_{it} - x_i^\top w - b)^2 + \lambda \|w\|_2^2 .

    Every task gets the same prediction (the rows of ``coef_`` are equal, and so are the entries
    of ``intercept_``); with ``fit_intercept=True`` there is **one** intercept
    (centring over all observed entries), so a per-task offset is not modelled — on School the
    school-level features have to explain the school effect. A row observed in several tasks counts
    once per observed label.

    Parameters
    ----------
    {ridge_params}

    Attributes
    ----------
    reg_ : float
        The penalty used (chosen or given).
    {shared_attrs}

    References
    ----------
    .. [1] Hoerl, Kennard. "Ridge regression: biased estimation for nonorthogonal problems."
       Technometrics 12(1), 1970.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 3)); Y = np.full((40, 2), np.nan)
    >>> Y[:20, 0] = X[:20] @ [1.0, 0, 0]; Y[20:, 1] = X[20:] @ [1.0, 0, 0]
    >>> PooledRidge(reg=1e-6).fit(X, Y).coef_.round(3) + 0.0
    array([[1., 0., 0.],
           [1., 0., 0.]])
    """

    def _solve(self, stats, candidates):
        # Pool the per-task statistics; with an intercept, re-centre on the pooled means (parallel axes).
        weights = stats.n.astype(float)
        gram, cross = stats.gram.sum(axis=0), stats.cross.sum(axis=0)
        x_mean, y_mean = np.zeros(stats.n_features), 0.0
        if self.fit_intercept:
            x_mean = weights @ stats.x_mean / weights.sum()
            y_mean = float(weights @ stats.y_mean / weights.sum())
            dx, dy = stats.x_mean - x_mean, stats.y_mean - y_mean
            gram = gram + (dx * weights[:, None]).T @ dx
            cross = cross + (dx * weights[:, None]).T @ dy
        eigvals, eigvecs = np.linalg.eigh(gram)
        proj = eigvecs.T @ cross
        fits = []
        for cand in candidates:
            w = eigvecs @ (proj / (np.maximum(eigvals, 0.0) + cand["reg"]))
            coef = np.tile(w, (stats.n_tasks, 1))
            fits.append(_Fit(coef, np.full(stats.n_tasks, y_mean - x_mean @ w)))
        return fits


# ---------------------------------------------------------------------------------------------------
# Evgeniou & Pontil (2004): w_t = w_0 + v_t
# ---------------------------------------------------------------------------------------------------
@_doc
@register("mean_regularized_mtl", setting="inductive", family="multi_task")
class MeanRegularizedMTL(_BaseMultiTaskLinear):
    r"""Regularised multi-task learning: each task is a shared mean plus a small deviation (Evgeniou & Pontil, KDD 2004).

    .. math::

        \min_{w_0, v_1, \dots, v_T, b} \; \sum_{t=1}^{T} \sum_{i \in \Omega_t}
            \big(y_{it} - x_i^\top (w_0 + v_t) - b_t\big)^2
            + \lambda_1 \sum_{t=1}^{T} \|v_t\|_2^2 + \lambda_0 \|w_0\|_2^2 ,
        \qquad w_t = w_0 + v_t .

    :math:`\lambda_1` (``reg``) pulls every task towards the mean model :math:`w_0`; :math:`\lambda_0`
    (``reg_shared``) shrinks the mean model. :math:`\lambda_1 \to \infty` gives :class:`PooledRidge`
    with :math:`\lambda = \lambda_0` (same weights; with ``fit_intercept`` the intercepts stay per
    task), :math:`\lambda_0 \to \infty` gives :class:`SingleTaskRidge` with :math:`\lambda = \lambda_1`.
    The paper's :math:`\lambda_1/T` is our :math:`\lambda_1`.

    **Solver (exact).** For fixed :math:`w_0`, :math:`v_t = (A_t + \lambda_1 I)^{-1}(c_t - A_t w_0)`
    with :math:`A_t = X_t^\top X_t`, :math:`c_t = X_t^\top y_t`; substituting back leaves a
    :math:`d \times d` system for the shared part,

    .. math::

        \Big(\sum_t \lambda_1 A_t (A_t + \lambda_1 I)^{-1} + \lambda_0 I\Big)\, w_0
        = \sum_t \lambda_1 (A_t + \lambda_1 I)^{-1} c_t ,

    evaluated with one eigendecomposition of each :math:`A_t` (shared by every grid point), instead of
    the :math:`(T+1)d`-column augmented ridge.

    Parameters
    ----------
    reg : float or "cv", default="cv"
        :math:`\lambda_1 > 0`, the penalty of the task-specific deviations :math:`v_t`.
    reg_shared : float or "cv", default="cv"
        :math:`\lambda_0 > 0`, the penalty of the shared weights :math:`w_0`.
    reg_grid, reg_shared_grid : sequence of float, default=DEFAULT_REG_GRID
        Candidate values for ``"cv"``; with both ``"cv"`` the whole product grid is searched.
    {shared_params}

    Attributes
    ----------
    reg_, reg_shared_ : float
        The penalties used (chosen or given).
    coef_shared_ : ndarray of shape (n_features,)
        The shared weights :math:`w_0`; ``coef_[t] - coef_shared_`` is :math:`v_t`.
    {shared_attrs}

    References
    ----------
    .. [1] Evgeniou, Pontil. "Regularized multi-task learning." KDD 2004, 109-117.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 3)); Y = np.full((40, 2), np.nan)
    >>> Y[:20, 0] = X[:20] @ [1.0, 0, 0]; Y[20:, 1] = X[20:] @ [1.2, 0, 0]
    >>> MeanRegularizedMTL(reg=10.0, reg_shared=1e-6).fit(X, Y).coef_shared_.round(2) + 0.0
    array([1.1, 0. , 0. ])
    """

    _tuned = {"reg": "reg_grid", "reg_shared": "reg_shared_grid"}

    _parameter_constraints = {
        **_BaseMultiTaskLinear._parameter_constraints,
        "reg_shared": _REG,
        "reg_shared_grid": ["array-like"],
    }

    def __init__(
        self,
        *,
        reg="cv",
        reg_shared="cv",
        reg_grid=DEFAULT_REG_GRID,
        reg_shared_grid=DEFAULT_REG_GRID,
        fit_intercept=True,
        cv=3,
        random_state=None,
    ):
        self.reg = reg
        self.reg_shared = reg_shared
        self.reg_grid = reg_grid
        self.reg_shared_grid = reg_shared_grid
        self.fit_intercept = fit_intercept
        self.cv = cv
        self.random_state = random_state

    def _solve(self, stats, candidates):
        V, s = stats.eigvecs, stats.eigvals
        proj = np.einsum("tji,tj->ti", V, stats.cross)  # U_tᵀ c_t
        eye = np.eye(stats.n_features)
        by_reg: dict[float, tuple[np.ndarray, np.ndarray]] = {}
        fits = []
        for cand in candidates:
            lam1, lam0 = cand["reg"], cand["reg_shared"]
            if lam1 not in by_reg:
                shrink = lam1 / (s + lam1)  # eigenvalues of lam1 (A + lam1 I)^{-1}
                lhs = np.einsum("tij,tj,tkj->ik", V, s * shrink, V)  # sum_t lam1 A_t (A_t + lam1 I)^{-1}
                rhs = np.einsum("tij,tj->i", V, shrink * proj)  # sum_t lam1 (A_t + lam1 I)^{-1} c_t
                by_reg[lam1] = (lhs, rhs)
            lhs, rhs = by_reg[lam1]
            w0 = np.linalg.solve(lhs + lam0 * eye, rhs)
            # v_t = (A_t + lam1 I)^{-1} (c_t - A_t w0), in each task's eigenbasis
            v = np.einsum("tij,tj->ti", V, (proj - s * (np.einsum("tji,j->ti", V, w0))) / (s + lam1))
            coef = w0 + v
            fits.append(_Fit(coef, stats.intercepts(coef), aux=w0))
        return fits

    def _set_diagnostics(self, fit: _Fit) -> None:
        self.coef_shared_ = fit.aux


# ---------------------------------------------------------------------------------------------------
# Trace-norm regularisation (accelerated proximal gradient)
# ---------------------------------------------------------------------------------------------------
_ITER_CONSTRAINTS = {
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "tol": [Interval(Real, 0, None, closed="left")],
}


def _fista_trace_norm(stats: _TaskStats, reg: float, W0: np.ndarray, max_iter: int, tol: float):
    """FISTA with gradient-based adaptive restart on ``loss(W) + reg ||W||_*`` (W of shape (T, d)).

    ``A Z`` is never recomputed: the extrapolation ``Z = W + beta (W - W_prev)`` is linear, so
    ``A Z = A W + beta (A W - A W_prev)``; one batched product per iteration.
    """
    lipschitz = 2.0 * float(stats.eigvals.max(initial=0.0))
    if lipschitz == 0.0:  # no task has varying features: W = 0 is optimal
        W = np.zeros_like(W0)
        return W, 1, True, np.array([stats.loss(W)])
    step = 1.0 / lipschitz
    const = float(np.sum(stats.yy))
    W, Z, momentum = W0.copy(), W0.copy(), 1.0
    AW = _batched_matvec(stats.gram, W)
    AZ = AW
    history = np.empty(max_iter)
    for k in range(max_iter):
        W_new, sv = _svt(Z - (2.0 * step) * (AZ - stats.cross), reg * step)
        AW_new = _batched_matvec(stats.gram, W_new)
        history[k] = float(np.sum(W_new * (AW_new - 2.0 * stats.cross))) + const + reg * float(sv.sum())
        delta = W_new - W
        if np.sum((Z - W_new) * delta) > 0:  # the momentum points uphill: restart (O'Donoghue & Candes)
            momentum, Z, AZ = 1.0, W_new, AW_new
        else:
            next_momentum = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * momentum**2))
            beta = (momentum - 1.0) / next_momentum
            Z, AZ = W_new + beta * delta, AW_new + beta * (AW_new - AW)
            momentum = next_momentum
        W, AW = W_new, AW_new
        if np.linalg.norm(delta) <= tol * max(1.0, np.linalg.norm(W)):
            return W, k + 1, True, history[: k + 1]
    return W, max_iter, False, history


def _warn_not_converged(estimator, fit: _Fit) -> None:
    if not fit.converged:
        warnings.warn(
            f"{type(estimator).__name__} did not converge in max_iter={estimator.max_iter} iterations "
            f"(tol={estimator.tol}); increase max_iter or tol.",
            ConvergenceWarning,
            stacklevel=4,  # the caller of fit
        )


@_doc
@register("trace_norm_mtl", setting="inductive", family="multi_task")
class TraceNormMTL(_BaseMultiTaskLinear):
    r"""Trace-norm regularised multi-task regression: the task weights share a low-rank subspace.

    With :math:`W = [w_1, \dots, w_T]` (``coef_.T``),

    .. math::

        \min_{W, b} \; \sum_{t=1}^{T} \sum_{i \in \Omega_t} (y_{it} - x_i^\top w_t - b_t)^2
            + \lambda \|W\|_* ,
        \qquad \|W\|_* = \sum_k \sigma_k(W),

    the convex relaxation of a shared low-dimensional feature space (Argyriou et al., 2008; Pong et
    al., 2010); MALSAR's ``Least_Trace`` with its :math:`\rho_1 = \lambda/2`. Intercepts are per task
    and unpenalised (centring). The loss is the plain sum over observed entries (no :math:`1/n_t`), as
    in the other estimators of this module.

    **Solver.** Accelerated proximal gradient (FISTA, Beck & Teboulle 2009; Ji & Ye 2009 for the
    trace norm) with step :math:`1/L`, :math:`L = 2\max_t \lambda_{\max}(X_t^\top X_t)`, the prox
    :func:`singular_value_thresholding`, and gradient-based adaptive restart (O'Donoghue & Candès
    2015). It stops when :math:`\|W^{k+1} - W^k\|_F \le \mathrm{tol}\cdot\max(1, \|W^{k+1}\|_F)`.
    The CV search runs each fold's grid from the largest :math:`\lambda` down, warm-starting each
    solve from the previous one.

    Parameters
    ----------
    reg : float or "cv", default="cv"
        :math:`\lambda > 0`, or ``"cv"`` to choose it from the grid.
    reg_grid : sequence of float or None, default=None
        Candidate values of ``reg``. ``None``: ``TRACE_NORM_REG_FRACTIONS`` times
        :math:`\lambda_{\max} = 2\|[c_1, \dots, c_T]\|_2` (the smallest :math:`\lambda` with
        :math:`W = 0`, :math:`c_t = X_t^\top y_t` centred) of all training rows, so that the grid
        follows the scale of ``y`` (the trace norm, unlike a squared penalty, is not scale-free).
    max_iter : int, default=5000
        Maximum number of FISTA iterations per solve.
    tol : float, default=1e-6
        Relative tolerance of the stopping rule above.
    {shared_params}

    Attributes
    ----------
    reg_ : float
        The penalty used (chosen or given).
    n_iter_ : int
        FISTA iterations of the final fit.
    objective_history_ : ndarray of shape (n_iter_,)
        The objective after each iteration of the final fit (centred data).
    {shared_attrs}

    References
    ----------
    .. [1] Pong, Tseng, Ji, Ye. "Trace norm regularization: reformulations, algorithms, and
       multi-task learning." SIAM J. Optim. 20(6), 2010.
    .. [2] Argyriou, Evgeniou, Pontil. "Convex multi-task feature learning." Machine Learning 73(3), 2008.
    .. [3] Ji, Ye. "An accelerated gradient method for trace norm minimization." ICML 2009.
    .. [4] Beck, Teboulle. "A fast iterative shrinkage-thresholding algorithm for linear inverse
       problems." SIAM J. Imaging Sci. 2(1), 2009.
    .. [5] O'Donoghue, Candès. "Adaptive restart for accelerated gradient schemes." Found. Comput.
       Math. 15, 2015.
    .. [6] Zhou, Chen, Ye. "MALSAR: Multi-tAsk Learning via StructurAl Regularization." Arizona
       State University, 2011.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 4)); Y = np.full((60, 3), np.nan)
    >>> for t in range(3): Y[20 * t:20 * (t + 1), t] = X[20 * t:20 * (t + 1)] @ [1.0, 1.0, 0, 0] * (t + 1)
    >>> est = TraceNormMTL(reg=5.0).fit(X, Y)
    >>> int(np.sum(np.linalg.svd(est.coef_, compute_uv=False) > 1e-6))  # rank 1: one shared direction
    1
    """

    _parameter_constraints = {
        **_BaseMultiTaskLinear._parameter_constraints,
        "reg_grid": ["array-like", None],
        **_ITER_CONSTRAINTS,
    }

    def __init__(
        self, *, reg="cv", reg_grid=None, max_iter=5000, tol=1e-6, fit_intercept=True, cv=3, random_state=None
    ):
        self.reg = reg
        self.reg_grid = reg_grid
        self.max_iter = max_iter
        self.tol = tol
        self.fit_intercept = fit_intercept
        self.cv = cv
        self.random_state = random_state

    @staticmethod
    def _reg_max(stats: _TaskStats) -> float:
        return 2.0 * float(np.linalg.norm(stats.cross, ord=2))

    def _candidates(self, stats):
        if self.reg == "cv" and self.reg_grid is None:
            reg_max = self._reg_max(stats)
            if reg_max == 0.0:  # y is constant within every task: any reg gives W = 0
                return [{"reg": 1.0}]
            return [{"reg": reg_max * f} for f in TRACE_NORM_REG_FRACTIONS]
        return super()._candidates(stats)

    def _solve(self, stats, candidates):
        fits: list[_Fit | None] = [None] * len(candidates)
        W = np.zeros((stats.n_tasks, stats.n_features))
        for j in np.argsort([-c["reg"] for c in candidates], kind="stable"):  # largest reg first
            W, n_iter, converged, history = _fista_trace_norm(stats, candidates[j]["reg"], W, self.max_iter, self.tol)
            fits[j] = _Fit(W, stats.intercepts(W), n_iter, converged, history)
        return fits

    def _set_diagnostics(self, fit: _Fit) -> None:
        self.n_iter_ = fit.n_iter
        self.objective_history_ = fit.objective_history
        _warn_not_converged(self, fit)


# ---------------------------------------------------------------------------------------------------
# Argyriou, Evgeniou & Pontil (2008): multi-task feature learning, alternating algorithm
# ---------------------------------------------------------------------------------------------------
def _sqrt_psd(C: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    eigvals, eigvecs = np.linalg.eigh(C)
    return np.sqrt(np.maximum(eigvals, 0.0)), eigvecs, eigvals


def _mtfl_alternating(stats: _TaskStats, gamma: float, epsilon: float, D_root: np.ndarray, max_iter: int, tol: float):
    """Alternate the W-step and the D-step of Argyriou et al. (2008), from ``D = D_root²``."""
    d = stats.n_features
    eye = np.eye(d)
    W = np.zeros((stats.n_tasks, d))
    history = np.empty(max_iter)
    for k in range(max_iter):
        # W-step: w_t = D^{1/2} (D^{1/2} A_t D^{1/2} + gamma I)^{-1} D^{1/2} c_t  (no inverse of D needed)
        lhs = D_root @ stats.gram @ D_root + gamma * eye
        u = np.linalg.solve(lhs, (stats.cross @ D_root)[..., None])[..., 0]
        W_new = u @ D_root
        # D-step: D = (W Wᵀ + eps I)^{1/2} / trace(...)   (W here is d x T, i.e. coef_.T)
        roots, vecs, _ = _sqrt_psd(W_new.T @ W_new + epsilon * eye)
        D_root = (vecs * np.sqrt(roots / roots.sum())) @ vecs.T
        W = W_new
        history[k] = stats.loss(W) + gamma * roots.sum() ** 2
        if k > 0 and history[k - 1] - history[k] <= tol * history[k]:
            return W, D_root, k + 1, True, history[: k + 1]
    return W, D_root, max_iter, False, history


@_doc
@register("mtfl", setting="inductive", family="multi_task")
class MultiTaskFeatureLearning(_BaseMultiTaskLinear):
    r"""Convex multi-task feature learning, alternating algorithm (Argyriou, Evgeniou & Pontil, 2008).

    The tasks share a learned feature covariance :math:`D` (:math:`d \times d`, PSD, trace 1):

    .. math::

        \min_{W, D, b} \; \sum_{t=1}^{T} \sum_{i \in \Omega_t} (y_{it} - x_i^\top w_t - b_t)^2
            + \gamma \operatorname{tr}\!\big(D^{-1}(W W^\top + \varepsilon I)\big)
        \quad \text{s.t. } D \succ 0,\ \operatorname{tr} D \le 1 ,

    with :math:`W = [w_1, \dots, w_T]` (``coef_.T``). Minimising over :math:`D` gives
    :math:`D = (WW^\top + \varepsilon I)^{1/2} / \operatorname{tr}(\cdot)` and leaves
    :math:`\gamma \big(\operatorname{tr}(WW^\top + \varepsilon I)^{1/2}\big)^2`, which for
    :math:`\varepsilon \to 0` is :math:`\gamma\|W\|_*^2`: the same solution path as
    :class:`TraceNormMTL` (a solution for :math:`\gamma` solves the trace-norm problem with
    :math:`\lambda = 2\gamma\|W\|_*`). This is the method of the paper's School experiment.

    **Solver.** The paper's alternating minimisation (its Algorithm 2 with the
    :math:`\varepsilon`-perturbation): the W-step is one ridge-like solve per task,
    :math:`w_t = D^{1/2}(D^{1/2}A_tD^{1/2} + \gamma I)^{-1}D^{1/2}c_t`, the D-step the closed form
    above; the objective never increases. Every solve starts from :math:`D = I/d` (on School, warm
    starts along the grid need about five times more alternations: a :math:`D` collapsed by a large
    :math:`\gamma` is slow to reopen). It stops when the objective
    :math:`F` decreases by less than :math:`\mathrm{tol}\cdot F` in one alternation. The alternation
    has a slow tail (on School, :math:`W` still moves by a few percent after the objective has
    settled to :math:`10^{-6}`, with no visible change of the held-out error); lower ``tol`` for a
    tighter solution.

    Parameters
    ----------
    reg : float or "cv", default="cv"
        :math:`\gamma > 0`, or ``"cv"`` to choose it from ``reg_grid``. Like a ridge penalty it does
        not depend on the scale of ``y``.
    reg_grid : sequence of float, default=DEFAULT_REG_GRID
        Candidate values of ``reg`` for ``reg="cv"``.
    epsilon : float, default=1e-4
        :math:`\varepsilon > 0`, the perturbation that keeps :math:`D` invertible (in units of
        :math:`W^2`: small against the squared weights).
    max_iter : int, default=1000
        Maximum number of alternations per solve.
    tol : float, default=1e-6
        Relative decrease of the objective below which the alternation stops.
    {shared_params}

    Attributes
    ----------
    reg_ : float
        The :math:`\gamma` used (chosen or given).
    feature_covariance_ : ndarray of shape (n_features, n_features)
        The learned :math:`D` (trace 1); its leading eigenvectors are the shared features.
    n_iter_ : int
        Alternations of the final fit.
    objective_history_ : ndarray of shape (n_iter_,)
        The objective (minimised over :math:`D`) after each alternation of the final fit.
    {shared_attrs}

    References
    ----------
    .. [1] Argyriou, Evgeniou, Pontil. "Convex multi-task feature learning." Machine Learning 73(3),
       243-272, 2008.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 4)); Y = np.full((60, 3), np.nan)
    >>> for t in range(3): Y[20 * t:20 * (t + 1), t] = X[20 * t:20 * (t + 1)] @ [1.0, 1.0, 0, 0] * (t + 1)
    >>> est = MultiTaskFeatureLearning(reg=1.0).fit(X, Y)
    >>> round(float(np.linalg.eigvalsh(est.feature_covariance_)[-1]), 1)  # one dominant shared feature
    1.0
    """

    _parameter_constraints = {
        **_BaseMultiTaskLinear._parameter_constraints,
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        **_ITER_CONSTRAINTS,
    }

    def __init__(
        self,
        *,
        reg="cv",
        reg_grid=DEFAULT_REG_GRID,
        epsilon=1e-4,
        max_iter=1000,
        tol=1e-6,
        fit_intercept=True,
        cv=3,
        random_state=None,
    ):
        self.reg = reg
        self.reg_grid = reg_grid
        self.epsilon = epsilon
        self.max_iter = max_iter
        self.tol = tol
        self.fit_intercept = fit_intercept
        self.cv = cv
        self.random_state = random_state

    def _solve(self, stats, candidates):
        fits = []
        start = np.eye(stats.n_features) / np.sqrt(stats.n_features)  # D^{1/2} of D = I / d
        for cand in candidates:
            W, D_root, n_iter, converged, history = _mtfl_alternating(
                stats, cand["reg"], self.epsilon, start, self.max_iter, self.tol
            )
            fits.append(_Fit(W, stats.intercepts(W), n_iter, converged, history, aux=D_root @ D_root))
        return fits

    def _set_diagnostics(self, fit: _Fit) -> None:
        self.feature_covariance_ = fit.aux
        self.n_iter_ = fit.n_iter
        self.objective_history_ = fit.objective_history
        _warn_not_converged(self, fit)
