r"""Subspace strategies: Subspace Alignment (SA), the Geodesic Flow Kernel (GFK) and a PCA baseline.

Each domain is summarised by a linear subspace of the feature space: the span of its top
principal directions. The strategies differ in how they bring the source subspace
:math:`P_S` (``n_features x d``, orthonormal columns) and the target subspace :math:`P_T` together:

- :class:`SubspaceAlignment` (Fernando et al., ICCV 2013) maps :math:`P_S` onto :math:`P_T` with the
  d x d matrix :math:`M = P_S^\top P_T`;
- :class:`GFK` (Gong et al., CVPR 2012) integrates the projections onto every subspace on the
  geodesic from :math:`P_S` to :math:`P_T` on the Grassmann manifold;
- :class:`PCABaseline` projects both domains onto one PCA subspace of the stacked data (the PCA row
  of the TCA / JDA papers).

Everything costs ``O(n d D)`` plus a d x d (or 2d x 2d) eigen-problem once the PCA bases are known,
and the bases come from a symmetric eigensolver on the smaller of the ``n x n`` Gram matrix and the
``D x D`` covariance (:func:`pca_basis`), never an ``O(n^3)`` step in the number of samples beyond it.
Sparse (CSR) input is accepted everywhere and never densified: centring is done implicitly.

Public helpers: :func:`pca_basis`, :func:`principal_angles`, :func:`gfk_factors`,
:func:`geodesic_flow_kernel`, :func:`subspace_disagreement_dim`.
"""

from __future__ import annotations

import warnings
from numbers import Integral

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from sklearn.base import TransformerMixin
from sklearn.preprocessing import normalize
from sklearn.utils import TransformerTags
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

from .._linalg import memoize_on_content, scatter_matrix
from ..base import BaseDomainAdaptationClassifier, DomainSplit
from ..classifiers import CVSVC, clone_or_default, estimator_selection
from ..registry import register

__all__ = [
    "SubspaceAlignment",
    "GFK",
    "PCABaseline",
    "pca_basis",
    "principal_angles",
    "gfk_factors",
    "geodesic_flow_kernel",
    "subspace_disagreement_dim",
]


# ---------------------------------------------------------------------------------------------------
# Linear-algebra helpers
# ---------------------------------------------------------------------------------------------------
def _flip_signs(V: np.ndarray) -> np.ndarray:
    """Make the entry of largest magnitude of every column positive (deterministic signs)."""
    if V.size == 0:
        return V
    idx = np.argmax(np.abs(V), axis=0)
    signs = np.sign(V[idx, np.arange(V.shape[1])])
    signs[signs == 0] = 1.0
    return V * signs


def _check_n_components(who: str, k, n_rows: int, n_features: int, what: str) -> None:
    if k > n_features:
        raise ValueError(
            f"{who}: n_components={k} is larger than n_features={n_features}; a subspace of R^{n_features} has "
            f"at most {n_features} dimensions. Choose n_components <= {n_features}."
        )
    if k > n_rows:
        raise ValueError(
            f"{who}: n_components={k} is larger than the number of {what} rows ({n_rows}); PCA of {n_rows} rows "
            f"spans at most {n_rows} directions. Choose n_components <= {n_rows} or pass more rows."
        )


