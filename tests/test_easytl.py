"""EasyTL: the intra-domain programming (constraints, integrality), the CORAL alignment, the predict
rule, and that it fixes the shift it is made for."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from tltaxonomy import get_strategy
from tltaxonomy.transductive import EasyTL, coral_transform_matrix, intra_domain_programming


def _scale_shift(seed=0, n=300):
    """Three classes along feature 0; the target rescales every feature differently (a covariance shift
    that CORAL undoes), so raw nearest-centroid misplaces the target classes."""
    rng = np.random.default_rng(seed)
    ys, yt = rng.integers(0, 3, n), rng.integers(0, 3, n)
    Xs = rng.normal(size=(n, 4)) * 2.0
    Xs[:, 0] += 12 * ys
    Xt = rng.normal(size=(n, 4)) * 2.0
    Xt[:, 0] += 12 * yt
    Xt *= np.array([0.35, 3.0, 0.5, 2.0])
    return Xs, ys, Xt, yt


def _nearest_centroid(Xs, ys, Xt):
    centers = np.stack([Xs[ys == c].mean(0) for c in np.unique(ys)])
    return ((Xt[:, None, :] - centers[None]) ** 2).sum(-1).argmin(1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lp_solution_satisfies_constraints_and_is_one_hot(seed):
    rng = np.random.default_rng(seed)
    # rows all close to class 0: the balance constraints are active
    D = np.c_[rng.random(40) * 0.5, 1 + rng.random((40, 3))]
    M = intra_domain_programming(D)
    assert M.shape == (40, 4)
    assert np.all(M >= -1e-9) and np.all(M <= 1 + 1e-9)
    np.testing.assert_allclose(M.sum(1), 1, atol=1e-9)  # each row: a distribution over classes
    assert np.all(M.sum(0) >= 1 - 1e-9)  # each class gets at least one row
    # totally unimodular constraints + integral right-hand sides: the vertex solution is one-hot
    np.testing.assert_allclose(M, np.round(M), atol=1e-9)
    # the optimum: the cheapest way to give classes 1..3 one row each (an assignment problem)
    from scipy.optimize import linear_sum_assignment

    extra = D[:, 1:] - D[:, [0]]
    r, c = linear_sum_assignment(extra.T)
    expected = D[:, 0].sum() + extra.T[r, c].sum()
    assert np.sum(M * D) == pytest.approx(expected, abs=1e-9)


def test_lp_equals_nearest_centre_when_balance_is_inactive():
    rng = np.random.default_rng(3)
    D = rng.random((30, 3))
    D[np.arange(3), np.arange(3)] = -1.0  # every class is some row's nearest: balance holds already
    D -= D.min()
    np.testing.assert_array_equal(intra_domain_programming(D).argmax(1), D.argmin(1))


def test_lp_errors():
    with pytest.raises(ValueError, match="cannot cover 3 classes"):
        intra_domain_programming(np.ones((2, 3)))
    with pytest.raises(ValueError, match="finite 2-d"):
        intra_domain_programming(np.array([[np.nan, 1.0]]))


def test_fit_follows_the_authors_pipeline():
    Xs, ys, Xt, _ = _scale_shift()
    est = EasyTL().fit_domains(Xs, ys, Xt)
    A = coral_transform_matrix(Xs, Xt, 1.0)
    np.testing.assert_allclose(est.A_, A)
    centers = np.stack([(Xs @ A)[ys == c].mean(0) for c in range(3)])
    np.testing.assert_allclose(est.centers_, centers)
    D = np.sqrt(((Xt[:, None] - centers[None]) ** 2).sum(-1))
    np.testing.assert_allclose(est.label_matrix_, intra_domain_programming(D), atol=1e-9)
    np.testing.assert_array_equal(est.transduction_, intra_domain_programming(D).argmax(1))
    np.testing.assert_array_equal(est.predict(Xt), est.transduction_)
    raw = EasyTL(intra_align="raw").fit_domains(Xs, ys, Xt)
    assert raw.A_ is None
    np.testing.assert_allclose(raw.centers_, np.stack([Xs[ys == c].mean(0) for c in range(3)]))


def test_easytl_beats_nearest_centroid_on_a_covariance_shift():
    Xs, ys, Xt, yt = _scale_shift()
    nc = np.mean(_nearest_centroid(Xs, ys, Xt) == yt)
    acc = np.mean(EasyTL().fit_domains(Xs, ys, Xt).predict(Xt) == yt)
    acc_c = np.mean(EasyTL(intra_align="raw").fit_domains(Xs, ys, Xt).predict(Xt) == yt)
    assert acc > nc + 0.15, (acc, nc)
    assert acc_c >= nc - 0.01  # EasyTL(c): the LP alone, nearest centroid + class balance


def test_lp_labels_for_fitted_rows_nearest_centre_for_new_rows():
    rng = np.random.default_rng(4)
    Xs = np.r_[rng.normal(size=(30, 2)), rng.normal(size=(30, 2)) + [6, 0]]
    ys = np.r_[np.zeros(30, int), np.ones(30, int)]
    Xt = rng.normal(size=(20, 2)) * 0.5  # every target row is nearest to class 0
    est = EasyTL(intra_align="raw").fit_domains(Xs, ys, Xt)
    assert set(est.transduction_) == {0, 1}  # the balance constraint gave class 1 a row
    flipped = np.flatnonzero(est.transduction_ == 1)
    assert flipped.size == 1
    np.testing.assert_array_equal(est.predict(Xt), est.transduction_)
    np.testing.assert_array_equal(est.predict(Xt[flipped]), [1])  # row-wise: same label alone
    np.testing.assert_array_equal(est.predict(Xt[flipped] + 1e-9), [0])  # an unseen row: nearest centre


def test_sparse_input_gives_the_dense_result():
    Xs, ys, Xt, _ = _scale_shift(seed=5, n=120)
    for align in ("coral", "raw"):
        dense = EasyTL(intra_align=align).fit_domains(Xs, ys, Xt).predict(Xt)
        sparse = EasyTL(intra_align=align).fit_domains(sp.csr_matrix(Xs), ys, sp.csr_matrix(Xt))
        np.testing.assert_array_equal(sparse.predict(sp.csr_matrix(Xt)), dense)


def test_source_rows_are_aligned_in_predict():
    Xs, ys, Xt, _ = _scale_shift(seed=6, n=150)
    est = EasyTL().fit_domains(Xs, ys, Xt)
    X = np.r_[Xs, Xt]
    sd = np.r_[np.ones(len(Xs), int), -np.ones(len(Xt), int)]
    pred = est.predict(X, sample_domain=sd)
    np.testing.assert_array_equal(pred[len(Xs):], est.transduction_)
    expected = (((Xs @ est.A_)[:, None] - est.centers_[None]) ** 2).sum(-1).argmin(1)
    np.testing.assert_array_equal(pred[: len(Xs)], expected)


def test_fewer_target_rows_than_classes_warns():
    Xs, ys, Xt, _ = _scale_shift(seed=7, n=60)
    with pytest.warns(UserWarning, match="cannot cover 3 classes"):
        EasyTL(intra_align="raw").fit_domains(Xs, ys, Xt[:2])


def test_bad_params_name_the_problem():
    Xs, ys, Xt, _ = _scale_shift(seed=8, n=30)
    with pytest.raises(ValueError, match="intra_align"):
        EasyTL(intra_align="gfk").fit_domains(Xs, ys, Xt)
    with pytest.raises(ValueError, match="distance"):
        EasyTL(distance="manhattan").fit_domains(Xs, ys, Xt)
    with pytest.raises(ValueError, match="intra_align='raw'"):
        EasyTL().fit_domains(Xs, ys, Xt[:1])


def test_registered():
    assert get_strategy("easytl") is EasyTL
    assert EasyTL._family == "label_assignment" and EasyTL._setting == "transductive"
    assert EasyTL().selection_protocol() == "none"
