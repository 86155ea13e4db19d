"""Subspace strategies (SA, GFK, PCA baseline): their closed forms, the properties they are built on,
the released-code kernels, sparse = dense, and that they fix the shift they are made for."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.linalg import null_space
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import SVC

from tltaxonomy.transductive import (
    GFK,
    PCABaseline,
    SourceOnly,
    SubspaceAlignment,
    geodesic_flow_kernel,
    gfk_factors,
    pca_basis,
    principal_angles,
    subspace_disagreement_dim,
)


def _orth(rng, D, d):
    return np.linalg.qr(rng.normal(size=(D, d)))[0]


def _reference_pca(X, k):
    Xc = X - X.mean(axis=0)
    _, s, Vt = np.linalg.svd(Xc, full_matrices=False)
    return Vt[:k].T, s[:k] ** 2 / (X.shape[0] - 1)


def _rotated_subspace(seed=0, n=300, D=10, angle=np.deg2rad(60)):
    """The class lives on one direction: z in {1, 5} (+ noise) along b_s in the source and along b_t,
    b_s rotated by ``angle``, in the target; isotropic noise elsewhere. A source classifier reads the
    target class coordinate shrunk by cos(angle) and puts every target row in class 0; a method that
    maps the source subspace onto the target's does not."""
    rng = np.random.default_rng(seed)
    e = np.eye(D)
    bs = e[0]
    bt = np.cos(angle) * e[0] + np.sin(angle) * e[1]

    def domain(b, m):
        y = rng.integers(0, 2, m)
        z = 1 + 4 * y + 0.5 * rng.normal(size=m)
        return np.outer(z, b) + 0.3 * rng.normal(size=(m, D)), y

    Xs, ys = domain(bs, n)
    Xt, yt = domain(bt, n)
    return Xs, ys, Xt, yt


class Spy(ClassifierMixin, BaseEstimator):
    """An SVC on a precomputed kernel that records the matrices it is fitted and evaluated on."""

    def __init__(self, kernel="precomputed"):
        self.kernel = kernel

    def fit(self, X, y):
        self.fit_X_ = np.array(X, copy=True)
        self.svc_ = SVC(kernel=self.kernel).fit(X, y)
        self.classes_ = self.svc_.classes_
        return self

    def predict(self, X):
        self.predict_X_ = np.array(X, copy=True)
        return self.svc_.predict(X)


# ---------------------------------------------------------------------------------------------------
# PCA bases
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(30, 12), (12, 30)], ids=["n>D", "n<D"])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_pca_basis_matches_reference_svd(shape, sparse):
    rng = np.random.default_rng(0)
    X = rng.normal(size=shape) * rng.uniform(0.5, 3, size=shape[1])
    X[rng.random(shape) < 0.5] = 0.0
    k = 5
    V, var, mu = pca_basis(sp.csr_matrix(X) if sparse else X, k)
    V_ref, var_ref = _reference_pca(X, k)
    np.testing.assert_allclose(V.T @ V, np.eye(k), atol=1e-10)
    np.testing.assert_allclose(var, var_ref, rtol=1e-8)
    np.testing.assert_allclose(V @ V.T, V_ref @ V_ref.T, atol=1e-8)  # same subspace
    np.testing.assert_allclose(mu, X.mean(axis=0), atol=1e-12)
    assert np.all(V[np.argmax(np.abs(V), axis=0), np.arange(k)] > 0)  # deterministic signs


def test_principal_angles_of_known_subspaces():
    e = np.eye(4)
    A = e[:, :2]
    B = np.c_[e[:, 0], np.cos(0.3) * e[:, 1] + np.sin(0.3) * e[:, 2]]
    np.testing.assert_allclose(principal_angles(A, B), [0.0, 0.3], atol=1e-12)