@memoize_on_content()
def pca_basis(X, n_components: int):
    r"""Top principal directions of the rows of ``X`` (dense or sparse), as orthonormal columns.

    The rows are centred (implicitly for sparse input, which is never densified). With ``n`` rows and
    ``D`` features the cheaper of two symmetric eigenproblems is solved for the top
    ``n_components`` only: the ``n x n`` Gram matrix of the centred rows when ``n <= D`` (dense input
    uses the equivalent thin SVD), the ``D x D`` scatter matrix otherwise. Signs are fixed so that the
    largest-magnitude entry of every direction is positive. The results are read-only and memoised
    on the content of ``X`` (:func:`tltaxonomy._linalg.memoize_on_content`): the seeds of a table
    share their target rows.

    Parameters
    ----------
    X : array or sparse matrix of shape (n, D)
    n_components : int
        ``1 <= n_components <= min(n, D)``.

    Returns
    -------
    components : ndarray of shape (D, n_components)
        Orthonormal columns, by decreasing variance.
    explained_variance : ndarray of shape (n_components,)
        Variance (``ddof=1``) of the rows along each direction.
    mean : ndarray of shape (D,)
    """
    n, D = X.shape
    k = int(n_components)
    if k < 1:
        raise ValueError(f"pca_basis: n_components must be >= 1, got {k}.")
    _check_n_components("pca_basis", k, n, D, "input")
    denom = max(n - 1, 1)
    if sp.issparse(X):
        X = sp.csr_matrix(X, dtype=np.float64)
        mu = np.asarray(X.mean(axis=0)).ravel()
        if n <= D:
            r = np.asarray(X @ mu).ravel()
            G = np.asarray((X @ X.T).toarray()) - r[:, None] - r[None, :] + mu @ mu
            w, U = sla.eigh((G + G.T) / 2, subset_by_index=[n - k, n - 1])
            w, U = w[::-1], U[:, ::-1]
            V = np.asarray(X.T @ U) - np.outer(mu, U.sum(axis=0))
            V, _ = np.linalg.qr(V / np.sqrt(np.maximum(w, w.max() * 1e-30 + 1e-300)))
            var = np.maximum(w, 0) / denom
        else:
            S = np.asarray((X.T @ X).toarray()) - n * np.outer(mu, mu)
            w, V = sla.eigh((S + S.T) / 2, subset_by_index=[D - k, D - 1])
            w, V = w[::-1], V[:, ::-1]
            var = np.maximum(w, 0) / denom
    elif n <= D:
        X = np.asarray(X, dtype=np.float64)
        mu = X.mean(axis=0)
        _, s, Vt = sla.svd(X - mu, full_matrices=False, check_finite=False)
        V = Vt[:k].T
        var = s[:k] ** 2 / denom
    else:
        # streamed scatter matrix (no centred copy of X: n = 1M rows of 256 features stay one array)
        mu, S = scatter_matrix(X)
        w, V = sla.eigh(S, subset_by_index=[D - k, D - 1], check_finite=False)
        w, V = w[::-1], V[:, ::-1]
        var = np.maximum(w, 0) / denom
    return _flip_signs(np.ascontiguousarray(V)), var, mu


def _leading_basis(X, d: int) -> np.ndarray:
    """The top-``d`` PCA directions of ``X`` as the first ``d`` columns of the top-``max(d, 32)`` basis
    (the same directions, by decreasing variance): the dimension search computes that basis already,
    so the memoised call is reused whatever ``d`` it picks."""
    k = min(max(d, _SDM_FIRST_K), *X.shape)
    return pca_basis(X, k)[0][:, :d]


