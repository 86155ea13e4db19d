r"""Evaluation metrics: classification accuracy, explained variance, clustering agreement (ACC, NMI,
ARI) and the multi-task relative improvement :math:`\Delta_p`."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix

__all__ = ["accuracy", "explained_variance", "delta_p", "clustering_accuracy", "nmi", "ari"]


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


def explained_variance(y_true, y_pred) -> float:
    r"""Explained variance :math:`1 - \sum_i (y_i - \hat y_i)^2 / \sum_i (y_i - \bar y)^2`.

    The School benchmark's metric (Bakker & Heskes 2003; Argyriou, Evgeniou & Pontil 2008), there
    pooled over the test students of every school; equal to sklearn's ``r2_score``.

    Examples
    --------
    >>> explained_variance([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])
    0.5
    """
    y_true, y_pred = _check_pair("explained_variance", y_true, y_pred)
    y_true, y_pred = y_true.astype(np.float64), y_pred.astype(np.float64)
    sst = float(np.sum((y_true - y_true.mean()) ** 2))
    if sst == 0.0:
        raise ValueError("explained_variance: y_true is constant, so the variance to explain is 0.")
    return 1.0 - float(np.sum((y_true - y_pred) ** 2)) / sst


def delta_p(multi, single, lower_is_better=None) -> float:
    r"""The relative improvement of a multi-task model over single-task baselines (Maninis et al. 2019).

    .. math:: \Delta_p = \frac{1}{T} \sum_{t=1}^{T} (-1)^{l_t} \frac{M_{m,t} - M_{b,t}}{M_{b,t}}

    with :math:`l_t = 1` when lower is better for metric :math:`t`. Returned as a fraction (x 100 for %).

    Parameters
    ----------
    multi, single : sequence of float
        The multi-task model's and the single-task baselines' metric per task.
    lower_is_better : sequence of bool, optional
        Per task (default: higher is better everywhere).

    Examples
    --------
    >>> round(delta_p([0.9, 0.8], [0.8, 0.8]), 4)
    0.0625

    References
    ----------
    K.-K. Maninis, I. Radosavovic, I. Kokkinos. Attentive single-tasking of multiple tasks. CVPR 2019.
    """
    m, b = np.asarray(multi, dtype=np.float64).ravel(), np.asarray(single, dtype=np.float64).ravel()
    if m.shape != b.shape or m.size == 0:
        raise ValueError(f"delta_p: multi has {m.size} values and single has {b.size}; pass one value per task for both.")
    if np.any(b == 0):
        raise ValueError("delta_p: a single-task baseline is 0, so the relative change is undefined.")
    sign = np.ones_like(m) if lower_is_better is None else np.where(np.asarray(lower_is_better, dtype=bool), -1.0, 1.0)
    if sign.shape != m.shape:
        raise ValueError(f"delta_p: lower_is_better has {sign.size} entries for {m.size} tasks.")
    return float(np.mean(sign * (m - b) / b))


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
