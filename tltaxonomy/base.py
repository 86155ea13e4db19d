"""The strategy contract shared by every strategy of the toolkit.

Data enter in one form, shared with skada:

- ``X`` stacks the rows of every domain (dense array or scipy sparse matrix);
- ``sample_domain`` is an integer per row, **positive for source rows and negative for target rows**
  (several sources or targets = several values); ``None`` means "all rows are source";
- ``y`` holds the labels. Target labels are never used by a transductive strategy: the base class
  replaces them by :data:`MASKED` **on a copy** before the strategy's own code runs, whatever the
  caller put there. The caller's arrays are never modified.

Labels may be any hashable values (strings, non-contiguous integers): they are encoded to
``0 .. n_classes-1`` for the learners and decoded back by ``predict``; ``classes_`` holds them.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, ClusterMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

__all__ = [
    "MASKED",
    "DomainSplit",
    "BaseStrategy",
    "BaseDomainAdaptationClassifier",
    "BaseInductiveClassifier",
    "BaseTransferClusterer",
    "check_input",
    "split_domains",
    "stack_domains",
]

#: The value a masked (hidden) label takes in the encoded label vector a learner receives.
MASKED = -1


@dataclass(frozen=True)
class DomainSplit:
    """Validated training data of a domain-adaptation fit, split by domain.

    Attributes
    ----------
    X_source, X_target : array or sparse matrix
        Source rows and target rows (copies or read-only views; never the caller's array).
    y_source : ndarray of int
        Encoded source labels in ``0 .. n_classes-1``.
    domain_source, domain_target : ndarray of int
        The ``sample_domain`` value of each source / target row.
    classes : ndarray
        The original label values; ``classes[k]`` is encoded as ``k``.
    """

    X_source: np.ndarray
    y_source: np.ndarray
    X_target: np.ndarray
    domain_source: np.ndarray
    domain_target: np.ndarray
    classes: np.ndarray

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def has_target(self) -> bool:
        return self.X_target.shape[0] > 0

    def masked(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return ``(X, y, sample_domain)`` stacked again, target labels set to :data:`MASKED`."""
        X = _vstack([self.X_source, self.X_target])
        y = np.concatenate([self.y_source, np.full(self.X_target.shape[0], MASKED, dtype=int)])
        sd = np.concatenate([self.domain_source, self.domain_target])
        return X, y, sd


def _strategy_name(estimator) -> str:
    return estimator if isinstance(estimator, str) else type(estimator).__name__


def check_input(
    estimator,
    X,
    *,
    reset: bool = True,
    what: str = "X",
    accept_sparse=False,
    dtype="numeric",
    allow_nan: bool = False,
    **kwargs,
):
    """Validate an input matrix of ``estimator`` with messages that name the strategy, the problem and the fix.

    A thin layer over sklearn's ``validate_data`` (which sets / checks ``n_features_in_``), used by every
    strategy's ``fit`` and ``predict`` so that bad input is refused the same way everywhere:

    - sparse input to a strategy that needs dense input: ``TypeError`` saying to densify
      (``X.toarray()``) or to use a strategy that accepts sparse input;
    - NaN or infinite values (unless ``allow_nan``): ``ValueError`` with their count and first position,
      saying to impute / replace them or drop the rows;
    - no rows, or a feature count that differs from the one seen in ``fit``: sklearn's message, plus the fix.

    Parameters
    ----------
    estimator : estimator
        The strategy (its class name goes into every message).
    X : array-like or sparse matrix
    reset : bool, default=True
        ``True`` in ``fit`` (records ``n_features_in_``), ``False`` afterwards (checks it).
    what : str, default="X"
        The argument's name in messages (``"X_unlabelled"``, ``"X_auxiliary"``, ...).
    accept_sparse, dtype, **kwargs
        Passed to ``validate_data``.
    allow_nan : bool, default=False
        Accept NaN and inf (the caller handles them).

    Returns
    -------
    X : ndarray or sparse matrix
        The validated input.
    """
    name = _strategy_name(estimator)
    if sp.issparse(X) and not accept_sparse:
        raise TypeError(
            f"{name} does not accept sparse input, but {what} is a scipy sparse {type(X).__name__}. Densify it "
            f"({what}.toarray(), if it fits in memory) or use a strategy that accepts sparse input."
        )
    try:
        X = validate_data(
            estimator, X, reset=reset, accept_sparse=accept_sparse, dtype=dtype, ensure_all_finite=False, **kwargs
        )
    except ValueError as exc:
        msg = str(exc)
        if "features, but" in msg:
            expected = getattr(estimator, "n_features_in_", "the same number of")
            msg += (
                f" {what} must have the {expected} columns {name} was fitted on, in the same order; "
                "refit it to use other features."
            )
        elif "sample(s)" in msg:
            msg += f" Pass at least that many rows in {what}."
        elif "feature(s)" in msg:
            msg += f" Pass at least that many columns in {what}."
        if name not in msg:
            msg = f"{name}: {msg}"
        raise ValueError(msg) from exc
    if not allow_nan:
        values = (X.data if X.format in ("csr", "csc", "coo", "bsr") else X.tocoo().data) if sp.issparse(X) else X
        if values.dtype.kind in "fc" and not np.all(np.isfinite(values)):
            _raise_not_finite(name, what, X)
    return X


def _raise_not_finite(name: str, what: str, X) -> None:
    dense_rows = X.tocoo() if sp.issparse(X) else None
    if dense_rows is not None:
        bad = ~np.isfinite(dense_rows.data)
        rows, cols, values = dense_rows.row[bad], dense_rows.col[bad], dense_rows.data[bad]
    else:
        rows, cols = np.nonzero(~np.isfinite(X))
        values = X[rows, cols]
    n_nan = int(np.isnan(values).sum())
    n_inf = len(values) - n_nan
    where = f"first at row {rows[0]}, column {cols[0]}"
    if n_nan:
        raise ValueError(
            f"{name}: Input {what} contains NaN ({n_nan} value(s), {where}); {name} does not accept missing values. "
            "Impute them (e.g. sklearn.impute.SimpleImputer in a pipeline) or drop those rows."
        )
    raise ValueError(
        f"{name}: Input {what} contains infinity ({n_inf} value(s), {where}). Replace or clip the infinite values "
        "(e.g. numpy.nan_to_num) or drop those rows."
    )


def _vstack(blocks):
    if any(sp.issparse(b) for b in blocks):
        return sp.vstack([sp.csr_matrix(b) for b in blocks], format="csr")
    return np.vstack(blocks)


def stack_domains(Xs, ys, Xt, yt=None, *, estimator=None):
    """Stack source and target data into the ``(X, y, sample_domain)`` form.

    Target labels ``yt`` (if any) are replaced by :data:`MASKED`; pass them only if you want the
    shapes to line up: they are not kept. Source rows get domain ``1``, target rows ``-1``.
    ``estimator`` (or its name) is named in the error messages.

    Returns
    -------
    X, y, sample_domain
    """
    name = "stack_domains" if estimator is None else _strategy_name(estimator)
    Xs = Xs if sp.issparse(Xs) or hasattr(Xs, "shape") else np.asarray(Xs)
    Xt = Xt if sp.issparse(Xt) or hasattr(Xt, "shape") else np.asarray(Xt)
    if len(Xs.shape) == 2 and len(Xt.shape) == 2 and Xs.shape[1] != Xt.shape[1]:
        raise ValueError(
            f"{name}: Xs has {Xs.shape[1]} features but Xt has {Xt.shape[1]}; source and target rows must have "
            "the same features (columns), in the same order. Select or align the columns of both domains."
        )
    Xs_n, Xt_n = Xs.shape[0], Xt.shape[0]
    ys = np.asarray(ys)
    if ys.shape[0] != Xs_n:
        raise ValueError(f"{name}: Xs has {Xs_n} rows but ys has {ys.shape[0]} labels; pass one label per source row.")
    if yt is not None and np.asarray(yt).shape[0] != Xt_n:
        raise ValueError(f"{name}: Xt has {Xt_n} rows but yt has {np.asarray(yt).shape[0]} labels; pass one per target row.")
    if ys.dtype.kind in "iuf":
        y = np.concatenate([ys.astype(np.result_type(ys.dtype, np.int64)), np.full(Xt_n, MASKED)])
    else:  # strings or objects: the target placeholder is never read, keep the caller's label type
        y = np.concatenate([ys.astype(object), np.full(Xt_n, MASKED, dtype=object)])
    sd = np.concatenate([np.ones(Xs_n, dtype=int), -np.ones(Xt_n, dtype=int)])
    return _vstack([Xs, Xt]), y, sd


def _check_sample_domain(estimator, sample_domain, n_rows: int) -> np.ndarray:
    name = type(estimator).__name__
    if sample_domain is None:
        return np.ones(n_rows, dtype=int)
    sd = np.asarray(sample_domain)
    if sd.ndim != 1 or sd.shape[0] != n_rows:
        raise ValueError(
            f"{name}: sample_domain has shape {sd.shape} but X has {n_rows} rows; pass one domain id per row "
            "(positive = source, negative = target)."
        )
    if sd.dtype.kind == "f":
        if not np.all(np.isfinite(sd)) or not np.all(sd == np.round(sd)):
            raise ValueError(f"{name}: sample_domain must hold integers (positive = source, negative = target).")
        sd = sd.astype(int)
    elif sd.dtype.kind not in "iu":
        raise ValueError(
            f"{name}: sample_domain must hold integers (positive = source, negative = target), got dtype {sd.dtype}."
        )
    if np.any(sd == 0):
        raise ValueError(f"{name}: sample_domain contains 0; use positive ids for source rows and negative for target rows.")
    return sd.astype(int)


def _as_1d_labels(name: str, y, n_rows: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = column_or_1d(y, warn=True)
    if y.ndim != 1 or y.shape[0] != n_rows:
        raise ValueError(f"{name}: y has shape {y.shape} but X has {n_rows} rows; pass one label per row.")
    return y


def split_domains(estimator, X, y, sample_domain, *, reset: bool = True, accept_sparse=True) -> DomainSplit:
    """Validate ``(X, y, sample_domain)``, mask target labels on a copy and split by domain.

    Sets ``n_features_in_`` on ``estimator`` (via sklearn's ``validate_data``) when ``reset``.
    """
    name = type(estimator).__name__
    X = check_input(estimator, X, reset=reset, accept_sparse="csr" if accept_sparse else False, dtype=[np.float64, np.float32])
    if y is None:
        raise ValueError(f"{name} requires y to be passed, but the target y is None (pass the labels of the source rows).")
    y = _as_1d_labels(name, y, X.shape[0])
    sd = _check_sample_domain(estimator, sample_domain, X.shape[0])
    is_source = sd > 0
    if not np.any(is_source):
        raise ValueError(
            f"{name}: no source rows (every sample_domain is negative, or X has no rows). A domain-adaptation "
            "strategy needs labelled source rows with positive sample_domain."
        )
    y_source_raw = y[is_source]  # fancy indexing: a copy; target labels are never read
    if y_source_raw.dtype.kind in "iufO" and np.all(y_source_raw == MASKED):
        raise ValueError(
            f"{name}: no source labels: every source row's label is {MASKED}, the mask of unlabelled rows. "
            "A domain-adaptation strategy learns from labelled source rows: pass their labels in y."
        )
    if y_source_raw.dtype.kind == "f" and not np.all(np.isfinite(y_source_raw)):
        raise ValueError(f"{name}: source labels contain NaN or inf.")
    check_classification_targets(y_source_raw)
    classes, y_source = np.unique(y_source_raw, return_inverse=True)
    if len(classes) < 2:
        raise ValueError(
            f"{name}: the source labels contain only one class ({classes[0]!r}); a classifier needs at least 2 "
            "classes: pass labelled source rows of at least two classes."
        )
    rows_s = np.flatnonzero(is_source)
    rows_t = np.flatnonzero(~is_source)
    return DomainSplit(
        X_source=X[rows_s],
        y_source=y_source.astype(int),
        X_target=X[rows_t],
        domain_source=sd[rows_s],
        domain_target=sd[rows_t],
        classes=classes,
    )


class BaseStrategy(BaseEstimator):
    """Base class of all strategies: an sklearn estimator plus registry metadata.

    ``__init__`` only stores keyword-only hyper-parameters; ``fit`` validates and learns; fitted
    attributes end in ``_``.
    """

    _strategy_name: str = ""
    _setting: str = ""
    _family: str = ""

    def selection_protocol(self) -> str:
        """How this strategy chooses its own hyper-parameters when fitted (recorded with every run).

        ``"none"`` = fixed hyper-parameters; ``"source_cv"`` = cross-validation on labelled source rows;
        ``"source_val"`` = a held-out split of the training rows. Never target labels.
        """
        return "none"


class BaseDomainAdaptationClassifier(ClassifierMixin, BaseStrategy):
    """Base class of transductive (domain-adaptation) classifiers.

    Subclasses implement ``_fit(split: DomainSplit)`` and ``_decision(X)`` or ``_predict_encoded(X)``.
    The base class does the validation, target-label masking and label encoding.
    """

    #: whether the strategy accepts scipy sparse input
    _accept_sparse = True
    #: the fewest target rows the strategy can adapt to (when it is given any); e.g. 2 for a covariance
    _min_target_rows = 1

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = self._accept_sparse
        return tags

    def fit(self, X, y, *, sample_domain=None):
        """Fit on stacked source and target rows.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Source and target rows stacked.
        y : array-like of shape (n_samples,)
            Labels; the entries of target rows are ignored (masked on a copy).
        sample_domain : array-like of int of shape (n_samples,), default=None
            Positive for source rows, negative for target rows. ``None`` = all rows are source
            (then no adaptation can happen and the strategy reduces to its source-only form).

        Returns
        -------
        self
        """
        split = split_domains(self, X, y, sample_domain, accept_sparse=self._accept_sparse)
        n_target = split.X_target.shape[0]
        if 0 < n_target < self._min_target_rows:
            raise ValueError(
                f"{type(self).__name__}: needs at least {self._min_target_rows} target rows (negative sample_domain) "
                f"to adapt, got {n_target}; pass more target rows, or none (all rows source) for its source-only form."
            )
        self.classes_ = split.classes
        self._fit(split)
        return self

    def fit_domains(self, Xs, ys, Xt):
        """Convenience form of :meth:`fit`: source data ``(Xs, ys)`` and unlabelled target ``Xt``."""
        X, y, sd = stack_domains(Xs, ys, Xt, estimator=self)
        return self.fit(X, y, sample_domain=sd)

    def _validate_predict_X(self, X, sample_domain=None):
        check_is_fitted(self)
        X = check_input(self, X, reset=False, accept_sparse="csr" if self._accept_sparse else False, dtype=[np.float64, np.float32])
        if sample_domain is not None:
            _check_sample_domain(self, sample_domain, X.shape[0])
        return X

    def predict(self, X, *, sample_domain=None):
        """Predict labels (in the caller's label space) for ``X``."""
        X = self._validate_predict_X(X, sample_domain)
        return self.classes_[self._predict_encoded(X)]

    def score(self, X, y, sample_weight=None, *, sample_domain=None):
        """Accuracy of :meth:`predict` on ``(X, y)``."""
        from sklearn.metrics import accuracy_score

        return accuracy_score(y, self.predict(X, sample_domain=sample_domain), sample_weight=sample_weight)

    @abstractmethod
    def _fit(self, split: DomainSplit) -> None:
        """Learn from validated, masked data."""

    @abstractmethod
    def _predict_encoded(self, X) -> np.ndarray:
        """Return encoded predictions (``0 .. n_classes-1``) for validated ``X``."""


class BaseInductiveClassifier(ClassifierMixin, BaseStrategy):
    """Base class of inductive classifiers: trained on labelled target rows, knowledge from a source.

    The source knowledge enters through the strategy's parameters (a pretrained backbone, a
    checkpoint); ``fit`` sees only the labelled target rows the protocol grants.
    """

    def _encode_labels(self, y, n_rows: int) -> np.ndarray:
        name = type(self).__name__
        if y is None:
            raise ValueError(f"{name} requires y to be passed, but the target y is None (pass the labelled target rows).")
        y = _as_1d_labels(name, y, n_rows)
        if n_rows == 0:
            raise ValueError(f"{name}: X has no rows (0 samples); pass at least 2 labelled rows, of two classes.")
        check_classification_targets(y)
        classes, encoded = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(
                f"{name}: y contains only one class ({classes[0]!r}); a classifier needs at least 2 classes: "
                "pass labelled rows of at least two classes."
            )
        self.classes_ = classes
        return encoded.astype(int)


class BaseTransferClusterer(ClusterMixin, BaseStrategy):
    """Base class of unsupervised-transfer strategies: ``fit`` / ``fit_predict`` / ``labels_``."""