def principal_angles(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    r"""Principal angles (radians, increasing) between the spans of the orthonormal columns of ``A`` and ``B``.

    :math:`\cos\theta_i` are the singular values of :math:`A^\top B`; the sines are computed from
    :math:`(I - AA^\top)B` for accuracy at small angles.
    """
    U, c, Vt = np.linalg.svd(A.T @ B, full_matrices=False)
    c = np.clip(c, 0.0, 1.0)
    s = np.linalg.norm(B @ Vt.T - A @ (U * c), axis=0)
    return np.arctan2(s, c)


def gfk_factors(Ps: np.ndarray, Pt: np.ndarray):
    r"""The geodesic flow kernel in factored form :math:`G = W \Lambda W^\top`.

    The geodesic from :math:`\operatorname{span} P_S` (t=0) to :math:`\operatorname{span} P_T` (t=1) on
    the Grassmann manifold is :math:`\Phi(t) = P_S U_1 \cos(t\Theta) + E \sin(t\Theta)`, where
    :math:`P_S^\top P_T = U_1 \cos\Theta\, V^\top` (SVD; :math:`\Theta` = principal angles) and
    :math:`E = (I - P_S P_S^\top) P_T V \sin(\Theta)^{-1}` (orthonormal, orthogonal to :math:`P_S`;
    :math:`\Phi(1) = P_T V`). Then

    .. math::

        G = \int_0^1 \Phi(t)\Phi(t)^\top dt = [P_S U_1, E]
        \begin{bmatrix} \Lambda_1 & \Lambda_2 \\ \Lambda_2 & \Lambda_3 \end{bmatrix} [P_S U_1, E]^\top,
        \quad
        \lambda_{1,i} = \tfrac12\Big(1 + \tfrac{\sin 2\theta_i}{2\theta_i}\Big),\;
        \lambda_{2,i} = \tfrac{\sin^2\theta_i}{2\theta_i},\;
        \lambda_{3,i} = \tfrac12\Big(1 - \tfrac{\sin 2\theta_i}{2\theta_i}\Big),

    the closed form of Gong et al. (CVPR 2012, eq. 6; their :math:`\lambda_2` has the opposite sign
    because their complement basis does). No ``D x D`` null-space basis is formed, and ``d`` may
    exceed ``D/2``.

    Parameters
    ----------
    Ps, Pt : ndarray of shape (D, d)
        Orthonormal bases of the source and target subspaces.

    Returns
    -------
    W : ndarray of shape (D, 2d)
        Orthonormal columns (columns of ``E`` for zero angles are zero).
    Lambda : ndarray of shape (2d, 2d)
        Symmetric positive semi-definite.
    theta : ndarray of shape (d,)
        The principal angles.
    """
    U1, c, Vt = np.linalg.svd(Ps.T @ Pt, full_matrices=False)
    c = np.clip(c, 0.0, 1.0)
    B = Pt @ Vt.T - Ps @ (U1 * c)
    s = np.linalg.norm(B, axis=0)
    theta = np.arctan2(s, c)
    tol = 1e-10
    E = np.where(s > tol, B / np.where(s > tol, s, 1.0), 0.0)
    safe = np.where(theta > 1e-12, theta, 1.0)
    sinc2 = np.where(theta > 1e-12, np.sin(2 * theta) / (2 * safe), 1.0)
    lam1 = 0.5 * (1 + sinc2)
    lam3 = 0.5 * (1 - sinc2)
    lam2 = np.where(theta > 1e-12, np.sin(theta) ** 2 / (2 * safe), 0.0)
    d = len(theta)
    Lam = np.zeros((2 * d, 2 * d))
    i = np.arange(d)
    Lam[i, i] = lam1
    Lam[d + i, d + i] = lam3
    Lam[i, d + i] = Lam[d + i, i] = lam2
    return np.hstack([Ps @ U1, E]), Lam, theta


def geodesic_flow_kernel(Ps: np.ndarray, Pt: np.ndarray) -> np.ndarray:
    r"""The dense ``D x D`` geodesic flow kernel :math:`G = \int_0^1 \Phi(t)\Phi(t)^\top dt` (see :func:`gfk_factors`)."""
    W, Lam, _ = gfk_factors(Ps, Pt)
    return W @ Lam @ W.T


def _block_sqrt(Lam: np.ndarray) -> np.ndarray:
    """Symmetric square root of the 2x2-block-diagonal-by-angle matrix of :func:`gfk_factors`."""
    d = Lam.shape[0] // 2
    i = np.arange(d)
    blocks = np.empty((d, 2, 2))
    blocks[:, 0, 0] = Lam[i, i]
    blocks[:, 1, 1] = Lam[d + i, d + i]
    blocks[:, 0, 1] = blocks[:, 1, 0] = Lam[i, d + i]
    w, V = np.linalg.eigh(blocks)
    R = np.einsum("nij,nj,nkj->nik", V, np.sqrt(np.clip(w, 0, None)), V)
    out = np.zeros_like(Lam)
    out[i, i] = R[:, 0, 0]
    out[d + i, d + i] = R[:, 1, 1]
    out[i, d + i] = out[d + i, i] = R[:, 0, 1]
    return out


#: bases the dimension search computes first (extended by 4x while no dimension qualifies)
_SDM_FIRST_K = 32


def subspace_disagreement_dim(X_source, X_target, *, max_dim: int | None = None, threshold: float = 0.995) -> int:
    r"""Subspace dimension by the subspace disagreement measure (SDM) of Gong et al. (CVPR 2012, §3.4).

    With :math:`P_S, P_T, P_{S+T}` the top-``d`` PCA bases of the source, the target and the stacked
    data, :math:`\alpha_d` / :math:`\beta_d` the principal angles between :math:`P_S` and
    :math:`P_{S+T}` / :math:`P_T` and :math:`P_{S+T}` (each sorted by decreasing angle),
    :math:`D(d) = \tfrac12(\sin\alpha_d + \sin\beta_d)`; the dimension is the smallest ``d`` at which an
    entry of :math:`D(d)` reaches ``threshold`` (Fernando's ``getGFKDim.m``: ``round(100 D) == 100``, i.e.
    0.995), i.e. where the two domains start to disagree in a direction. Searched up to
    ``max_dim`` (default ``round(D/2)``, capped by the number of rows of each domain); if no ``d``
    qualifies, ``max_dim`` is returned with a warning. No label is used.
    """
    ns, D = X_source.shape
    nt = X_target.shape[0]
    stacked = sp.vstack([sp.csr_matrix(X_source), sp.csr_matrix(X_target)], format="csr") if (
        sp.issparse(X_source) or sp.issparse(X_target)
    ) else np.vstack([X_source, X_target])
    cap = min(int(round(D * 0.5)) if max_dim is None else int(max_dim), ns, nt, D)
    if cap < 1:
        raise ValueError(f"subspace_disagreement_dim: no dimension to search (max_dim={max_dim}, D={D}).")
    # The bases are computed for a few dimensions first and extended only if no d qualifies (the
    # measure usually fires early), which keeps the eigenproblems small.
    start, k = 1, min(cap, _SDM_FIRST_K)
    while True:
        Ps = pca_basis(X_source, k)[0]
        Pt = pca_basis(X_target, k)[0]
        Pst = pca_basis(stacked, k)[0]
        for d in range(start, k + 1):
            a = np.sort(np.sin(principal_angles(Ps[:, :d], Pst[:, :d])))[::-1]
            b = np.sort(np.sin(principal_angles(Pt[:, :d], Pst[:, :d])))[::-1]
            if np.any(np.round((a + b) * 50) >= 100):  # getGFKDim.m: round(100 * (a + b) / 2) == 100
                return d
        if k == cap:
            break
        start, k = k + 1, min(cap, 4 * k)
    warnings.warn(
        f"subspace_disagreement_dim: no dimension up to {cap} reaches the disagreement threshold {threshold}; "
        f"using {cap}.",
        UserWarning,
        stacklevel=2,
    )
    return cap


def _with_transformer_tags(tags):
    """Declare ``transform`` to sklearn (the strategies are classifiers that also embed rows)."""
    tags.transformer_tags = TransformerTags(preserves_dtype=["float64"])
    return tags


def _split_rows(X, sample_domain):
    """Boolean mask of the rows to treat as source (positive ``sample_domain``); None = all target."""
    if sample_domain is None:
        return np.zeros(X.shape[0], dtype=bool)
    return np.asarray(sample_domain) > 0


# ---------------------------------------------------------------------------------------------------
# Subspace Alignment
# ---------------------------------------------------------------------------------------------------
@register("sa", setting="transductive", family="subspace")
class SubspaceAlignment(TransformerMixin, BaseDomainAdaptationClassifier):
    r"""Subspace Alignment (SA): map the source PCA subspace onto the target's (Fernando et al., ICCV 2013).

    With :math:`P_S, P_T \in \mathbb{R}^{D\times d}` the top-``d`` principal directions of the source
    and target rows, SA solves

    .. math::

        M^\star = \arg\min_M \|P_S M - P_T\|_F^2 = P_S^\top P_T ,

    and represents source rows by :math:`X_S P_S M^\star` (the *target-aligned source subspace*
    :math:`X_a = P_S P_S^\top P_T`) and target rows by :math:`X_T P_T`. Rows are projected without
    re-centring (the paper's inputs are standardised per domain; see the dataset preprocessing). Two
    classifier variants:

    - ``variant="transform"``: train ``estimator`` on :math:`X_S P_S M`, apply it to :math:`X_T P_T`
      (the paper's description).
    - ``variant="released_code"``: what the authors' released MATLAB code (``SA_SVM.m``, reused by the
      CORAL paper's code) runs: libsvm on the precomputed similarity
      :math:`K(x, x') = x\, P_S P_S^\top P_T P_T^\top x'^\top` with the source row on the left, i.e.
      training kernel :math:`(X_S P_S M)(X_S P_T)^\top` (not symmetric) and test kernel
      :math:`(X_T P_T)(X_S P_S M)^\top`. ``estimator`` must accept a precomputed kernel.

    In both, the default SVM chooses ``C`` from {1e-3, ..., 1e4} by 2-fold CV on the source rows.

    Parameters
    ----------
    n_components : int, default=80
        Subspace dimension ``d`` (the authors' demo code uses 80 on Office-Caltech SURF). At most
        ``min(n_features, n_source_rows, n_target_rows)``.
    variant : {"transform", "released_code"}, default="transform"
    estimator : sklearn classifier or None, default=None
        ``None`` = ``CVSVC(kernel="linear")`` for ``"transform"`` and ``CVSVC(kernel="precomputed")`` for
        ``"released_code"``.
    random_state : None
        Unused: SA is deterministic (PCA by a symmetric eigensolver). Kept for a uniform interface.

    Attributes
    ----------
    components_source_, components_target_ : ndarray of shape (n_features, d)
        :math:`P_S`, :math:`P_T`.
    alignment_ : ndarray of shape (d, d)
        :math:`M = P_S^\top P_T`.
    aligned_source_basis_ : ndarray of shape (n_features, d)
        :math:`X_a = P_S M`.
    estimator_ : fitted classifier

    References
    ----------
    .. [1] B. Fernando, A. Habrard, M. Sebban, T. Tuytelaars. "Unsupervised Visual Domain Adaptation Using
       Subspace Alignment". ICCV 2013.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> Xs = rng.normal(size=(100, 5)); ys = (Xs[:, 0] > 0).astype(int)
    >>> Xt = rng.normal(size=(80, 5))
    >>> clf = SubspaceAlignment(n_components=2).fit_domains(Xs, ys, Xt)
    >>> clf.transform(Xt).shape
    (80, 2)
    """

    _parameter_constraints = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "variant": [StrOptions({"transform", "released_code"})],
        "estimator": [HasMethods(["fit", "predict"]), None],
        "random_state": ["random_state"],
    }

    def __init__(self, *, n_components=80, variant="transform", estimator=None, random_state=None):
        self.n_components = n_components
        self.variant = variant
        self.estimator = estimator
        self.random_state = random_state

    def _fit(self, split: DomainSplit) -> None:
        self._validate_params()
        Xs = split.X_source
        Xt = split.X_target if split.has_target else None
        d = self.n_components
        _check_n_components(type(self).__name__, d, Xs.shape[0], Xs.shape[1], "source")
        if Xt is not None:
            _check_n_components(type(self).__name__, d, Xt.shape[0], Xt.shape[1], "target")
        self.components_source_ = pca_basis(Xs, d)[0]
        # Without target rows there is nothing to align to: P_T = P_S, M = I (source-only on the PCA subspace).
        self.components_target_ = pca_basis(Xt, d)[0] if Xt is not None else self.components_source_
        self.alignment_ = self.components_source_.T @ self.components_target_
        self.aligned_source_basis_ = self.components_source_ @ self.alignment_
        Za = np.asarray(Xs @ self.aligned_source_basis_)
        if self.variant == "transform":
            self.estimator_ = clone_or_default(self.estimator, CVSVC(kernel="linear"))
            self.estimator_.fit(Za, split.y_source)
        else:
            self.source_aligned_ = Za
            self.source_in_target_ = np.asarray(Xs @ self.components_target_)
            self.estimator_ = clone_or_default(self.estimator, CVSVC(kernel="precomputed"))
            self.estimator_.fit(Za @ self.source_in_target_.T, split.y_source)

    def transform(self, X, sample_domain=None):
        """Embed rows in the d-dim aligned space: source rows (positive ``sample_domain``) by
        :math:`X P_S M`, other rows (and every row when ``sample_domain`` is None) by :math:`X P_T`."""
        X = self._validate_predict_X(X, sample_domain)
        return self._embed(X, _split_rows(X, sample_domain))

    def _embed(self, X, is_source):
        Z = np.asarray(X @ self.components_target_)
        if np.any(is_source):
            Z[is_source] = np.asarray(X[np.flatnonzero(is_source)] @ self.aligned_source_basis_)
        return Z

    def predict(self, X, *, sample_domain=None):
        """Predict labels; rows with positive ``sample_domain`` are embedded as source rows."""
        X = self._validate_predict_X(X, sample_domain)
        return self.classes_[self._predict_rows(X, _split_rows(X, sample_domain))]

    def _predict_encoded(self, X):
        return self._predict_rows(X, np.zeros(X.shape[0], dtype=bool))

    def _predict_rows(self, X, is_source):
        Z = self._embed(X, is_source)
        if self.variant == "transform":
            return self.estimator_.predict(Z)
        # released-code similarity, source row on the left: K(x_s, x) = (x_s P_S M)·(x P_T)
        K = Z @ self.source_aligned_.T
        if np.any(is_source):
            K[is_source] = Z[is_source] @ self.source_in_target_.T
        return self.estimator_.predict(K)

    def selection_protocol(self) -> str:
        """``"source_cv"`` with the default SVM (C by 2-fold CV on the source rows)."""
        return estimator_selection(self.estimator)

    def __sklearn_tags__(self):
        return _with_transformer_tags(super().__sklearn_tags__())


