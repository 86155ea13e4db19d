"""Information-theoretic co-clustering and self-taught clustering: the loss equals its KL form, every
alternation lowers it, the auxiliary data shape the feature clusters, and bad input is named."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import adjusted_rand_score

from tltaxonomy.datasets import TaskData
from tltaxonomy.protocols import run_protocol
from tltaxonomy.unsupervised import InformationTheoreticCoClustering, SelfTaughtClustering, coclustering_loss


def _documents(rng, n_per_class, vocab_blocks, n_words=40, noise=0.3):
    """Counts over ``n_words`` words; class c draws most of its words from ``vocab_blocks[c]``."""
    rows, labels = [], []
    for c, block in enumerate(vocab_blocks):
        for _ in range(n_per_class):
            p = np.full(n_words, noise / n_words)
            p[block] += (1 - noise) / len(block)
            rows.append(rng.multinomial(30, p / p.sum()))
            labels.append(c)
    return np.array(rows, dtype=float), np.array(labels)


def test_loss_equals_the_kl_divergence_to_the_coclustering_approximation():
    rng = np.random.default_rng(0)
    P = rng.random((6, 5))
    P /= P.sum()
    rows, cols = np.array([0, 0, 1, 1, 2, 2]), np.array([0, 1, 1, 0, 1])
    px, pz = P.sum(1), P.sum(0)
    J = np.zeros((3, 2))
    for i in range(6):
        for j in range(5):
            J[rows[i], cols[j]] += P[i, j]
    pxh, pzh = J.sum(1), J.sum(0)
    Q = np.array([[J[rows[i], cols[j]] * px[i] / pxh[rows[i]] * pz[j] / pzh[cols[j]] for j in range(5)] for i in range(6)])
    kl = float(np.sum(P * np.log(P / Q)))
    assert coclustering_loss(P, rows, cols, 3, 2) == pytest.approx(kl, rel=1e-10)
    # no information is lost when every row and every column is its own cluster
    assert coclustering_loss(P, np.arange(6), np.arange(5), 6, 5) == pytest.approx(0.0, abs=1e-12)


def test_itcc_loss_never_increases_and_recovers_planted_coclusters():
    rng = np.random.default_rng(0)
    X, y = _documents(rng, 30, [np.arange(0, 10), np.arange(10, 20), np.arange(20, 30)])
    itcc = InformationTheoreticCoClustering(n_clusters=3, n_feature_clusters=4, n_init=3, random_state=0).fit(sp.csr_matrix(X))
    history = np.array(itcc.objective_history_)
    assert np.all(np.diff(history) <= 1e-12), history
    assert adjusted_rand_score(y, itcc.labels_) > 0.9
    assert itcc.loss_ == pytest.approx(coclustering_loss(X / X.sum(), itcc.labels_, itcc.feature_labels_, 3, 4))


def test_itcc_is_deterministic_and_dense_equals_sparse():
    rng = np.random.default_rng(1)
    X, _ = _documents(rng, 10, [np.arange(0, 8), np.arange(8, 16)], n_words=20)
    a = InformationTheoreticCoClustering(n_clusters=2, n_feature_clusters=3, n_init=2, random_state=5).fit(X)
    b = InformationTheoreticCoClustering(n_clusters=2, n_feature_clusters=3, n_init=2, random_state=5).fit(sp.csr_matrix(X))
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.feature_labels_, b.feature_labels_)


def test_stc_objective_never_increases_and_without_auxiliary_it_is_itcc():
    rng = np.random.default_rng(2)
    X, _ = _documents(rng, 15, [np.arange(0, 10), np.arange(10, 20)])
    A, _ = _documents(rng, 60, [np.arange(0, 10), np.arange(10, 20)])
    stc = SelfTaughtClustering(n_clusters=2, n_feature_clusters=4, n_init=2, random_state=0).fit(X, X_auxiliary=A)
    assert np.all(np.diff(stc.objective_history_) <= 1e-12)
    assert stc.auxiliary_labels_.shape == (120,) and stc.n_auxiliary_ == 120
    kw = dict(n_clusters=2, n_feature_clusters=4, n_init=2, random_state=3)
    alone = SelfTaughtClustering(**kw).fit(X)
    itcc = InformationTheoreticCoClustering(**kw).fit(X)
    np.testing.assert_array_equal(alone.labels_, itcc.labels_)
    assert alone.auxiliary_labels_ is None


def test_auxiliary_data_help_a_tiny_noisy_target():
    """A shift made for self-taught clustering: 8 target documents per class are too short and noisy to
    find the two topics' vocabularies; 200 auxiliary documents of the same topics reveal them."""
    gains = []
    for seed in range(5):
        rng = np.random.default_rng(seed)
        blocks = [np.arange(0, 30), np.arange(30, 60)]
        X, y = _documents(rng, 8, blocks, n_words=80, noise=0.6)
        A, _ = _documents(rng, 100, blocks, n_words=80, noise=0.6)
        kw = dict(n_clusters=2, n_feature_clusters=8, n_init=5, random_state=seed)
        with_aux = SelfTaughtClustering(**kw).fit_predict(X, X_auxiliary=A)
        alone = InformationTheoreticCoClustering(**kw).fit_predict(X)
        gains.append(adjusted_rand_score(y, with_aux) - adjusted_rand_score(y, alone))
    assert np.mean(gains) > 0.1, gains


def test_protocol_passes_source_rows_as_auxiliary_data_without_labels():
    rng = np.random.default_rng(0)
    X, y = _documents(rng, 10, [np.arange(0, 10), np.arange(10, 20)])
    A, yA = _documents(rng, 20, [np.arange(0, 10), np.arange(10, 20)])
    task = TaskData(dataset="toy", task="t", X_source=A, y_source=yA, X_target=X, y_target=y, X_test=X, y_test=y,
                    preprocess="none", n_classes=2)
    stc = SelfTaughtClustering(n_clusters=2, n_feature_clusters=4, n_init=2, random_state=0)
    metrics, info = run_protocol(stc, task, {"seed": 0}, {})
    assert info["n_auxiliary"] == 40 and stc.n_auxiliary_ == 40
    assert {"target/acc", "target/nmi", "target/ari"} <= set(metrics)


def test_coclustering_errors():
    X = np.abs(np.random.default_rng(0).normal(size=(6, 4)))
    with pytest.raises(ValueError, match="Negative values in data"):
        InformationTheoreticCoClustering(n_clusters=2).fit(X - 1.0)
    with pytest.raises(ValueError, match="X sums to 0"):
        InformationTheoreticCoClustering(n_clusters=2).fit(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="n_clusters=7 is more than the 6 items"):
        InformationTheoreticCoClustering(n_clusters=7).fit(X)
    with pytest.raises(ValueError, match="X_auxiliary has no rows"):
        SelfTaughtClustering(n_clusters=2).fit(X, X_auxiliary=np.empty((0, 4)))
    with pytest.raises(ValueError, match="4 features"):
        SelfTaughtClustering(n_clusters=2).fit(X, X_auxiliary=np.ones((3, 5)))


def test_newsgroups_stc_refuses_a_target_of_fewer_than_two_documents():
    from tltaxonomy._errors import ConfigError
    from tltaxonomy.datasets import load_task

    with pytest.raises(ConfigError, match="n_target must be >= 2"):
        load_task("newsgroups_stc", "comp_vs_sci_1", n_target=1)
