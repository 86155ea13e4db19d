"""Tests of tltaxonomy.inductive.multitask.linear: linear multi-task regression on (X, Y with NaN)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import check_no_attributes_set_in_init, check_parameters_default_constructible

from tltaxonomy.inductive.multitask.linear import (
    DEFAULT_REG_GRID,
    TRACE_NORM_REG_FRACTIONS,
    MeanRegularizedMTL,
    MultiTaskFeatureLearning,
    PooledRidge,
    SingleTaskRidge,
    TraceNormMTL,
    explained_variance,
    normalized_mse,
    singular_value_thresholding,
)

ALL = [SingleTaskRidge, PooledRidge, MeanRegularizedMTL, TraceNormMTL, MultiTaskFeatureLearning]
# Fixed, fast hyper-parameters per class (no CV) for the generic tests.
FIXED = {
    SingleTaskRidge: {"reg": 1.0},
    PooledRidge: {"reg": 1.0},
    MeanRegularizedMTL: {"reg": 1.0, "reg_shared": 1.0},
    TraceNormMTL: {"reg": 5.0},
    MultiTaskFeatureLearning: {"reg": 0.1},
}


def make_tasks(seed=0, *, n_tasks=30, n_train=12, n_test=50, d=15, rank=2, noise=0.5, spread=0.6):
    """Tasks whose weights share a rank-``rank`` subspace and a common mean; one task per row.

    ``w_t = B a_t`` with ``a_t = 1 + spread * N(0, I)``: a shared mean model plus task deviations
    inside a 2-D subspace, and a per-task offset. Returns ``X_train, Y_train, X_test, Y_test``.
    """
    rng = np.random.default_rng(seed)
    B = rng.normal(size=(d, rank))
    W = (1.0 + spread * rng.normal(size=(n_tasks, rank))) @ B.T
    offset = rng.normal(size=n_tasks)

    def draw(n):
        X = rng.normal(size=(n * n_tasks, d))
        task = np.repeat(np.arange(n_tasks), n)
        Y = np.full((X.shape[0], n_tasks), np.nan)
        Y[np.arange(X.shape[0]), task] = (
            np.einsum("nd,nd->n", X, W[task]) + offset[task] + noise * rng.normal(size=X.shape[0])
        )
        return X, Y

    return draw(n_train) + draw(n_test)


@pytest.fixture(scope="module")
def small():
    """8 tasks, 20 rows each, 5 features: every task is well posed on its own."""
    return make_tasks(1, n_tasks=8, n_train=20, n_test=10, d=5)


# ---------------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------------
def test_explained_variance_is_r2_of_the_observed_entries_with_one_pooled_mean():
    rng = np.random.default_rng(0)
    Y = rng.normal(size=(30, 3)) + np.array([0.0, 5.0, -5.0])
    Y[rng.random(Y.shape) < 0.5] = np.nan
    P = np.nan_to_num(Y) + rng.normal(size=Y.shape)
    observed = ~np.isnan(Y)
    ev = explained_variance(Y, P)
    assert ev == pytest.approx(r2_score(Y[observed], P[observed]))
    y = Y[observed]
    assert ev == pytest.approx(1 - np.sum((y - P[observed]) ** 2) / np.sum((y - y.mean()) ** 2))
    assert normalized_mse(Y, P) == pytest.approx(1 - ev)
    per_task = []
    for t in range(3):
        y_t, p_t = Y[observed[:, t], t], P[observed[:, t], t]
        per_task.append(np.sum((y_t - p_t) ** 2) / np.sum((y_t - y_t.mean()) ** 2))
    assert normalized_mse(Y, P, average="tasks") == pytest.approx(np.mean(per_task))
    assert explained_variance(y, y) == 1.0  # 1-D input is one task


def test_metric_errors():
    Y = np.array([[1.0, np.nan], [2.0, 3.0]])
    with pytest.raises(ValueError, match=r"explained_variance: Y_true has shape \(2, 2\) but Y_pred has shape \(2, 1\)"):
        explained_variance(Y, np.zeros((2, 1)))
    with pytest.raises(ValueError, match="explained_variance: Y_true has no observed"):
        explained_variance(np.full((2, 2), np.nan), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="predictions must be finite wherever Y_true is observed"):
        explained_variance(Y, np.array([[0.0, 0.0], [np.nan, 0.0]]))
    assert explained_variance(Y, np.array([[1.0, np.nan], [2.0, 3.0]])) == 1.0  # NaN predictions where unobserved are fine
    with pytest.raises(ValueError, match="explained_variance: y_true is constant, so the variance to explain is 0"):
        explained_variance(np.ones((3, 1)), np.zeros((3, 1)))
    with pytest.raises(ValueError, match="normalized_mse: average='mean' is not supported; use 'pooled' or 'tasks'"):
        normalized_mse(Y, Y, average="mean")
    with pytest.raises(ValueError, match="normalized_mse: the observed targets of task 1 are all equal"):
        normalized_mse(np.array([[1.0, 4.0], [2.0, 4.0]]), np.zeros((2, 2)), average="tasks")


# ---------------------------------------------------------------------------------------------------
# The trace-norm prox
# ---------------------------------------------------------------------------------------------------
def test_singular_value_thresholding_is_the_prox_of_the_trace_norm():
    rng = np.random.default_rng(0)
    M = rng.normal(size=(7, 4))
    tau = 1.0
    P = singular_value_thresholding(M, tau)
    U, s, Vt = np.linalg.svd(M, full_matrices=False)
    np.testing.assert_allclose(P, U @ np.diag(np.maximum(s - tau, 0)) @ Vt, atol=1e-12)
    # optimality of 0.5||W - M||² + tau ||W||_*: (M - P) / tau = U_r V_rᵀ + Z with Z ⟂ the support, ||Z||₂ <= 1
    r = int(np.sum(s > tau))
    assert 0 < r < 4
    G = (M - P) / tau
    np.testing.assert_allclose(U[:, :r].T @ G @ Vt[:r].T, np.eye(r), atol=1e-10)
    assert np.linalg.norm(G - U[:, :r] @ Vt[:r], ord=2) <= 1 + 1e-10

    def objective(W):
        return 0.5 * np.sum((W - M) ** 2) + tau * np.linalg.svd(W, compute_uv=False).sum()

    assert all(objective(P + 1e-3 * rng.normal(size=M.shape)) > objective(P) for _ in range(20))
    np.testing.assert_allclose(singular_value_thresholding(M, 0.0), M, atol=1e-12)
    assert np.all(singular_value_thresholding(M, s[0]) == 0)


def test_singular_value_thresholding_errors():
    with pytest.raises(ValueError, match="threshold must be a finite number >= 0, got -1.0"):
        singular_value_thresholding(np.eye(2), -1.0)
    with pytest.raises(ValueError, match=r"M must be a 2-D matrix, got shape \(3,\)"):
        singular_value_thresholding(np.ones(3), 1.0)


# ---------------------------------------------------------------------------------------------------
# Exact solutions and limits
# ---------------------------------------------------------------------------------------------------
def _task_rows(Y, t):
    return np.flatnonzero(~np.isnan(Y[:, t]))


def test_single_task_ridge_is_sklearn_ridge_per_task_and_pooled_ridge_on_the_pooled_rows(small):
    X, Y = small[:2]
    stl = SingleTaskRidge(reg=2.0).fit(X, Y)
    for t in range(Y.shape[1]):
        rows = _task_rows(Y, t)
        ref = Ridge(alpha=2.0).fit(X[rows], Y[rows, t])
        np.testing.assert_allclose(stl.coef_[t], ref.coef_, atol=1e-10)
        assert stl.intercept_[t] == pytest.approx(ref.intercept_)
    pooled = PooledRidge(reg=2.0).fit(X, Y)
    rows, tasks = np.nonzero(~np.isnan(Y))
    ref = Ridge(alpha=2.0).fit(X[rows], Y[rows, tasks])
    np.testing.assert_allclose(pooled.coef_, np.tile(ref.coef_, (Y.shape[1], 1)), atol=1e-10)
    np.testing.assert_allclose(pooled.intercept_, ref.intercept_, atol=1e-10)
    np.testing.assert_allclose(pooled.predict(X)[:, 3], ref.predict(X), atol=1e-10)


def test_rows_observed_in_several_tasks(small):
    X = small[0]
    rng = np.random.default_rng(0)
    Y = np.column_stack([X @ rng.normal(size=X.shape[1]) for _ in range(3)])  # every row labelled for every task
    Y[::4, 1] = np.nan
    est = SingleTaskRidge(reg=0.5).fit(X, Y)
    for t in range(3):
        rows = _task_rows(Y, t)
        np.testing.assert_allclose(est.coef_[t], Ridge(alpha=0.5).fit(X[rows], Y[rows, t]).coef_, atol=1e-10)
    assert MeanRegularizedMTL(random_state=0).fit(X, Y).predict(X).shape == Y.shape


def test_mean_regularized_solves_the_augmented_ridge_exactly(small):
    X, Y = small[:2]
    lam1, lam0 = 3.0, 0.7
    est = MeanRegularizedMTL(reg=lam1, reg_shared=lam0, fit_intercept=False).fit(X, Y)
    # the augmented ridge: features [x, 0..x..0] (shared block, then the block of the row's task)
    T, d = Y.shape[1], X.shape[1]
    rows, tasks = np.nonzero(~np.isnan(Y))
    Z = np.zeros((rows.size, (T + 1) * d))
    Z[:, :d] = X[rows]
    for k, (i, t) in enumerate(zip(rows, tasks)):
        Z[k, (t + 1) * d : (t + 2) * d] = X[i]
    penalty = np.r_[np.full(d, lam0), np.full(T * d, lam1)]
    theta = np.linalg.solve(Z.T @ Z + np.diag(penalty), Z.T @ Y[rows, tasks])
    np.testing.assert_allclose(est.coef_shared_, theta[:d], atol=1e-9)
    np.testing.assert_allclose(est.coef_, theta[:d] + theta[d:].reshape(T, d), atol=1e-9)


def test_mean_regularized_limits(small):
    X, Y = small[:2]
    # reg -> inf: every task is the shared model = PooledRidge with reg = reg_shared
    shared = MeanRegularizedMTL(reg=1e12, reg_shared=2.0, fit_intercept=False).fit(X, Y)
    pooled = PooledRidge(reg=2.0, fit_intercept=False).fit(X, Y)
    np.testing.assert_allclose(shared.coef_, pooled.coef_, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(shared.predict(X), pooled.predict(X), rtol=1e-6, atol=1e-8)
    with_intercept = MeanRegularizedMTL(reg=1e12, reg_shared=2.0).fit(X, Y)
    np.testing.assert_allclose(with_intercept.coef_, np.tile(with_intercept.coef_shared_, (Y.shape[1], 1)), atol=1e-8)
    # reg_shared -> inf: no shared part, SingleTaskRidge with reg
    indep = MeanRegularizedMTL(reg=2.0, reg_shared=1e12).fit(X, Y)
    stl = SingleTaskRidge(reg=2.0).fit(X, Y)
    np.testing.assert_allclose(indep.coef_shared_, 0.0, atol=1e-9)
    np.testing.assert_allclose(indep.coef_, stl.coef_, atol=1e-8)
    np.testing.assert_allclose(indep.intercept_, stl.intercept_, atol=1e-8)
    # reg -> 0: the deviations are free, per-task least squares whatever reg_shared
    ols = MeanRegularizedMTL(reg=1e-9, reg_shared=1.0).fit(X, Y)
    np.testing.assert_allclose(ols.coef_, SingleTaskRidge(reg=1e-9).fit(X, Y).coef_, atol=1e-6)


def test_trace_norm_reaches_the_optimality_condition(small):
    X, Y = small[:2]
    reg = 20.0
    est = TraceNormMTL(reg=reg, fit_intercept=False, tol=1e-13, max_iter=100_000).fit(X, Y)
    W = est.coef_  # (T, d); the trace norm of W and Wᵀ is the same
    grad = np.zeros_like(W)
    for t in range(Y.shape[1]):
        rows = _task_rows(Y, t)
        grad[t] = 2 * X[rows].T @ (X[rows] @ W[t] - Y[rows, t])
    U, s, Vt = np.linalg.svd(W, full_matrices=False)
    r = int(np.sum(s > 1e-8 * s[0]))
    assert 0 < r < min(W.shape)  # a binding constraint: the condition below is not trivial
    G = -grad / reg  # must lie in the subdifferential of ||.||_* at W
    Ur, Vr = U[:, :r], Vt[:r].T
    np.testing.assert_allclose(Ur.T @ G @ Vr, np.eye(r), atol=1e-6)
    np.testing.assert_allclose(G @ Vr, Ur, atol=1e-6)  # no component off the support
    np.testing.assert_allclose(Ur.T @ G, Vr.T, atol=1e-6)
    assert np.linalg.norm(G - Ur @ Vr.T, ord=2) <= 1 + 1e-6
    h = est.objective_history_
    assert h.shape == (est.n_iter_,) and h[-1] <= h[0] and h[-1] == pytest.approx(h.min(), rel=1e-12)
    assert np.mean(np.diff(h) > 1e-9 * abs(h[-1])) < 0.05  # monotone up to the rare restarts


def test_trace_norm_large_reg_gives_zero_weights_and_per_task_means(small):
    X, Y = small[:2]
    est = TraceNormMTL(reg=1e6).fit(X, Y)
    assert np.all(est.coef_ == 0)
    np.testing.assert_allclose(est.intercept_, np.nanmean(Y, axis=0))


def test_mtfl_decreases_its_objective_and_matches_the_trace_norm_path(small):
    X, Y = small[:2]
    gamma = 0.05
    mtfl = MultiTaskFeatureLearning(reg=gamma, epsilon=1e-12, tol=1e-15, max_iter=5000).fit(X, Y)
    h = mtfl.objective_history_
    assert np.all(np.diff(h) <= 1e-12 * h[0])  # alternating minimisation never goes up
    np.testing.assert_allclose(np.trace(mtfl.feature_covariance_), 1.0)
    # gamma ||W||_*² and lambda ||W||_* share their solution for lambda = 2 gamma ||W*||_*
    nuclear = np.linalg.svd(mtfl.coef_, compute_uv=False).sum()
    trace = TraceNormMTL(reg=2 * gamma * nuclear, tol=1e-12, max_iter=50_000).fit(X, Y)
    np.testing.assert_allclose(mtfl.coef_, trace.coef_, rtol=1e-6, atol=1e-6 * np.abs(trace.coef_).max())


def test_iterative_solvers_warn_when_stopped_by_max_iter(small):
    X, Y = small[:2]
    with pytest.warns(ConvergenceWarning, match=r"TraceNormMTL did not converge in max_iter=2 iterations"):
        TraceNormMTL(reg=1.0, max_iter=2).fit(X, Y)
    with pytest.warns(ConvergenceWarning, match=r"MultiTaskFeatureLearning did not converge in max_iter=2"):
        MultiTaskFeatureLearning(reg=1.0, max_iter=2, tol=0.0).fit(X, Y)


# ---------------------------------------------------------------------------------------------------
# Transfer on a shared-structure problem
# ---------------------------------------------------------------------------------------------------
def test_multi_task_models_beat_independent_and_pooled_ridge_on_shared_structure():
    """Few rows per task (12 < 15 features), weights in a shared 2-D subspace around a common mean."""
    X, Y, X_test, Y_test = make_tasks(0)
    scores = {
        cls.__name__: cls(random_state=0).fit(X, Y).score(X_test, Y_test)
        for cls in (SingleTaskRidge, PooledRidge, MeanRegularizedMTL, TraceNormMTL)
    }
    baseline = max(scores["SingleTaskRidge"], scores["PooledRidge"])
    assert scores["MeanRegularizedMTL"] > baseline + 0.05, scores
    assert scores["TraceNormMTL"] > scores["MeanRegularizedMTL"] + 0.02, scores  # it finds the rank-2 subspace
    mtfl = MultiTaskFeatureLearning(reg=0.1).fit(X, Y)  # one gamma: the CV search is slower
    assert mtfl.score(X_test, Y_test) > baseline + 0.05, scores


# ---------------------------------------------------------------------------------------------------
# Hyper-parameter selection
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [SingleTaskRidge, PooledRidge, MultiTaskFeatureLearning])
def test_cv_picks_reg_from_the_grid(cls, small):
    X, Y = small[:2]
    grid = (0.01, 0.1, 1.0, 10.0)
    est = cls(reg_grid=grid, cv=3, random_state=0).fit(X, Y)
    assert est.reg_ in grid and est.selection_protocol() == "train_cv"
    res = est.cv_results_
    np.testing.assert_array_equal(res["reg"], grid)
    assert res["split_test_scores"].shape == (4, 3)
    assert est.reg_ == res["reg"][np.argmax(res["mean_test_score"])]
    assert cls(reg=1.0).selection_protocol() == "none"
    assert cls().reg_grid == (DEFAULT_REG_GRID if cls is not TraceNormMTL else None)


def test_mean_regularized_searches_the_product_grid(small):
    X, Y = small[:2]
    est = MeanRegularizedMTL(reg_grid=(0.1, 10.0), reg_shared_grid=(0.01, 1.0, 100.0), random_state=0).fit(X, Y)
    assert est.reg_ in (0.1, 10.0) and est.reg_shared_ in (0.01, 1.0, 100.0)
    assert est.cv_results_["mean_test_score"].shape == (6,)
    half = MeanRegularizedMTL(reg=1.0, reg_shared_grid=(0.01, 1.0, 100.0), random_state=0).fit(X, Y)
    assert half.reg_ == 1.0 and set(half.cv_results_["reg"]) == {1.0} and half.selection_protocol() == "train_cv"


def test_trace_norm_default_grid_follows_the_scale_of_y(small):
    X, Y = small[:2]
    est = TraceNormMTL(random_state=0).fit(X, Y)
    rows = [_task_rows(Y, t) for t in range(Y.shape[1])]
    C = np.stack([(X[r] - X[r].mean(0)).T @ (Y[r, t] - Y[r, t].mean()) for t, r in enumerate(rows)])
    reg_max = 2 * np.linalg.norm(C, ord=2)
    np.testing.assert_allclose(est.cv_results_["reg"], reg_max * np.array(TRACE_NORM_REG_FRACTIONS))
    assert est.reg_ in est.cv_results_["reg"]
    assert np.all(TraceNormMTL(reg=reg_max * 1.001).fit(X, Y).coef_ == 0)  # reg_max is the smallest reg with W = 0
    scaled = TraceNormMTL(random_state=0).fit(X, 10 * Y)
    np.testing.assert_allclose(scaled.cv_results_["reg"], 10 * est.cv_results_["reg"])
    assert scaled.reg_ == pytest.approx(10 * est.reg_)


@pytest.mark.parametrize("cls", ALL)
def test_fixed_reg_skips_cross_validation(cls, small, monkeypatch):
    X, Y = small[:2]

    def no_cv(*args, **kwargs):
        raise AssertionError("cross-validation ran with fixed hyper-parameters")

    monkeypatch.setattr(cls, "_cross_validate", no_cv)
    est = cls(**FIXED[cls]).fit(X, Y)
    assert est.cv_results_ is None and est.reg_ == FIXED[cls]["reg"]


def test_cv_folds_are_stratified_by_task():
    """Each task's rows are spread evenly over the folds: a task with 2 rows trains in every fold."""
    from tltaxonomy.inductive.multitask.linear import _task_stratified_folds

    X, Y = make_tasks(2, n_tasks=5, n_train=7, n_test=1, d=2)[:2]
    Y[2:7, 0] = np.nan  # task 0 keeps 2 rows
    observed = ~np.isnan(Y)
    folds = _task_stratified_folds(observed, 3, 0)
    np.testing.assert_array_equal(np.sort(np.concatenate([test for _, test in folds])), np.arange(len(Y)))
    for t in range(Y.shape[1]):
        in_test = [observed[test, t].sum() for _, test in folds]
        assert max(in_test) - min(in_test) <= 1
        assert all(observed[train, t].sum() >= 1 for train, _ in folds)
    est = SingleTaskRidge(reg_grid=(0.1, 1.0), random_state=0).fit(X[observed.any(axis=1)], Y[observed.any(axis=1)])
    assert est.reg_ in (0.1, 1.0)


