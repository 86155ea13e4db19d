"""Small linear-algebra helpers shared by the transductive strategies: content memoisation, streaming
covariances, the memory guard of the exact kernel methods and the Nyström feature map of their
approximate variants."""

from __future__ import annotations

import functools
import hashlib
import os
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ._errors import InsufficientMemoryError

__all__ = [
    "EXACT_KERNEL_MAX_ROWS",
    "NystroemMap",
    "available_memory_bytes",
    "check_dense_memory",
    "content_key",
    "covariance",
    "memoize_on_content",
    "nystroem_map",
    "regularized_covariance_power",
    "resolve_approximation",
    "scatter_matrix",
    "sym_matrix_power",
]

#: Rows per block of the streaming (chunked) computations: 8192 rows x 256 float64 features = 16 MiB.
CHUNK_ROWS = 8192


def content_key(value) -> object:
    """A hashable key of ``value``'s content: arrays (dense or sparse) by a SHA-256 digest of their
    bytes, shape and dtype; other values as they are. SHA-256 rather than BLAKE2: CPUs with the SHA
    extensions (x86 since 2017, ARMv8) hash twice as fast with it (3.5 ms against 7.3 ms for a
    1000 x 800 float64 array), and the digest is as collision-resistant."""
    if sp.issparse(value):
        value = sp.csr_matrix(value)
        h = hashlib.sha256()
        for part in (value.data, value.indices, value.indptr):
            h.update(np.ascontiguousarray(part).tobytes())
        return ("csr", value.shape, str(value.dtype), h.hexdigest())
    if isinstance(value, np.ndarray):
        arr = np.ascontiguousarray(value)
        try:  # hash the buffer in place: ``tobytes()`` would copy a 1M x 256 array (2 GB) first
            data = memoryview(arr).cast("B")
        except (TypeError, ValueError):  # object arrays and other buffers memoryview cannot cast
            data = arr.tobytes()
        digest = hashlib.sha256(data).hexdigest()
        return ("nd", value.shape, str(value.dtype), digest)
    return value


#: Arguments larger than this (values, dense or stored sparse) bypass :func:`memoize_on_content`.
MEMO_MAX_ELEMENTS = 1 << 24


def _n_values(value) -> int:
    if sp.issparse(value):
        return int(value.nnz)
    return int(value.size) if isinstance(value, np.ndarray) else 0


def memoize_on_content(maxsize: int = 16):
    """Memoise a pure function of arrays by the *content* of its arguments (LRU, per process).

    A table's seeds share their target domain: the standard protocol fits a strategy 20 times with a
    new source draw and the same target rows, so target-only quantities (a PCA basis, a covariance
    square root) are computed once per process instead of once per fit. Results are returned
    read-only, so a caller cannot corrupt the cache; hashing a 1000 x 800 array takes a few ms, against
    the 0.1-0.2 s of the eigendecomposition it saves. Arguments holding more than
    :data:`MEMO_MAX_ELEMENTS` values in all are not hashed (nor cached): at 1M x 256 rows hashing costs
    as much as the streamed covariance it would save, and such arrays are not refitted 20 times.
    ``fn.cache_clear()`` empties the cache.
    """

    def decorate(fn):
        cache: OrderedDict = OrderedDict()

        def read_only(result):
            for arr in result if isinstance(result, tuple) else (result,):
                if isinstance(arr, np.ndarray):
                    arr.flags.writeable = False
            return result

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if sum(_n_values(a) for a in (*args, *kwargs.values())) > MEMO_MAX_ELEMENTS:
                return read_only(fn(*args, **kwargs))
            key = (tuple(content_key(a) for a in args), tuple(sorted((k, content_key(v)) for k, v in kwargs.items())))
            if key in cache:
                cache.move_to_end(key)
                return cache[key]
            result = read_only(fn(*args, **kwargs))
            cache[key] = result
            if len(cache) > maxsize:
                cache.popitem(last=False)
            return result

        wrapper.cache_clear = cache.clear
        return wrapper

    return decorate