# ---------------------------------------------------------------------------------------------------
# Subspace Alignment
# ---------------------------------------------------------------------------------------------------
def test_sa_aligned_basis_is_ps_pst_pt_and_minimises_the_objective():
    rng = np.random.default_rng(1)
    Xs = rng.normal(size=(80, 8)) @ rng.normal(size=(8, 8))
    Xt = rng.normal(size=(70, 8)) @ rng.normal(size=(8, 8))
    ys = rng.integers(0, 2, 80)
    sa = SubspaceAlignment(n_components=3).fit_domains(Xs, ys, Xt)
    Ps, Pt = sa.components_source_, sa.components_target_
    # the bases are the PCA subspaces of each domain
    for X, P in ((Xs, Ps), (Xt, Pt)):
        Ref, _ = _reference_pca(X, 3)
        np.testing.assert_allclose(P @ P.T, Ref @ Ref.T, atol=1e-8)
    np.testing.assert_allclose(sa.alignment_, Ps.T @ Pt, atol=1e-12)
    np.testing.assert_allclose(sa.aligned_source_basis_, Ps @ Ps.T @ Pt, atol=1e-12)
    # M = argmin ||Ps M - Pt||_F  (least squares)
    M_ls = np.linalg.lstsq(Ps, Pt, rcond=None)[0]
    np.testing.assert_allclose(sa.alignment_, M_ls, atol=1e-10)
    # embedding: source rows by Xs Ps M, target rows (and sample_domain=None) by Xt Pt
    sd = np.r_[np.ones(80, int), -np.ones(70, int)]
    Z = sa.transform(np.vstack([Xs, Xt]), sample_domain=sd)
    np.testing.assert_allclose(Z[:80], Xs @ Ps @ Ps.T @ Pt, atol=1e-10)
    np.testing.assert_allclose(Z[80:], Xt @ Pt, atol=1e-10)
    np.testing.assert_allclose(sa.transform(Xt), Xt @ Pt, atol=1e-10)


def test_sa_released_code_kernel_is_the_sa_svm_similarity():
    """SA_SVM.m: A = (Ps Psᵀ)(Pt Ptᵀ); training kernel Xs A Xsᵀ; test kernel (Xs A Xtᵀ)ᵀ."""
    Xs, ys, Xt, _ = _rotated_subspace(seed=2, n=60)
    sa = SubspaceAlignment(n_components=2, variant="released_code", estimator=Spy()).fit_domains(Xs, ys, Xt)
    Ps, Pt = sa.components_source_, sa.components_target_
    A = Ps @ Ps.T @ Pt @ Pt.T
    np.testing.assert_allclose(sa.estimator_.fit_X_, Xs @ A @ Xs.T, atol=1e-9)
    sa.predict(Xt)
    np.testing.assert_allclose(sa.estimator_.predict_X_, (Xs @ A @ Xt.T).T, atol=1e-9)
    # a source row at predict time is on the same side as the training rows
    sa.predict(Xs[:5], sample_domain=np.ones(5, int))
    np.testing.assert_allclose(sa.estimator_.predict_X_, Xs[:5] @ A @ Xs.T, atol=1e-9)


def test_sa_without_target_is_identity_alignment():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 5))
    y = rng.integers(0, 2, 40)
    sa = SubspaceAlignment(n_components=3).fit(X, y)
    np.testing.assert_allclose(sa.alignment_, np.eye(3), atol=1e-12)


# ---------------------------------------------------------------------------------------------------
# GFK
# ---------------------------------------------------------------------------------------------------
def _gong_geodesic(Ps, Pt):
    """Φ(t) of Gong et al. (CVPR 2012, eq. 2-3), built independently with the full complement Rs."""
    Rs = null_space(Ps.T)
    U1, gam, Vt = np.linalg.svd(Ps.T @ Pt)
    theta = np.arccos(np.clip(gam, -1, 1))
    sig = np.sin(theta)
    U2 = -(Rs.T @ Pt @ Vt.T) / sig  # Rsᵀ Pt = -U2 Σ Vᵀ
    return lambda t: Ps @ U1 @ np.diag(np.cos(t * theta)) - Rs @ U2 @ np.diag(np.sin(t * theta)), Vt


