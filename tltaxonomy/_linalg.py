"""Small linear-algebra helpers shared by the statistics-alignment strategies."""

from __future__ import annotations

import functools
import hashlib
from collections import OrderedDict

import numpy as np
import scipy.sparse as sp

__all__ = ["content_key", "covariance", "memoize_on_content", "regularized_covariance_power", "sym_matrix_power"]


def content_key(value) -> object:
    """A hashable key of ``value``'s content: arrays (dense or sparse) by a BLAKE2 digest of their
    bytes, shape and dtype; other values as they are."""
    if sp.issparse(value):
        value = sp.csr_matrix(value)
        h = hashlib.blake2b(digest_size=16)
        for part in (value.data, value.indices, value.indptr):
            h.update(np.ascontiguousarray(part).tobytes())
        return ("csr", value.shape, str(value.dtype), h.hexdigest())
    if isinstance(value, np.ndarray):
        digest = hashlib.blake2b(np.ascontiguousarray(value).tobytes(), digest_size=16).hexdigest()
        return ("nd", value.shape, str(value.dtype), digest)
    return value


def memoize_on_content(maxsize: int = 16):
    """Memoise a pure function of arrays by the *content* of its arguments (LRU, per process).

    A table's seeds share their target domain: the standard protocol fits a strategy 20 times with a
    new source draw and the same target rows, so target-only quantities (a PCA basis, a covariance
    square root) are computed once per process instead of once per fit. Results are returned
    read-only, so a caller cannot corrupt the cache; hashing a 1000 x 800 array takes a few ms, against
    the 0.1-0.2 s of the eigendecomposition it saves. ``fn.cache_clear()`` empties the cache.
    """

    def decorate(fn):
        cache: OrderedDict = OrderedDict()

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            key = (tuple(content_key(a) for a in args), tuple(sorted((k, content_key(v)) for k, v in kwargs.items())))
            if key in cache:
                cache.move_to_end(key)
                return cache[key]
            result = fn(*args, **kwargs)
            for arr in result if isinstance(result, tuple) else (result,):
                if isinstance(arr, np.ndarray):
                    arr.flags.writeable = False
            cache[key] = result
            if len(cache) > maxsize:
                cache.popitem(last=False)
            return result

        wrapper.cache_clear = cache.clear
        return wrapper

    return decorate


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


@memoize_on_content()
def regularized_covariance_power(X, reg: float, p: float) -> np.ndarray:
    r"""``(cov(X) + reg·I)**p`` (``ddof=1``), exactly, at the cost of the smaller side of ``X``.

    With fewer rows than features (:math:`n - 1 < d`), the covariance has rank at most :math:`n-1`:
    with the thin SVD of the centred rows :math:`X_c = U S V^\top`, its eigenvalues are
    :math:`s_i^2/(n-1)` on :math:`V` and 0 elsewhere, so

    .. math:: (\operatorname{cov}(X) + \lambda I)^p = \lambda^p I + V \operatorname{diag}\big((s^2/(n-1) + \lambda)^p - \lambda^p\big) V^\top,

    an :math:`O(n^2 d)` computation instead of the :math:`O(d^3)` eigendecomposition (the CORAL
    standard protocol has 200 labelled source rows of 800 features). Otherwise (or with ``reg=0``)
    the full eigendecomposition is used (:func:`sym_matrix_power`). The result is read-only and
    memoised on the content of ``X`` (:func:`memoize_on_content`).
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