def scatter_matrix(X, *, chunk_rows: int = CHUNK_ROWS) -> tuple[np.ndarray, np.ndarray]:
    r"""Mean and scatter matrix :math:`S = (X - \mathbf 1\mu^\top)^\top (X - \mathbf 1\mu^\top)` of the rows
    of dense or sparse ``X``, streamed: memory :math:`O(d^2 + \text{chunk\_rows} \cdot d)`, never a centred
    copy of ``X``.

    Dense ``X``: one pass for :math:`\mu` (float64 accumulation), then
    :math:`S = \sum_b (X_b - \mu)^\top (X_b - \mu)` over blocks of ``chunk_rows`` rows (each block
    centred exactly in float64, so there is no :math:`X^\top X - n\mu\mu^\top` cancellation; float32
    input is never copied whole to float64). Sparse ``X``: :math:`X^\top X - n \mu\mu^\top` without
    densifying ``X``.

    Returns
    -------
    mean : ndarray of shape (d,)
    S : ndarray of shape (d, d)
    """
    n, d = X.shape
    if sp.issparse(X):
        mu = np.asarray(X.mean(axis=0), dtype=np.float64).ravel()
        gram = np.asarray((X.T @ X).todense(), dtype=np.float64)
        return mu, gram - n * np.outer(mu, mu)
    X = np.asarray(X)
    mu = X.mean(axis=0, dtype=np.float64)
    S = np.zeros((d, d))
    for start in range(0, n, int(chunk_rows)):
        block = X[start : start + int(chunk_rows)].astype(np.float64, copy=True)
        block -= mu
        S += block.T @ block  # symmetric: numpy computes A.T @ A with a symmetric rank-k update
    return mu, S


def covariance(X) -> np.ndarray:
    """Unbiased covariance (``ddof=1``, as MATLAB's ``cov``) of the rows of dense or sparse ``X``.

    Streamed by :func:`scatter_matrix` (no centred copy of ``X``; sparse ``X`` is never densified).
    """
    n = X.shape[0]
    if n < 2:
        raise ValueError(f"A covariance needs at least 2 rows, got {n}.")
    return scatter_matrix(X)[1] * np.true_divide(1, n - 1)  # as np.cov, to the last bit below CHUNK_ROWS rows


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


# ---------------------------------------------------------------------------------------------------
# Memory guard of the exact kernel methods
# ---------------------------------------------------------------------------------------------------
#: ``approximation="auto"`` keeps the exact kernel methods up to this many rows (source + target):
#: every published table of this toolkit that runs TCA / JDA / BDA / KMM (Office-Caltech SURF, the
#: JDA digits, Amazon mSDA-400: at most about 4 000 rows) stays exact, and its numbers unchanged.
EXACT_KERNEL_MAX_ROWS = 10_000

_GB = 1024**3


def available_memory_bytes() -> int | None:
    """Memory that a new allocation can use now, in bytes, or ``None`` if unknown.

    ``MemAvailable`` of ``/proc/meminfo`` on Linux (free memory plus the reclaimable page cache);
    otherwise the free physical pages of ``os.sysconf`` (an underestimate); ``None`` where neither
    exists, in which case the memory guard does not refuse.
    """
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def check_dense_memory(who: str, what: str, shape: tuple[int, ...], *, copies: float = 1.0, fix: str) -> None:
    """Refuse *before* allocating: raise :class:`~tltaxonomy._errors.InsufficientMemoryError` if
    ``copies`` float64 arrays of ``shape`` need more than :func:`available_memory_bytes`.

    The message names the strategy (``who``), the matrix (``what``, its shape and size in GB), the
    estimated total, the available memory and ``fix`` (the approximate variant or option to use), so
    that the user gets an answer instead of being killed by the OS.
    """
    n_bytes = 8.0 * float(np.prod([float(s) for s in shape])) * float(copies)
    available = available_memory_bytes()
    if available is None or n_bytes <= available:
        return
    one = 8.0 * float(np.prod([float(s) for s in shape])) / _GB
    dims = " x ".join(f"{int(s):,}" for s in shape)
    raise InsufficientMemoryError(
        f"{who}: the exact method needs the {dims} {what} ({one:.1f} GB in float64; about {n_bytes / _GB:.1f} GB "
        f"with its working copies), but only {available / _GB:.1f} GB of memory is available. {fix}"
    )