# ---------------------------------------------------------------------------------------------------
# Geodesic Flow Kernel
# ---------------------------------------------------------------------------------------------------
@register("gfk", setting="transductive", family="subspace")
class GFK(TransformerMixin, BaseDomainAdaptationClassifier):
    r"""Geodesic Flow Kernel (GFK): integrate over the subspaces between source and target (Gong et al., CVPR 2012).

    With :math:`\Phi(t)`, :math:`t\in[0,1]`, the geodesic on the Grassmann manifold from the source
    PCA subspace :math:`P_S` to the target's :math:`P_T` (both d-dimensional), rows are compared with
    the kernel

    .. math::

        \langle x, z\rangle_G = x\, G\, z^\top, \qquad
        G = \int_0^1 \Phi(t)\Phi(t)^\top\, dt ,

    which has a closed form in the principal angles between the subspaces (:func:`gfk_factors`).
    :math:`G` is symmetric PSD of rank at most 2d, so the strategy embeds every row (source or target:
    the kernel treats them alike) by :math:`x \mapsto x\, W \Lambda^{1/2}` (``2d`` columns) with
    :math:`G = W\Lambda W^\top`; inner products and distances of the embedding are those of :math:`G`.
    Hence a linear SVM on the embedding *is* libsvm on the precomputed similarity
    :math:`X_S G X^\top` (the protocol of the SA and CORAL papers' code), and 1-NN on it is the GFK
    authors' kernel nearest neighbour (:math:`\|x-z\|_G^2 = (x-z)G(x-z)^\top`). Rows are not
    re-centred (inputs are standardised per domain in the papers).

    Parameters
    ----------
    n_components : int or "sdm", default="sdm"
        Subspace dimension ``d``. ``"sdm"`` = chosen from the unlabelled data by the subspace
        disagreement measure of the GFK paper (:func:`subspace_disagreement_dim`, as Fernando's
        ``getGFKDim.m``, used by the SA paper's GFK baseline).
    estimator : sklearn classifier or None, default=None
        ``None`` = ``CVSVC(kernel="linear")`` (C in {1e-3..1e4} by 2-fold CV on the source). Use
        ``KNeighborsClassifier(n_neighbors=1)`` for the GFK / JDA papers' 1-NN protocol.
    random_state : None
        Unused: GFK is deterministic. Kept for a uniform interface.

    Attributes
    ----------
    n_components_ : int
        The subspace dimension used.
    components_source_, components_target_ : ndarray of shape (n_features, d)
    principal_angles_ : ndarray of shape (d,)
    embedding_ : ndarray of shape (n_features, 2 * d)
        :math:`W\Lambda^{1/2}`; ``embedding_ @ embedding_.T`` is :math:`G`.
    estimator_ : fitted classifier

    References
    ----------
    .. [1] B. Gong, Y. Shi, F. Sha, K. Grauman. "Geodesic Flow Kernel for Unsupervised Domain
       Adaptation". CVPR 2012.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> Xs = rng.normal(size=(100, 6)); ys = (Xs[:, 0] > 0).astype(int)
    >>> Xt = rng.normal(size=(80, 6))
    >>> gfk = GFK(n_components=2).fit_domains(Xs, ys, Xt)
    >>> gfk.transform(Xt).shape
    (80, 4)
    """

    _parameter_constraints = {
        "n_components": [Interval(Integral, 1, None, closed="left"), StrOptions({"sdm"})],
        "estimator": [HasMethods(["fit", "predict"]), None],
        "random_state": ["random_state"],
    }

    def __init__(self, *, n_components="sdm", estimator=None, random_state=None):
        self.n_components = n_components
        self.estimator = estimator
        self.random_state = random_state

    def _fit(self, split: DomainSplit) -> None:
        self._validate_params()
        Xs = split.X_source
        Xt = split.X_target if split.has_target else None
        name = type(self).__name__
        if self.n_components == "sdm":
            d = subspace_disagreement_dim(Xs, Xt) if Xt is not None else min(Xs.shape[0], max(1, round(Xs.shape[1] / 2)))
        else:
            d = int(self.n_components)
            _check_n_components(name, d, Xs.shape[0], Xs.shape[1], "source")
            if Xt is not None:
                _check_n_components(name, d, Xt.shape[0], Xt.shape[1], "target")
        self.n_components_ = d
        self.components_source_ = _leading_basis(Xs, d)
        # Without target rows the geodesic is a point: G = P_S P_Sᵀ (source-only on the PCA subspace).
        self.components_target_ = _leading_basis(Xt, d) if Xt is not None else self.components_source_
        W, Lam, theta = gfk_factors(self.components_source_, self.components_target_)
        self.principal_angles_ = theta
        self.embedding_ = W @ _block_sqrt(Lam)
        self.estimator_ = clone_or_default(self.estimator, CVSVC(kernel="linear"))
        self.estimator_.fit(np.asarray(Xs @ self.embedding_), split.y_source)

    def transform(self, X, sample_domain=None):
        """Embed rows by :math:`x W\\Lambda^{1/2}` (the same map for both domains; ``sample_domain`` is only validated)."""
        X = self._validate_predict_X(X, sample_domain)
        return np.asarray(X @ self.embedding_)

    def _predict_encoded(self, X):
        return self.estimator_.predict(np.asarray(X @ self.embedding_))

    def selection_protocol(self) -> str:
        """``"source_cv"`` with the default SVM (C by 2-fold CV on the source rows); the dimension
        (``"sdm"``) uses no label."""
        return estimator_selection(self.estimator)

    def __sklearn_tags__(self):
        return _with_transformer_tags(super().__sklearn_tags__())


