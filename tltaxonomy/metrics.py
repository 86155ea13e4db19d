"""Evaluation metrics: classification accuracy and clustering agreement (ACC, NMI, ARI)."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix

__all__ = ["accuracy", "clustering_accuracy", "nmi", "ari"]


def _check_pair(name: str, y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"{name}: y_true has {y_true.shape[0]} entries but y_pred has {y_pred.shape[0]}; pass one prediction per sample."
        )
    if y_true.size == 0:
        raise ValueError(f"{name}: y_true and y_pred are empty; pass at least one sample.")
    return y_true, y_pred


def accuracy(y_true, y_pred) -> float:
    r"""Fraction of correct predictions, :math:`\frac{1}{n}\sum_i [\hat y_i = y_i]`.

    Examples
    --------
    >>> accuracy([0, 1, 1, 2], [0, 1, 2, 2])
    0.75
    """
    y_true, y_pred = _check_pair("accuracy", y_true, y_pred)
    return float(np.mean(y_true == y_pred))


def clustering_accuracy(y_true, y_pred) -> float:
    r"""Clustering accuracy: accuracy under the best one-to-one matching of clusters to classes.

    .. math:: \mathrm{ACC} = \max_{m} \frac{1}{n} \sum_{i=1}^{n} [\, y_i = m(c_i) \,]

    where :math:`m` ranges over injective maps between cluster ids and classes, found by the
    Hungarian algorithm on the contingency matrix. With more clusters than classes the unmatched
    clusters count as errors (and vice versa), so ``ACC <= 1`` with equality only for a perfect
    one-to-one labelling.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Ground-truth classes (any values).
    y_pred : array-like of shape (n_samples,)
        Cluster ids (any values).

    References
    ----------
    .. [1] Xie, Girshick, Farhadi. "Unsupervised Deep Embedding for Clustering Analysis." ICML 2016.

    Examples
    --------
    >>> clustering_accuracy([0, 0, 1, 1], [1, 1, 0, 0])
    1.0
    >>> clustering_accuracy([0, 0, 1, 1, 2, 2], [0, 0, 0, 1, 1, 1])
    0.6666666666666666
    """
    y_true, y_pred = _check_pair("clustering_accuracy", y_true, y_pred)
    counts = contingency_matrix(y_true, y_pred)  # classes x clusters
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, cols].sum() / y_true.size)


def nmi(y_true, y_pred) -> float:
    r"""Normalised mutual information (arithmetic normalisation, sklearn's default).

    .. math:: \mathrm{NMI}(Y, C) = \frac{I(Y; C)}{\tfrac12 (H(Y) + H(C))}
    """
    y_true, y_pred = _check_pair("nmi", y_true, y_pred)
    return float(normalized_mutual_info_score(y_true, y_pred))


def ari(y_true, y_pred) -> float:
    """Adjusted Rand index (Hubert & Arabie 1985): pair-counting agreement corrected for chance."""
    y_true, y_pred = _check_pair("ari", y_true, y_pred)
    return float(adjusted_rand_score(y_true, y_pred))
