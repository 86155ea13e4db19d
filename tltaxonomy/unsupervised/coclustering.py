r"""Information-theoretic co-clustering and self-taught clustering.

Rows (documents, images) and columns (words, visual words) of a non-negative matrix are read as a
joint distribution :math:`p(X, Z)` (the matrix divided by its sum).

- :class:`InformationTheoreticCoClustering` (Dhillon, Mallela & Modha 2003) clusters the rows into
  :math:`\hat X` and the columns into :math:`\hat Z` so as to lose as little mutual information as
  possible, :math:`\min I(X; Z) - I(\hat X; \hat Z)`, by alternating row and column reassignments that
  never increase the loss. It is the target-only baseline of self-taught clustering.
- :class:`SelfTaughtClustering` (Dai, Yang, Xue & Yu 2008) co-clusters a small target set :math:`X`
  and a large unlabelled auxiliary set :math:`Y` that share the feature space :math:`Z`, with **one**
  feature clustering :math:`\hat Z` for both:

  .. math:: \min_{\hat X, \hat Y, \hat Z}\; \big[I(X; Z) - I(\hat X; \hat Z)\big]
            + \lambda \big[I(Y; Z) - I(\hat Y; \hat Z)\big],

  so the auxiliary data shape the feature clusters the target is clustered with.

Both accept dense arrays or scipy sparse matrices (word counts) and keep the lowest objective over
``n_init`` random starts (an unsupervised criterion: no label is ever used).

References
----------
I. S. Dhillon, S. Mallela, D. S. Modha. Information-theoretic co-clustering. KDD 2003.
W. Dai, Q. Yang, G.-R. Xue, Y. Yu. Self-taught clustering. ICML 2008.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval

from ..base import BaseTransferClusterer, check_input
from ..registry import register

__all__ = [
    "InformationTheoreticCoClustering",
    "SelfTaughtClustering",
    "coclustering_loss",
    "joint_distribution",
]

#: added to the co-cluster distributions before taking logs (an empty co-cluster would give log 0)
_EPS = 1e-12


def joint_distribution(name: str, X) -> sp.csr_matrix:
    """``X`` (non-negative, not all zero) divided by its sum, as a CSR matrix."""
    P = sp.csr_matrix(X, dtype=np.float64, copy=True)
    if P.shape[0] == 0 or P.shape[1] == 0:
        raise ValueError(f"{name}: X has shape {P.shape}; pass at least one row and one column.")
    if P.data.size and (not np.all(np.isfinite(P.data)) or P.data.min() < 0):
        raise ValueError(
            f"{name}: Negative values in data (or non-finite ones): co-clustering reads X as a joint distribution, "
            "so it must be finite and non-negative (e.g. word counts or TF-IDF); shift or clip the features, or use "
            "FeatureKMeans for real-valued data."
        )
    total = P.sum()
    if total <= 0:
        raise ValueError(f"{name}: X sums to 0; pass a non-negative matrix with some mass.")
    P.data /= total
    P.eliminate_zeros()
    return P


def _one_hot(labels: np.ndarray, k: int) -> sp.csr_matrix:
    n = labels.size
    return sp.csr_matrix((np.ones(n), (np.arange(n), labels)), shape=(n, k))


def _mutual_information(P: np.ndarray | sp.spmatrix) -> float:
    """:math:`I = \\sum p(a, b) \\log \\frac{p(a, b)}{p(a) p(b)}` of a joint distribution (dense or sparse)."""
    P = sp.coo_matrix(P)
    pa = np.asarray(P.sum(axis=1)).ravel()
    pb = np.asarray(P.sum(axis=0)).ravel()
    m = P.data > 0
    v, r, c = P.data[m], P.row[m], P.col[m]
    return float(np.sum(v * np.log(v / (pa[r] * pb[c]))))


def coclustering_loss(P, row_labels: np.ndarray, col_labels: np.ndarray, n_row_clusters: int, n_col_clusters: int) -> float:
    r"""The information lost by a co-clustering: :math:`I(X; Z) - I(\hat X; \hat Z)` (nats).

    Equal to :math:`\mathrm{KL}(p(X, Z) \,\|\, q(X, Z))` with
    :math:`q(x, z) = p(\hat x, \hat z)\, p(x \mid \hat x)\, p(z \mid \hat z)` (Dhillon et al. 2003, Lemma 2.1).
    """
    P = sp.csr_matrix(P)
    R, C = _one_hot(row_labels, n_row_clusters), _one_hot(col_labels, n_col_clusters)
    compressed = (R.T @ P @ C).toarray()
    return _mutual_information(P) - _mutual_information(compressed)


@dataclass
class _Side:
    """One joint distribution p(rows, Z) with its row clustering (target or auxiliary)."""

    P: sp.csr_matrix  # joint distribution, rows x features
    k: int  # number of row clusters
    labels: np.ndarray  # row cluster of each row
    p_row: np.ndarray
    p_col: np.ndarray
    cond_rows: sp.csr_matrix  # p(Z | x): rows normalised
    cond_cols: sp.csr_matrix  # p(X | z) as a features x rows matrix, rows normalised

    @classmethod
    def build(cls, P: sp.csr_matrix, k: int, labels: np.ndarray) -> _Side:
        p_row = np.asarray(P.sum(axis=1)).ravel()
        p_col = np.asarray(P.sum(axis=0)).ravel()
        inv_r = sp.diags(np.divide(1.0, p_row, out=np.zeros_like(p_row), where=p_row > 0))
        inv_c = sp.diags(np.divide(1.0, p_col, out=np.zeros_like(p_col), where=p_col > 0))
        return cls(P, k, labels, p_row, p_col, (inv_r @ P).tocsr(), (inv_c @ P.T).tocsr())

    def compressed(self, col_labels: np.ndarray, l: int) -> np.ndarray:
        R, C = _one_hot(self.labels, self.k), _one_hot(col_labels, l)
        return (R.T @ self.P @ C).toarray()

    def update_rows(self, col_labels: np.ndarray, l: int) -> None:
        r"""Each row to the cluster :math:`\arg\min_{\hat x} \mathrm{KL}(p(Z|x) \| q(Z|\hat x))` with
        :math:`q(z|\hat x) = p(z|\hat z)\, p(\hat z|\hat x)`."""
        J = self.compressed(col_labels, l)  # p(x^, z^)
        p_xhat = J.sum(axis=1, keepdims=True)
        p_zhat = np.bincount(col_labels, weights=self.p_col, minlength=l)
        q_zhat_given_xhat = (J + _EPS) / (p_xhat + l * _EPS)  # k x l
        p_z_given_zhat = self.p_col / np.maximum(p_zhat[col_labels], _EPS)  # per feature
        log_q = np.log(np.maximum(p_z_given_zhat, _EPS))[:, None] + np.log(q_zhat_given_xhat.T[col_labels])  # features x k
        scores = np.asarray(self.cond_rows @ log_q)  # rows x k: sum_z p(z|x) log q(z|x^)
        self.labels = _argmax_keep_nonempty(scores, self.labels, self.p_row > 0)

    def column_scores(self, col_labels: np.ndarray, l: int) -> np.ndarray:
        r"""Per feature z and feature cluster :math:`\hat z`: :math:`p(z) \sum_x p(x|z) \log q(x|\hat z)`
        with :math:`q(x|\hat z) = p(x|\hat x)\, p(\hat x|\hat z)` (to be maximised)."""
        J = self.compressed(col_labels, l)  # k x l
        p_zhat = J.sum(axis=0, keepdims=True)
        p_xhat = np.bincount(self.labels, weights=self.p_row, minlength=self.k)
        q_xhat_given_zhat = (J + _EPS) / (p_zhat + self.k * _EPS)  # k x l
        p_x_given_xhat = self.p_row / np.maximum(p_xhat[self.labels], _EPS)
        log_q = np.log(np.maximum(p_x_given_xhat, _EPS))[:, None] + np.log(q_xhat_given_zhat[self.labels])  # rows x l
        return self.p_col[:, None] * np.asarray(self.cond_cols @ log_q)  # features x l


def _argmax_keep_nonempty(scores: np.ndarray, previous: np.ndarray, has_mass: np.ndarray) -> np.ndarray:
    """Row-wise argmax; rows without mass keep their cluster (their KL is 0 whatever the cluster)."""
    labels = np.argmax(scores, axis=1)
    return np.where(has_mass, labels, previous)


def _col_update(sides: list[_Side], weights: list[float], col_labels: np.ndarray, l: int) -> np.ndarray:
    total = sum(w * s.column_scores(col_labels, l) for s, w in zip(sides, weights))
    has_mass = sum(s.p_col for s in sides) > 0
    return _argmax_keep_nonempty(total, col_labels, has_mass)


def _objective(sides: list[_Side], weights: list[float], col_labels: np.ndarray, l: int) -> float:
    return float(sum(w * coclustering_loss(s.P, s.labels, col_labels, s.k, l) for s, w in zip(sides, weights)))


_CONSTRAINTS = {
    "n_clusters": [Interval(Integral, 1, None, closed="left")],
    "n_feature_clusters": [Interval(Integral, 1, None, closed="left")],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "tol": [Interval(Real, 0, None, closed="left")],
    "n_init": [Interval(Integral, 1, None, closed="left")],
    "random_state": ["random_state"],
}


class _BaseCoClustering(BaseTransferClusterer):
    """Validation, random restarts and the alternating loop shared by ITCC and STC."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.input_tags.positive_only = True
        return tags

    def _check(self, X, *, reset: bool = True) -> sp.csr_matrix:
        X = check_input(self, X, accept_sparse="csr", dtype=np.float64, reset=reset)
        return joint_distribution(type(self).__name__, X)

    def _check_k(self, what: str, k: int, n: int) -> None:
        if k > n:
            raise ValueError(f"{type(self).__name__}: {what}={k} is more than the {n} items to cluster; lower it.")

    def _run(self, sides: list[_Side], weights: list[float], l: int, n_features: int, rng) -> tuple:
        best = None
        for _ in range(int(self.n_init)):
            col = rng.randint(0, l, size=n_features)
            for s in sides:
                s.labels = rng.randint(0, s.k, size=s.P.shape[0])
            history = [_objective(sides, weights, col, l)]
            for _ in range(int(self.max_iter)):
                for s in sides:
                    s.update_rows(col, l)
                col = _col_update(sides, weights, col, l)
                history.append(_objective(sides, weights, col, l))
                if history[-2] - history[-1] <= self.tol * max(abs(history[0]), 1e-300):
                    break
            if best is None or history[-1] < best[0]:
                best = (history[-1], [s.labels.copy() for s in sides], col.copy(), history)
        self.n_iter_ = len(best[3]) - 1
        return best