def resolve_approximation(approximation: str, n_rows: int) -> str:
    """``"exact"`` or ``"nystroem"``: ``"auto"`` is exact up to :data:`EXACT_KERNEL_MAX_ROWS` rows."""
    if approximation == "auto":
        return "exact" if n_rows <= EXACT_KERNEL_MAX_ROWS else "nystroem"
    return approximation


# ---------------------------------------------------------------------------------------------------
# Nyström features
# ---------------------------------------------------------------------------------------------------
def _kernel(X, Y, kernel: str, gamma: float) -> np.ndarray:
    from sklearn.metrics.pairwise import linear_kernel, rbf_kernel

    return linear_kernel(X, Y) if kernel == "linear" else rbf_kernel(X, Y, gamma=gamma)


@dataclass(frozen=True)
class NystroemMap:
    r"""The Nyström feature map :math:`\phi(x) = k(x, L)\, T` of :func:`nystroem_map`.

    ``landmarks`` (m x d), ``T`` (m x r): :math:`\phi(x)^\top \phi(x') \approx k(x, x')`, exact when
    :math:`x` or :math:`x'` is a landmark.
    """

    landmarks: np.ndarray
    T: np.ndarray
    kernel: str
    gamma: float

    def transform(self, X, *, chunk_rows: int = CHUNK_ROWS) -> np.ndarray:
        """``k(X, landmarks) @ T``, computed by blocks of rows (peak memory O(chunk_rows x m))."""
        n = X.shape[0]
        out = np.empty((n, self.T.shape[1]))
        for start in range(0, n, int(chunk_rows)):
            stop = min(start + int(chunk_rows), n)
            out[start:stop] = _kernel(X[start:stop], self.landmarks, self.kernel, self.gamma) @ self.T
        return out


def nystroem_map(X, *, kernel: str, gamma: float, n_landmarks: int, random_state=None) -> NystroemMap:
    r"""Nyström approximation of the kernel of the rows of ``X`` (Williams & Seeger, NIPS 2001).

    ``m = min(n_landmarks, n)`` landmark rows :math:`L` are drawn uniformly without replacement; with
    :math:`K_{mm} = k(L, L) = U \operatorname{diag}(s) U^\top`,

    .. math:: \phi(x) = k(x, L)\, U_+ \operatorname{diag}(s_+^{-1/2}), \qquad
              K \approx \Phi \Phi^\top = K_{nm} K_{mm}^{+} K_{mn},

    keeping the eigenvalues above ``1e-10 * max(s)`` (duplicate landmarks are harmless). Cost
    :math:`O(n m d + m^3)`, memory :math:`O(n m)`: linear in ``n``.
    """
    from sklearn.utils import check_random_state

    n = X.shape[0]
    m = int(min(n_landmarks, n))
    idx = np.sort(check_random_state(random_state).choice(n, m, replace=False))
    L = X[idx]
    L = L.toarray() if sp.issparse(L) else np.asarray(L, dtype=np.float64)
    Kmm = _kernel(L, L, kernel, gamma)
    s, U = np.linalg.eigh((Kmm + Kmm.T) / 2)
    keep = s > 1e-10 * max(s.max(), 1e-300)
    return NystroemMap(landmarks=L, T=U[:, keep] / np.sqrt(s[keep]), kernel=kernel, gamma=float(gamma))
