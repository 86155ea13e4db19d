"""Named preprocessing steps of the benchmark protocols.

A step is applied **per domain**: :func:`~tltaxonomy.datasets.load_task` calls it separately on the
source, target and test features (statistics such as the z-score mean and standard deviation are those
of the domain itself), which is what the papers do:

- ``l1_zscore``: Office+Caltech SURF in GFK (Gong et al., CVPR 2012) and JDA (Long et al., ICCV 2013):
  each row divided by its sum, then each feature z-scored (``ddof=0``).
- ``zscore``: the 400-d Amazon features in CORAL (Sun et al., AAAI 2016).
- ``l2``: MNIST+USPS in JDA: rows scaled to unit Euclidean norm.
- ``binary``: presence / absence of a word (``x > 0``), e.g. for the DANN Amazon counts.
- ``none``: unchanged.

``l2``, ``binary`` and ``none`` keep scipy sparse input sparse. ``zscore`` and ``l1_zscore`` centre the
features, which destroys sparsity: on sparse input they return a dense array and emit a
:class:`DensifyWarning` saying so.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .._errors import unknown_name_error

__all__ = ["Preprocessor", "PREPROCESSORS", "get_preprocessor", "DensifyWarning"]


class DensifyWarning(UserWarning):
    """A sparse matrix was converted to a dense array by a preprocessing step."""


def _float(X):
    """Float copy of ``X`` (keeps float32/float64, other dtypes become float64)."""
    dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.float64
    if sp.issparse(X):
        return sp.csr_matrix(X, dtype=dtype, copy=True)
    return np.array(X, dtype=dtype, copy=True)


def _densify(X, step: str):
    if sp.issparse(X):
        mib = X.shape[0] * X.shape[1] * X.dtype.itemsize / 2**20
        warnings.warn(
            f"Preprocessing {step!r} centres every feature, which makes a sparse matrix dense: converted the "
            f"{X.shape[0]}x{X.shape[1]} sparse input to a dense array ({mib:.0f} MiB). Use 'none', 'l2' or "
            "'binary' to keep it sparse.",
            DensifyWarning,
            stacklevel=3,
        )
        return np.asarray(X.toarray())
    return X


def _none(X):
    return X


def _l1_rows(X):
    X = _float(X)
    sums = np.asarray(X.sum(axis=1)).ravel()
    sums[sums == 0] = 1.0  # rows summing to 0 are left unchanged (no division by zero)
    if sp.issparse(X):
        return sp.csr_matrix(sp.diags(1.0 / sums) @ X, dtype=X.dtype)
    X /= sums[:, None]
    return X


def _zscore_dense(X):
    X = np.array(X, dtype=X.dtype if X.dtype in (np.float32, np.float64) else np.float64, copy=True)
    if X.shape[0] == 0:
        return X
    mean = X.mean(axis=0)
    std = X.std(axis=0)  # population std, ddof=0
    X -= mean
    nonzero = std > 0
    X[:, nonzero] /= std[nonzero]
    X[:, ~nonzero] = 0.0  # constant features: 0, not NaN
    return X


def _zscore(X):
    return _zscore_dense(_densify(X, "zscore"))


def _l1_zscore(X):
    return _zscore_dense(_densify(_l1_rows(X), "l1_zscore"))


def _l2(X):
    from sklearn.preprocessing import normalize

    return normalize(_float(X), norm="l2", copy=False)  # zero rows stay zero


def _binary(X):
    if sp.issparse(X):
        X = sp.csr_matrix(X, dtype=np.float64, copy=True)
        X.data = (X.data > 0).astype(np.float64)
        X.eliminate_zeros()
        return X
    return (np.asarray(X) > 0).astype(np.float64)


@dataclass(frozen=True)
class Preprocessor:
    """A named preprocessing step, applied to the features of one domain.

    Attributes
    ----------
    name : str
    description : str
    keeps_sparse : bool
        Whether sparse input stays sparse.
    func : callable
        ``func(X) -> X'``; never modifies its input.
    """

    name: str
    description: str
    keeps_sparse: bool
    func: Callable

    def __call__(self, X):
        """Apply the step to ``X`` (array or sparse matrix) and return a new array / matrix."""
        return self.func(X)


#: The named preprocessing steps.
PREPROCESSORS: dict[str, Preprocessor] = {
    p.name: p
    for p in [
        Preprocessor("none", "Features unchanged.", True, _none),
        Preprocessor(
            "l1_zscore",
            "Each row divided by its sum (rows summing to 0 unchanged), then each feature z-scored within the "
            "domain (population std, ddof=0; constant features set to 0). GFK/JDA protocol for Office+Caltech SURF.",
            False,
            _l1_zscore,
        ),
        Preprocessor(
            "zscore",
            "Each feature z-scored within the domain (population std, ddof=0; constant features set to 0).",
            False,
            _zscore,
        ),
        Preprocessor(
            "l2", "Rows scaled to unit L2 norm (zero rows stay zero). JDA protocol for MNIST+USPS.", True, _l2
        ),
        Preprocessor("binary", "1.0 where x > 0, else 0.0 (word presence).", True, _binary),
    ]
}


def get_preprocessor(name: str) -> Preprocessor:
    """Return the named preprocessing step.

    Parameters
    ----------
    name : str
        One of :data:`PREPROCESSORS` (``none``, ``l1_zscore``, ``zscore``, ``l2``, ``binary``).

    Raises
    ------
    UnknownNameError
        For an unknown name; the message suggests the closest valid names.
    """
    try:
        return PREPROCESSORS[name]
    except (KeyError, TypeError):
        raise unknown_name_error("preprocessing step", name, PREPROCESSORS) from None