@register("itcc", setting="unsupervised", family="self_taught_clustering")
class InformationTheoreticCoClustering(_BaseCoClustering):
    r"""Information-theoretic co-clustering (Dhillon, Mallela & Modha 2003) of the target rows alone.

    .. math:: \min_{\hat X, \hat Z}\; I(X; Z) - I(\hat X; \hat Z)
              = \mathrm{KL}\big(p(X, Z) \,\|\, p(\hat x, \hat z)\, p(x|\hat x)\, p(z|\hat z)\big)

    Rows and columns are reassigned in turn, each to the cluster whose prototype distribution is
    closest in KL divergence; each step never increases the loss (``objective_history_``).

    Parameters
    ----------
    n_clusters : int, default=2
        Row clusters :math:`|\hat X|`.
    n_feature_clusters : int, default=64
        Column clusters :math:`|\hat Z|` (Dai et al. 2008 use 64 for text).
    max_iter : int, default=50
        Alternations (rows then columns) per start.
    tol : float, default=1e-6
        Stop when the loss drops by less than ``tol`` times the initial loss.
    n_init : int, default=10
        Random starts; the lowest loss is kept.
    random_state : int, RandomState or None, default=None

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
    feature_labels_ : ndarray of shape (n_features,)
    objective_history_ : list of float
        The loss after initialisation and after each alternation, of the kept start.
    loss_ : float

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[5, 4, 0, 0], [4, 5, 0, 1], [0, 0, 5, 4], [1, 0, 4, 5]])
    >>> InformationTheoreticCoClustering(n_clusters=2, n_feature_clusters=2, random_state=0).fit_predict(X).tolist()
    [1, 1, 0, 0]
    """

    _parameter_constraints = dict(_CONSTRAINTS)

    def __init__(self, *, n_clusters: int = 2, n_feature_clusters: int = 64, max_iter: int = 50, tol: float = 1e-6,
                 n_init: int = 10, random_state=None):
        self.n_clusters = n_clusters
        self.n_feature_clusters = n_feature_clusters
        self.max_iter = max_iter
        self.tol = tol
        self.n_init = n_init
        self.random_state = random_state

    def fit(self, X, y=None):
        """Co-cluster the rows and columns of the non-negative matrix ``X`` (``y`` is ignored)."""
        self._validate_params()
        P = self._check(X)
        self._check_k("n_clusters", self.n_clusters, P.shape[0])
        l = min(int(self.n_feature_clusters), P.shape[1])
        rng = check_random_state(self.random_state)
        side = _Side.build(P, int(self.n_clusters), np.zeros(P.shape[0], dtype=int))
        loss, (labels,), col, history = self._run([side], [1.0], l, P.shape[1], rng)
        self.labels_, self.feature_labels_, self.objective_history_, self.loss_ = labels, col, history, loss
        return self


