"""Small linear-algebra helpers shared by the statistics-alignment strategies."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["covariance", "regularized_covariance_power", "sym_matrix_power"]


def covariance(X) -> np.ndarray:
    """Unbiased covariance (``ddof=1``, as MATLAB's ``cov``) of the rows of dense or sparse ``X``.

    For sparse ``X`` it is computed as ``(XᵀX - n μμᵀ) / (n-1)`` without densifying ``X``.
    """
    n = X.shape[0]
    if n < 2:
        raise ValueError(f"A covariance needs at least 2 rows, got {n}.")
    if sp.issparse(X):
        mu = np.asarray(X.mean(axis=0)).ravel()
        gram = np.asarray((X.T @ X).todense())
        return (gram - n * np.outer(mu, mu)) / (n - 1)
    return np.cov(X, rowvar=False, ddof=1)


def sym_matrix_power(C: np.ndarray, p: float, *, eps: float = 1e-12) -> np.ndarray:
    """``C**p`` for a symmetric positive semi-definite matrix, by eigendecomposition.

    Eigenvalues are clipped at ``eps * max(eigenvalue)`` so that negative powers of a singular
    matrix stay finite.
    """
    C = np.asarray(C, dtype=float)
    w, V = np.linalg.eigh((C + C.T) / 2)
    w = np.clip(w, eps * max(w.max(), eps), None)
    return (V * w**p) @ V.T


def regularized_covariance_power(X, reg: float, p: float) -> np.ndarray:
    r"""``(cov(X) + reg·I)**p`` (``ddof=1``), exactly, at the cost of the smaller side of ``X``.

    With fewer rows than features (:math:`n - 1 < d`), the covariance has rank at most :math:`n-1`:
    with the thin SVD of the centred rows :math:`X_c = U S V^\top`, its eigenvalues are
    :math:`s_i^2/(n-1)` on :math:`V` and 0 elsewhere, so

    .. math:: (\operatorname{cov}(X) + \lambda I)^p = \lambda^p I + V \operatorname{diag}\big((s^2/(n-1) + \lambda)^p - \lambda^p\big) V^\top,

    an :math:`O(n^2 d)` computation instead of the :math:`O(d^3)` eigendecomposition (the CORAL
    standard protocol has 200 labelled source rows of 800 features). Otherwise (or with ``reg=0``)
    the full eigendecomposition is used (:func:`sym_matrix_power`).
    """
    n, d = X.shape
    if n < 2:
        raise ValueError(f"A covariance needs at least 2 rows, got {n}.")
    if reg > 0 and n - 1 < d:
        Xd = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=float)
        Xc = Xd - Xd.mean(axis=0)
        _, s, Vt = np.linalg.svd(Xc, full_matrices=False)
        lam = s**2 / (n - 1)
        out = (Vt.T * ((lam + reg) ** p - reg**p)) @ Vt
        out[np.diag_indices_from(out)] += reg**p
        return out
    return sym_matrix_power(covariance(X) + reg * np.eye(d), p)