@pytest.mark.parametrize("D,d", [(6, 2), (7, 3), (5, 3)], ids=["d<D/2", "d<D/2 b", "d>D/2"])
def test_gfk_kernel_is_the_integral_over_the_geodesic(D, d):
    rng = np.random.default_rng(D * 10 + d)
    Ps, Pt = _orth(rng, D, d), _orth(rng, D, d)
    G = geodesic_flow_kernel(Ps, Pt)
    # symmetric positive semi-definite, rank <= 2d
    np.testing.assert_allclose(G, G.T, atol=1e-12)
    w = np.linalg.eigvalsh(G)
    assert w.min() > -1e-10 and np.sum(w > 1e-9) <= 2 * d
    if 2 * d <= D:
        phi, Vt = _gong_geodesic(Ps, Pt)
        np.testing.assert_allclose(phi(0) @ phi(0).T, Ps @ Ps.T, atol=1e-10)  # starts at the source subspace
        np.testing.assert_allclose(phi(1), Pt @ Vt.T, atol=1e-8)  # ends at the target subspace
        # Gauss-Legendre quadrature of ∫ Φ(t)Φ(t)ᵀ dt on [0, 1]
        nodes, weights = np.polynomial.legendre.leggauss(40)
        t, wq = (nodes + 1) / 2, weights / 2
        G_num = sum(wi * phi(ti) @ phi(ti).T for ti, wi in zip(t, wq))
        np.testing.assert_allclose(G, G_num, atol=1e-10)
    # the factored form gives the same kernel and an orthonormal W
    W, Lam, theta = gfk_factors(Ps, Pt)
    np.testing.assert_allclose(W @ Lam @ W.T, G, atol=1e-12)
    np.testing.assert_allclose(np.sort(theta), principal_angles(Ps, Pt), atol=1e-10)


def test_gfk_of_identical_subspaces_is_the_projection():
    rng = np.random.default_rng(4)
    P = _orth(rng, 6, 2)
    np.testing.assert_allclose(geodesic_flow_kernel(P, P @ np.array([[0.0, 1.0], [1.0, 0.0]])), P @ P.T, atol=1e-12)


def test_gfk_embedding_reproduces_the_kernel_and_its_distances():
    Xs, ys, Xt, _ = _rotated_subspace(seed=5, n=80)
    gfk = GFK(n_components=3, estimator=Spy(kernel="linear")).fit_domains(Xs, ys, Xt)
    G = geodesic_flow_kernel(gfk.components_source_, gfk.components_target_)
    np.testing.assert_allclose(gfk.embedding_ @ gfk.embedding_.T, G, atol=1e-10)
    Zs, Zt = gfk.transform(Xs), gfk.transform(Xt)
    # linear kernel on the embedding = the similarity Xs G Xtᵀ of the SA / CORAL papers' code
    np.testing.assert_allclose(Zs @ Zt.T, Xs @ G @ Xt.T, atol=1e-9)
    diff = Xs[:10] - Xt[:10]
    np.testing.assert_allclose(np.sum((Zs[:10] - Zt[:10]) ** 2, axis=1), np.einsum("ij,jk,ik->i", diff, G, diff), atol=1e-9)
    # the estimator is fitted on the embedded source rows
    np.testing.assert_allclose(gfk.estimator_.fit_X_, Zs, atol=1e-12)


def test_gfk_1nn_is_the_kernel_nearest_neighbour_of_gong():
    Xs, ys, Xt, _ = _rotated_subspace(seed=6, n=80)
    gfk = GFK(n_components=2, estimator=KNeighborsClassifier(n_neighbors=1)).fit_domains(Xs, ys, Xt)
    G = geodesic_flow_kernel(gfk.components_source_, gfk.components_target_)
    # my_kernel_knn in GFK.m: dist = diag(Xs G Xsᵀ) + diag(Xt G Xtᵀ)ᵀ - 2 Xs G Xtᵀ
    dist = np.einsum("ij,jk,ik->i", Xs, G, Xs)[:, None] + np.einsum("ij,jk,ik->i", Xt, G, Xt)[None, :] - 2 * Xs @ G @ Xt.T
    np.testing.assert_array_equal(gfk.predict(Xt), ys[np.argmin(dist, axis=0)])


