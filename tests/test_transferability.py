"""Transferability scores against their closed forms and on features made to transfer or not."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from tltaxonomy.transferability import h_score, leep, logme, nce


def _evidence(F, y, log_alpha, log_beta):
    """LogME's evidence computed directly: A = alpha I + beta F^T F, m = beta A^-1 F^T y."""
    n, d = F.shape
    alpha, beta = np.exp(log_alpha), np.exp(log_beta)
    A = alpha * np.eye(d) + beta * F.T @ F
    m = beta * np.linalg.solve(A, F.T @ y)
    return (n / 2 * np.log(beta) + d / 2 * np.log(alpha) - n / 2 * np.log(2 * np.pi)
            - beta / 2 * np.sum((F @ m - y) ** 2) - alpha / 2 * m @ m - np.linalg.slogdet(A)[1] / 2)


@pytest.mark.parametrize("n, d", [(60, 5), (12, 30)])  # more rows than features, and fewer
def test_logme_is_the_maximum_evidence(n, d):
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], n // 3)
    F = rng.normal(size=(n, d)) + 0.8 * y[:, None]
    best = []
    for k in range(3):
        yk = (y == k).astype(float)
        res = minimize(lambda p: -_evidence(F, yk, *p), x0=[0.0, 0.0], method="Nelder-Mead",
                       options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 4000})
        best.append(-res.fun / n)
    assert logme(F, y, max_iter=1000, tol=1e-10) == pytest.approx(np.mean(best), abs=1e-5)


def test_logme_and_h_score_rank_informative_features_first():
    rng = np.random.default_rng(1)
    y = np.repeat(["cat", "dog"], 100)
    signal = (y == "dog").astype(float)[:, None]
    good = np.c_[signal + 0.2 * rng.normal(size=(200, 1)), rng.normal(size=(200, 9))]
    bad = rng.normal(size=(200, 10))
    assert logme(good, y) > logme(bad, y)
    assert h_score(good, y) > 0.5 > 0.1 > h_score(bad, y)


def test_h_score_closed_form_one_feature():
    # one feature, two balanced classes at -1 and +1 with noise variance v: cov(E[f|y]) = 1, cov(f) = 1 + v
    f = np.array([-1.1, -0.9, 0.9, 1.1])
    y = np.array([0, 0, 1, 1])
    assert h_score(f[:, None], y) == pytest.approx(1.0 / np.var(f))
    assert h_score(np.c_[f, 2 * f], y) == pytest.approx(1.0 / np.var(f))  # collinear features: pseudo-inverse


def test_leep_closed_form():
    P = np.array([[0.9, 0.1], [0.8, 0.2], [0.2, 0.8], [0.3, 0.7]])
    y = np.array([0, 0, 1, 1])
    joint = np.array([[1.7, 0.3], [0.5, 1.5]]) / 4  # P(y, z)
    cond = joint / joint.sum(axis=0)
    expected = np.mean([np.log(P[i] @ cond[y[i]]) for i in range(4)])
    assert leep(P, y) == pytest.approx(expected)
    # a source model whose classes are the target's scores higher than one that is uninformative
    assert leep(np.eye(2)[y] * 0.98 + 0.01, y) > leep(np.full((4, 2), 0.5), y)
    with pytest.raises(ValueError, match="must be probabilities"):
        leep(P * 2, y)


def test_nce_is_minus_the_conditional_entropy():
    assert nce([5, 5, 7, 7], [0, 0, 1, 1]) == pytest.approx(0.0)  # z determines y
    # z says nothing about y (independent, balanced): -H(Y|Z) = -log 2
    assert nce([0, 1, 0, 1], [0, 0, 1, 1]) == pytest.approx(-np.log(2))
    z, y = [0, 0, 0, 1], [0, 0, 1, 1]  # H(Y|Z) = 3/4 * H(2/3, 1/3)
    h = -(2 / 3 * np.log(2 / 3) + 1 / 3 * np.log(1 / 3))
    assert nce(z, y) == pytest.approx(-0.75 * h)


@pytest.mark.parametrize("fn", [logme, h_score])
def test_errors_name_the_problem(fn):
    with pytest.raises(ValueError, match="single class"):
        fn(np.ones((4, 2)), [1, 1, 1, 1])
    with pytest.raises(ValueError, match="NaN or inf"):
        fn(np.array([[np.nan, 1.0], [1.0, 2.0]]), [0, 1])
    with pytest.raises(ValueError, match="one label per row"):
        fn(np.ones((4, 2)), [0, 1])
    with pytest.raises(ValueError, match="2-D array"):
        fn(np.ones(4), [0, 1, 0, 1])
