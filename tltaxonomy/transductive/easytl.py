"""EasyTL — Easy Transfer Learning by exploiting intra-domain structures (Wang et al., ICME 2019)."""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog
from sklearn.metrics.pairwise import cosine_distances, euclidean_distances
from sklearn.utils._param_validation import StrOptions

from ..base import BaseDomainAdaptationClassifier, DomainSplit
from ..registry import register
from .coral import coral_transform_matrix

__all__ = ["EasyTL", "intra_domain_programming"]


def intra_domain_programming(distances) -> np.ndarray:
    r"""EasyTL's intra-domain programming: the linear program that assigns target rows to classes.

    Given the distance :math:`D_{jc}` of each target row :math:`j` to each class centre :math:`c`,
    solve (Wang et al. 2019, Eq. 6; the authors' ``label_prop``)

    .. math::

        \min_{M}\ \sum_{j=1}^{n_t}\sum_{c=1}^{C} D_{jc} M_{jc}
        \quad\text{s.t.}\quad 0 \le M_{jc} \le 1,\qquad
        \sum_{c} M_{jc} = 1\ \ \forall j,\qquad \sum_{j} M_{jc} \ge 1\ \ \forall c .

    ``M`` is the "probability annotation matrix": every row is a distribution over classes and every
    class receives at least one target row. The objective is the distance itself (the authors' code
    has no distance-to-probability transform). The constraint matrix is the incidence matrix of the
    complete bipartite graph rows × classes, which is totally unimodular, and the right-hand sides are
    integers, so every vertex of the feasible polytope is integral: the basic optimal solution
    returned by the HiGHS solver is one-hot (up to solver round-off, ~1e-9). When the nearest centre
    of the rows already covers every class, that assignment is the optimum (the balance constraints are
    inactive) and the LP reduces to nearest-centre classification.

    Solved with :func:`scipy.optimize.linprog` (``method="highs"``), sparse constraints.

    Parameters
    ----------
    distances : array-like of shape (n_t, C)
        Non-negative costs; needs ``n_t >= C`` for the balance constraints to be feasible.

    Returns
    -------
    M : ndarray of shape (n_t, C)

    Raises
    ------
    ValueError
        If ``n_t < C`` (every class cannot get a row) or the solver fails.

    Examples
    --------
    >>> D = np.array([[0.1, 1.0], [0.2, 1.0], [0.3, 0.9]])
    >>> intra_domain_programming(D).round(6)  # class 1 must get a row: the one that costs least to move
    array([[1., 0.],
           [1., 0.],
           [0., 1.]])
    """
    D = np.asarray(distances, dtype=float)
    if D.ndim != 2 or not np.all(np.isfinite(D)):
        raise ValueError(f"intra_domain_programming: distances must be a finite 2-d array, got shape {D.shape}.")
    n_t, C = D.shape
    if n_t < C:
        raise ValueError(
            f"intra_domain_programming: {n_t} target rows cannot cover {C} classes (each class needs at least one "
            "row); pass at least as many rows as classes."
        )
    # variable j*C + c  <->  M[j, c]
    A_eq = sp.kron(sp.eye(n_t, format="csr"), np.ones((1, C)), format="csr")  # sum_c M_jc = 1
    A_ub = -sp.kron(np.ones((1, n_t)), sp.eye(C, format="csr"), format="csr")  # -sum_j M_jc <= -1
    res = linprog(
        D.ravel(), A_ub=A_ub, b_ub=-np.ones(C), A_eq=A_eq, b_eq=np.ones(n_t), bounds=(0, 1), method="highs"
    )
    if res.status != 0:
        raise ValueError(f"intra_domain_programming: the linear program failed ({res.message}).")
    M = np.clip(res.x.reshape(n_t, C), 0.0, 1.0)
    M[M == 0] = 0.0  # no -0.0
    return M


