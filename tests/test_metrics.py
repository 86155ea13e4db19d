"""Tests of tltaxonomy.metrics."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from tltaxonomy.metrics import accuracy, ari, clustering_accuracy, nmi


def test_accuracy():
    assert accuracy([0, 1, 1, 2], [0, 1, 2, 2]) == 0.75
    assert accuracy(["a", "b"], ["a", "b"]) == 1.0


def test_clustering_accuracy_of_a_permuted_labelling_is_one():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 7, 300)
    perm = rng.permutation(7) + 100  # other ids, permuted
    assert clustering_accuracy(y, perm[y]) == 1.0


def test_clustering_accuracy_hand_computed():
    # contingency (classes x clusters): c0 -> {k0: 2}, c1 -> {k0: 1, k1: 1}, c2 -> {k1: 2}
    # best one-to-one matching: c0-k0 (2) + c2-k1 (2) = 4 of 6
    assert clustering_accuracy([0, 0, 1, 1, 2, 2], [0, 0, 0, 1, 1, 1]) == pytest.approx(4 / 6)


def test_clustering_accuracy_with_more_clusters_than_classes():
    # 2 classes, 3 clusters: the best matching covers 2 clusters; the third cluster's row is an error
    y_true = ["a", "a", "a", "b", "b", "b"]
    y_pred = [0, 0, 2, 1, 1, 1]
    assert clustering_accuracy(y_true, y_pred) == pytest.approx(5 / 6)
    # fewer clusters than classes
    assert clustering_accuracy([0, 1, 2, 2], [0, 0, 1, 1]) == pytest.approx(3 / 4)


@pytest.mark.parametrize("seed", range(20))
def test_clustering_accuracy_matches_a_brute_force_matching(seed):
    """Every one-to-one map of clusters to classes tried (up to 5 x 5): the best equals the Hungarian one."""
    from itertools import permutations

    rng = np.random.default_rng(seed)
    n_classes, n_clusters = rng.integers(2, 6), rng.integers(2, 6)
    y_true = rng.integers(0, n_classes, rng.integers(5, 30))
    y_pred = rng.integers(0, n_clusters, len(y_true))
    classes, clusters = np.unique(y_true), np.unique(y_pred)
    best = 0
    if len(clusters) <= len(classes):  # inject the clusters into the classes
        for image in permutations(classes, len(clusters)):
            best = max(best, sum(int(np.sum((y_pred == k) & (y_true == c))) for k, c in zip(clusters, image)))
    else:  # inject the classes into the clusters
        for image in permutations(clusters, len(classes)):
            best = max(best, sum(int(np.sum((y_true == c) & (y_pred == k))) for c, k in zip(classes, image)))
    assert clustering_accuracy(y_true, y_pred) == pytest.approx(best / len(y_true))


def test_nmi_ari_agree_with_sklearn():
    rng = np.random.default_rng(1)
    y, c = rng.integers(0, 5, 200), rng.integers(0, 4, 200)
    assert nmi(y, c) == pytest.approx(normalized_mutual_info_score(y, c))
    assert ari(y, c) == pytest.approx(adjusted_rand_score(y, c))
    assert nmi(y, y) == pytest.approx(1.0) and ari(y, y) == pytest.approx(1.0)


@pytest.mark.parametrize("fn", [accuracy, clustering_accuracy, nmi, ari])
def test_metric_input_errors(fn):
    with pytest.raises(ValueError, match=f"{fn.__name__}: y_true has 3 entries but y_pred has 2"):
        fn([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match=f"{fn.__name__}: y_true and y_pred are empty"):
        fn([], [])


def test_explained_variance_closed_form_and_constant_target():
    from tltaxonomy.metrics import explained_variance

    y, p = np.array([1.0, 2.0, 4.0]), np.array([1.5, 2.0, 3.0])
    assert explained_variance(y, p) == pytest.approx(1 - 1.25 / np.sum((y - y.mean()) ** 2))
    with pytest.raises(ValueError, match="y_true is constant"):
        explained_variance([2.0, 2.0], [1.0, 2.0])
