"""Self-taught learning: the sparse autoencoder's objective and gradient, sparse codes, the strategy and
the protocol that hands it unlabelled source rows (never their labels)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from scipy.special import expit
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression

from tltaxonomy._errors import ConfigError
from tltaxonomy.datasets import TaskData
from tltaxonomy.inductive import SelfTaughtClassifier, SparseAutoencoder, SparseCoding
from tltaxonomy.protocols import run_protocol

HAS_DATA = os.path.isdir(os.environ.get("TLTAX_DATA_DIR", ""))


def _numeric_grad(f, theta, eps=1e-5):
    g = np.zeros_like(theta)
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = eps
        g[i] = (f(theta + e) - f(theta - e)) / (2 * eps)
    return g


@pytest.mark.parametrize("decoder", ["sigmoid", "linear"])
def test_sparse_autoencoder_gradient_passes_a_finite_difference_check(decoder):
    rng = np.random.default_rng(0)
    X = rng.random((10, 6))
    sae = SparseAutoencoder(n_components=4, sparsity=0.1, sparsity_weight=3.0, reg=1e-2, decoder=decoder, random_state=0)
    theta = sae.init_parameters(6) + rng.normal(scale=0.1, size=2 * 4 * 6 + 4 + 6)
    _, grad = sae.cost_and_gradient(theta, X)
    numeric = _numeric_grad(lambda t: sae.cost_and_gradient(t, X)[0], theta)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


def test_sparse_autoencoder_cost_equals_its_closed_form():
    rng = np.random.default_rng(1)
    X = rng.random((7, 5))
    sae = SparseAutoencoder(n_components=3, sparsity=0.2, sparsity_weight=2.0, reg=0.5, random_state=0)
    theta = sae.init_parameters(5)
    W1, W2 = theta[:15].reshape(3, 5), theta[15:30].reshape(5, 3)
    b1, b2 = theta[30:33], theta[33:]
    a = expit(X @ W1.T + b1)
    out = expit(a @ W2.T + b2)
    rho_hat = a.mean(0)
    kl = np.sum(0.2 * np.log(0.2 / rho_hat) + 0.8 * np.log(0.8 / (1 - rho_hat)))
    expected = 0.5 * np.sum((out - X) ** 2) / 7 + 0.25 * (np.sum(W1**2) + np.sum(W2**2)) + 2.0 * kl
    assert sae.cost_and_gradient(theta, X)[0] == pytest.approx(expected, rel=1e-12)


def test_sparse_autoencoder_reaches_the_target_sparsity_and_reconstructs():
    rng = np.random.default_rng(0)
    # rows are sums of a few of 12 random non-negative patterns: a sparse structure to discover
    patterns = rng.random((12, 30)) * (rng.random((12, 30)) < 0.3)
    codes = (rng.random((400, 12)) < 0.15).astype(float)
    X = np.clip(codes @ patterns, 0, 1)
    sae = SparseAutoencoder(n_components=12, sparsity=0.05, sparsity_weight=3.0, reg=1e-4, max_iter=400, random_state=0).fit(X)
    A = sae.transform(X)
    assert A.shape == (400, 12) and sae.n_iter_ > 10
    assert abs(A.mean() - 0.05) < 0.02  # the KL penalty holds the mean activation near rho
    baseline = np.mean((X - X.mean(0)) ** 2)
    assert np.mean((sae.reconstruct(X) - X) ** 2) < 0.5 * baseline


def test_sparse_autoencoder_is_deterministic_given_its_seed():
    X = np.random.default_rng(0).random((40, 8))
    a = SparseAutoencoder(n_components=3, max_iter=30, random_state=3).fit(X).transform(X)
    b = SparseAutoencoder(n_components=3, max_iter=30, random_state=3).fit(X).transform(X)
    np.testing.assert_array_equal(a, b)


def test_sigmoid_decoder_refuses_inputs_outside_0_1():
    with pytest.raises(ValueError, match=r"SparseAutoencoder\(decoder='sigmoid'\).*\[0, 1\].*decoder='linear'"):
        SparseAutoencoder(n_components=2, max_iter=2).fit(np.array([[0.0, 2.0], [1.0, -1.0], [0.5, 0.5]]))


def test_sparse_codes_are_sparse_and_bases_unit_norm():
    rng = np.random.default_rng(0)
    D = rng.normal(size=(15, 20))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    codes = rng.normal(size=(300, 15)) * (rng.random((300, 15)) < 0.15)
    X = codes @ D + 0.01 * rng.normal(size=(300, 20))
    sc = SparseCoding(n_components=15, alpha=0.5, max_iter=20, random_state=0).fit(X)
    np.testing.assert_array_less(np.linalg.norm(sc.components_, axis=1), 1 + 1e-6)
    A = sc.transform(X)
    assert A.shape == (300, 15)
    assert np.mean(A != 0) < 0.35  # sparse: most activations are exactly zero
    dense = PCA(n_components=15).fit_transform(X)
    assert np.mean(dense != 0) > 0.99


# ---------------------------------------------------------------------------------------------
# The strategy and the protocol
# ---------------------------------------------------------------------------------------------
class SpyTransformer(TransformerMixin, BaseEstimator):
    """Records the rows it is fitted on; identity transform."""

    fitted_on: list = []

    def fit(self, X, y=None):
        SpyTransformer.fitted_on.append((np.array(X, copy=True), y))
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        return np.asarray(X)


def _task():
    rng = np.random.default_rng(0)
    Xs = rng.random((30, 4))
    Xt, yt = rng.random((12, 4)), np.repeat([0, 1, 2], 4)
    Xte, yte = rng.random((9, 4)), np.repeat([0, 1, 2], 3)
    return TaskData(dataset="toy", task="t", X_source=Xs, y_source=np.arange(30) % 3, X_target=Xt, y_target=yt,
                    X_test=Xte, y_test=yte, preprocess="none", n_classes=3)


def test_protocol_passes_source_rows_unlabelled_and_fits_the_classifier_on_target_rows():
    SpyTransformer.fitted_on = []
    task = _task()
    strategy = SelfTaughtClassifier(feature_learner=SpyTransformer(), classifier=LogisticRegression())
    metrics, info = run_protocol(strategy, task, {"seed": 0, "protocol": {"labels_per_class": 2}}, {})
    (X_fit, y_fit), = SpyTransformer.fitted_on
    np.testing.assert_array_equal(X_fit, task.X_source)  # the source rows ...
    assert y_fit is None  # ... without their labels
    assert info["n_unlabelled"] == 30 and info["n_labelled"] == 6 and info["n_test"] == 9
    assert strategy.n_unlabelled_ == 30
    assert 0 <= metrics["target/acc"] <= 1


def test_labels_per_class_null_uses_every_target_row():
    task = _task()
    strategy = SelfTaughtClassifier(feature_learner="passthrough")
    _, info = run_protocol(strategy, task, {"seed": 0, "protocol": {"labels_per_class": None}}, {})
    assert info["n_labelled"] == 12


def test_labels_per_class_null_on_a_single_pool_task_is_an_error():
    task = _task()
    one_pool = TaskData(dataset="toy", task="t", X_source=None, y_source=None, X_target=task.X_target,
                        y_target=task.y_target, X_test=task.X_target, y_test=task.y_target, preprocess="none", n_classes=3)
    with pytest.raises(ConfigError, match="labels_per_class=null.*leaves no test rows"):
        run_protocol(SelfTaughtClassifier(feature_learner="passthrough"), one_pool,
                     {"seed": 0, "protocol": {"labels_per_class": None}}, {})


def test_without_unlabelled_rows_the_features_are_learned_on_x():
    SpyTransformer.fitted_on = []
    X, y = np.random.default_rng(0).random((10, 3)), np.arange(10) % 2
    SelfTaughtClassifier(feature_learner=SpyTransformer()).fit(X, y)
    np.testing.assert_array_equal(SpyTransformer.fitted_on[0][0], X)


def test_strategy_errors():
    X, y = np.random.default_rng(0).random((10, 3)), np.arange(10) % 2
    with pytest.raises(ValueError, match="X_unlabelled has no rows"):
        SelfTaughtClassifier(feature_learner="passthrough").fit(X, y, X_unlabelled=np.empty((0, 3)))
    with pytest.raises(ValueError, match="3 features"):
        SelfTaughtClassifier(feature_learner="passthrough").fit(X, y, X_unlabelled=np.ones((5, 4)))
    with pytest.raises(ValueError, match="only one class"):
        SelfTaughtClassifier(feature_learner="passthrough").fit(X, np.zeros(10))
    with pytest.raises(ValueError, match="feature_learner"):
        SelfTaughtClassifier(feature_learner="raw").fit(X, y)


def test_learned_features_beat_raw_inputs_when_labels_are_few():
    """A shift made for self-taught learning: 400-pixel inputs are a few of 10 shared parts (20 pixels
    each) under heavy noise. The unlabelled rows come from other classes (parts 5-9 as the class part,
    the others only as distractors) yet reveal the parts' subspace; with 2 labels per class, a
    classifier on features learned from them beats one on the raw pixels by a wide margin. (The
    autoencoder's own win on real digits is the selftaught_mnist benchmark: 98.2 vs 96.4.)"""
    rng = np.random.default_rng(0)
    parts = np.zeros((10, 400))
    for i in range(10):
        parts[i, rng.choice(400, 20, replace=False)] = 1.0

    def sample(n, classes):
        y = np.resize(classes, n)
        codes = np.zeros((n, 10))
        codes[np.arange(n), y] = 1.0
        codes = np.maximum(codes, rng.random((n, 10)) < 0.1)  # a few distractor parts
        return np.clip(0.6 * np.minimum(codes @ parts, 1) + rng.normal(scale=0.5, size=(n, 400)), 0, 1), y

    U, _ = sample(2000, [5, 6, 7, 8, 9])  # unlabelled, other classes
    Xte, yte = sample(2000, [0, 1, 2, 3, 4])
    gains = []
    for _ in range(3):
        X, y = sample(10, [0, 1, 2, 3, 4])
        learned = SelfTaughtClassifier(feature_learner=PCA(n_components=10)).fit(X, y, X_unlabelled=U).score(Xte, yte)
        raw = SelfTaughtClassifier(feature_learner="passthrough").fit(X, y).score(Xte, yte)
        gains.append(learned - raw)
    assert np.mean(gains) > 0.15, gains


@pytest.mark.skipif(not HAS_DATA, reason="real data directory not found (set TLTAX_DATA_DIR)")
def test_selftaught_cross_smoke(tmp_store):
    """Two cells of the `selftaught_cross` curve on a cheap autoencoder (the table trains 200 units for
    400 L-BFGS iterations): the runner passes the MNIST rows unlabelled and the curve table runs."""
    from tltaxonomy.harness import run_table

    kw = dict(seeds=(0,), columns=("MNIST→USPS/10",), store=tmp_store, progress=False)
    raw = run_table("selftaught_cross", rows=("raw",), **kw)
    sae = run_table("selftaught_cross", rows=("sparse_autoencoder",), **kw, extra_overrides=(
        "strategy.feature_learner.max_iter=20", "strategy.feature_learner.n_components=20", "strategy.memory=null"))
    assert 50 < raw.cells[0].ours_mean < 100  # logistic regression on 100 USPS pixel vectors
    assert 20 < sae.cells[0].ours_mean < 100
    record = next(iter(tmp_store))
    assert record["protocol_info"]["n_unlabelled"] == 15000