# ---------------------------------------------------------------------------------------------------
# The estimator contract
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", ALL)
def test_clone_get_params_round_trip(cls):
    est = cls(**FIXED[cls], cv=4, random_state=3)
    check_no_attributes_set_in_init(cls.__name__, est)
    check_parameters_default_constructible(cls.__name__, est)
    copy = clone(est)
    assert copy.get_params() == est.get_params()
    assert clone(cls().set_params(**est.get_params())).get_params() == est.get_params()
    with pytest.raises(TypeError):
        cls(1.0)  # hyper-parameters are keyword-only


@pytest.mark.parametrize("cls", ALL)
def test_fit_is_deterministic_and_leaves_the_inputs_alone(cls, small):
    X, Y, X_test, Y_test = small
    X0, Y0 = X.copy(), Y.copy()
    kw = {"reg_grid": (0.1, 1.0, 10.0)} if cls is not TraceNormMTL else {}
    if cls is MeanRegularizedMTL:
        kw["reg_shared_grid"] = (0.1, 10.0)
    a = cls(random_state=0, **kw).fit(X, Y)
    b = cls(random_state=0, **kw).fit(X, Y)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    np.testing.assert_array_equal(a.predict(X_test), b.predict(X_test))
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(Y, Y0)
    P = a.predict(X_test)
    assert P.shape == Y_test.shape and np.isfinite(P).all()
    assert a.score(X_test, Y_test) == explained_variance(Y_test, P)
    assert a.n_tasks_ == Y.shape[1] and a.n_features_in_ == X.shape[1]


