"""Classifiers used as base learners by strategies and protocols.

:class:`CVSVC` is the SVM of the classic shallow domain-adaptation protocols (libsvm with ``C`` chosen
by k-fold cross-validation on the labelled training rows — never on target labels).
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics.pairwise import linear_kernel, rbf_kernel
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import SVC
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

__all__ = ["CVSVC", "DEFAULT_CS", "HoldOutSearch"]

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
    max_iter : int, default=100_000
        Cap on libsvm's SMO iterations per fit (``-1``: none, scikit-learn's default). The C library
        libsvm that the papers' MATLAB code calls stops a run after ``max(1e7, 100 n)`` iterations;
        scikit-learn's build never stops, and with ``C`` up to 1e4 on data far from separable (a
        low-dimensional subspace embedding of 10 classes) or on an indefinite similarity (the SA and
        CORAL released code's ``X A X'ᵀ``) single runs take minutes. The runs the cap cuts are those
        of large ``C``, which cross-validate poorly; ``n_capped_fits_`` counts them.

    ``fit`` accepts ``sample_weight`` (per-row weights, e.g. importance weights of instance
    reweighting): libsvm then uses ``C * sample_weight[i]`` for row ``i``, in every fold of the search
    and in the final refit; the fold accuracies that choose ``C`` stay unweighted. Rows of zero weight
    are dropped before the search (they cannot influence an SVM; sklearn's precomputed-kernel SVC
    mis-predicts when some weights are zero), and ``train_rows_`` records the rows kept.

    Attributes
    ----------
    best_C_ : float
        The selected ``C``.
    cv_scores_ : ndarray of shape (len(Cs),)
        Mean cross-validated accuracy of each ``C``.
    n_iter_ : ndarray of int
        libsvm's iterations in the final refit, per one-vs-one sub-problem.
    n_capped_fits_ : int
        How many libsvm fits (search and refit) stopped at ``max_iter``.
    train_rows_ : ndarray of int or None
        The rows kept for training when some ``sample_weight`` is zero (``None`` = all rows).
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
        "max_iter": [Interval(Integral, -1, None, closed="left")],
    }

    def __init__(self, *, kernel="linear", gamma="auto", Cs=DEFAULT_CS, cv=2, max_iter=100_000):
        self.kernel = kernel
        self.gamma = gamma
        self.Cs = Cs
        self.cv = cv
        self.max_iter = max_iter

    def _gram(self, A, B):
        if self.kernel == "linear":
            return linear_kernel(A, B)
        gamma = 1.0 / self.n_features_in_ if self.gamma == "auto" else self.gamma
        return rbf_kernel(A, B, gamma=gamma)

    def fit(self, X, y, sample_weight=None):
        """Choose ``C`` by k-fold CV on ``(X, y)`` and refit; ``sample_weight`` scales ``C`` per row."""
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
        self.train_rows_ = None
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X)
            keep = sample_weight > 0
            if not np.all(keep):
                # Rows of zero weight take no part in an SVM. They are dropped here: sklearn's SVC with a
                # precomputed kernel mis-indexes its support vectors when some weights are zero.
                if len(np.unique(y[keep])) < 2:
                    raise ValueError("CVSVC: the rows with a positive sample_weight hold fewer than 2 classes.")
                self.train_rows_ = np.flatnonzero(keep)
                X = X[keep][:, keep] if precomputed else X[keep]
                y, sample_weight = y[keep], sample_weight[keep]
        K = X if precomputed else self._gram(X, X)
        n_splits = min(self.cv, int(np.bincount(np.unique(y, return_inverse=True)[1]).min()))
        self.n_capped_fits_ = 0
        if Cs.size > 1 and n_splits >= 2:
            # The search of GridSearchCV (mean fold accuracy per C, first best = smallest C), written
            # out: the folds slice one shared Gram matrix, without GridSearchCV's per-fit overhead.
            folds = list(StratifiedKFold(n_splits).split(K, y))
            self.cv_scores_ = np.array(
                [np.mean([self._fold_accuracy(K, y, sample_weight, C, tr, te) for tr, te in folds]) for C in Cs]
            )
            self.best_C_ = float(Cs[int(np.argmax(self.cv_scores_))])
        else:  # too few rows per class to cross-validate: fall back to the smallest C
            self.cv_scores_ = np.full(Cs.size, np.nan)
            self.best_C_ = float(Cs[0])
        self.svc_ = self._svc(K, y, sample_weight, self.best_C_)
        self.n_iter_ = self.svc_.n_iter_
        if not precomputed:
            self.X_fit_ = X
        return self

    def _svc(self, K, y, sample_weight, C):
        svc = SVC(kernel="precomputed", C=C, max_iter=self.max_iter)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            svc.fit(K, y, sample_weight=sample_weight)
        for w in caught:
            if issubclass(w.category, ConvergenceWarning):
                self.n_capped_fits_ += 1
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return svc

    def _fold_accuracy(self, K, y, sample_weight, C, train, test) -> float:
        sw = None if sample_weight is None else sample_weight[train]
        svc = self._svc(K[np.ix_(train, train)], y[train], sw, C)
        return float(np.mean(svc.predict(K[np.ix_(test, train)]) == y[test]))

    def _test_kernel(self, X):
        check_is_fitted(self)
        precomputed = self.kernel == "precomputed"
        X = validate_data(self, X, accept_sparse=not precomputed and "csr", reset=False)
        if precomputed and getattr(self, "train_rows_", None) is not None:
            X = X[:, self.train_rows_]  # the columns of the rows kept in fit
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


class HoldOutSearch(ClassifierMixin, BaseEstimator):
    """Choose hyper-parameters on one held-out split of the training rows, then refit on all of them.

    The selection of the DANN authors' experiments (the last 10% of the source file held out):
    ``estimator`` is fitted on the other rows for each setting of ``param_grid``, the setting with
    the best held-out accuracy is kept (the first one on ties, so order the grid from the most
    regularised), and the estimator is refitted with it on every row.

    Parameters
    ----------
    estimator : sklearn classifier
        The base learner (e.g. ``LinearSVC()``).
    param_grid : dict of str to list
        Settings to try (as :class:`sklearn.model_selection.ParameterGrid`).
    val_fraction : float, default=0.1
        Fraction of the rows held out.
    val_rows : {"last", "random"}, default="last"
        The last rows (in the order given), or a seeded random draw.
    refit : bool, default=True
        Refit on all rows with the chosen setting (``False`` keeps the model fitted without the
        held-out rows).
    random_state : int or None, default=None
        Seed of the random draw (``val_rows="random"``).

    Attributes
    ----------
    best_params_ : dict
        The chosen setting.
    val_scores_ : list of float
        Held-out accuracy of each setting, in grid order.
    best_estimator_ : estimator
        The fitted estimator.
    classes_ : ndarray

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.svm import LinearSVC
    >>> rng = np.random.default_rng(0); X = rng.normal(size=(100, 3)); y = (X[:, 0] > 0).astype(int)
    >>> HoldOutSearch(LinearSVC(), {"C": [0.01, 1.0]}).fit(X, y).best_params_["C"] in (0.01, 1.0)
    True
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "predict"])],
        "param_grid": [dict],
        "val_fraction": [Interval(Real, 0, 1, closed="neither")],
        "val_rows": [StrOptions({"last", "random"})],
        "refit": ["boolean"],
        "random_state": [Interval(Integral, 0, None, closed="left"), None],
    }

    def __init__(self, estimator, param_grid, *, val_fraction=0.1, val_rows="last", refit=True, random_state=None):
        self.estimator = estimator
        self.param_grid = param_grid
        self.val_fraction = val_fraction
        self.val_rows = val_rows
        self.refit = refit
        self.random_state = random_state

    def fit(self, X, y):
        from sklearn.model_selection import ParameterGrid

        self._validate_params()
        X, y = validate_data(self, X, y, accept_sparse="csr")
        check_classification_targets(y)
        n = X.shape[0]
        n_val = int(self.val_fraction * n)
        if n_val < 1 or n_val >= n:
            raise ValueError(
                f"HoldOutSearch: val_fraction={self.val_fraction} of {n} rows leaves {n_val} held-out rows; "
                "pass more rows or another val_fraction."
            )
        if self.val_rows == "last":
            val = np.arange(n - n_val, n)
        else:
            val = np.sort(np.random.default_rng(self.random_state).permutation(n)[:n_val])
        train = np.setdiff1d(np.arange(n), val)
        if len(np.unique(y[train])) < 2:
            raise ValueError("HoldOutSearch: the rows left for training hold one class only; use val_rows='random'.")
        grid = list(ParameterGrid(self.param_grid))
        if not grid:
            raise ValueError("HoldOutSearch: param_grid is empty; give at least one setting, e.g. {'C': [1.0]}.")
        self.val_scores_, fitted = [], []
        for params in grid:
            est = clone(self.estimator).set_params(**params).fit(X[train], y[train])
            self.val_scores_.append(float(np.mean(est.predict(X[val]) == y[val])))
            fitted.append(est)
        best = int(np.argmax(self.val_scores_))
        self.best_params_ = grid[best]
        self.best_estimator_ = (
            clone(self.estimator).set_params(**self.best_params_).fit(X, y) if self.refit else fitted[best]
        )
        self.classes_ = self.best_estimator_.classes_
        return self

    def predict(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, accept_sparse="csr")
        return self.best_estimator_.predict(X)

    def decision_function(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, accept_sparse="csr")
        return self.best_estimator_.decision_function(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


def estimator_selection(estimator) -> str:
    """The selection protocol of a base ``estimator`` (``None`` = the toolkit's :class:`CVSVC`)."""
    if estimator is None or isinstance(estimator, CVSVC) or hasattr(estimator, "cv"):
        return "source_cv"
    if isinstance(estimator, HoldOutSearch):
        return "source_val"
    return "none"


def clone_or_default(estimator, default):
    """``clone(estimator)``, or ``default`` (a fresh instance) when ``estimator`` is None."""
    return default if estimator is None else clone(estimator)
