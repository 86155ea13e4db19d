"""Classifiers used as base learners by strategies and protocols.

:class:`CVSVC` is the SVM of the classic shallow domain-adaptation protocols (libsvm with ``C`` chosen
by k-fold cross-validation on the labelled training rows — never on target labels).
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.metrics.pairwise import linear_kernel, rbf_kernel
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.svm import SVC
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["CVSVC", "DEFAULT_CS"]

#: The C grid of the CORAL (AAAI 2016) released code for its CORAL classifier.
DEFAULT_CS = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3, 1e4)


class CVSVC(ClassifierMixin, BaseEstimator):
    """Support vector classifier whose ``C`` is chosen by k-fold cross-validation on the training rows.

    This is libsvm (through :class:`sklearn.svm.SVC`) as the shallow domain-adaptation protocols use
    it: for each ``C`` in ``Cs`` the mean k-fold accuracy on the *training* rows is computed, and the
    best ``C`` is refit on all of them. Ties go to the smallest ``C`` (``Cs`` is sorted). The Gram
    matrix is computed once and shared by every fold and every ``C``, which makes the search several
    times faster than letting libsvm evaluate the kernel, with the same result.

    Parameters
    ----------
    kernel : {"linear", "rbf", "precomputed"}, default="linear"
        With ``"precomputed"``, ``X`` in ``fit`` is the (n_train, n_train) training kernel and ``X`` in
        ``predict`` the (n_test, n_train) test kernel.
    gamma : "auto" or float, default="auto"
        RBF width; ``"auto"`` = ``1 / n_features``, libsvm's default.
    Cs : sequence of float, default=DEFAULT_CS
        Grid of ``C`` values.
    cv : int, default=2
        Number of folds. Folds are :class:`~sklearn.model_selection.StratifiedKFold` without
        shuffling (deterministic given the row order). libsvm's ``-v`` shuffles with the C library's
        ``rand()``, which cannot be replayed; see ``papers/coral2016.yaml`` for what this changes.

    Attributes
    ----------
    best_C_ : float
        The selected ``C``.
    cv_scores_ : ndarray of shape (len(Cs),)
        Mean cross-validated accuracy of each ``C``.
    svc_ : SVC
        The SVM refitted on all rows with ``best_C_``.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> X, y = make_classification(random_state=0)
    >>> CVSVC(kernel="rbf").fit(X, y).best_C_ in DEFAULT_CS
    True
    """

    _parameter_constraints = {
        "kernel": [StrOptions({"linear", "rbf", "precomputed"})],
        "gamma": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
        "Cs": ["array-like"],
        "cv": [Interval(Integral, 2, None, closed="left")],
    }

    def __init__(self, *, kernel="linear", gamma="auto", Cs=DEFAULT_CS, cv=2):
        self.kernel = kernel
        self.gamma = gamma
        self.Cs = Cs
        self.cv = cv

    def _gram(self, A, B):
        if self.kernel == "linear":
            return linear_kernel(A, B)
        gamma = 1.0 / self.n_features_in_ if self.gamma == "auto" else self.gamma
        return rbf_kernel(A, B, gamma=gamma)

    def fit(self, X, y):
        self._validate_params()
        precomputed = self.kernel == "precomputed"
        X, y = validate_data(self, X, y, accept_sparse=not precomputed and "csr", reset=True)
        if precomputed and X.shape[0] != X.shape[1]:
            raise ValueError(
                f"CVSVC(kernel='precomputed'): the training kernel must be square (n_train, n_train), got {X.shape}."
            )
        Cs = np.sort(np.asarray(self.Cs, dtype=float).ravel())
        if Cs.size == 0 or np.any(Cs <= 0):
            raise ValueError(f"CVSVC: Cs must be a non-empty list of positive numbers, got {self.Cs!r}.")
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError(f"CVSVC: y contains only one class ({self.classes_[0]!r}); an SVM needs at least 2 classes.")
        K = X if precomputed else self._gram(X, X)
        n_splits = min(self.cv, int(np.bincount(np.unique(y, return_inverse=True)[1]).min()))
        if Cs.size > 1 and n_splits >= 2:
            search = GridSearchCV(SVC(kernel="precomputed"), {"C": list(Cs)}, cv=StratifiedKFold(n_splits))
            search.fit(K, y)
            self.cv_scores_ = search.cv_results_["mean_test_score"]
            self.best_C_ = float(search.best_params_["C"])  # first of the best = smallest C on ties
        else:  # too few rows per class to cross-validate: fall back to the smallest C
            self.cv_scores_ = np.full(Cs.size, np.nan)
            self.best_C_ = float(Cs[0])
        self.svc_ = SVC(kernel="precomputed", C=self.best_C_).fit(K, y)
        if not precomputed:
            self.X_fit_ = X
        return self

    def _test_kernel(self, X):
        check_is_fitted(self)
        precomputed = self.kernel == "precomputed"
        X = validate_data(self, X, accept_sparse=not precomputed and "csr", reset=False)
        return X if precomputed else self._gram(X, self.X_fit_)

    def decision_function(self, X):
        K = self._test_kernel(X)
        return self.svc_.decision_function(K)

    def predict(self, X):
        K = self._test_kernel(X)
        return self.svc_.predict(K)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.pairwise = self.kernel == "precomputed"
        tags.input_tags.sparse = self.kernel != "precomputed"
        return tags


def estimator_selection(estimator) -> str:
    """The selection protocol of a base ``estimator`` (``None`` = the toolkit's :class:`CVSVC`)."""
    if estimator is None or isinstance(estimator, CVSVC) or hasattr(estimator, "cv"):
        return "source_cv"
    return "none"


def clone_or_default(estimator, default):
    """``clone(estimator)``, or ``default`` (a fresh instance) when ``estimator`` is None."""
    return default if estimator is None else clone(estimator)
