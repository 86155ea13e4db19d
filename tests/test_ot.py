"""Optimal-transport strategies: the couplings' properties (marginals, optimality, class structure), the
barycentric map, the out-of-sample map, and that OT fixes the shift it is made for."""

from __future__ import annotations

import numpy as np
import ot
import pytest
import scipy.sparse as sp
from sklearn.neighbors import KNeighborsClassifier

from tltaxonomy import get_strategy
from tltaxonomy.transductive import (
    JDOT,
    ClassRegularizedOT,
    OTMapping,
    SourceOnly,
    barycentric_mapping,
    ot_cost,
    ot_coupling,
)


def _rotated_blobs(seed=0, n=150, angle=0.6, shift=(3.0, 2.0)):
    """Three Gaussian classes; the target is the same distribution rotated and translated, so a
    classifier trained on the raw source misplaces the target classes."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]])
    ys, yt = rng.integers(0, 3, n), rng.integers(0, 3, n)
    Xs = centres[ys] + 0.7 * rng.normal(size=(n, 2))
    R = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    Xt = (centres[yt] + 0.7 * rng.normal(size=(n, 2))) @ R.T + np.asarray(shift)
    return Xs, ys, Xt, yt


@pytest.mark.parametrize("method", ["exact", "sinkhorn", "lpl1", "l1l2"])
def test_coupling_marginals(method):
    Xs, ys, Xt, _ = _rotated_blobs(n=60)
    Xt = Xt[:45]
    # (the class-regularised solvers end on an inner Sinkhorn run: give it enough iterations to converge)
    G = ot_coupling(ot_cost(Xs, Xt, "max"), method=method, reg_e=0.05, y_source=ys, max_inner_iter=3000)
    assert G.shape == (60, 45) and np.all(G >= 0)
    np.testing.assert_allclose(G.sum(1), 1 / 60, rtol=1e-4)
    np.testing.assert_allclose(G.sum(0), 1 / 45, rtol=1e-3)


def test_exact_coupling_is_ot_emd_and_cheaper_than_entropic():
    rng = np.random.default_rng(1)
    Xs, Xt = rng.normal(size=(7, 3)), rng.normal(size=(5, 3)) + 1
    M = ot_cost(Xs, Xt)
    np.testing.assert_allclose(M, ot.dist(Xs, Xt), atol=1e-10)
    G = ot_coupling(M, method="exact")
    np.testing.assert_allclose(G, ot.emd(np.full(7, 1 / 7), np.full(5, 1 / 5), M), atol=1e-12)
    Ge = ot_coupling(M, method="sinkhorn", reg_e=0.5)
    assert np.sum(G * M) <= np.sum(Ge * M) + 1e-12
    # exact OT between a set and a permutation of itself is the permutation
    perm = rng.permutation(7)
    Gp = ot_coupling(ot_cost(Xs, Xs[perm]), method="exact")
    np.testing.assert_allclose(Gp * 7, np.eye(7)[np.argsort(perm)], atol=1e-12)


def test_barycentric_map_matches_target_moments():
    rng = np.random.default_rng(2)
    Xs = rng.normal(size=(200, 2))
    Xt = rng.normal(size=(200, 2)) @ np.array([[2.0, 0.5], [0.0, 0.5]]) + [3.0, -1.0]
    est = OTMapping(method="exact", norm=None).fit_domains(Xs, (Xs[:, 0] > 0).astype(int), Xt)
    mapped = est.source_mapped_
    np.testing.assert_allclose(mapped, barycentric_mapping(est.coupling_, Xs, Xt))
    for Z in (mapped,):
        mean_gap = np.linalg.norm(Z.mean(0) - Xt.mean(0))
        cov_gap = np.linalg.norm(np.cov(Z.T) - np.cov(Xt.T))
        assert mean_gap < 0.1 * np.linalg.norm(Xs.mean(0) - Xt.mean(0))
        assert cov_gap < 0.1 * np.linalg.norm(np.cov(Xs.T) - np.cov(Xt.T))
    # uniform weights, equal sizes, exact OT: a permutation, so the map hits target rows exactly
    assert np.min(((mapped[:, None] - Xt[None]) ** 2).sum(-1), axis=1).max() < 1e-20


def test_class_regularisation_reduces_cross_class_mass():
    Xs, ys, Xt, yt = _rotated_blobs(seed=3, n=90, angle=0.9, shift=(1.0, 1.0))
    M = ot_cost(Xs, Xt, "max")

    def mixing(G):
        """Mass that a target row receives from source classes other than its main one."""
        per_class = np.stack([G[ys == c].sum(0) for c in range(3)])  # (C, n_t)
        return float((per_class.sum(0) - per_class.max(0)).sum())

    plain = mixing(ot_coupling(M, method="sinkhorn", reg_e=0.05))
    lpl1 = mixing(ot_coupling(M, method="lpl1", reg_e=0.05, reg_cl=1.0, y_source=ys))
    l1l2 = mixing(ot_coupling(M, method="l1l2", reg_e=0.05, reg_cl=1.0, y_source=ys))
    assert lpl1 < 0.1 * plain, (lpl1, plain)
    # POT's group-lasso solver (conditional gradient, 10 steps) changes the coupling much less on
    # this problem: less cross-class mass, but only by a few percent (0.278 vs 0.295)
    assert l1l2 < plain, (l1l2, plain)


@pytest.mark.parametrize(
    "est",
    [OTMapping(), OTMapping(method="exact"), ClassRegularizedOT(), ClassRegularizedOT(regularizer="l1l2"), JDOT()],
    ids=["sinkhorn", "exact", "lpl1", "l1l2", "jdot"],
)
def test_ot_beats_source_only_on_a_rotation_and_translation(est):
    Xs, ys, Xt, yt = _rotated_blobs(seed=0, shift=(6.0, 4.0))
    base = np.mean(SourceOnly(estimator=KNeighborsClassifier(1)).fit_domains(Xs, ys, Xt).predict(Xt) == yt)
    acc = np.mean(est.fit_domains(Xs, ys, Xt).predict(Xt) == yt)
    assert acc > base + 0.1, (acc, base)
    assert est.coupling_.shape == (len(Xs), len(Xt))


def test_jdot_log_loss_and_sinkhorn():
    Xs, ys, Xt, yt = _rotated_blobs(seed=5, n=80)
    for est in (JDOT(loss="log", max_iter=3), JDOT(method="sinkhorn", reg_e=0.05, max_iter=3)):
        est.fit_domains(Xs, ys, Xt)
        assert np.mean(est.predict(Xt) == yt) > 0.8
        np.testing.assert_allclose(est.transported_labels_.sum(1), 1, rtol=1e-3)
        assert len(est.objective_) == 3


def test_out_of_sample_source_rows_follow_their_nearest_neighbour():
    Xs, ys, Xt, _ = _rotated_blobs(seed=6, n=50)
    est = OTMapping(method="exact").fit_domains(Xs, ys, Xt)
    np.testing.assert_allclose(est.map_source(Xs), est.source_mapped_)
    new = Xs[:5] + 0.01
    np.testing.assert_allclose(est.map_source(new), new + est.displacement_[:5])
    sd = np.r_[np.ones(5, int), -np.ones(5, int)]
    X = np.r_[Xs[:5], Xt[:5]]
    np.testing.assert_array_equal(
        est.predict(X, sample_domain=sd), np.r_[est.predict(est.source_mapped_[:5]), est.predict(Xt[:5])]
    )


@pytest.mark.parametrize("cls", [OTMapping, ClassRegularizedOT, JDOT])
def test_sparse_input_gives_the_dense_result(cls):
    Xs, ys, Xt, _ = _rotated_blobs(seed=7, n=60)
    Xs, Xt = np.abs(Xs), np.abs(Xt)
    dense = cls().fit_domains(Xs, ys, Xt)
    sparse = cls().fit_domains(sp.csr_matrix(Xs), ys, sp.csr_matrix(Xt))
    np.testing.assert_allclose(sparse.coupling_, dense.coupling_, atol=1e-10)
    np.testing.assert_array_equal(sparse.predict(sp.csr_matrix(Xt)), dense.predict(Xt))


def test_bad_params_name_the_problem():
    Xs, ys, Xt, _ = _rotated_blobs(seed=8, n=30)
    with pytest.raises(ValueError, match="method"):
        OTMapping(method="emd").fit_domains(Xs, ys, Xt)
    with pytest.raises(ValueError, match="reg_e"):
        OTMapping(reg_e=0).fit_domains(Xs, ys, Xt)
    with pytest.raises(ValueError, match="norm"):
        OTMapping(norm="l2").fit_domains(Xs, ys, Xt)
    with pytest.raises(ValueError, match="regularizer"):
        ClassRegularizedOT(regularizer="laplace").fit_domains(Xs, ys, Xt)
    with pytest.raises(ValueError, match="loss"):
        JDOT(loss="hinge").fit_domains(Xs, ys, Xt)
    # an entropic coupling that underflows says how to fix it
    with pytest.raises(ValueError, match="Increase reg_e or normalise the cost"):
        OTMapping(reg_e=1e-4, norm=None).fit_domains(Xs * 100, ys, Xt * 100)
    with pytest.raises(ValueError, match="needs y_source"):
        ot_coupling(np.ones((3, 3)), method="lpl1")


def test_registered():
    for name, cls in [("ot_mapping", OTMapping), ("ot_class_reg", ClassRegularizedOT), ("jdot", JDOT)]:
        assert get_strategy(name) is cls
        assert cls._family == "optimal_transport" and cls._setting == "transductive"
        assert "random_state" in cls().get_params()