def _row_keys(X) -> list[bytes]:
    """A 16-byte digest of each row's float64 values (dense or sparse rows give the same key)."""
    X = X.toarray() if sp.issparse(X) else np.asarray(X)
    X = np.ascontiguousarray(X, dtype=np.float64) + 0.0  # + 0.0 turns -0.0 into 0.0
    return [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in X]


@register("easytl", setting="transductive", family="label_assignment")
class EasyTL(BaseDomainAdaptationClassifier):
    r"""EasyTL: CORAL intra-domain alignment + a linear program that assigns target labels (Wang et al., 2019).

    No classifier is trained and there is no hyper-parameter. Following the authors' code
    (``EasyTL.m`` / pyEasyTL, default options):

    1. **Intra-domain alignment** (``intra_align="coral"``): the source rows are re-coloured to the
       target covariance, :math:`\hat X_S = X_S A` with :math:`A = (C_S + I)^{-1/2} (C_T + I)^{1/2}`
       (:func:`~tltaxonomy.transductive.coral_transform_matrix`, ``reg=1``, ``ddof=1``). The target is
       left unchanged. ``intra_align="raw"`` skips this step: that is **EasyTL(c)** of the paper and
       of the authors' demos (``EasyTL(Xs, Ys, Xt, Yt, 'raw')``), i.e. the intra-domain programming
       alone.
    2. **Class centres** :math:`h_c` = mean of the (aligned) source rows of class :math:`c`, and the
       distance :math:`D_{jc} = \lVert x_j^T - h_c \rVert_2` of every target row to every centre.
    3. **Intra-domain programming** (:func:`intra_domain_programming`):
       :math:`\min_M \sum_{jc} D_{jc} M_{jc}` s.t. :math:`0 \le M \le 1`, :math:`\sum_c M_{jc} = 1`,
       :math:`\sum_j M_{jc} \ge 1`; the label of target row :math:`j` is :math:`\arg\max_c M_{jc}`.
       The LP is totally unimodular, so ``M`` is one-hot. Note: on the 24 Office-Caltech SURF and
       Amazon 400-d tasks the nearest centres already cover every class, so the balance constraints
       are inactive and EasyTL's labels equal nearest-(CORAL-aligned-)centroid labels.

    **What** ``predict`` **does.** EasyTL is transductive. ``fit`` solves the LP on the target rows
    it is given and stores their labels (``transduction_``). ``predict`` returns, for each row equal
    (bit for bit) to a fitted target row, that row's LP label; every other row is assigned to its
    nearest class centre, which is the LP restricted to that row (a class-balance constraint has no
    meaning for one row), so ``predict`` is row-wise and does not depend on the batch. To run the LP
    on a new batch, fit again with it as the target. Rows passed with a positive ``sample_domain``
    are source rows and are mapped by ``A_`` first.

    Parameters
    ----------
    intra_align : {"coral", "raw"}, default="coral"
        ``"coral"`` = EasyTL; ``"raw"`` = EasyTL(c), no intra-domain alignment.
    distance : {"euclidean", "sqeuclidean", "cosine"}, default="euclidean"
        Row-to-centre distance :math:`D_{jc}` (the authors' default is Euclidean).
    random_state : None, int or RandomState, default=None
        Unused: EasyTL is deterministic. Accepted for a uniform strategy interface.

    Attributes
    ----------
    A_ : ndarray of shape (n_features, n_features) or None
        The CORAL map applied to the source (``None`` with ``intra_align="raw"`` or without target rows).
    centers_ : ndarray of shape (n_classes, n_features)
        Class centres of the (aligned) source rows.
    label_matrix_ : ndarray of shape (n_target, n_classes)
        The LP solution :math:`M` on the fitted target rows (empty without target rows).
    transduction_ : ndarray of shape (n_target,)
        Labels of the fitted target rows (``classes_[argmax M]``), in the caller's label space.

    References
    ----------
    .. [1] J. Wang, Y. Chen, H. Yu, M. Huang, Q. Yang. "Easy Transfer Learning By Exploiting
       Intra-domain Structures". IEEE ICME 2019.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> Xs = rng.normal(size=(100, 3)); ys = (Xs[:, 0] > 0).astype(int)
    >>> Xt = rng.normal(size=(80, 3)) + 0.5
    >>> clf = EasyTL().fit_domains(Xs, ys, Xt)
    >>> clf.predict(Xt).shape
    (80,)
    """

    _parameter_constraints = {
        "intra_align": [StrOptions({"coral", "raw"})],
        "distance": [StrOptions({"euclidean", "sqeuclidean", "cosine"})],
        "random_state": ["random_state"],
    }

    def __init__(self, *, intra_align="coral", distance="euclidean", random_state=None):
        self.intra_align = intra_align
        self.distance = distance
        self.random_state = random_state

    def _distances(self, X, centers):
        if self.distance == "cosine":
            return cosine_distances(X, centers)
        return euclidean_distances(X, centers, squared=self.distance == "sqeuclidean")

    def _fit(self, split: DomainSplit) -> None:
        self._validate_params()
        Xs, Xt = split.X_source, split.X_target
        align = self.intra_align == "coral" and split.has_target
        if align and (Xs.shape[0] < 2 or Xt.shape[0] < 2):
            raise ValueError(
                f"EasyTL: CORAL alignment needs at least 2 source and 2 target rows to estimate covariances, got "
                f"{Xs.shape[0]} source and {Xt.shape[0]} target rows; pass more rows or use intra_align='raw'."
            )
        self.A_ = coral_transform_matrix(Xs, Xt, 1.0) if align else None
        Xs_aligned = np.asarray(Xs @ self.A_) if align else Xs
        K = split.n_classes
        self.centers_ = np.vstack(
            [np.asarray(Xs_aligned[split.y_source == k].mean(axis=0)).reshape(1, -1) for k in range(K)]
        )
        self._target_labels = {}
        if not split.has_target:
            self.label_matrix_ = np.zeros((0, K))
            self.transduction_ = self.classes_[:0]
            return
        D = self._distances(Xt, self.centers_)
        if Xt.shape[0] >= K:
            M = intra_domain_programming(D)
        else:
            warnings.warn(
                f"EasyTL: {Xt.shape[0]} target rows cannot cover {K} classes; the class-balance constraints are "
                "dropped and each target row goes to its nearest class centre.",
                UserWarning,
                stacklevel=3,
            )
            M = np.eye(K)[D.argmin(axis=1)]
        self.label_matrix_ = M
        encoded = M.argmax(axis=1)
        self.transduction_ = self.classes_[encoded]
        self._target_labels = dict(zip(_row_keys(Xt), encoded.tolist()))

    def _predict_encoded(self, X):
        pred = self._distances(X, self.centers_).argmin(axis=1)
        if self._target_labels:
            for i, key in enumerate(_row_keys(X)):
                label = self._target_labels.get(key)
                if label is not None:
                    pred[i] = label
        return pred

    def predict(self, X, *, sample_domain=None):
        """Labels: the LP label for fitted target rows, the nearest class centre for other rows.

        Rows with a positive ``sample_domain`` are source rows: they are mapped by ``A_`` first and
        assigned to their nearest centre.
        """
        X = self._validate_predict_X(X, sample_domain)
        if sample_domain is None or self.A_ is None or not np.any(np.asarray(sample_domain) > 0):
            return self.classes_[self._predict_encoded(X)]
        is_source = np.asarray(sample_domain) > 0
        pred = np.empty(X.shape[0], dtype=int)
        if np.any(~is_source):
            pred[~is_source] = self._predict_encoded(X[~is_source])
        pred[is_source] = self._distances(np.asarray(X[is_source] @ self.A_), self.centers_).argmin(axis=1)
        return self.classes_[pred]
