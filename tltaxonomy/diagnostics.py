"""Diagnostics between a source and a target domain: how far apart they are, before adapting.

- :func:`proxy_a_distance` — 2 (1 - 2 err) of a domain classifier (Ben-David et al. 2007/2010);
- :func:`mmd2` — the (unbiased) squared maximum mean discrepancy with a Gaussian kernel (Gretton et al.
  2012), bandwidth by the median heuristic;
- :func:`coral_distance` — the squared Frobenius distance of the covariances, :math:`\\|C_s - C_t\\|_F^2 / (4 d^2)`
  (the CORAL loss of Sun & Saenko 2016);
- :func:`label_shift_weights` — black-box shift estimation of :math:`p_t(y) / p_s(y)` (Lipton, Wang,
  Smola 2018) from a source classifier's confusion matrix and its predictions on the target.

A large distance says that adaptation may help (or that transfer may hurt); a near-zero one that
the source model can be used as it is.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.spatial.distance import cdist

__all__ = ["coral_distance", "label_shift_weights", "mmd2", "proxy_a_distance"]


def _pair(name: str, Xs, Xt) -> tuple[np.ndarray, np.ndarray]:
    Xs = Xs.toarray() if sp.issparse(Xs) else np.asarray(Xs, dtype=np.float64)
    Xt = Xt.toarray() if sp.issparse(Xt) else np.asarray(Xt, dtype=np.float64)
    for label, X in (("Xs", Xs), ("Xt", Xt)):
        if X.ndim != 2:
            raise ValueError(f"{name}: {label} must be a 2-D array (n_samples, n_features), got shape {X.shape}.")
        if X.shape[0] < 2:
            raise ValueError(f"{name}: {label} needs at least 2 rows, got {X.shape[0]}.")
        if not np.all(np.isfinite(X)):
            raise ValueError(f"{name}: {label} contains NaN or inf; impute or drop those rows first.")
    if Xs.shape[1] != Xt.shape[1]:
        raise ValueError(
            f"{name}: Xs has {Xs.shape[1]} features and Xt has {Xt.shape[1]}; both domains must share one feature space."
        )
    return Xs.astype(np.float64), Xt.astype(np.float64)


def proxy_a_distance(Xs, Xt, *, estimator=None, cv: int = 5, random_state: int | None = 0) -> float:
    r"""Proxy :math:`\mathcal A`-distance: :math:`2(1 - 2\epsilon)`, :math:`\epsilon` the cross-validated
    error of a classifier that tells the source rows from the target rows.

    0 when the domains cannot be told apart (error 0.5), 2 when they are separable. The two domains
    are subsampled to the same size so that chance is 0.5.

    Parameters
    ----------
    Xs, Xt : array-like of shape (n_source, d), (n_target, d)
    estimator : sklearn classifier, optional
        The domain classifier; default a linear SVM on standardised features (Ben-David et al.).
    cv : int, default=5
        Stratified folds of the cross-validation.
    random_state : int or None, default=0
        Seed of the subsampling and the folds.

    References
    ----------
    .. [1] S. Ben-David, J. Blitzer, K. Crammer, F. Pereira. "Analysis of Representations for Domain
       Adaptation". NeurIPS 2007.
    """
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    Xs, Xt = _pair("proxy_a_distance", Xs, Xt)
    rng = np.random.default_rng(random_state)
    n = min(len(Xs), len(Xt))
    if n < cv:
        raise ValueError(f"proxy_a_distance: each domain needs at least cv={cv} rows, got {n}; lower cv.")
    Xs = Xs[rng.choice(len(Xs), n, replace=False)]
    Xt = Xt[rng.choice(len(Xt), n, replace=False)]
    X = np.vstack([Xs, Xt])
    d = np.r_[np.zeros(n), np.ones(n)]
    est = estimator if estimator is not None else make_pipeline(StandardScaler(), LinearSVC(C=1.0, max_iter=5000))
    folds = StratifiedKFold(cv, shuffle=True, random_state=random_state)
    err = 1.0 - float(np.mean(cross_val_score(est, X, d, cv=folds)))
    return float(2.0 * (1.0 - 2.0 * min(err, 0.5)))


def mmd2(Xs, Xt, *, bandwidth: float | None = None, max_rows: int = 2000, random_state: int | None = 0) -> float:
    r"""Unbiased squared MMD with the Gaussian kernel :math:`k(a, b) = \exp(-\|a - b\|^2 / (2 h^2))`.

    .. math:: \widehat{\mathrm{MMD}}^2 = \frac{1}{m(m-1)}\sum_{i \ne j} k(s_i, s_j)
              + \frac{1}{n(n-1)}\sum_{i \ne j} k(t_i, t_j) - \frac{2}{mn}\sum_{i,j} k(s_i, t_j)

    Parameters
    ----------
    Xs, Xt : array-like
    bandwidth : float, optional
        :math:`h`; default the median of the pairwise distances of the pooled rows (median heuristic).
    max_rows : int, default=2000
        Each domain is subsampled to at most this many rows (the cost is quadratic).
    random_state : int or None, default=0
        Seed of the subsampling.

    References
    ----------
    .. [1] A. Gretton, K. Borgwardt, M. Rasch, B. Schölkopf, A. Smola. "A Kernel Two-Sample Test".
       JMLR 13, 2012.
    """
    Xs, Xt = _pair("mmd2", Xs, Xt)
    rng = np.random.default_rng(random_state)
    if len(Xs) > max_rows:
        Xs = Xs[rng.choice(len(Xs), max_rows, replace=False)]
    if len(Xt) > max_rows:
        Xt = Xt[rng.choice(len(Xt), max_rows, replace=False)]
    Dss, Dtt, Dst = cdist(Xs, Xs, "sqeuclidean"), cdist(Xt, Xt, "sqeuclidean"), cdist(Xs, Xt, "sqeuclidean")
    if bandwidth is None:
        pooled = np.concatenate([Dss[np.triu_indices_from(Dss, 1)], Dtt[np.triu_indices_from(Dtt, 1)], Dst.ravel()])
        bandwidth = float(np.sqrt(np.median(pooled))) or 1.0
    elif not bandwidth > 0:
        raise ValueError(f"mmd2: bandwidth must be > 0, got {bandwidth!r}.")
    g = -1.0 / (2.0 * bandwidth**2)
    Kss, Ktt, Kst = np.exp(g * Dss), np.exp(g * Dtt), np.exp(g * Dst)
    m, n = len(Xs), len(Xt)
    return float(
        (Kss.sum() - np.trace(Kss)) / (m * (m - 1)) + (Ktt.sum() - np.trace(Ktt)) / (n * (n - 1)) - 2.0 * Kst.mean()
    )


def coral_distance(Xs, Xt) -> float:
    r"""CORAL distance :math:`\frac{1}{4d^2}\|C_s - C_t\|_F^2` of the two feature covariances (Sun & Saenko 2016)."""
    Xs, Xt = _pair("coral_distance", Xs, Xt)
    d = Xs.shape[1]
    return float(np.sum((np.cov(Xs, rowvar=False).reshape(d, d) - np.cov(Xt, rowvar=False).reshape(d, d)) ** 2) / (4 * d * d))


def label_shift_weights(y_source_true, y_source_pred, y_target_pred, *, n_classes: int | None = None,
                        rcond: float = 1e-6) -> np.ndarray:
    r"""Black-box shift estimation (Lipton, Wang, Smola, ICML 2018) of :math:`w_y = p_t(y) / p_s(y)`.

    With :math:`C_{ij} = \hat p_s(\hat y = i, y = j)`, the confusion of a source classifier on held-out
    labelled source rows, and :math:`\mu_i = \hat p_t(\hat y = i)`, its prediction frequencies on the
    target, label shift gives :math:`\mu = C w`; the least-squares solution is clipped at 0.

    Parameters
    ----------
    y_source_true, y_source_pred : array-like of int
        Held-out source labels and the classifier's predictions of them (classes ``0..K-1``).
    y_target_pred : array-like of int
        The classifier's predictions on the (unlabelled) target rows.
    n_classes : int, optional
        K; default the largest class index seen, plus one.
    rcond : float, default=1e-6
        Cut-off of the least-squares solve (a near-singular confusion matrix means a classifier too weak
        to estimate the shift).

    Returns
    -------
    ndarray of shape (n_classes,)
        Importance weight of each class; all ones when the label distributions agree.
    """
    ys, ps, pt = (np.asarray(a, dtype=np.int64).ravel() for a in (y_source_true, y_source_pred, y_target_pred))
    if ys.shape != ps.shape:
        raise ValueError(f"label_shift_weights: y_source_true and y_source_pred differ in length ({ys.size} vs {ps.size}).")
    if ys.size == 0 or pt.size == 0:
        raise ValueError("label_shift_weights: needs held-out source rows and target predictions; one of them is empty.")
    k = int(n_classes) if n_classes is not None else int(max(ys.max(), ps.max(), pt.max())) + 1
    if min(ys.min(), ps.min(), pt.min()) < 0 or max(ys.max(), ps.max(), pt.max()) >= k:
        raise ValueError(f"label_shift_weights: labels must be integers in 0..{k - 1}.")
    C = np.zeros((k, k))
    np.add.at(C, (ps, ys), 1.0)
    C /= ys.size
    mu = np.bincount(pt, minlength=k) / pt.size
    w, *_ = np.linalg.lstsq(C, mu, rcond=rcond)
    return np.clip(w, 0.0, None)