def test_constant_bias_column_is_harmless(small):
    X, Y, X_test, Y_test = small
    with_bias = MeanRegularizedMTL(reg=1.0, reg_shared=1.0).fit(np.c_[X, np.ones(len(X))], Y)
    plain = MeanRegularizedMTL(reg=1.0, reg_shared=1.0).fit(X, Y)
    np.testing.assert_allclose(with_bias.predict(np.c_[X_test, np.ones(len(X_test))]), plain.predict(X_test), atol=1e-10)


@pytest.mark.parametrize("cls", ALL)
def test_input_errors_name_the_estimator_and_the_fix(cls):
    name = cls.__name__
    est = cls(**FIXED[cls])
    X = np.random.default_rng(0).normal(size=(6, 2))
    Y = np.array([[1.0, np.nan], [2.0, np.nan], [3.0, np.nan], [np.nan, 1.0], [np.nan, 2.0], [np.nan, 4.0]])
    not_2d = rf"{name}: Y must be a 2-D array \(n_samples, n_tasks\).*got shape \(6,\).*reshape\(-1, 1\)"
    with pytest.raises(ValueError, match=not_2d):
        est.fit(X, Y[:, 0])
    with pytest.raises(ValueError, match=rf"{name}: X has 6 rows but Y has 5"):
        est.fit(X, Y[:5])
    few = Y.copy()
    few[1:3, 0] = np.nan
    too_few = rf"{name}: every task needs at least 2 observed \(non-NaN\) rows in Y, but task 0 has 1"
    with pytest.raises(ValueError, match=too_few):
        est.fit(X, few)
    bad_X = X.copy()
    bad_X[2, 1] = np.nan
    with pytest.raises(ValueError, match=rf"{name}: X contains NaN or inf.*impute or drop"):
        est.fit(bad_X, Y)
    with pytest.raises(ValueError, match=rf"{name}: Y contains inf"):
        est.fit(X, np.where(np.isnan(Y), np.nan, np.inf))
    with pytest.raises(ValueError, match=rf"{name}: Y has 0 columns"):
        est.fit(X, np.empty((6, 0)))
    with pytest.raises(ValueError, match=rf"{name} requires Y"):
        est.fit(X, None)
    with pytest.raises(ValueError, match=rf"{name}: Y must hold numbers"):
        est.fit(X, np.array([["a", "b"]] * 6))
    with pytest.raises(NotFittedError):
        est.predict(X)
    est.fit(X, Y)
    with pytest.raises(ValueError, match=rf"X has 3 features, but {name} is expecting 2 features"):
        est.predict(np.ones((2, 3)))
    with pytest.raises(ValueError, match=rf"{name}: X contains NaN or inf"):
        est.predict(bad_X)
    with pytest.raises(ValueError, match=rf"{name}.score does not support sample_weight"):
        est.score(X, Y, sample_weight=np.ones(6))


@pytest.mark.parametrize("cls", ALL)
def test_hyper_parameter_errors(cls, small):
    X, Y = small[:2]
    bad_reg = rf"The 'reg' parameter of {cls.__name__} must be a float in the range \(0.0, inf\) or a str among {{'cv'}}"
    with pytest.raises(InvalidParameterError, match=bad_reg + ". Got 'cvv' instead"):
        cls(reg="cvv").fit(X, Y)
    with pytest.raises(InvalidParameterError, match=bad_reg + ". Got -1.0 instead"):
        cls(reg=-1.0).fit(X, Y)
    bad_grid = rf"{cls.__name__}: reg_grid must be a non-empty 1-D sequence of positive finite numbers, got \(1.0, -2.0\)"
    with pytest.raises(ValueError, match=bad_grid):
        cls(reg_grid=(1.0, -2.0)).fit(X, Y)
    with pytest.raises(ValueError, match="reg_grid must be a non-empty 1-D sequence"):
        cls(reg_grid=()).fit(X, Y)
    if cls is MeanRegularizedMTL:
        with pytest.raises(ValueError, match="MeanRegularizedMTL: reg_shared_grid must be a non-empty"):
            cls(reg=1.0, reg_shared_grid=[0.0]).fit(X, Y)
