"""CORAL: the closed form, its property (re-coloured covariance), its variants, and that it fixes the
shift it is made for."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

from tltaxonomy._linalg import covariance, sym_matrix_power
from tltaxonomy.classifiers import CVSVC
from tltaxonomy.transductive import CORAL, SourceOnly, coral_transform_matrix


def _scale_shift(seed=0, n=300):
    """Two classes separated along feature 0 (means 5 and 15); the target multiplies every feature by
    a different factor, so the source decision threshold (x0 = 10) misses the target classes. Scales
    are large against CORAL's identity regulariser (reg=1)."""
    rng = np.random.default_rng(seed)
    ys = rng.integers(0, 2, n)
    yt = rng.integers(0, 2, n)
    Xs = rng.normal(size=(n, 4)) * 2.0
    Xs[:, 0] += 5 + 10 * ys
    Xt = rng.normal(size=(n, 4)) * 2.0
    Xt[:, 0] += 5 + 10 * yt
    Xt *= np.array([0.4, 3.0, 0.5, 2.0])
    return Xs, ys, Xt, yt


def test_transform_matrix_is_the_closed_form():
    rng = np.random.default_rng(0)
    Xs, Xt = rng.normal(size=(50, 3)), rng.normal(size=(40, 3)) @ rng.normal(size=(3, 3))
    Cs = np.cov(Xs, rowvar=False) + 0.5 * np.eye(3)
    Ct = np.cov(Xt, rowvar=False) + 0.5 * np.eye(3)
    ws, Vs = np.linalg.eigh(Cs)
    wt, Vt = np.linalg.eigh(Ct)
    expected = (Vs @ np.diag(ws**-0.5) @ Vs.T) @ (Vt @ np.diag(wt**0.5) @ Vt.T)
    np.testing.assert_allclose(coral_transform_matrix(Xs, Xt, reg=0.5), expected, rtol=1e-10, atol=1e-12)


def test_aligned_source_covariance_equals_target_covariance():
    rng = np.random.default_rng(1)
    Xs = rng.normal(size=(200, 5)) @ rng.normal(size=(5, 5))
    Xt = rng.normal(size=(150, 5)) @ rng.normal(size=(5, 5))
    A = coral_transform_matrix(Xs, Xt, reg=0.0)
    np.testing.assert_allclose(np.cov(Xs @ A, rowvar=False), np.cov(Xt, rowvar=False), rtol=1e-8, atol=1e-8)
    # with the identity regulariser: cov(Xs A) = Ct_reg - reg * AᵀA
    A1 = coral_transform_matrix(Xs, Xt, reg=1.0)
    np.testing.assert_allclose(
        np.cov(Xs @ A1, rowvar=False), np.cov(Xt, rowvar=False) + np.eye(5) - A1.T @ A1, rtol=1e-8, atol=1e-8
    )


def test_sym_matrix_power_and_sparse_covariance():
    rng = np.random.default_rng(2)
    M = rng.normal(size=(4, 4))
    C = M @ M.T + np.eye(4)
    np.testing.assert_allclose(sym_matrix_power(C, 0.5) @ sym_matrix_power(C, 0.5), C, rtol=1e-10)
    np.testing.assert_allclose(sym_matrix_power(C, -0.5) @ C @ sym_matrix_power(C, -0.5), np.eye(4), atol=1e-10)
    X = sp.random(60, 6, density=0.3, random_state=0, format="csr")
    np.testing.assert_allclose(covariance(X), np.cov(X.toarray(), rowvar=False), rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="at least 2 rows"):
        covariance(np.ones((1, 3)))


def test_coral_beats_source_only_on_a_scaling_shift():
    Xs, ys, Xt, yt = _scale_shift()
    so = SourceOnly(estimator=LogisticRegression()).fit_domains(Xs, ys, Xt).score(Xt, yt)
    co = CORAL(estimator=LogisticRegression()).fit_domains(Xs, ys, Xt).score(Xt, yt)
    assert so < 0.75, so  # the shift is real
    assert co > 0.9, co
    assert co > so + 0.2


