"""Tests of FeatureClustering: encoders, learned representations and clusterers composed."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.cluster import Birch
from sklearn.decomposition import PCA

from tltaxonomy import get_strategy
from tltaxonomy.metrics import clustering_accuracy
from tltaxonomy.unsupervised import FeatureClustering, FeatureKMeans, make_representation


def _blobs(n_per=20, d=6, seed=0):
    rng = np.random.default_rng(seed)
    centres = 6.0 * np.eye(3, d) + 1.0
    X = np.vstack([rng.normal(c, 0.3, (n_per, d)) for c in centres]).astype(np.float32)
    return X, np.repeat([0, 1, 2], n_per)


def test_registered_clonable_and_feature_kmeans_keeps_its_parameters():
    assert get_strategy("feature_clustering") is FeatureClustering
    est = FeatureClustering(n_clusters=3, clusterer="gmm", representation="pca", representation_kwargs={"n_components": 2})
    assert clone(est).get_params() == est.get_params()
    assert set(FeatureKMeans().get_params()) == {
        "n_clusters", "backbone", "pretrained", "input_shape", "normalize", "n_components", "n_init", "batch_size",
        "device", "random_state",
    }


@pytest.mark.filterwarnings("ignore:Graph is not fully connected")  # three separate blobs: by design
@pytest.mark.parametrize("clusterer", ["kmeans", "gmm", "spectral", "agglomerative"])
def test_every_clusterer_recovers_blobs(clusterer):
    X, y = _blobs()
    kw = {"n_neighbors": 5} if clusterer == "spectral" else None
    fc = FeatureClustering(n_clusters=3, input_shape=(6,), clusterer=clusterer, clusterer_kwargs=kw, n_init=3, random_state=0)
    labels = fc.fit_predict(X)
    assert clustering_accuracy(y, labels) == 1.0
    assert fc.cluster_centers_.shape == (3, 6)
    # only the clusterers that can assign new rows expose predict
    assert hasattr(fc, "predict") == (clusterer in ("kmeans", "gmm"))
    if hasattr(fc, "predict"):
        np.testing.assert_array_equal(fc.predict(X), labels)


def test_custom_clusterer_gets_n_clusters():
    X, y = _blobs()
    fc = FeatureClustering(n_clusters=3, input_shape=(6,), clusterer=Birch(n_clusters=7, threshold=0.1)).fit(X)
    assert fc.clusterer_.n_clusters == 3 and clustering_accuracy(y, fc.labels_) == 1.0


def _subspace_shift(seed=0):
    """Two target clusters apart along dims 0-1 only, buried under larger noise in 38 other dims; the
    auxiliary rows (another distribution, no labels) vary mostly along dims 0-1."""
    rng = np.random.default_rng(seed)
    d, n = 40, 60
    y = np.repeat([0, 1], n // 2)
    X = rng.normal(0, 1.0, (n, d))
    X[:, 2:] *= 3.0  # nuisance directions dominate the target's variance and distances
    X[:, :2] += np.where(y[:, None] == 0, -2.5, 2.5)
    aux = rng.normal(0, 0.2, (2000, d))
    aux[:, :2] = rng.normal(0, 8.0, (2000, 2))
    return X.astype(np.float32), y, aux.astype(np.float32)


def test_representation_learned_on_auxiliary_rows_beats_target_only():
    X, y, aux = _subspace_shift()
    common = {"n_clusters": 2, "input_shape": (40,), "normalize": "none", "random_state": 0}
    raw = FeatureClustering(**common).fit_predict(X)
    target_pca = FeatureClustering(**common, representation="pca", representation_kwargs={"n_components": 2}).fit_predict(X)
    self_taught = FeatureClustering(
        **common, representation="pca", representation_kwargs={"n_components": 2}, representation_data="auxiliary"
    )
    assert self_taught._uses_unlabelled
    labels = self_taught.fit_predict(X, X_auxiliary=aux)
    assert clustering_accuracy(y, labels) >= 0.95
    assert clustering_accuracy(y, raw) < 0.8 and clustering_accuracy(y, target_pca) < 0.8
    assert self_taught.representation_.n_samples_ == 2000  # fitted on the auxiliary rows


def test_auxiliary_representation_needs_auxiliary_rows():
    X, _, _ = _subspace_shift()
    fc = FeatureClustering(n_clusters=2, input_shape=(40,), representation="pca", representation_data="auxiliary")
    with pytest.raises(ValueError, match="X_auxiliary"):
        fc.fit(X)
    assert not FeatureClustering(representation="pca")._uses_unlabelled
    assert not FeatureClustering(representation_data="auxiliary")._uses_unlabelled  # nothing to learn on them


def test_lsa_clusters_raw_text_by_topic():
    rng = np.random.default_rng(0)
    sport = ["goal", "match", "team", "score", "league", "player", "coach"]
    cook = ["oven", "recipe", "flour", "butter", "bake", "sugar", "dough"]
    docs = [" ".join(rng.choice(words, 8)) for words in (sport, cook) for _ in range(25)]
    y = np.repeat([0, 1], 25)
    fc = FeatureClustering(
        n_clusters=2, input_shape=None, representation="lsa",
        representation_kwargs={"min_df": 1, "max_df": 1.0, "n_components": 5}, random_state=0,
    )
    assert clustering_accuracy(y, fc.fit_predict(np.array(docs, dtype=object))) == 1.0
    assert fc.transform(np.array(docs[:3], dtype=object)).shape == (3, 5)


def test_text_errors_name_the_fix():
    docs = np.array(["a b c", "d e f"], dtype=object)
    with pytest.raises(ValueError, match="representation='lsa'"):
        FeatureClustering(n_clusters=2, input_shape=None).fit(docs)
    with pytest.raises(ValueError, match="raw text"):
        FeatureClustering(n_clusters=2, representation="lsa").fit(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="backbone=None"):
        FeatureClustering(n_clusters=2, backbone="mlp", representation="lsa").fit(docs)
    with pytest.raises(ValueError, match="Unknown representation 'umap'"):
        make_representation("umap")


def test_bad_inputs_give_clear_errors():
    X, _ = _blobs()
    with pytest.raises(ValueError, match="n_clusters=100 is larger than the 60 rows"):
        FeatureClustering(n_clusters=100, input_shape=(6,)).fit(X)
    with pytest.raises(ValueError, match="input_shape"):
        FeatureClustering(n_clusters=3, input_shape=(7,)).fit(X)
    with pytest.raises(ValueError, match="representation=None"):
        FeatureClustering(n_clusters=3, input_shape=(6,), representation_kwargs={"n_components": 2}).fit(X)
    with pytest.raises(ValueError, match="NaN"):
        FeatureClustering(n_clusters=3, input_shape=(6,)).fit(np.where(X > 5, np.nan, X))


def test_transformer_representation_is_cloned_and_deterministic():
    X, y = _blobs()
    rep = PCA(n_components=3)
    a = FeatureClustering(n_clusters=3, input_shape=(6,), representation=rep, random_state=0).fit(X)
    b = FeatureClustering(n_clusters=3, input_shape=(6,), representation=rep, random_state=0).fit(X)
    assert not hasattr(rep, "components_") and a.representation_ is not rep
    np.testing.assert_array_equal(a.labels_, b.labels_)
    assert a.transform(X).shape == (60, 3)


def test_encoder_features_cached_once(tmp_path, monkeypatch):
    import tltaxonomy.backbones.inputs as inputs

    X, _ = _blobs()
    calls = []
    real = inputs.extract_features
    monkeypatch.setattr(inputs, "extract_features", lambda *a, **k: calls.append(1) or real(*a, **k))
    common = {"n_clusters": 3, "backbone": "mlp", "input_shape": (6,), "device": "cpu", "random_state": 0, "memory": str(tmp_path)}
    a = FeatureClustering(**common, clusterer="kmeans").fit(X)
    b = FeatureClustering(**common, clusterer="gmm").fit(X)  # another clusterer: the same features
    assert len(calls) == 1
    np.testing.assert_array_equal(a.transform(X), b.transform(X))


# ---------------------------------------------------------------------------------------------
# Unsupervised model selection
# ---------------------------------------------------------------------------------------------
def test_internal_score_closed_forms():
    from sklearn.metrics import davies_bouldin_score

    from tltaxonomy.unsupervised import internal_score

    Z = np.array([[0.0], [1.0], [5.0], [6.0]])
    labels = [0, 0, 1, 1]
    # row 0: a = 1 (to row 1), b = (5 + 6) / 2 = 5.5; row 1: a = 1, b = (4 + 5) / 2 = 4.5; rows 3, 2 mirror 0, 1
    s0, s1 = (5.5 - 1) / 5.5, (4.5 - 1) / 4.5
    assert internal_score(Z, labels) == pytest.approx((s0 + s1) / 2)
    assert internal_score(Z, labels, "davies_bouldin") == pytest.approx(-davies_bouldin_score(Z, labels))
    assert internal_score(Z, [0, 0, 0, 0]) == -np.inf and internal_score(Z, [0, 1, 2, 3]) == -np.inf
    with pytest.raises(ValueError, match="Unknown criterion 'nmi'"):
        internal_score(Z, labels, "nmi")


@pytest.mark.parametrize("criterion", ["silhouette", "calinski_harabasz", "davies_bouldin"])
def test_search_finds_the_number_of_blobs_without_labels(criterion):
    from tltaxonomy.unsupervised import UnsupervisedSearch

    X, y = _blobs(n_per=30)
    est = FeatureClustering(input_shape=(6,), normalize="none", n_init=3, random_state=0)
    search = UnsupervisedSearch(est, {"n_clusters": [2, 3, 4, 6]}, criterion=criterion, random_state=0)
    labels = search.fit_predict(X, y=np.zeros(len(X)))  # y is ignored: selection never sees labels
    assert search.best_params_ == {"n_clusters": 3} and clustering_accuracy(y, labels) == 1.0
    assert search.cv_results_["rank"][search.best_index_] == 1 and len(search.cv_results_["labels"]) == 4
    np.testing.assert_array_equal(search.predict(X), labels)


def test_search_scores_every_candidate_in_one_space():
    from tltaxonomy.unsupervised import UnsupervisedSearch, internal_score

    X, _ = _blobs()
    search = UnsupervisedSearch(
        FeatureClustering(n_clusters=3, input_shape=(6,), random_state=0),
        {"clusterer": ["kmeans", "agglomerative"]}, sample_size=None,
    ).fit(X)
    Z = search.best_estimator_.transform(X)  # all candidates share the representation
    for labels, score in zip(search.cv_results_["labels"], search.cv_results_["score"]):
        assert score == pytest.approx(internal_score(Z, labels))
    if search.best_params_ == {"clusterer": "agglomerative"}:
        with pytest.raises(AttributeError, match="cannot assign new rows"):
            search.predict(X)


def test_search_errors_name_the_problem():
    from tltaxonomy.unsupervised import UnsupervisedSearch

    X, _ = _blobs()
    est = FeatureClustering(n_clusters=3, input_shape=(6,))
    with pytest.raises(ValueError, match=r"param_grid names \['k'\]"):
        UnsupervisedSearch(est, {"k": [2, 3]}).fit(X)
    with pytest.raises(ValueError, match="non-empty list"):
        UnsupervisedSearch(est, {"n_clusters": []}).fit(X)
    from sklearn.cluster import AgglomerativeClustering

    with pytest.raises(ValueError, match="space='input'"):
        UnsupervisedSearch(AgglomerativeClustering(), {"n_clusters": [2, 3]}).fit(X)
    ok = UnsupervisedSearch(AgglomerativeClustering(), {"n_clusters": [2, 3]}, space="input").fit(X)
    assert ok.best_params_ == {"n_clusters": 3}


def test_protocol_scores_the_initial_solution_of_a_refining_clusterer():
    from tltaxonomy.datasets import load_task
    from tltaxonomy.protocols import run_protocol

    class Refining(FeatureClustering):  # stands for DEC: a start (init_labels_) refined into labels_
        def fit(self, X, y=None, **kw):
            super().fit(X, **kw)
            self.init_labels_ = np.zeros_like(self.labels_)  # one cluster: NMI 0
            return self

    task = load_task("gaussian_shift", "covariate")
    metrics, _ = run_protocol(Refining(n_clusters=2, input_shape=None, random_state=0), task, {}, {})
    assert metrics["target/init_nmi"] == 0.0 and metrics["target/nmi"] > 0.0
    assert {"target/init_acc", "target/init_ari"} <= set(metrics)
    plain, _ = run_protocol(FeatureClustering(n_clusters=2, input_shape=None, random_state=0), task, {}, {})
    assert not any("init" in k for k in plain)
    from tltaxonomy.unsupervised import UnsupervisedSearch

    search = UnsupervisedSearch(FeatureClustering(n_clusters=2, input_shape=None, random_state=0), {"clusterer": ["kmeans", "gmm"]})
    _, info = run_protocol(search, task, {}, {})
    assert info["selected"]["clusterer"] in ("kmeans", "gmm")  # the record says what the search chose


def test_sparse_counts_are_clustered_without_densifying():
    import scipy.sparse as sp

    X, y = _blobs()
    Xs = sp.csr_matrix(np.maximum(X, 0))
    fc = FeatureClustering(n_clusters=3, input_shape=None, n_components=3, random_state=0).fit(Xs)
    assert clustering_accuracy(y, fc.labels_) == 1.0 and fc.transform(Xs).shape == (60, 3)
    with pytest.raises(ValueError, match=r"sparse matrix .* X.toarray\(\)"):
        FeatureClustering(n_clusters=3, backbone="mlp", input_shape=(6,)).fit(Xs)  # an encoder takes dense rows