@register("stc", setting="unsupervised", family="self_taught_clustering")
class SelfTaughtClustering(_BaseCoClustering):
    r"""Self-taught clustering (Dai, Yang, Xue & Yu 2008): co-cluster the target with auxiliary data.

    .. math:: \min_{\hat X, \hat Y, \hat Z}\; \big[I(X; Z) - I(\hat X; \hat Z)\big]
              + \lambda\, \big[I(Y; Z) - I(\hat Y; \hat Z)\big]

    :math:`X` = the target rows, :math:`Y` = unlabelled auxiliary rows in the same feature space
    :math:`Z`. The target and auxiliary row clusters are updated as in co-clustering, each against its
    own joint distribution; a feature goes to the cluster :math:`\hat z` maximising
    :math:`p_X(z) \sum_x p(x|z) \log q(x|\hat z) + \lambda\, p_Y(z) \sum_y p(y|z) \log q(y|\hat z)`, the
    paper's update, so the feature clusters serve both. No step increases the objective
    (``objective_history_``). In ``tltax run`` the unsupervised protocol passes the task's source rows
    as ``X_auxiliary`` (rows only, never labels).

    Parameters
    ----------
    n_clusters : int, default=2
        Target clusters :math:`|\hat X|`.
    n_auxiliary_clusters : int or None, default=None
        Auxiliary clusters :math:`|\hat Y|` (``None`` = ``n_clusters``).
    n_feature_clusters : int, default=64
        Feature clusters :math:`|\hat Z|`.
    trade_off : float, default=1.0
        :math:`\lambda` (the paper's default 1).
    max_iter, tol, n_init, random_state
        As :class:`InformationTheoreticCoClustering` (the objective is the weighted sum above).

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Target clusters.
    auxiliary_labels_ : ndarray of shape (n_auxiliary,)
    feature_labels_ : ndarray of shape (n_features,)
    objective_history_ : list of float
    loss_ : float
    """

    _uses_unlabelled = True
    _parameter_constraints = {
        **_CONSTRAINTS,
        "n_auxiliary_clusters": [Interval(Integral, 1, None, closed="left"), None],
        "trade_off": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, *, n_clusters: int = 2, n_auxiliary_clusters: int | None = None, n_feature_clusters: int = 64,
                 trade_off: float = 1.0, max_iter: int = 50, tol: float = 1e-6, n_init: int = 10, random_state=None):
        self.n_clusters = n_clusters
        self.n_auxiliary_clusters = n_auxiliary_clusters
        self.n_feature_clusters = n_feature_clusters
        self.trade_off = trade_off
        self.max_iter = max_iter
        self.tol = tol
        self.n_init = n_init
        self.random_state = random_state

    def fit(self, X, y=None, *, X_auxiliary=None):
        """Co-cluster the target rows ``X`` with the auxiliary rows ``X_auxiliary`` (``y`` is ignored).

        Without ``X_auxiliary`` (or with ``trade_off=0``) this is target-only co-clustering.
        """
        self._validate_params()
        P = self._check(X)
        self._check_k("n_clusters", self.n_clusters, P.shape[0])
        l = min(int(self.n_feature_clusters), P.shape[1])
        rng = check_random_state(self.random_state)
        sides = [_Side.build(P, int(self.n_clusters), np.zeros(P.shape[0], dtype=int))]
        weights = [1.0]
        if X_auxiliary is not None:
            if getattr(X_auxiliary, "shape", (1,))[0] == 0:
                raise ValueError(f"{type(self).__name__}: X_auxiliary has no rows; pass auxiliary rows or None.")
            A = check_input(self, X_auxiliary, what="X_auxiliary", accept_sparse="csr", dtype=np.float64, reset=False)
            k_aux = int(self.n_clusters if self.n_auxiliary_clusters is None else self.n_auxiliary_clusters)
            self._check_k("n_auxiliary_clusters", k_aux, A.shape[0])
            sides.append(_Side.build(joint_distribution(type(self).__name__, A), k_aux, np.zeros(A.shape[0], dtype=int)))
            weights.append(float(self.trade_off))
        loss, labels, col, history = self._run(sides, weights, l, P.shape[1], rng)
        self.labels_ = labels[0]
        self.auxiliary_labels_ = labels[1] if len(labels) > 1 else None
        self.feature_labels_, self.objective_history_, self.loss_ = col, history, loss
        self.n_auxiliary_ = 0 if X_auxiliary is None else int(sides[1].P.shape[0])
        return self

    def fit_predict(self, X, y=None, *, X_auxiliary=None):
        """:meth:`fit`, then the target clusters ``labels_``."""
        return self.fit(X, y, X_auxiliary=X_auxiliary).labels_