@pytest.mark.parametrize("variant", ["transform", "released_code"])
def test_variants_fit_predict_and_dense_sparse_agree(variant):
    Xs, ys, Xt, yt = _scale_shift(seed=3, n=120)
    dense = CORAL(variant=variant).fit_domains(Xs, ys, Xt)
    sparse = CORAL(variant=variant).fit_domains(sp.csr_matrix(Xs), ys, sp.csr_matrix(Xt))
    np.testing.assert_array_equal(dense.predict(Xt), sparse.predict(sp.csr_matrix(Xt)))
    if variant == "transform":  # the released code's asymmetric similarity assumes z-scored features
        assert dense.score(Xt, yt) > 0.9


def test_released_code_variant_uses_the_asymmetric_similarity():
    """The classifier of variant='released_code' sees Xs·A·Xsᵀ for training and Xt·(Xs·A)ᵀ at test."""
    Xs, ys, Xt, _ = _scale_shift(seed=4, n=80)
    clf = CORAL(variant="released_code", estimator=CVSVC(kernel="precomputed", Cs=[0.01])).fit_domains(Xs, ys, Xt)
    A = coral_transform_matrix(Xs, Xt)
    K_train = Xs @ A @ Xs.T
    manual = CVSVC(kernel="precomputed", Cs=[0.01]).fit(K_train, ys)
    np.testing.assert_array_equal(clf.predict(Xt), manual.predict(Xt @ (Xs @ A).T))


def test_source_rows_are_aligned_at_predict_time():
    Xs, ys, Xt, _ = _scale_shift(seed=5, n=100)
    clf = CORAL(estimator=LogisticRegression()).fit_domains(Xs, ys, Xt)
    sd = np.ones(len(Xs), dtype=int)
    np.testing.assert_array_equal(clf.predict(Xs, sample_domain=sd), clf.estimator_.predict(Xs @ clf.A_))


def test_without_target_rows_coral_is_source_only():
    Xs, ys, Xt, _ = _scale_shift(seed=6, n=100)
    clf = CORAL(estimator=LogisticRegression()).fit(Xs, ys)
    np.testing.assert_allclose(clf.A_, np.eye(Xs.shape[1]))
    ref = SourceOnly(estimator=LogisticRegression()).fit(Xs, ys)
    np.testing.assert_array_equal(clf.predict(Xt), ref.predict(Xt))


def test_bad_inputs_name_the_problem():
    Xs, ys, Xt, _ = _scale_shift(seed=7, n=50)
    with pytest.raises(ValueError, match="reg"):
        CORAL(reg=-1).fit_domains(Xs, ys, Xt)
    with pytest.raises(ValueError, match="variant"):
        CORAL(variant="bogus").fit_domains(Xs, ys, Xt)
    with pytest.raises(ValueError, match="at least 2 source and 2 target rows"):
        CORAL().fit_domains(Xs, ys, Xt[:1])
    bad = Xs.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        CORAL().fit_domains(bad, ys, Xt)
    clf = CORAL(estimator=LogisticRegression()).fit_domains(Xs, ys, Xt)
    with pytest.raises(ValueError, match="features"):
        clf.predict(Xt[:, :3])


@pytest.mark.parametrize("n", [5, 30, 60])
@pytest.mark.parametrize("sparse", [False, True])
def test_regularized_covariance_power_matches_the_eigendecomposition(n, sparse):
    """The thin-SVD route (fewer rows than features) equals the full eigendecomposition."""
    import scipy.sparse as sp

    from tltaxonomy._linalg import covariance, regularized_covariance_power, sym_matrix_power

    rng = np.random.default_rng(n)
    X = rng.normal(size=(n, 40)) * rng.uniform(0.1, 3, size=40)
    Xin = sp.csr_matrix(X) if sparse else X
    for p in (-0.5, 0.5):
        expected = sym_matrix_power(covariance(X) + 0.7 * np.eye(40), p)
        np.testing.assert_allclose(regularized_covariance_power(Xin, 0.7, p), expected, atol=1e-10)
