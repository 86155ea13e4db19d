"""Transferability scores: how well a pretrained model suits a target task, before any fine-tuning.

Each score needs only a forward pass of the pretrained model over the labelled target rows:

- :func:`logme` — the log marginal evidence of a Bayesian linear model on the features (You et al. 2021);
- :func:`h_score` — the ratio of between-class to total feature covariance (Bao et al. 2019);
- :func:`leep` — the log expected empirical prediction of the source classifier's soft labels
  (Nguyen et al. 2020);
- :func:`nce` — the negative conditional entropy of the target labels given the source model's hard
  labels (Tran et al. 2019).

Higher is better for all four. They rank candidate pretrained models (or layers) for one target
task; their values are not comparable across tasks.
"""

from __future__ import annotations

import numpy as np

__all__ = ["h_score", "leep", "logme", "nce"]


def _check_labels(name: str, y, n: int) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"{name}: y must be 1-D with one label per row ({n}), got shape {y.shape}.")
    classes, y_enc = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise ValueError(f"{name}: y holds a single class ({classes[0]!r}); a transferability score needs at least 2.")
    return classes, y_enc


def _check_features(name: str, X, *, min_rows: int = 2) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"{name}: features must be a 2-D array (n_samples, n_features), got shape {X.shape}.")
    if X.shape[0] < min_rows:
        raise ValueError(f"{name}: needs at least {min_rows} rows, got {X.shape[0]}.")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name}: features contain NaN or inf; check the model's outputs.")
    return X


def _logme_one(sigma: np.ndarray, u_t_y: np.ndarray, y_norm2: float, n: int, d: int,
               max_iter: int, tol: float) -> tuple[float, float, float]:
    """Evidence maximisation of one target column; returns (evidence / n, alpha, beta)."""
    # In the eigenbasis of F^T F (eigenvalues sigma, length min(n, d), zero-padded to d for the prior),
    # m^T m and ||F m - y||^2 have closed forms; alpha, beta follow MacKay's fixed point.
    alpha, beta = 1.0, 1.0
    z2 = u_t_y**2  # (U^T y)^2 over the non-null directions
    residual_null = max(y_norm2 - float(z2.sum()), 0.0)  # the part of y outside the column space of F
    for _ in range(max_iter):
        t = alpha / beta
        gamma = float(np.sum(sigma / (sigma + t)))
        m2 = float(np.sum(sigma * z2 / (sigma + t) ** 2))
        res2 = float(np.sum(z2 * (t / (sigma + t)) ** 2)) + residual_null
        new_alpha = gamma / max(m2, 1e-300)
        new_beta = (n - gamma) / max(res2, 1e-300)
        converged = abs(new_alpha / new_beta - t) / t < tol
        alpha, beta = new_alpha, new_beta
        if converged:
            break
    t = alpha / beta
    m2 = float(np.sum(sigma * z2 / (sigma + t) ** 2))
    res2 = float(np.sum(z2 * (t / (sigma + t)) ** 2)) + residual_null
    # log|A| with A = alpha I_d + beta F^T F: the d - len(sigma) null directions contribute log alpha each
    logdet = float(np.sum(np.log(alpha + beta * sigma))) + (d - sigma.size) * np.log(alpha)
    evidence = (
        n / 2 * np.log(beta) + d / 2 * np.log(alpha) - n / 2 * np.log(2 * np.pi)
        - beta / 2 * res2 - alpha / 2 * m2 - logdet / 2
    )
    return float(evidence / n), alpha, beta


def logme(features, y, *, max_iter: int = 100, tol: float = 1e-4) -> float:
    r"""LogME (You, Liu, Wang, Long, ICML 2021): the mean log evidence of a Bayesian linear model.

    For each class :math:`k`, with the one-hot column :math:`y_k`, the model
    :math:`y_k = F w + \epsilon`, :math:`w \sim \mathcal N(0, \alpha^{-1} I)`,
    :math:`\epsilon \sim \mathcal N(0, \beta^{-1} I)` has the evidence

    .. math:: \log p(y_k \mid F, \alpha, \beta) = \frac{n}{2}\log\beta + \frac{d}{2}\log\alpha
              - \frac{n}{2}\log 2\pi - \frac{\beta}{2}\|F m - y_k\|^2 - \frac{\alpha}{2} m^\top m
              - \frac{1}{2}\log|A|,

    :math:`A = \alpha I + \beta F^\top F`, :math:`m = \beta A^{-1} F^\top y_k`, maximised over
    :math:`\alpha, \beta` by MacKay's fixed-point iteration (in the eigenbasis of :math:`F^\top F`, so
    one SVD serves every class). The score is the mean over classes of the maximum, divided by
    :math:`n`.

    Parameters
    ----------
    features : array-like of shape (n_samples, n_features)
        The pretrained model's features of the labelled target rows.
    y : array-like of shape (n_samples,)
        Their labels (any values; at least 2 classes).
    max_iter : int, default=100
        Fixed-point iterations per class.
    tol : float, default=1e-4
        Relative change of :math:`\alpha/\beta` that stops the iteration.

    Returns
    -------
    float
        Higher = the features fit the labels with a simpler linear model.

    References
    ----------
    .. [1] K. You, Y. Liu, J. Wang, M. Long. "LogME: Practical Assessment of Pre-trained Models for
       Transfer Learning". ICML 2021.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1], 50)
    >>> good = np.c_[y + 0.1 * rng.normal(size=100), rng.normal(size=(100, 4))]
    >>> bad = rng.normal(size=(100, 5))
    >>> logme(good, y) > logme(bad, y)
    True
    """
    F = _check_features("logme", features)
    n, d = F.shape
    _, y_enc = _check_labels("logme", y, n)
    U, s, _ = np.linalg.svd(F, full_matrices=False)
    keep = s > s.max() * max(n, d) * np.finfo(float).eps if s.size else s.astype(bool)
    U, sigma = U[:, keep], s[keep] ** 2
    scores = []
    for k in range(int(y_enc.max()) + 1):
        yk = (y_enc == k).astype(np.float64)
        scores.append(_logme_one(sigma, U.T @ yk, float(yk @ yk), n, d, max_iter, tol)[0])
    return float(np.mean(scores))


