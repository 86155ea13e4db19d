"""TCA / JDA / BDA: the closed form, the MMD they minimise, their documented equivalences, and that
they fix the shift they are made for."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp
from sklearn.neighbors import KNeighborsClassifier
from sklearn.utils._param_validation import InvalidParameterError

from tltaxonomy import get_strategy
from tltaxonomy.transductive import BDA, JDA, TCA, SourceOnly, mmd_factor, solve_mmd_embedding
from tltaxonomy.transductive.mmd_embedding import _row_l2


def _offset_shift(seed=0, n=150, d=8, offset=6.0, class_shift=0.0):
    """Two classes separated along feature 0 (means -3, +3); the target adds a constant offset on
    features 1-3 and ``class_shift`` on feature 0. Matching the domain means removes the offset."""
    rng = np.random.default_rng(seed)
    ys, yt = rng.integers(0, 2, n), rng.integers(0, 2, n)
    Xs = rng.normal(size=(n, d))
    Xs[:, 0] += 3.0 * (2 * ys - 1)
    Xt = rng.normal(size=(n, d))
    Xt[:, 0] += 3.0 * (2 * yt - 1) + class_shift
    Xt[:, 1:4] += offset
    return Xs, ys, Xt, yt


def _pooled(Xs, Xt):
    return np.vstack([Xs, Xt])


def _b_orthonormal(W, F):
    """Rescale the columns of W so that W^T F^T H F W = I (the constraint of the objective)."""
    Fc = F - F.mean(axis=0)
    scale = np.sqrt(np.einsum("ij,ij->j", Fc @ W, Fc @ W))
    return W / scale


def _mmd2(Z, ns):
    """Squared distance between the source and target means of an embedding."""
    return float(np.sum((Z[:ns].mean(axis=0) - Z[ns:].mean(axis=0)) ** 2))


def _class_mmd2(Z, ys, yt):
    ns = len(ys)
    Zs, Zt = Z[:ns], Z[ns:]
    return sum(float(np.sum((Zs[ys == c].mean(0) - Zt[yt == c].mean(0)) ** 2)) for c in np.unique(ys))


def _assert_same_columns(A, B, atol=1e-7):
    """Equal up to the sign of each column (eigenvectors are defined up to sign)."""
    signs = np.sign(np.sum(A * B, axis=0))
    np.testing.assert_allclose(A * signs, B, atol=atol)


def _pca_W(F, k):
    """PCA of the pooled rows under the same constraint (W^T F^T H F W = I)."""
    Fc = F - F.mean(axis=0)
    w, V = np.linalg.eigh(Fc.T @ Fc)
    return V[:, ::-1][:, :k] / np.sqrt(w[::-1][:k])


# ------------------------------------------------------------------------------------------------
# The closed form
# ------------------------------------------------------------------------------------------------
def test_solver_is_the_generalized_eigenproblem_and_its_optimum():
    rng = np.random.default_rng(0)
    F = rng.normal(size=(60, 7)) @ rng.normal(size=(7, 7))
    ys, yp = rng.integers(0, 3, 30), rng.integers(0, 3, 30)
    E = mmd_factor(ys, 30, yp, n_classes=3, mu=0.5)
    M = E @ E.T
    M /= np.linalg.norm(M)  # Frobenius
    H = np.eye(60) - 1.0 / 60
    A = F.T @ M @ F + 0.3 * np.eye(7)
    B = F.T @ H @ F
    W, phi = solve_mmd_embedding(F, E, reg=0.3, n_components=3)
    # the 3 smallest generalized eigenvalues, eigenvectors of unit norm
    np.testing.assert_allclose(phi, scipy.linalg.eigh(A, B, eigvals_only=True)[:3], rtol=1e-9)
    np.testing.assert_allclose(A @ W, B @ W * phi, atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(W, axis=0), 1.0)
    # rescaled to the constraint, W attains the minimum sum(phi) of tr(W^T A W) s.t. W^T B W = I ...
    Wb = _b_orthonormal(W, F)
    np.testing.assert_allclose(Wb.T @ B @ Wb, np.eye(3), atol=1e-9)
    np.testing.assert_allclose(np.trace(Wb.T @ A @ Wb), phi.sum(), rtol=1e-9)
    # ... and no other feasible W does better
    for _ in range(5):
        R = _b_orthonormal(np.linalg.qr(rng.normal(size=(7, 3)))[0], F)
        R = R @ np.linalg.inv(np.linalg.cholesky(R.T @ B @ R)).T
        assert np.trace(R.T @ A @ R) >= phi.sum() - 1e-9


def test_mmd_factor_is_the_authors_mmd_matrix():
    ys, yp = np.array([0, 0, 1]), np.array([1, 1])
    E = mmd_factor(ys, 2, yp, n_classes=2, mu=0.5)
    e0 = np.r_[np.full(3, 1 / 3), np.full(2, -1 / 2)]
    e_0 = np.r_[0.5, 0.5, 0, 0, 0]  # class 0: no target row pseudo-labelled 0 -> source part only
    e_1 = np.r_[0, 0, 1, -0.5, -0.5]
    expected = 0.5 * (2 * np.outer(e0, e0) + np.outer(e_0, e_0) + np.outer(e_1, e_1))
    np.testing.assert_allclose(E @ E.T, expected)
    np.testing.assert_allclose(mmd_factor(ys, 2) @ mmd_factor(ys, 2).T, 2 * np.outer(e0, e0))


def test_jda_components_solve_its_last_problem():
    Xs, ys, Xt, _ = _offset_shift(n=60)
    est = JDA(n_components=3, n_iter=3, reg=0.5).fit_domains(Xs, ys, Xt)
    F = _row_l2(_pooled(Xs, Xt))
    # the pseudo-labels of the last iteration's problem come from the previous iteration
    prev = JDA(n_components=3, n_iter=2, reg=0.5).fit_domains(Xs, ys, Xt)
    E = mmd_factor(ys, len(Xt), prev.pseudo_labels_, n_classes=2, mu=0.5)
    W, phi = solve_mmd_embedding(F, E, reg=0.5, n_components=3)
    np.testing.assert_allclose(est.eigenvalues_, phi, rtol=1e-9)
    _assert_same_columns(est.components_, W, atol=1e-6)


# ------------------------------------------------------------------------------------------------
# They reduce the MMD they minimise (computed explicitly in the embedding), compared with PCA
# ------------------------------------------------------------------------------------------------
def test_tca_reduces_the_marginal_mmd_compared_with_pca():
    Xs, ys, Xt, _ = _offset_shift()
    est = TCA(n_components=3, l2_normalize=False).fit_domains(Xs, ys, Xt)
    F = _pooled(Xs, Xt)
    ns = len(Xs)
    mmd_tca = _mmd2(F @ _b_orthonormal(est.components_, F), ns)
    mmd_pca = _mmd2(F @ _pca_W(F, 3), ns)
    assert mmd_tca < 0.05 * mmd_pca


def test_jda_reduces_the_joint_mmd_compared_with_pca_and_tca():
    # a class-conditional shift: the target moves class 1 only, so the marginal term cannot see it all
    rng = np.random.default_rng(3)
    n, d = 200, 6
    ys, yt = rng.integers(0, 3, n), rng.integers(0, 3, n)
    means = rng.normal(size=(3, d)) * 3
    Xs = means[ys] + rng.normal(size=(n, d))
    Xt = means[yt] + rng.normal(size=(n, d))
    Xt[yt == 1, 2] += 2.5
    Xt[:, 4] += 3.0
    F = _pooled(Xs, Xt)
    k = 3
    jda = JDA(n_components=k, l2_normalize=False, reg=0.1).fit_domains(Xs, ys, Xt)
    tca = TCA(n_components=k, l2_normalize=False, reg=0.1).fit_domains(Xs, ys, Xt)

    def joint(W):  # evaluated with the true target labels (the strategies never saw them)
        Z = F @ _b_orthonormal(W, F)
        return 3 * _mmd2(Z, n) + _class_mmd2(Z, ys, yt)

    assert joint(jda.components_) < joint(_pca_W(F, k))
    assert joint(jda.components_) <= joint(tca.components_) + 1e-9
    # the marginal MMD of TCA is below PCA's too on this data
    assert _mmd2(F @ _b_orthonormal(tca.components_, F), n) < _mmd2(F @ _pca_W(F, k), n)


# ------------------------------------------------------------------------------------------------
# Documented equivalences
# ------------------------------------------------------------------------------------------------
def _same_embedding(a, b, X):
    _assert_same_columns(a.components_, b.components_)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


def test_jda_with_one_iteration_is_tca():
    Xs, ys, Xt, _ = _offset_shift(seed=1)
    _same_embedding(JDA(n_components=4, n_iter=1).fit_domains(Xs, ys, Xt), TCA(n_components=4).fit_domains(Xs, ys, Xt), Xt)


def test_bda_half_is_jda_and_bda_zero_is_tca():
    Xs, ys, Xt, _ = _offset_shift(seed=2)
    jda = JDA(n_components=4, n_iter=4).fit_domains(Xs, ys, Xt)
    _same_embedding(BDA(n_components=4, n_iter=4, mu=0.5).fit_domains(Xs, ys, Xt), jda, Xt)
    tca = TCA(n_components=4).fit_domains(Xs, ys, Xt)
    _same_embedding(BDA(n_components=4, n_iter=4, mu=0.0).fit_domains(Xs, ys, Xt), tca, Xt)
    # mu=1 (class-conditional only) is a different, valid problem
    bda1 = BDA(n_components=4, n_iter=4, mu=1.0).fit_domains(Xs, ys, Xt)
    assert bda1.eigenvalues_.shape == (4,)


def test_without_target_rows_the_embedding_is_pca():
    Xs, ys, _, _ = _offset_shift(seed=4)
    est = TCA(n_components=3, l2_normalize=False, reg=1.0).fit(Xs, ys)  # sample_domain=None: all source
    W_pca = _pca_W(Xs, 3)
    W_pca /= np.linalg.norm(W_pca, axis=0)
    _assert_same_columns(est.components_, W_pca)


# ------------------------------------------------------------------------------------------------
# They fix the shift they are made for
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [TCA, JDA, BDA])
@pytest.mark.parametrize("seed", [0, 1])
def test_beats_source_only_on_an_offset_shift(cls, seed):
    # the offset moves the target classes along the class direction too (class_shift=4): 1-NN on the
    # raw features assigns most target rows to class 1. The data are not L2-normalised here: row
    # normalisation of offset rows rescales the classes differently per domain (a shift that JDA's
    # class-conditional term then penalises), which is not the shift this test is about.
    Xs, ys, Xt, yt = _offset_shift(seed=seed, class_shift=4.0)
    base = SourceOnly(estimator=KNeighborsClassifier(n_neighbors=1)).fit_domains(Xs, ys, Xt).score(Xt, yt)
    ours = cls(n_components=3, l2_normalize=False).fit_domains(Xs, ys, Xt).score(Xt, yt)
    assert base < 0.75
    assert ours > 0.95


# ------------------------------------------------------------------------------------------------
# Kernels, new rows, sparse input, parameters
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kernel", ["primal", "linear", "rbf"])
def test_new_rows_are_embedded_like_the_training_rows(kernel):
    Xs, ys, Xt, yt = _offset_shift(seed=6, n=80)
    est = JDA(n_components=3, kernel=kernel, gamma=0.5, n_iter=3).fit_domains(Xs, ys, Xt)
    # the training target rows, passed again, give the transductive predictions of the last iteration
    np.testing.assert_array_equal(est.predict(Xt), est.classes_[est.pseudo_labels_])
    # the map is row-wise: a row embeds the same alone or in a batch
    np.testing.assert_allclose(est.embed(Xt[:5]), est.embed(Xt)[:5], atol=1e-10)


@pytest.mark.parametrize("cls", [TCA, JDA, BDA])
@pytest.mark.parametrize("kernel", ["primal", "linear"])
def test_sparse_equals_dense(cls, kernel):
    Xs, ys, Xt, _ = _offset_shift(seed=7, n=60)
    Xs[np.abs(Xs) < 0.5] = 0.0
    Xt[np.abs(Xt) < 0.5] = 0.0
    dense = cls(n_components=3, kernel=kernel).fit_domains(Xs, ys, Xt)
    sparse = cls(n_components=3, kernel=kernel).fit_domains(sp.csr_matrix(Xs), ys, sp.csr_matrix(Xt))
    _assert_same_columns(dense.components_, sparse.components_)
    np.testing.assert_array_equal(dense.predict(Xt), sparse.predict(sp.csr_matrix(Xt)))


def test_random_state_is_unused_and_fits_are_deterministic():
    Xs, ys, Xt, _ = _offset_shift(seed=8, n=60)
    a = JDA(n_components=3, random_state=0).fit_domains(Xs, ys, Xt)
    b = JDA(n_components=3, random_state=123).fit_domains(Xs, ys, Xt)
    np.testing.assert_array_equal(a.components_, b.components_)


def test_n_components_is_clipped_to_the_rank():
    Xs, ys, Xt, _ = _offset_shift(seed=9, n=40, d=5)
    est = TCA(n_components=100, l2_normalize=False).fit_domains(Xs, ys, Xt)
    assert est.n_components_ == 5 and est.embed(Xt).shape == (40, 5)


@pytest.mark.parametrize(
    "cls, params, name",
    [
        (TCA, {"kernel": "poly"}, "kernel"),
        (TCA, {"reg": 0.0}, "reg"),
        (TCA, {"n_components": 0}, "n_components"),
        (JDA, {"n_iter": 0}, "n_iter"),
        (BDA, {"mu": 1.5}, "mu"),
        (TCA, {"gamma": -1.0}, "gamma"),
        (JDA, {"estimator": "knn"}, "estimator"),
    ],
)
def test_bad_parameters_name_the_problem(cls, params, name):
    Xs, ys, Xt, _ = _offset_shift(n=20)
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter of {cls.__name__} must be"):
        cls(**params).fit_domains(Xs, ys, Xt)


def test_constant_data_warns_and_says_what_to_check():
    with pytest.warns(UserWarning, match="zero variance.*l2_normalize=False"):
        est = TCA().fit_domains(np.ones((6, 3)), [0, 1, 0, 1, 0, 1], 2 * np.ones((4, 3)))
    assert len(set(est.predict(np.ones((4, 3))))) == 1


def test_registered_with_the_taxonomy():
    for name, cls in (("tca", TCA), ("jda", JDA), ("bda", BDA)):
        assert get_strategy(name) is cls
        assert cls._setting == "transductive" and cls._family == "subspace"
        assert cls().selection_protocol() == "none"