def test_subspace_disagreement_dim_finds_where_domains_disagree():
    """Both domains share 3 strong directions; each then has its own 4th direction, in 150-d noise:
    from d = 5 on, both PCA subspaces hold a direction almost orthogonal to the joint subspace."""
    rng = np.random.default_rng(7)
    D, n = 150, 400
    scales = np.zeros(D)
    scales[:3] = [10, 8, 6]

    def domain(extra):
        s = scales.copy()
        s[extra] = 4
        return rng.normal(size=(n, D)) * s + 0.05 * rng.normal(size=(n, D))

    Xs, Xt = domain(3), domain(4)
    d = subspace_disagreement_dim(Xs, Xt)
    assert 4 <= d <= 6
    # identical domains never disagree: the search runs to its cap and says so
    with pytest.warns(UserWarning, match="no dimension up to 3"):
        assert subspace_disagreement_dim(Xs, Xs, max_dim=3) == 3
    gfk = GFK(estimator=KNeighborsClassifier(1)).fit_domains(Xs, rng.integers(0, 2, n), Xt)
    assert gfk.n_components_ == d


# ---------------------------------------------------------------------------------------------------
# They fix the shift they are made for
# ---------------------------------------------------------------------------------------------------
def test_sa_and_gfk_beat_source_only_on_a_rotated_subspace():
    Xs, ys, Xt, yt = _rotated_subspace(seed=8)
    acc = {
        "source_only": SourceOnly().fit_domains(Xs, ys, Xt).score(Xt, yt),
        "sa": SubspaceAlignment(n_components=1).fit_domains(Xs, ys, Xt).score(Xt, yt),
        "sa_released": SubspaceAlignment(n_components=1, variant="released_code").fit_domains(Xs, ys, Xt).score(Xt, yt),
        "gfk": GFK(n_components=1).fit_domains(Xs, ys, Xt).score(Xt, yt),
    }
    assert acc["source_only"] < 0.65, acc
    # SA maps the source class coordinate to cos(60°) = 0.5 of the target's, so its threshold sits
    # between the target classes but off-centre: a few rows are lost; GFK's kernel is symmetric.
    for name in ("sa", "sa_released", "gfk"):
        assert acc[name] > 0.85, acc


def test_sa_embedding_reduces_the_domain_shift():
    """A domain classifier separates the raw domains almost perfectly, but not the SA embedding."""
    Xs, ys, Xt, _ = _rotated_subspace(seed=9)
    sa = SubspaceAlignment(n_components=1).fit_domains(Xs, ys, Xt)
    domain = np.r_[np.zeros(len(Xs)), np.ones(len(Xt))]

    def separability(Z):
        return cross_val_score(LogisticRegression(), Z, domain, cv=3).mean()

    raw = separability(np.vstack([Xs, Xt]))
    sd = np.r_[np.ones(len(Xs), int), -np.ones(len(Xt), int)]
    emb = separability(sa.transform(np.vstack([Xs, Xt]), sample_domain=sd))
    assert raw > 0.9 and emb < 0.75, (raw, emb)


# ---------------------------------------------------------------------------------------------------
# Target labels, sparse input, parameter errors, PCA baseline
# ---------------------------------------------------------------------------------------------------
STRATEGIES = [
    lambda: SubspaceAlignment(n_components=2),
    lambda: SubspaceAlignment(n_components=2, variant="released_code"),
    lambda: GFK(n_components=2),
    lambda: GFK(),
    lambda: PCABaseline(n_components=3),
    lambda: PCABaseline(n_components=3, variant="released_code", estimator=KNeighborsClassifier(1)),
]
IDS = ["sa", "sa_released", "gfk", "gfk_sdm", "pca", "pca_released_1nn"]


@pytest.mark.parametrize("make", STRATEGIES, ids=IDS)
def test_fitted_state_does_not_depend_on_target_labels(make):
    Xs, ys, Xt, yt = _rotated_subspace(seed=10, n=60)
    X = np.vstack([Xs, Xt])
    sd = np.r_[np.ones(60, int), -np.ones(60, int)]
    a = make().fit(X, np.r_[ys, yt], sample_domain=sd)
    b = make().fit(X, np.r_[ys, np.full(60, 7)], sample_domain=sd)
    np.testing.assert_array_equal(a.predict(Xt), b.predict(Xt))
    np.testing.assert_allclose(a.transform(Xt), b.transform(Xt))


