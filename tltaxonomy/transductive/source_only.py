"""The no-adaptation baseline."""

from __future__ import annotations

from sklearn.utils._available_if import available_if
from sklearn.utils._param_validation import HasMethods

from ..base import BaseDomainAdaptationClassifier, DomainSplit
from ..classifiers import CVSVC, clone_or_default, estimator_selection
from ..registry import register

__all__ = ["SourceOnly"]


@register("source_only", setting="transductive", family="baseline")
class SourceOnly(BaseDomainAdaptationClassifier):
    """Train any sklearn classifier on the labelled source rows only; ignore the target (NA, "no adaptation").

    Parameters
    ----------
    estimator : sklearn classifier or None, default=None
        ``None`` = :class:`~tltaxonomy.classifiers.CVSVC` (linear SVM, ``C`` by 2-fold CV on the source).

    Attributes
    ----------
    estimator_ : the fitted classifier

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> X = np.r_[np.eye(2), np.eye(2) + 0.1]; y = np.array([0, 1, -1, -1]); sd = np.array([1, 1, -1, -1])
    >>> SourceOnly(estimator=LogisticRegression()).fit(X, y, sample_domain=sd).predict(X[2:])
    array([0, 1])
    """

    _parameter_constraints = {"estimator": [HasMethods(["fit", "predict"]), None]}

    def __init__(self, *, estimator=None):
        self.estimator = estimator

    def _fit(self, split: DomainSplit) -> None:
        self._validate_params()
        self.estimator_ = clone_or_default(self.estimator, CVSVC(kernel="linear"))
        self.estimator_.fit(split.X_source, split.y_source)

    def selection_protocol(self) -> str:
        """``"source_cv"`` with the default SVM (C by 2-fold CV on the source rows)."""
        return estimator_selection(self.estimator)

    def _predict_encoded(self, X):
        return self.estimator_.predict(X)

    @available_if(lambda self: self.estimator is not None and hasattr(self.estimator, "predict_proba"))
    def predict_proba(self, X, *, sample_domain=None):
        """Class probabilities from the source classifier (only if it has ``predict_proba``)."""
        X = self._validate_predict_X(X, sample_domain)
        return self.estimator_.predict_proba(X)