# ---------------------------------------------------------------------------------------------------
# PCA baseline
# ---------------------------------------------------------------------------------------------------
@register("pca", setting="transductive", family="subspace")
class PCABaseline(TransformerMixin, BaseDomainAdaptationClassifier):
    r"""PCA baseline: project both domains onto the PCA subspace of the stacked source and target rows.

    The "PCA" row of the TCA / JDA papers (Pan et al. 2011; Long et al., ICCV 2013): with
    :math:`X = [X_S; X_T]` and :math:`H = I - \tfrac1n \mathbf{1}\mathbf{1}^\top`,

    .. math::

        \max_{A^\top A = I} \operatorname{tr}(A^\top X^\top H X A), \qquad A \in \mathbb{R}^{D\times k},

    i.e. the top-k eigenvectors of the scatter of the stacked rows (JDA's objective without its MMD
    term). Rows are embedded by :math:`(x - \mu) A` (:math:`\mu` = mean of the stacked rows). No
    alignment term: the baseline shows what a shared low-dimensional subspace alone does.

    ``variant="released_code"`` follows the JDA demo code's data flow: each row is scaled to unit
    Euclidean norm before the PCA, rows are embedded uncentred (:math:`xA`, ``Z = A'*X``), and each
    embedded row is scaled to unit norm again before the classifier (``Z = Z * diag(1./sqrt(sum(Z.^2)))``
    in ``JDA.m``). ``"transform"`` is plain PCA; with ``n_components=100`` and a 1-NN it reproduces the
    JDA paper's PCA row on all 14 of its tasks (to the rounding); the JDA-code variant does not.

    Parameters
    ----------
    n_components : int, default=100
        ``k`` (the JDA paper's 100). At most ``min(n_features, n_rows)``.
    variant : {"transform", "released_code"}, default="transform"
    estimator : sklearn classifier or None, default=None
        ``None`` = ``CVSVC(kernel="linear")``; the JDA paper's protocol is
        ``KNeighborsClassifier(n_neighbors=1)``.
    random_state : None
        Unused: deterministic. Kept for a uniform interface.

    Attributes
    ----------
    components_ : ndarray of shape (n_features, k)
    mean_ : ndarray of shape (n_features,)
    estimator_ : fitted classifier

    References
    ----------
    .. [1] M. Long, J. Wang, G. Ding, J. Sun, P. S. Yu. "Transfer Feature Learning with Joint
       Distribution Adaptation". ICCV 2013 (PCA baseline, Table 2).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> Xs = rng.normal(size=(100, 6)); ys = (Xs[:, 0] > 0).astype(int)
    >>> Xt = rng.normal(size=(80, 6))
    >>> PCABaseline(n_components=3).fit_domains(Xs, ys, Xt).transform(Xt).shape
    (80, 3)
    """

    _parameter_constraints = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "variant": [StrOptions({"transform", "released_code"})],
        "estimator": [HasMethods(["fit", "predict"]), None],
        "random_state": ["random_state"],
    }

    def __init__(self, *, n_components=100, variant="transform", estimator=None, random_state=None):
        self.n_components = n_components
        self.variant = variant
        self.estimator = estimator
        self.random_state = random_state

    def _rows_l2(self, X):
        if self.variant != "released_code":
            return X
        return normalize(X)  # unit L2 rows, zero rows unchanged, sparse stays sparse

    def _fit(self, split: DomainSplit) -> None:
        self._validate_params()
        blocks = [split.X_source] + ([split.X_target] if split.has_target else [])
        if any(sp.issparse(b) for b in blocks):
            X = sp.vstack([sp.csr_matrix(b) for b in blocks], format="csr")
        else:
            X = np.vstack(blocks)
        X = self._rows_l2(X)
        _check_n_components(type(self).__name__, self.n_components, X.shape[0], X.shape[1], "stacked")
        self.components_, _, self.mean_ = pca_basis(X, self.n_components)
        self.estimator_ = clone_or_default(self.estimator, CVSVC(kernel="linear"))
        self.estimator_.fit(self._embed(self._rows_l2(split.X_source)), split.y_source)

    def _embed(self, X):
        Z = np.asarray(X @ self.components_)
        if self.variant == "transform":
            Z = Z - self.mean_ @ self.components_
        else:  # JDA.m: Z = A'*X on the uncentred rows, then every embedded row to unit norm
            norms = np.linalg.norm(Z, axis=1)
            norms[norms == 0] = 1.0
            Z = Z / norms[:, None]
        return Z

    def transform(self, X, sample_domain=None):
        """Embed rows (either domain) on the shared PCA subspace."""
        X = self._validate_predict_X(X, sample_domain)
        return self._embed(self._rows_l2(X))

    def _predict_encoded(self, X):
        return self.estimator_.predict(self._embed(self._rows_l2(X)))

    def selection_protocol(self) -> str:
        """``"source_cv"`` with the default SVM (C by 2-fold CV on the source rows)."""
        return estimator_selection(self.estimator)

    def __sklearn_tags__(self):
        return _with_transformer_tags(super().__sklearn_tags__())