@pytest.mark.parametrize("make", STRATEGIES, ids=IDS)
@pytest.mark.parametrize("n", [20, 60], ids=["n<D", "n>D"])
def test_sparse_input_gives_the_dense_result(make, n):
    rng = np.random.default_rng(11)
    D = 30
    Xs = rng.poisson(0.6, size=(n, D)).astype(float) * rng.uniform(0.5, 2, D)
    Xt = rng.poisson(0.6, size=(n, D)).astype(float) * rng.uniform(0.5, 2, D)
    ys = (Xs[:, :5].sum(axis=1) > np.median(Xs[:, :5].sum(axis=1))).astype(int)
    dense = make().fit_domains(Xs, ys, Xt)
    sparse = make().fit_domains(sp.csr_matrix(Xs), ys, sp.csr_matrix(Xt))
    np.testing.assert_allclose(sparse.transform(sp.csr_matrix(Xt)), dense.transform(Xt), atol=1e-8)
    if getattr(dense, "variant", "") == "released_code" and isinstance(dense, SubspaceAlignment):
        # the released-code kernel is indefinite: libsvm stops at its iteration cap, where 1e-15
        # differences can flip a prediction; the kernel itself is what must agree
        np.testing.assert_allclose(sparse.source_aligned_ @ sparse.source_in_target_.T,
                                   dense.source_aligned_ @ dense.source_in_target_.T, atol=1e-8)
    else:
        np.testing.assert_array_equal(sparse.predict(sp.csr_matrix(Xt)), dense.predict(Xt))


@pytest.mark.parametrize("cls", [SubspaceAlignment, GFK, PCABaseline])
def test_too_many_components_name_the_problem_and_the_fix(cls):
    rng = np.random.default_rng(12)
    Xs, Xt = rng.normal(size=(40, 6)), rng.normal(size=(30, 6))
    ys = rng.integers(0, 2, 40)
    with pytest.raises(ValueError, match=r"n_components=7 is larger than n_features=6.*Choose n_components <= 6"):
        cls(n_components=7).fit_domains(Xs, ys, Xt)
    if cls is not PCABaseline:  # the PCA baseline pools the rows of both domains
        with pytest.raises(ValueError, match=r"n_components=5 is larger than the number of target rows \(4\)"):
            cls(n_components=5).fit_domains(Xs, ys, Xt[:4])
    with pytest.raises(ValueError, match="n_components"):
        cls(n_components=0).fit_domains(Xs, ys, Xt)


def test_bad_variant_is_rejected():
    rng = np.random.default_rng(13)
    with pytest.raises(ValueError, match="variant"):
        SubspaceAlignment(variant="paper").fit_domains(rng.normal(size=(10, 3)), np.arange(10) % 2, rng.normal(size=(10, 3)))


def test_pca_baseline_is_pca_of_the_stacked_domains():
    rng = np.random.default_rng(14)
    Xs, Xt = rng.normal(size=(50, 7)) * 2 + 1, rng.normal(size=(40, 7)) @ rng.normal(size=(7, 7))
    ys = rng.integers(0, 2, 50)
    pca = PCABaseline(n_components=3).fit_domains(Xs, ys, Xt)
    X = np.vstack([Xs, Xt])
    V, _ = _reference_pca(X, 3)
    np.testing.assert_allclose(pca.components_ @ pca.components_.T, V @ V.T, atol=1e-8)
    np.testing.assert_allclose(pca.transform(Xt), (Xt - X.mean(axis=0)) @ pca.components_, atol=1e-10)
    # the JDA-code variant: unit rows, uncentred projection, unit embedded rows
    rel = PCABaseline(n_components=3, variant="released_code").fit_domains(Xs, ys, Xt)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    Vn, _ = _reference_pca(Xn, 3)
    np.testing.assert_allclose(rel.components_ @ rel.components_.T, Vn @ Vn.T, atol=1e-8)
    Z = (Xt / np.linalg.norm(Xt, axis=1, keepdims=True)) @ rel.components_
    np.testing.assert_allclose(rel.transform(Xt), Z / np.linalg.norm(Z, axis=1, keepdims=True), atol=1e-10)


def test_selection_protocol_and_registry():
    from tltaxonomy import get_strategy

    assert get_strategy("sa") is SubspaceAlignment and get_strategy("gfk") is GFK and get_strategy("pca") is PCABaseline
    assert SubspaceAlignment().selection_protocol() == "source_cv"
    assert GFK(estimator=KNeighborsClassifier(1)).selection_protocol() == "none"
