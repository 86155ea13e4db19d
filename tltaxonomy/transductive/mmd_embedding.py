r"""MMD embeddings: TCA (Pan et al. 2011), JDA (Long et al. 2013) and BDA (Wang et al. 2017).

The three strategies learn one linear map of the pooled source + target rows (or of their kernel
rows) that makes the two domains' means close (TCA), the domains' means and their class-conditional
means close (JDA, with target pseudo-labels refined over iterations) or a weighted mix of both (BDA),
while keeping the variance of the pooled data. They share one solver:

.. math::

    \min_{W \in \mathbb{R}^{p \times k}} \;
        \operatorname{tr}\!\big(W^\top F^\top M F W\big) + \lambda \operatorname{tr}(W^\top W)
    \quad \text{s.t.} \quad W^\top F^\top H F W = I_k ,

where :math:`F` is the :math:`n \times p` matrix of the pooled rows (``kernel="primal"``: the rows
themselves, :math:`p = d`; ``kernel="linear"`` / ``"rbf"``: the kernel matrix :math:`K`,
:math:`p = n`), :math:`H = I - \tfrac1n \mathbf 1 \mathbf 1^\top` the centring matrix, and :math:`M`
the MMD matrix. The solution is given by the :math:`k` smallest generalized eigenvalues of
:math:`(F^\top M F + \lambda I)\, w = \phi\, F^\top H F\, w`. With the constraint as written
(:math:`W^\top F^\top H F W = I`) the optimum of the objective is the sum of those :math:`k`
eigenvalues. The embedding then uses the eigenvectors **scaled to unit Euclidean norm** (each
:math:`w_i` is still a generalized eigenvector, :math:`w_i^\top F^\top H F w_j = 0` for
:math:`i \ne j`, but the embedded coordinates no longer have equal variance). This is the scaling of
MATLAB's ``eigs(A, B, k, 'SM')`` in the authors' code, and it matters because it weighs the
coordinates that 1-NN compares: with it, the JDA paper's protocol gives exactly the published JDA
digits numbers (USPS->MNIST 59.65, MNIST->USPS 67.28) and C->A 44.78, whereas the
:math:`F^\top H F`-orthonormal (whitened) scaling gives about 32% on the digits.

Solver. :math:`F^\top H F` does not change between JDA iterations: it is eigendecomposed once,
:math:`F^\top H F = V \operatorname{diag}(b) V^\top`, and the problem is whitened on the range of
:math:`F^\top H F` (:math:`W = V_+ \operatorname{diag}(b_+^{-1/2}) U`), which leaves the symmetric
standard problem :math:`\big(\lambda \operatorname{diag}(1/b_+) + Q Q^\top\big) U = U \Phi` with
:math:`Q = \operatorname{diag}(b_+^{-1/2}) V_+^\top F^\top E`. Directions outside that range have
:math:`w^\top F^\top H F w = 0`, an infinite eigenvalue, and are never selected, so this is exact also
when :math:`F^\top H F` is singular (more features than rows). :math:`M` is never formed: it is the
low-rank :math:`M = E E^\top / \lVert E^\top E \rVert_F` with one column of :math:`E` per mean
difference (:func:`mmd_factor`), so :math:`F^\top M F = (F^\top E)(F^\top E)^\top / \lVert E^\top
E\rVert_F` costs one pass over the data.

MMD matrix (as in the authors' code, ``JDA.m`` / ``BDA.py``): with :math:`e_0 = [\tfrac{1}{n_s}
\mathbf 1_{n_s}; -\tfrac{1}{n_t} \mathbf 1_{n_t}]` and, per class :math:`c`, :math:`e_c` holding
:math:`\tfrac{1}{n_s^c}` on the source rows of class :math:`c` and :math:`-\tfrac{1}{n_t^c}` on the
target rows pseudo-labelled :math:`c` (no target entry when no target row has that pseudo-label),

.. math::

    M \propto (1-\mu)\, C\, e_0 e_0^\top + \mu \sum_{c=1}^{C} e_c e_c^\top ,
    \qquad \text{scaled to } \lVert M \rVert_F = 1,

with :math:`C` the number of classes (the authors' "multiply C for better normalization"). TCA is
:math:`\mu = 0`; JDA weighs the two terms equally, i.e. :math:`\mu = 1/2` (the overall scale cancels
in the Frobenius normalisation); BDA takes :math:`\mu` as its balance factor. The first iteration has
no pseudo-labels and uses the marginal term alone (it is TCA) for every :math:`\mu`.

Normalisation (``l2_normalize=True``, the authors' code): every row is scaled to unit Euclidean norm
before the embedding (``X*diag(1./sqrt(sum(X.^2)))`` on the features x samples matrix), and every
embedded row again before the classifier ("normalization for better classification performance").

Approximate variant (``approximation="nystroem"``, the default above
:data:`~tltaxonomy._linalg.EXACT_KERNEL_MAX_ROWS` rows with ``"auto"``). The kernel formulations need
the :math:`n \times n` matrix :math:`K` and an :math:`n \times n` eigenproblem: :math:`O(n^2)` memory,
:math:`O(n^3)` time. With Nyström features :math:`\Phi \in \mathbb R^{n \times m}`,
:math:`K \approx \Phi\Phi^\top` (:func:`~tltaxonomy._linalg.nystroem_map`, :math:`m` =
``n_landmarks``), let :math:`G = \Phi^\top\Phi` (:math:`m \times m`) and split :math:`W = \Phi A +
W_\perp` with :math:`\Phi^\top W_\perp = 0`. Then :math:`F W = K W = \Phi G A` does not depend on
:math:`W_\perp`, while :math:`\operatorname{tr}(W^\top W) = \operatorname{tr}(A^\top G A) +
\lVert W_\perp\rVert_F^2`, so the optimum has :math:`W_\perp = 0`. With :math:`B = G^{1/2} A` and
:math:`\Psi = \Phi G^{1/2}` (:math:`n \times m`) the problem becomes

.. math::

    \min_B \operatorname{tr}(B^\top \Psi^\top M \Psi B) + \lambda \operatorname{tr}(B^\top B)
    \quad\text{s.t.}\quad B^\top \Psi^\top H \Psi B = I ,

the primal problem on the features :math:`\Psi`: an :math:`m \times m` generalized eigenproblem on
:math:`\Psi^\top M \Psi` and :math:`\Psi^\top H \Psi = G^2 - n\bar\psi\bar\psi^\top`. :math:`M` and
:math:`H` enter only through the rank-few products :math:`\Psi^\top E` and the column means of
:math:`\Psi` (never an :math:`n \times n` matrix), the embedding is :math:`K W \approx \Psi B`, and
:math:`\lVert W_i \rVert = \lVert B_i \rVert` so the unit-norm scaling is the same. Cost
:math:`O(n m d + n m^2 + m^3)` per solve and :math:`O(n m)` memory: linear in :math:`n`. The default
1-NN classifier is not: its nearest-neighbour search is :math:`O(n_s n_t k)`; pass a linear
``estimator`` for very large ``n``. ``kernel="primal"`` is exact and already linear in :math:`n`
(a :math:`d \times d` problem): ``approximation`` does not apply to it. The exact kernel variant
refuses (:class:`~tltaxonomy._errors.InsufficientMemoryError`) before allocating an :math:`n \times n`
matrix that does not fit in the available memory.

Prediction on rows not seen in ``fit``. The embedding is transductive: it is learned from the target
rows given to ``fit``. New rows (from the same target domain) are embedded by the same map, which is
defined for any row: the linear projection :math:`x W` for ``kernel="primal"``, and
:math:`k(x, X_{\text{fit}}) W` (the kernel against the training rows, as kernel PCA does) for
``"linear"`` / ``"rbf"``. On the training target rows this reproduces the transductive embedding
exactly.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from sklearn.metrics.pairwise import linear_kernel, rbf_kernel
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import normalize
from sklearn.utils._available_if import available_if
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

from .._linalg import check_dense_memory, nystroem_map, resolve_approximation
from ..base import BaseDomainAdaptationClassifier, DomainSplit
from ..classifiers import clone_or_default, estimator_selection
from ..registry import register

__all__ = ["TCA", "JDA", "BDA", "mmd_factor", "solve_mmd_embedding"]

#: Eigenvalues of F^T H F below this fraction of the largest are treated as zero (outside its range).
_RANGE_TOL = 1e-10


def _row_l2(X):
    """Rows scaled to unit Euclidean norm (zero rows unchanged); keeps sparse input sparse (csr)."""
    return normalize(sp.csr_matrix(X, dtype=np.float64) if sp.issparse(X) else np.asarray(X, dtype=np.float64))


def mmd_factor(y_source, n_target: int, y_target=None, *, n_classes: int | None = None, mu: float = 0.0) -> np.ndarray:
    r"""A factor :math:`E` of the (unnormalised) MMD matrix, :math:`M = E E^\top`.

    Rows are the stacked source then target rows. Column 0 is :math:`\sqrt{(1-\mu) C}\, e_0` (the
    marginal term); when ``y_target`` (target pseudo-labels) is given and ``mu > 0``, one column
    :math:`\sqrt{\mu}\, e_c` per class follows (the class-conditional terms), see the module
    docstring. ``mu=0``: TCA; ``mu=0.5``: JDA (up to scale); other values: BDA.

    Parameters
    ----------
    y_source : array of int of shape (n_source,)
        Encoded source labels ``0 .. n_classes-1``.
    n_target : int
    y_target : array of int of shape (n_target,) or None
        Target pseudo-labels (never true target labels).
    n_classes : int or None
        ``None`` = ``y_source.max() + 1``.
    mu : float in [0, 1]

    Returns
    -------
    E : ndarray of shape (n_source + n_target, r)
        :math:`M = E E^\top`; ``r`` is 0 when there is nothing to match (no target rows).
    """
    y_source = np.asarray(y_source, dtype=int)
    ns, nt = y_source.shape[0], int(n_target)
    n = ns + nt
    C = int(y_source.max()) + 1 if n_classes is None else int(n_classes)
    cols = []
    if nt > 0 and ns > 0 and mu < 1:
        e0 = np.r_[np.full(ns, 1.0 / ns), np.full(nt, -1.0 / nt)]
        cols.append(np.sqrt((1.0 - mu) * C) * e0)
    if nt > 0 and y_target is not None and mu > 0:
        y_target = np.asarray(y_target, dtype=int)
        for c in range(C):
            e = np.zeros(n)
            src = y_source == c
            tgt = np.flatnonzero(y_target == c)
            if src.any():
                e[:ns][src] = 1.0 / src.sum()
            if tgt.size:
                e[ns + tgt] = -1.0 / tgt.size
            if e.any():
                cols.append(np.sqrt(mu) * e)
    return np.column_stack(cols) if cols else np.zeros((n, 0))


class _Whitened:
    """The fixed half of the problem: eigendecomposition of F^T H F, restricted to its range."""

    def __init__(self, F):
        n = F.shape[0]
        mean = np.asarray(F.mean(axis=0)).ravel()
        gram = F.T @ F
        gram = gram.toarray() if sp.issparse(gram) else np.asarray(gram)
        B = gram - n * np.outer(mean, mean)
        b, V = np.linalg.eigh((B + B.T) / 2)
        total = float(np.trace(gram))  # sum of squares of F: the scale below which variance is rounding
        if b.max() <= 1e-12 * total or total == 0:
            # All pooled rows are equal (e.g. one positive feature, L2-normalised): no direction carries
            # information. Keep one direction so that fit still works; every row embeds the same.
            self.b, self.G, self.rank, self.degenerate = np.ones(1), V[:, -1:], 1, True
            return
        keep = b > _RANGE_TOL * b.max()
        self.b = b[keep]
        self.G = V[:, keep] / np.sqrt(self.b)  # W = G U  <=>  W^T B W = U^T U
        self.rank = int(keep.sum())
        self.degenerate = False


def _solve(F, whitened: _Whitened, E, reg: float, k: int):
    """k smallest generalized eigenpairs of (F^T M F + reg I, F^T H F), M = E E^T / ||E^T E||_F."""
    if E.shape[1]:
        scale = np.linalg.norm(E.T @ E)  # ||E E^T||_F = ||E^T E||_F
        P = np.asarray(F.T @ E) / np.sqrt(scale)
        Q = whitened.G.T @ P
    else:  # nothing to match (no target rows): M = 0 and the embedding is PCA of the pooled rows
        Q = np.zeros((whitened.rank, 0))
    S = Q @ Q.T
    S[np.diag_indices_from(S)] += reg / whitened.b
    phi, U = scipy.linalg.eigh(S, subset_by_index=[0, k - 1])
    W = whitened.G @ U
    # Unit Euclidean norm per eigenvector, as MATLAB's eigs returned them in the authors' code (this
    # scaling weighs the embedded coordinates, so it changes 1-NN; see the module docstring).
    W /= np.linalg.norm(W, axis=0)
    return W, phi


def solve_mmd_embedding(F, E, *, reg: float = 1.0, n_components: int = 100):
    r"""Solve the MMD embedding problem of the module docstring for features ``F`` and factor ``E``.

    Returns ``(W, eigenvalues)``: the :math:`k` smallest generalized eigenvalues :math:`\phi` of
    :math:`(F^\top M F + \lambda I,\; F^\top H F)` with :math:`M = E E^\top / \lVert E^\top E
    \rVert_F`, and ``W`` of shape (p, k) their eigenvectors, each scaled to unit Euclidean norm.
    Rescaled to :math:`W^\top F^\top H F W = I`, they minimise
    :math:`\operatorname{tr}(W^\top F^\top M F W) + \lambda \operatorname{tr}(W^\top W)` with
    minimum :math:`\sum \phi`. ``k = min(n_components, rank(F^T H F))``.
    """
    whitened = _Whitened(F)
    return _solve(F, whitened, E, reg, min(n_components, whitened.rank))


_COMMON_PARAMS = """
    Parameters
    ----------
    n_components : int, default=100
        :math:`k`, the embedding dimension (the JDA paper's protocol uses 100). Clipped to the rank of
        the centred pooled data (:attr:`n_components_`).
    kernel : {"primal", "linear", "rbf"}, default="primal"
        As in the authors' code: ``"primal"`` learns a d x k projection of the features (a d x d
        eigenproblem; fast when d is small); ``"linear"`` / ``"rbf"`` learn n x k coefficients on the
        kernel rows against the training rows (an n x n eigenproblem, n = source + target rows; with
        ``approximation="nystroem"`` an m x m one on Nyström features, linear in n).
    reg : float > 0, default=1.0
        :math:`\\lambda`, the weight of :math:`\\operatorname{tr}(W^\\top W)` (``lambda`` in JDA/BDA code,
        :math:`\\mu` in Pan et al.). The JDA paper uses 1.0 on SURF and 0.1 on the digits.
    gamma : float > 0, default=1.0
        RBF bandwidth, :math:`k(x, x') = \\exp(-\\gamma \\lVert x - x' \\rVert^2)` (ignored otherwise).
    l2_normalize : bool, default=True
        Scale every row to unit L2 norm before the embedding and every embedded row before the
        classifier, as the authors' code does.
    estimator : sklearn classifier or None, default=None
        Trained on the embedded source rows, applied to embedded target rows. ``None`` =
        1-nearest-neighbour (:class:`~sklearn.neighbors.KNeighborsClassifier` with ``n_neighbors=1``),
        the classifier of the TCA/JDA/BDA papers' protocols.
    approximation : {"auto", "exact", "nystroem"}, default="auto"
        For ``kernel="linear"`` / ``"rbf"`` only (primal is exact and linear in n): ``"exact"`` solves
        the n x n problem, ``"nystroem"`` the m x m problem on Nyström features (module docstring;
        linear in n), ``"auto"`` is exact up to 10 000 rows (source + target) and Nyström above.
    n_landmarks : int, default=500
        :math:`m`, the number of Nyström landmarks (pooled rows drawn with ``random_state``)."""

_COMMON_ATTRS = """
    Attributes
    ----------
    components_ : ndarray of shape (p, n_components_)
        :math:`W` (unit-norm generalized eigenvectors); ``p`` = n_features for ``"primal"``, the number
        of training rows otherwise.
    eigenvalues_ : ndarray of shape (n_components_,)
        The generalized eigenvalues of the last solve; their sum is the optimum of the objective.
    n_components_ : int
    estimator_ : the fitted classifier (on the embedded source rows)
    X_fit_ : ndarray or sparse matrix
        The (normalised) training rows, kept for the exact kernel formulations only (``None`` for
        primal and Nyström).
    approximation_ : str
        ``"exact"`` or ``"nystroem"``, what ``approximation`` resolved to.
    nystroem_ : NystroemMap or None
        The feature map :math:`\\psi(x) = k(x, L)\\,T\\,G^{1/2}` of the Nyström variant (then
        ``components_`` has ``p`` = its dimension, at most ``n_landmarks``)."""


class _MMDEmbedding(BaseDomainAdaptationClassifier):
    """Shared machinery; subclasses set the MMD weighting (``_mu()``) and iteration count."""

    _common_constraints = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "kernel": [StrOptions({"primal", "linear", "rbf"})],
        "reg": [Interval(Real, 0, None, closed="neither")],
        "gamma": [Interval(Real, 0, None, closed="neither")],
        "l2_normalize": ["boolean"],
        "estimator": [HasMethods(["fit", "predict"]), None],
        "random_state": ["random_state"],
        "approximation": [StrOptions({"auto", "exact", "nystroem"})],
        "n_landmarks": [Interval(Integral, 1, None, closed="left")],
    }

    # -- subclass hooks ---------------------------------------------------------------------------
    def _mu(self) -> float:
        raise NotImplementedError

    def _n_iter(self) -> int:
        return 1

    # -- fitting ----------------------------------------------------------------------------------
    def _prepare(self, X):
        return _row_l2(X) if self.l2_normalize else (sp.csr_matrix(X, dtype=np.float64) if sp.issparse(X) else np.asarray(X, dtype=np.float64))

    def _features(self, Xn):
        r"""F: the rows themselves (primal), their kernel against the training rows (exact) or their
        Nyström features :math:`\Psi` (approximate)."""
        if self.kernel == "primal":
            return Xn
        if getattr(self, "nystroem_", None) is not None:
            return self.nystroem_.transform(Xn)
        if self.kernel == "linear":
            return linear_kernel(Xn, self.X_fit_)
        return rbf_kernel(Xn, self.X_fit_, gamma=self.gamma)

    def _embed_features(self, F):
        Z = np.asarray(F @ self.components_)
        return _row_l2(Z) if self.l2_normalize else Z

    def _fit(self, split: DomainSplit) -> None:
        self._validate_params()
        Xs, Xt = split.X_source, split.X_target
        ns, nt = Xs.shape[0], Xt.shape[0]
        X = sp.vstack([sp.csr_matrix(Xs), sp.csr_matrix(Xt)], format="csr") if sp.issparse(Xs) else np.vstack([Xs, Xt])
        Xn = self._prepare(X)
        n = ns + nt
        self.approximation_ = "exact" if self.kernel == "primal" else resolve_approximation(self.approximation, n)
        self.nystroem_ = None
        if self.approximation_ == "nystroem":
            self.X_fit_ = None
            self.nystroem_, F = self._fit_nystroem(Xn)
        else:
            if self.kernel != "primal":
                # F (n x n), F^T F, its centred copy and eigh's eigenvectors + workspace
                check_dense_memory(
                    type(self).__name__, f"{self.kernel} kernel matrix", (n, n), copies=5,
                    fix='Use approximation="nystroem" (n_landmarks=500: memory and time linear in n), or kernel="primal".',
                )
            self.X_fit_ = None if self.kernel == "primal" else Xn
            F = self._features(Xn)
        whitened = _Whitened(F)
        if whitened.degenerate:
            warnings.warn(
                f"{type(self).__name__}: the pooled source + target rows have zero variance (all rows are equal"
                f"{' after L2 normalisation' if self.l2_normalize else ''}), so the embedding carries no "
                "information and every row gets the same prediction; check the input features"
                f"{' or set l2_normalize=False' if self.l2_normalize else ''}.",
                UserWarning,
                stacklevel=3,
            )
        k = min(self.n_components, whitened.rank)
        mu = self._mu()
        n_iter = self._n_iter() if nt > 0 else 1
        y_pseudo = None
        for _ in range(n_iter):
            E = mmd_factor(split.y_source, nt, y_pseudo, n_classes=split.n_classes, mu=mu if y_pseudo is not None else 0.0)
            self.components_, self.eigenvalues_ = _solve(F, whitened, E, self.reg, k)
            Z = self._embed_features(F)
            self.estimator_ = clone_or_default(self.estimator, KNeighborsClassifier(n_neighbors=1))
            self.estimator_.fit(Z[:ns], split.y_source)
            if nt > 0:
                y_pseudo = np.asarray(self.estimator_.predict(Z[ns:]), dtype=int)
        self.n_components_ = k
        self.n_iter_ = n_iter

    def _fit_nystroem(self, Xn):
        r"""The map :math:`\psi(x) = \phi(x)\, G^{1/2}` of the module docstring, as one NystroemMap, and
        :math:`\Psi` (the training rows' features, n x m)."""
        phi_map = nystroem_map(
            Xn, kernel=self.kernel, gamma=self.gamma, n_landmarks=self.n_landmarks, random_state=self.random_state
        )
        Phi = phi_map.transform(Xn)
        g, V = np.linalg.eigh(Phi.T @ Phi)
        G_half = (V * np.sqrt(np.clip(g, 0.0, None))) @ V.T
        psi_map = type(phi_map)(landmarks=phi_map.landmarks, T=phi_map.T @ G_half, kernel=phi_map.kernel, gamma=phi_map.gamma)
        return psi_map, Phi @ G_half

    # -- prediction -------------------------------------------------------------------------------
    def _embed(self, X):
        return self._embed_features(self._features(self._prepare(X)))

    def embed(self, X, *, sample_domain=None):
        """Embed rows (from either domain) with the learned map: shape (n_samples, n_components_).

        Named ``embed``, not ``transform``: the strategy is a classifier, and sklearn would treat an
        estimator with ``transform`` as a transformer."""
        X = self._validate_predict_X(X, sample_domain)
        return self._embed(X)

    def _predict_encoded(self, X):
        return self.estimator_.predict(self._embed(X))

    @available_if(lambda self: hasattr(self.estimator or KNeighborsClassifier(), "predict_proba"))
    def predict_proba(self, X, *, sample_domain=None):
        """Class probabilities of the classifier on the embedded rows (if it has ``predict_proba``)."""
        X = self._validate_predict_X(X, sample_domain)
        return self.estimator_.predict_proba(self._embed(X))

    def selection_protocol(self) -> str:
        """``"none"`` with the default 1-NN (no hyper-parameter is chosen); ``"source_cv"`` if the
        given estimator cross-validates on the source rows."""
        if self.estimator is None:
            return "none"
        return estimator_selection(self.estimator)


@register("tca", setting="transductive", family="subspace")
class TCA(_MMDEmbedding):
    __doc__ = r"""TCA: embed both domains so that their means match, keeping the data variance (Pan et al., TNN 2011).

    Objective (the module docstring gives the solver and the exact normalisations):

    .. math::

        \min_W \operatorname{tr}(W^\top F^\top M_0 F W) + \lambda \operatorname{tr}(W^\top W)
        \quad\text{s.t.}\quad W^\top F^\top H F W = I,
        \qquad M_0 = e_0 e_0^\top / \lVert e_0 e_0^\top \rVert_F ,

    :math:`\operatorname{tr}(W^\top F^\top M_0 F W)` being the squared (linear-kernel) MMD between the
    embedded source and target rows. This is the unsupervised TCA of Pan et al. as the JDA authors'
    code implements it (``TCA.m``: primal or kernel form, rows L2-normalised, 1-NN); it equals
    :class:`JDA` with ``n_iter=1`` and :class:`BDA` with ``mu=0``. Without target rows ``M = 0`` and
    the embedding is PCA of the source rows.
""" + _COMMON_PARAMS + r"""
    random_state : None, int or RandomState, default=None
        Draws the Nyström landmarks (``approximation_ == "nystroem"``); otherwise unused, the solver
        being an exact, deterministic eigendecomposition.
""" + _COMMON_ATTRS + r"""

    References
    ----------
    .. [1] S. J. Pan, I. W. Tsang, J. T. Kwok, Q. Yang. "Domain Adaptation via Transfer Component
       Analysis". IEEE TNN 22(2), 2011.
    .. [2] M. Long et al. "Transfer Feature Learning with Joint Distribution Adaptation". ICCV 2013
       (the TCA rows of its tables, and the ``TCA.m`` code).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> Xs = rng.normal(size=(100, 5)); ys = (Xs[:, 0] > 0).astype(int)
    >>> Xt = rng.normal(size=(80, 5)) + 1.0
    >>> clf = TCA(n_components=3).fit_domains(Xs, ys, Xt)
    >>> clf.embed(Xt).shape
    (80, 3)
"""

    _parameter_constraints = dict(_MMDEmbedding._common_constraints)

    def __init__(
        self,
        *,
        n_components=100,
        kernel="primal",
        reg=1.0,
        gamma=1.0,
        l2_normalize=True,
        estimator=None,
        random_state=None,
        approximation="auto",
        n_landmarks=500,
    ):
        self.n_components = n_components
        self.kernel = kernel
        self.reg = reg
        self.gamma = gamma
        self.l2_normalize = l2_normalize
        self.estimator = estimator
        self.random_state = random_state
        self.approximation = approximation
        self.n_landmarks = n_landmarks

    def _mu(self) -> float:
        return 0.0


@register("jda", setting="transductive", family="subspace")
class JDA(_MMDEmbedding):
    __doc__ = r"""JDA: match the domains' marginal and class-conditional means, with iterated pseudo-labels (Long et al., ICCV 2013).

    Objective at iteration :math:`t` (the module docstring gives the solver):

    .. math::

        \min_W \operatorname{tr}\Big(W^\top F^\top \big(\textstyle\sum_{c=0}^{C} M_c\big) F W\Big)
            + \lambda \operatorname{tr}(W^\top W)
        \quad\text{s.t.}\quad W^\top F^\top H F W = I,

    :math:`M_0 = C\, e_0 e_0^\top` (marginal MMD, weighted by the number of classes as in the authors'
    code) and :math:`M_c = e_c e_c^\top` the MMD between source class :math:`c` and the target rows
    that the classifier of iteration :math:`t-1` labels :math:`c` (pseudo-labels; true target labels
    are never used), the sum scaled to unit Frobenius norm. Iteration 1 has no pseudo-labels and is
    :class:`TCA`. After each solve the embedded rows are L2-normalised (``l2_normalize``), ``estimator``
    is fitted on the embedded source rows and predicts the target pseudo-labels of the next iteration;
    the classifier of the last iteration is :attr:`estimator_`. Equal to :class:`BDA` with
    ``mu=0.5``.
""" + _COMMON_PARAMS + r"""
    n_iter : int >= 1, default=10
        :math:`T`, the number of solves (the paper uses 10).
    random_state : None, int or RandomState, default=None
        Draws the Nyström landmarks (``approximation_ == "nystroem"``); otherwise unused, the solver
        being exact and deterministic (and so is the default 1-NN).
""" + _COMMON_ATTRS + r"""
    pseudo_labels_ : ndarray of int of shape (n_target,)
        Encoded target pseudo-labels of the last iteration (the transductive predictions).
    n_iter_ : int

    References
    ----------
    .. [1] M. Long, J. Wang, G. Ding, J. Sun, P. S. Yu. "Transfer Feature Learning with Joint
       Distribution Adaptation". ICCV 2013.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> Xs = rng.normal(size=(100, 5)); ys = (Xs[:, 0] > 0).astype(int)
    >>> Xt = rng.normal(size=(80, 5)) + 1.0
    >>> JDA(n_components=3, n_iter=5).fit_domains(Xs, ys, Xt).predict(Xt).shape
    (80,)
"""

    _parameter_constraints = {**_MMDEmbedding._common_constraints, "n_iter": [Interval(Integral, 1, None, closed="left")]}

    def __init__(
        self,
        *,
        n_components=100,
        kernel="primal",
        reg=1.0,
        gamma=1.0,
        n_iter=10,
        l2_normalize=True,
        estimator=None,
        random_state=None,
        approximation="auto",
        n_landmarks=500,
    ):
        self.n_components = n_components
        self.kernel = kernel
        self.reg = reg
        self.gamma = gamma
        self.n_iter = n_iter
        self.l2_normalize = l2_normalize
        self.estimator = estimator
        self.random_state = random_state
        self.approximation = approximation
        self.n_landmarks = n_landmarks

    def _mu(self) -> float:
        return 0.5

    def _n_iter(self) -> int:
        return self.n_iter

    def _fit(self, split: DomainSplit) -> None:
        super()._fit(split)
        if split.has_target:
            self.pseudo_labels_ = np.asarray(self.estimator_.predict(self._embed(split.X_target)), dtype=int)
        else:
            self.pseudo_labels_ = np.zeros(0, dtype=int)


@register("bda", setting="transductive", family="subspace")
class BDA(JDA):
    __doc__ = r"""BDA: JDA with a balance factor between the marginal and the class-conditional MMD (Wang et al., ICDM 2017).

    Objective at iteration :math:`t` (the module docstring gives the solver):

    .. math::

        \min_W \operatorname{tr}\Big(W^\top F^\top \big((1-\mu) M_0 + \mu \textstyle\sum_{c=1}^{C} M_c\big)
            F W\Big) + \lambda \operatorname{tr}(W^\top W)
        \quad\text{s.t.}\quad W^\top F^\top H F W = I,

    with :math:`M_0 = C\, e_0 e_0^\top` and :math:`M_c` as in :class:`JDA` (``BDA.py`` of the authors),
    the weighted sum scaled to unit Frobenius norm. Documented equivalences (exact, tested):
    ``mu=0.5`` is :class:`JDA` (the factor 1/2 cancels in the normalisation) and ``mu=0`` is
    :class:`TCA` at every iteration. The first iteration has no pseudo-labels and uses the marginal
    term alone, whatever ``mu`` (``mu=1`` would otherwise have nothing to match). The A-distance
    estimate of ``mu`` and the class-weighted "WBDA" variant of the authors' code are not implemented.
""" + _COMMON_PARAMS + r"""
    mu : float in [0, 1], default=0.5
        Balance factor: 0 = marginal only (TCA), 1 = class-conditional only.
    n_iter : int >= 1, default=10
        Number of solves.
    random_state : None, int or RandomState, default=None
        Draws the Nyström landmarks (``approximation_ == "nystroem"``); otherwise unused.
""" + _COMMON_ATTRS + r"""
    pseudo_labels_ : ndarray of int of shape (n_target,)
    n_iter_ : int

    References
    ----------
    .. [1] J. Wang, Y. Chen, S. Hao, W. Feng, Z. Shen. "Balanced Distribution Adaptation for Transfer
       Learning". ICDM 2017.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> Xs = rng.normal(size=(100, 5)); ys = (Xs[:, 0] > 0).astype(int)
    >>> Xt = rng.normal(size=(80, 5)) + 1.0
    >>> BDA(n_components=3, mu=0.3, n_iter=5).fit_domains(Xs, ys, Xt).predict(Xt).shape
    (80,)
"""

    _parameter_constraints = {**JDA._parameter_constraints, "mu": [Interval(Real, 0, 1, closed="both")]}

    def __init__(
        self,
        *,
        n_components=100,
        kernel="primal",
        reg=1.0,
        gamma=1.0,
        mu=0.5,
        n_iter=10,
        l2_normalize=True,
        estimator=None,
        random_state=None,
        approximation="auto",
        n_landmarks=500,
    ):
        self.n_components = n_components
        self.kernel = kernel
        self.reg = reg
        self.gamma = gamma
        self.mu = mu
        self.n_iter = n_iter
        self.l2_normalize = l2_normalize
        self.estimator = estimator
        self.random_state = random_state
        self.approximation = approximation
        self.n_landmarks = n_landmarks

    def _mu(self) -> float:
        return float(self.mu)
