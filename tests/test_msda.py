"""mSDA (Chen et al., ICML 2012): closed form vs Monte-Carlo corruption, shapes, label isolation, a toy shift."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from tltaxonomy.base import stack_domains
from tltaxonomy.transductive.msda import MSDA, msda_layer, msda_layer_weights


def _counts(rng, n, d, lam=0.6):
    return rng.poisson(lam, size=(n, d)).astype(float)


def test_closed_form_matches_monte_carlo_corruptions():
    """W = E[P] E[Q]^-1 is the least-squares reconstruction over (infinitely) many corrupted copies."""
    rng = np.random.default_rng(0)
    n, d, p = 30, 4, 0.4
    # correlated features so that W is far from trivial
    Z = rng.normal(size=(n, 2))
    X = np.abs(Z @ rng.normal(size=(2, d)) + 0.3 * rng.normal(size=(n, d)))
    W = msda_layer_weights(X, p, reg=0.0)
    m = 20000
    Xrep = np.tile(X, (m, 1))
    mask = rng.random(Xrep.shape) >= p  # keep with probability 1 - p
    Xc = np.hstack([Xrep * mask, np.ones((Xrep.shape[0], 1))])  # bias never corrupted
    W_mc = np.linalg.lstsq(Xc, Xrep, rcond=None)[0].T
    assert W.shape == (d, d + 1)
    np.testing.assert_allclose(W_mc, W, atol=0.03)
    # and the closed form is not the trivial identity here
    assert np.abs(W[:, :d] - np.eye(d)).max() > 0.1


def test_ridge_default_is_negligible():
    rng = np.random.default_rng(1)
    X = _counts(rng, 50, 6)
    np.testing.assert_allclose(msda_layer_weights(X, 0.5), msda_layer_weights(X, 0.5, reg=0.0), atol=1e-5)


def test_zero_noise_is_identity_reconstruction():
    rng = np.random.default_rng(2)
    X = _counts(rng, 80, 7)
    W = msda_layer_weights(X, 0.0)
    np.testing.assert_allclose(W[:, :-1], np.eye(7), atol=1e-4)
    np.testing.assert_allclose(W[:, -1], 0.0, atol=1e-4)
    H, W2 = msda_layer(X, 0.0)
    np.testing.assert_allclose(H, np.tanh(X), atol=1e-3)


def test_shapes_stacking_and_concatenation():
    rng = np.random.default_rng(3)
    Xs, Xt = _counts(rng, 40, 6), _counts(rng, 30, 6)
    ys = rng.integers(0, 2, 40)
    m = MSDA(n_layers=3, random_state=0).fit_domains(Xs, ys, Xt)
    Z = m.transform(Xt)
    assert Z.shape == (30, 6 * 4) and m.n_features_out_ == 24
    np.testing.assert_array_equal(Z[:, :6], Xt)
    assert len(m.weights_) == 3 and all(W.shape == (6, 7) for W in m.weights_)
    # layer 2 is learned on layer 1's output of the stacked source + target rows
    H1, _ = msda_layer(np.vstack([Xs, Xt]), 0.5)
    np.testing.assert_allclose(m.weights_[1], msda_layer_weights(H1, 0.5))
    np.testing.assert_allclose(Z[:, 6:12], np.tanh(Xt @ m.weights_[0][:, :-1].T + m.weights_[0][:, -1]))
    m2 = MSDA(n_layers=2, concat_input=False, random_state=0).fit_domains(Xs, ys, Xt)
    assert m2.transform(Xt).shape == (30, 12)
    assert m.predict(Xt).shape == (30,)


def test_sparse_input_densified_same_result():
    rng = np.random.default_rng(4)
    Xs, Xt = _counts(rng, 40, 6), _counts(rng, 30, 6)
    ys = rng.integers(0, 2, 40)
    a = MSDA(n_layers=2, random_state=0).fit_domains(Xs, ys, Xt)
    b = MSDA(n_layers=2, random_state=0).fit_domains(sp.csr_matrix(Xs), ys, sp.csr_matrix(Xt))
    np.testing.assert_allclose(a.transform(Xt), b.transform(sp.csr_matrix(Xt)))
    np.testing.assert_array_equal(a.predict(Xt), b.predict(sp.csr_matrix(Xt)))


def test_deterministic_and_target_labels_unused():
    rng = np.random.default_rng(5)
    Xs, Xt = _counts(rng, 60, 8), _counts(rng, 50, 8)
    ys = (Xs[:, 0] > Xs[:, 1]).astype(int)
    X, y, sd = stack_domains(Xs, ys, Xt)
    y1, y2 = y.copy(), y.copy()
    y1[sd < 0] = 0
    y2[sd < 0] = rng.integers(0, 2, (sd < 0).sum())
    m1 = MSDA(n_layers=2, random_state=0).fit(X, y1, sample_domain=sd)
    m2 = MSDA(n_layers=2, random_state=0).fit(X, y2, sample_domain=sd)
    m3 = clone(m1).fit(X, y1, sample_domain=sd)
    np.testing.assert_array_equal(m1.predict(Xt), m2.predict(Xt))
    np.testing.assert_array_equal(m1.transform(Xt), m3.transform(Xt))
    for W1, W2 in zip(m1.weights_, m2.weights_):
        np.testing.assert_array_equal(W1, W2)


def _pivot_shift(rng, n, domain):
    """Bag-of-words toy: sentiment y; 'pivot' words shared by both domains, weakly indicative;
    domain-specific words, strongly indicative, but only the source's appear in source documents and
    only the target's in target documents. Within each domain the specific words co-occur with the
    pivots of the same polarity, which is the structure mSDA is meant to exploit."""
    y = rng.integers(0, 2, n)
    k = 6  # words per group
    sign = np.where(y == 1, 1, -1)[:, None]
    pos_p, neg_p = np.where(sign > 0, 0.35, 0.08), np.where(sign > 0, 0.08, 0.35)
    pivots = np.hstack([rng.random((n, k)) < pos_p, rng.random((n, k)) < neg_p])
    spec_pos, spec_neg = np.where(sign > 0, 0.5, 0.03), np.where(sign > 0, 0.03, 0.5)
    spec = np.hstack([rng.random((n, k)) < spec_pos, rng.random((n, k)) < spec_neg])
    zeros = np.zeros((n, 2 * k))
    noise = rng.random((n, 8)) < 0.2  # uninformative words common to both domains
    blocks = [pivots, spec, zeros, noise] if domain == "source" else [pivots, zeros, spec, noise]
    return np.hstack(blocks).astype(float), y


def test_beats_raw_features_on_pivot_shift():
    accs_raw, accs_msda = [], []
    for seed in range(5):
        rng = np.random.default_rng(seed)
        Xs, ys = _pivot_shift(rng, 300, "source")
        Xt, yt = _pivot_shift(rng, 300, "target")
        clf = LogisticRegression(C=1.0, max_iter=2000)
        accs_raw.append((clone(clf).fit(Xs, ys).predict(Xt) == yt).mean())
        m = MSDA(n_layers=2, noise=0.5, estimator=clf).fit_domains(Xs, ys, Xt)
        accs_msda.append((m.predict(Xt) == yt).mean())
    assert np.mean(accs_msda) > np.mean(accs_raw) + 0.03, (accs_raw, accs_msda)


def test_rejects_bad_params():
    X = np.ones((4, 2))
    with pytest.raises(ValueError):
        MSDA(noise=1.0).fit(X, [0, 1, 0, 1])
    with pytest.raises(ValueError):
        MSDA(n_layers=0).fit(X, [0, 1, 0, 1])


def test_a_domain_adaptation_learner_on_top_gets_the_target_rows():
    from tltaxonomy.base import BaseDomainAdaptationClassifier
    from tltaxonomy.registry import register  # noqa: F401

    seen = {}

    class Spy(BaseDomainAdaptationClassifier):
        def _fit(self, split):
            seen["n_target"] = split.X_target.shape[0]
            seen["width"] = split.X_source.shape[1]

        def _predict_encoded(self, X):
            return np.zeros(X.shape[0], dtype=int)

    rng = np.random.default_rng(0)
    Xs, Xt = rng.random((30, 6)), rng.random((20, 6))
    ys = rng.integers(0, 2, 30)
    MSDA(n_layers=2, estimator=Spy()).fit_domains(Xs, ys, Xt)
    assert seen == {"n_target": 20, "width": 18}
