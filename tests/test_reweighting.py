"""Instance reweighting (KMM, KLIEP, discriminator density ratio) and CVSVC's sample_weight."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import minimize
from sklearn.linear_model import LogisticRegression
from sklearn.metrics.pairwise import rbf_kernel
from sklearn.neighbors import KNeighborsClassifier

from tltaxonomy.classifiers import CVSVC
from tltaxonomy.datasets import make_gaussian_shift
from tltaxonomy.transductive import (
    KLIEP,
    KMM,
    DiscriminatorReweighting,
    SourceOnly,
    discriminator_weights,
    kliep_weights,
    kmm_weights,
)


def _shift(seed=0, ns=40, nt=30, d=3, delta=1.0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(ns, d)), rng.normal(size=(nt, d)) + delta


def _kkt_residual(beta, K, kappa, B, total_active):
    """Max violation of the KMM KKT conditions (nu = multiplier of the sum constraint)."""
    g = K @ beta - kappa
    free = (beta > 0) & (beta < B)
    nu = -g[free].mean() if (total_active and free.any()) else 0.0
    gg = g + nu
    viol = [np.abs(gg[free]).max(initial=0.0), -gg[beta == 0].min(initial=0.0), gg[beta == B].max(initial=0.0)]
    return max(0.0, *viol)


@pytest.mark.parametrize("B, eps", [(1000.0, None), (3.0, 0.05), (2.0, 0.0), (1.5, 0.5)])
def test_kmm_constraints_kkt_and_brute_force(B, eps):
    Xs, Xt = _shift()
    beta, info = kmm_weights(Xs, Xt, B=B, eps=eps, return_info=True)
    n, e, K, kappa = len(Xs), info["eps"], info["K"], info["kappa"]
    assert info["converged"]
    assert np.all(beta >= 0) and np.all(beta <= B)
    assert abs(beta.sum() - n) <= n * e + 1e-8 * n
    active = min(abs(beta.sum() - n * (1 - e)), abs(beta.sum() - n * (1 + e))) < 1e-8 * n
    scale = 1 + np.abs(kappa).max()
    assert _kkt_residual(beta, K, kappa, B, active) <= 1e-8 * scale
    # brute force: SLSQP on the same QP reaches no lower objective
    f = lambda x: 0.5 * x @ K @ x - kappa @ x  # noqa: E731
    cons = [{"type": "ineq", "fun": lambda x: n * (1 + e) - x.sum()}, {"type": "ineq", "fun": lambda x: x.sum() - n * (1 - e)}]
    ref = minimize(f, np.ones(n), jac=lambda x: K @ x - kappa, bounds=[(0, B)] * n, constraints=cons,
                   method="SLSQP", options={"ftol": 1e-14, "maxiter": 2000})
    assert f(beta) <= ref.fun + 1e-9 * abs(ref.fun)
    np.testing.assert_allclose(beta, ref.x, atol=1e-5)


def test_kmm_paper_defaults_and_mmd_decreases():
    Xs, Xt = _shift(seed=1, ns=80, nt=60, delta=0.8)
    beta, info = kmm_weights(Xs, Xt, return_info=True)
    assert info["B"] == 1000.0 and info["eps"] == pytest.approx((np.sqrt(80) - 1) / np.sqrt(80))
    assert info["gamma"] == pytest.approx(1 / 3)
    g = info["gamma"]

    def mmd2(w):
        Kss, Kst, Ktt = rbf_kernel(Xs, Xs, gamma=g), rbf_kernel(Xs, Xt, gamma=g), rbf_kernel(Xt, Xt, gamma=g)
        w = w / len(Xs)
        return w @ Kss @ w - 2 * w @ Kst.mean(axis=1) + Ktt.mean()

    assert mmd2(beta) < 0.5 * mmd2(np.ones(len(Xs)))


def test_kmm_ill_conditioned_low_dimension_is_solved():
    Xs, _, Xt, _, _, _ = make_gaussian_shift("covariate", n_source=200, n_target=200, random_state=0)
    for gamma in ("auto", "median"):
        beta, info = kmm_weights(Xs, Xt, gamma=gamma, return_info=True)
        assert info["converged"] and np.all(beta >= 0)


def test_kmm_sparse_equals_dense():
    Xs, Xt = _shift(seed=2)
    Xs[Xs < 0.3] = 0.0
    Xt[Xt < 0.3] = 0.0
    np.testing.assert_allclose(kmm_weights(sp.csr_matrix(Xs), sp.csr_matrix(Xt)), kmm_weights(Xs, Xt), atol=1e-8)
    clf = KMM(estimator=LogisticRegression()).fit_domains(sp.csr_matrix(Xs), np.arange(len(Xs)) % 2, sp.csr_matrix(Xt))
    assert clf.predict(sp.csr_matrix(Xt)).shape == (len(Xt),)


def test_kliep_normalised_positive_and_likelihood_increases():
    Xs, Xt = _shift(seed=3, ns=150, nt=120, d=2, delta=0.7)
    w, info = kliep_weights(Xs, Xt, random_state=0, return_info=True)
    assert np.all(w > 0)
    assert w.mean() == pytest.approx(1.0, abs=1e-10)
    # the fitted target log-likelihood beats the uniform feasible alpha and the no-shift model (w = 1)
    from tltaxonomy.transductive.reweighting import _gauss

    A = _gauss(Xt, info["centers"], info["sigma"])
    bvec = _gauss(Xs, info["centers"], info["sigma"]).mean(axis=0)
    uniform = np.ones(len(bvec)) / bvec.sum()
    assert info["target_loglik"] > np.mean(np.log(A @ uniform)) + 1e-3
    assert info["target_loglik"] > 0.0
    assert len(info["centers"]) == 100 and np.isfinite(info["cv_scores"]).all()


def test_discriminator_recovers_a_known_ratio():
    rng = np.random.default_rng(0)
    Xs, Xt = rng.normal(size=(3000, 1)), rng.normal(size=(2000, 1)) + 1.0
    w = discriminator_weights(Xs, Xt, random_state=0)
    true = (3000 / 3000) * np.exp(Xs[:, 0] - 0.5)  # N(1,1)/N(0,1)
    centre = np.abs(Xs[:, 0]) < 1.5
    assert np.mean(np.abs(np.log(w[centre]) - np.log(true[centre]))) < 0.1
    w_nocv = discriminator_weights(Xs, Xt, cv=None, clip=2.0)
    assert w_nocv.max() <= 2.0


@pytest.mark.parametrize(
    "make",
    [
        lambda lr: KMM(estimator=lr),
        lambda lr: KMM(estimator=lr, gamma="median", random_state=0),
        lambda lr: KLIEP(estimator=lr, random_state=0),
        lambda lr: DiscriminatorReweighting(estimator=lr, random_state=0),
    ],
    ids=["kmm", "kmm_median", "kliep", "density_ratio"],
)
def test_reweighting_beats_unweighted_under_covariate_shift(make):
    # shared p(y|x) = 1[x1 > 0.5 x0^2 - 0.5], source N(0, I), target N((1.5, 1), .): a linear model is
    # misspecified, so weighting it towards the target region helps (Shimodaira 2000)
    Xs, ys, Xt, _, Xte, yte = make_gaussian_shift("covariate", n_source=300, n_target=300, random_state=1)
    lr = LogisticRegression()
    base = SourceOnly(estimator=lr).fit_domains(Xs, ys, Xt).score(Xte, yte)
    clf = make(lr).fit_domains(Xs, ys, Xt)
    assert clf.weights_.shape == (300,) and np.all(clf.weights_ >= 0)
    assert clf.score(Xte, yte) > base + 0.1


@pytest.mark.parametrize("cls", [KMM, KLIEP, DiscriminatorReweighting])
def test_estimator_without_sample_weight_is_refused(cls):
    Xs, Xt = _shift()
    with pytest.raises(ValueError, match="KNeighborsClassifier does not accept sample_weight"):
        cls(estimator=KNeighborsClassifier()).fit_domains(Xs, np.arange(len(Xs)) % 2, Xt)


@pytest.mark.parametrize("cls", [KMM, KLIEP, DiscriminatorReweighting])
def test_no_target_rows_means_unit_weights(cls):
    Xs, _ = _shift()
    ys = (Xs[:, 0] > 0).astype(int)
    clf = cls(estimator=LogisticRegression()).fit(Xs, ys)
    np.testing.assert_array_equal(clf.weights_, np.ones(len(Xs)))
    np.testing.assert_array_equal(clf.predict(Xs), LogisticRegression().fit(Xs, ys).predict(Xs))


def test_default_estimator_and_selection_protocol():
    Xs, Xt = _shift()
    clf = KMM().fit_domains(Xs, (Xs[:, 0] > 0).astype(int), Xt)
    assert isinstance(clf.estimator_, CVSVC) and clf.estimator_.kernel == "linear"
    assert clf.selection_protocol() == "source_cv"
    assert KMM(estimator=LogisticRegression()).selection_protocol() == "none"


# --- CVSVC sample_weight (backward compatible) -------------------------------------------------------
@pytest.mark.parametrize("kernel", ["rbf", "linear", "precomputed"])
def test_cvsvc_sample_weight(kernel):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 4))
    y = (X[:, 0] + 0.3 * rng.normal(size=80) > 0).astype(int)
    Xte = rng.normal(size=(50, 4))
    fit_X = rbf_kernel(X, X, gamma=0.25) if kernel == "precomputed" else X
    te_X = rbf_kernel(Xte, X, gamma=0.25) if kernel == "precomputed" else Xte
    make = lambda: CVSVC(kernel="rbf" if kernel == "precomputed" else kernel, Cs=[0.1, 1.0, 10.0]) if kernel != "precomputed" else CVSVC(kernel="precomputed", Cs=[0.1, 1.0, 10.0])  # noqa: E731
    plain = make().fit(fit_X, y)
    ones = make().fit(fit_X, y, sample_weight=np.ones(80))
    np.testing.assert_array_equal(plain.predict(te_X), ones.predict(te_X))
    assert plain.train_rows_ is None
    # zero weights = the rows removed (sklearn's precomputed SVC alone mis-predicts here)
    w = np.where(np.arange(80) % 3 == 0, 0.0, 1.0)
    keep = w > 0
    weighted = make().fit(fit_X, y, sample_weight=w)
    np.testing.assert_array_equal(weighted.train_rows_, np.flatnonzero(keep))
    if kernel == "precomputed":
        dropped = make().fit(fit_X[keep][:, keep], y[keep])
        np.testing.assert_allclose(weighted.decision_function(te_X), dropped.decision_function(te_X[:, keep]))
    else:
        dropped = make().fit(X[keep], y[keep])
        np.testing.assert_allclose(weighted.decision_function(te_X), dropped.decision_function(te_X))
    with pytest.raises(ValueError):
        make().fit(fit_X, y, sample_weight=np.zeros(80))
