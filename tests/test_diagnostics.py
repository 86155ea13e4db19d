"""Domain diagnostics: each distance is ~0 for one distribution and grows with the shift made for it."""

from __future__ import annotations

import numpy as np
import pytest

from tltaxonomy.diagnostics import coral_distance, label_shift_weights, mmd2, proxy_a_distance


def _shifted(shift, n=300, d=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(n, d)) + shift


def test_proxy_a_distance_grows_with_the_mean_shift():
    same = proxy_a_distance(*_shifted(0.0))
    small, large = proxy_a_distance(*_shifted(0.5)), proxy_a_distance(*_shifted(3.0))
    assert same < 0.3 < small < large and large > 1.8  # 2 = separable


def test_mmd2_is_unbiased_and_grows_with_the_shift():
    same = [mmd2(*_shifted(0.0, seed=s)) for s in range(5)]
    assert abs(np.mean(same)) < 0.01  # unbiased: ~0 on average for one distribution (can be negative)
    assert mmd2(*_shifted(0.5)) < mmd2(*_shifted(1.5))
    Xs, Xt = _shifted(1.0, n=20)
    k = lambda A, B: np.exp(-((A[:, None] - B[None]) ** 2).sum(-1) / 2.0)  # noqa: E731  bandwidth 1
    Kss, Ktt, Kst = k(Xs, Xs), k(Xt, Xt), k(Xs, Xt)
    direct = (Kss.sum() - 20) / 380 + (Ktt.sum() - 20) / 380 - 2 * Kst.mean()
    assert mmd2(Xs, Xt, bandwidth=1.0) == pytest.approx(direct)


def test_coral_distance_closed_form_and_scale():
    rng = np.random.default_rng(0)
    Xs = rng.normal(size=(5000, 3))
    assert coral_distance(Xs, rng.normal(size=(5000, 3))) < 1e-3
    # target scaled by 2: covariance 4 I vs I -> ||3 I||^2 / (4 * 9) = 27 / 36
    assert coral_distance(Xs, 2 * rng.normal(size=(5000, 3))) == pytest.approx(27 / 36, rel=0.1)


def test_label_shift_weights_recover_the_shift():
    rng = np.random.default_rng(0)
    # a classifier that is right 80% of the time, on balanced source and 3:1 target
    def predict(y):
        flip = rng.random(y.size) < 0.2
        return np.where(flip, 1 - y, y)

    ys = rng.integers(0, 2, 20000)
    yt = (rng.random(20000) < 0.25).astype(int)  # p_t(1) = 0.25, p_t(0) = 0.75
    w = label_shift_weights(ys, predict(ys), predict(yt))
    assert w == pytest.approx([1.5, 0.5], abs=0.05)
    assert label_shift_weights(ys, predict(ys), predict(ys)) == pytest.approx([1.0, 1.0], abs=0.05)


@pytest.mark.parametrize("fn", [proxy_a_distance, mmd2, coral_distance])
def test_errors_name_the_problem(fn):
    with pytest.raises(ValueError, match="share one feature space"):
        fn(np.ones((10, 3)), np.ones((10, 4)))
    with pytest.raises(ValueError, match="NaN or inf"):
        fn(np.full((10, 3), np.nan), np.ones((10, 3)))
    with pytest.raises(ValueError, match="at least 2 rows"):
        fn(np.ones((1, 3)), np.ones((10, 3)))


def test_label_shift_errors():
    with pytest.raises(ValueError, match="differ in length"):
        label_shift_weights([0, 1], [0], [0, 1])
    with pytest.raises(ValueError, match="empty"):
        label_shift_weights([0, 1], [0, 1], [])
    with pytest.raises(ValueError, match=r"integers in 0\.\.1"):
        label_shift_weights([0, 1], [0, 1], [0, 2], n_classes=2)