def h_score(features, y) -> float:
    r"""H-score (Bao et al., ICIP 2019): :math:`\operatorname{tr}(\operatorname{cov}(f)^{+}\,\operatorname{cov}(\mathbb E[f \mid y]))`.

    The between-class covariance of the features measured in the metric of their total covariance
    (pseudo-inverse, so collinear features are allowed): large when the classes are far apart
    relative to the spread of the features.

    Parameters
    ----------
    features : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)

    Returns
    -------
    float
        At most ``min(n_features, n_classes - 1)``.

    References
    ----------
    .. [1] Y. Bao, Y. Li, S.-L. Huang, L. Zhang, L. Zheng, A. Zamir, L. Guibas. "An Information-Theoretic
       Approach to Transferability in Task Transfer Learning". ICIP 2019.
    """
    F = _check_features("h_score", features)
    _, y_enc = _check_labels("h_score", y, F.shape[0])
    Fc = F - F.mean(axis=0)
    cov_f = Fc.T @ Fc / F.shape[0]
    means = np.zeros_like(Fc)
    for k in range(int(y_enc.max()) + 1):
        rows = y_enc == k
        means[rows] = Fc[rows].mean(axis=0)
    cov_g = means.T @ means / F.shape[0]
    return float(np.trace(np.linalg.pinv(cov_f, hermitian=True) @ cov_g))


def _check_probs(name: str, P) -> np.ndarray:
    P = _check_features(name, P, min_rows=1)
    if np.any(P < 0) or not np.allclose(P.sum(axis=1), 1.0, atol=1e-4):
        raise ValueError(
            f"{name}: source_probs must be probabilities (non-negative rows summing to 1), e.g. the softmax of "
            "the source model's logits."
        )
    return P


def leep(source_probs, y) -> float:
    r"""LEEP (Nguyen, Hassner, Seeger, Archambeau, ICML 2020): log expected empirical prediction.

    With :math:`\theta(x_i)` the source classifier's probabilities over its own classes :math:`z`,
    the empirical joint :math:`\hat P(y, z) = \frac{1}{n}\sum_i \theta(x_i)_z [y_i = y]` gives the
    "dummy" classifier :math:`\hat P(y \mid z)`, and

    .. math:: \mathrm{LEEP} = \frac{1}{n}\sum_{i=1}^n \log \sum_z \hat P(y_i \mid z)\, \theta(x_i)_z.

    Parameters
    ----------
    source_probs : array-like of shape (n_samples, n_source_classes)
        The source model's predicted probabilities on the labelled target rows.
    y : array-like of shape (n_samples,)
        Target labels.

    Returns
    -------
    float
        A log-likelihood (at most 0).

    References
    ----------
    .. [1] C. V. Nguyen, T. Hassner, M. Seeger, C. Archambeau. "LEEP: A New Measure to Evaluate
       Transferability of Learned Representations". ICML 2020.
    """
    P = _check_probs("leep", source_probs)
    _, y_enc = _check_labels("leep", y, P.shape[0])
    n = P.shape[0]
    Y = np.eye(int(y_enc.max()) + 1)[y_enc]  # (n, n_target)
    joint = Y.T @ P / n  # (n_target, n_source)
    p_z = joint.sum(axis=0, keepdims=True)
    cond = np.divide(joint, p_z, out=np.zeros_like(joint), where=p_z > 0)  # P(y | z)
    eep = np.einsum("iz,iz->i", P, cond[y_enc])
    return float(np.mean(np.log(np.maximum(eep, 1e-300))))


def nce(source_labels, y) -> float:
    r"""NCE (Tran, Nguyen, Hassner, ICCV 2019): the negative conditional entropy :math:`-H(Y \mid Z)`.

    :math:`Z` is the source model's hard prediction (or any source labelling) of each target row; the
    empirical joint of :math:`(y, z)` gives :math:`-H(Y \mid Z) = \sum_{y,z} \hat P(y, z) \log \hat P(y \mid z)`.

    Parameters
    ----------
    source_labels : array-like of shape (n_samples,)
        Source labels of the target rows (e.g. ``argmax`` of the source classifier).
    y : array-like of shape (n_samples,)
        Target labels.

    Returns
    -------
    float
        At most 0 (0 when the source labels determine the target labels).

    References
    ----------
    .. [1] A. T. Tran, C. V. Nguyen, T. Hassner. "Transferability and Hardness of Supervised
       Classification Tasks". ICCV 2019.
    """
    z = np.asarray(source_labels)
    if z.ndim != 1:
        raise ValueError(f"nce: source_labels must be 1-D (one source label per row), got shape {z.shape}.")
    _, y_enc = _check_labels("nce", y, z.shape[0])
    _, z_enc = np.unique(z, return_inverse=True)
    joint = np.zeros((int(y_enc.max()) + 1, int(z_enc.max()) + 1))
    np.add.at(joint, (y_enc, z_enc), 1.0)
    joint /= joint.sum()
    p_z = joint.sum(axis=0, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(joint > 0, joint * np.log(joint / p_z), 0.0)
    return float(terms.sum())
