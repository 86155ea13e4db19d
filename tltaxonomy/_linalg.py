"""Small linear-algebra helpers shared by the statistics-alignment strategies."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["covariance", "sym_matrix_power"]


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
