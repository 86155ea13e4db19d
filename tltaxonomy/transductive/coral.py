"""CORAL — CORrelation ALignment (Sun, Feng & Saenko, AAAI 2016)."""

from __future__ import annotations

from numbers import Real

import numpy as np
import scipy.sparse as sp
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

from .._linalg import regularized_covariance_power
from ..base import BaseDomainAdaptationClassifier, DomainSplit
from ..classifiers import CVSVC, clone_or_default, estimator_selection
from ..registry import register

__all__ = ["CORAL", "coral_transform_matrix"]


def coral_transform_matrix(X_source, X_target, reg: float = 1.0) -> np.ndarray:
    r"""The CORAL linear map :math:`A = C_S^{-1/2} C_T^{1/2}`.

    .. math::

        C_S = \operatorname{cov}(X_S) + \lambda I, \qquad C_T = \operatorname{cov}(X_T) + \lambda I,
        \qquad A = C_S^{-1/2} C_T^{1/2},

    so that :math:`\operatorname{cov}(X_S A) = A^\top \operatorname{cov}(X_S) A` equals
    :math:`C_T - \lambda\, A^\top A` and, with ``reg=0`` and full-rank covariances, exactly
    :math:`\operatorname{cov}(X_T)`: the source second-order statistics are re-coloured to the
    target's. Covariances use ``ddof=1`` (MATLAB ``cov``).

    Parameters
    ----------
    X_source, X_target : array or sparse matrix of shape (n, d)
    reg : float, default=1.0
        :math:`\lambda`, the identity regulariser (the paper uses 1).

    Returns
    -------
    A : ndarray of shape (d, d)
    """
    return regularized_covariance_power(X_source, reg, -0.5) @ regularized_covariance_power(X_target, reg, 0.5)


@register("coral", setting="transductive", family="statistics")
class CORAL(BaseDomainAdaptationClassifier):
    r"""CORAL: align the source covariance to the target's, then classify (Sun et al., AAAI 2016).

    The source rows are whitened with their own (regularised) covariance and re-coloured with the
    target's (see :func:`coral_transform_matrix`): :math:`\hat X_S = X_S A`. Target rows are left
    unchanged. Two classifier variants are available:

    - ``variant="transform"`` — the paper's text: train ``estimator`` on :math:`(X_S A, y_S)`, apply it
      to the target rows.
    - ``variant="released_code"`` — what the authors' released MATLAB code (``Ex_CORAL.m``) runs and
      what produced the paper's tables: libsvm with the precomputed, asymmetric similarity
      :math:`K(x, x') = x A x'^\top` between every row and the source rows, i.e. training kernel
      :math:`X_S A X_S^\top` and test kernel :math:`X_T A^\top X_S^\top`. ``estimator`` must then
      accept a precomputed kernel (default: :class:`~tltaxonomy.classifiers.CVSVC`).

    In both, ``C`` is chosen by 2-fold cross-validation on the source rows (no target label is used).
    Rows passed to ``predict`` with a positive ``sample_domain`` are source rows and are mapped with
    ``A`` first.

    Parameters
    ----------
    reg : float, default=1.0
        Identity regulariser :math:`\lambda` added to both covariances.
    variant : {"transform", "released_code"}, default="transform"
    estimator : sklearn classifier or None, default=None
        ``None`` = ``CVSVC(kernel="linear")`` for ``"transform"`` and ``CVSVC(kernel="precomputed")``
        for ``"released_code"``, with ``C`` in {1e-3, ..., 1e4}.

    Attributes
    ----------
    A_ : ndarray of shape (n_features, n_features)
        The alignment map.
    estimator_ : fitted classifier

    References
    ----------
    .. [1] B. Sun, J. Feng, K. Saenko. "Return of Frustratingly Easy Domain Adaptation". AAAI 2016.

    Examples
    --------
    >>> from tltaxonomy.datasets import make_gaussian_shift  # doctest: +SKIP
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> Xs = rng.normal(size=(100, 3)); ys = (Xs[:, 0] > 0).astype(int)
    >>> Xt = 2 * rng.normal(size=(80, 3))
    >>> clf = CORAL().fit_domains(Xs, ys, Xt)
    >>> clf.predict(Xt).shape
    (80,)
    """

    _parameter_constraints = {
        "reg": [Interval(Real, 0, None, closed="left")],
        "variant": [StrOptions({"transform", "released_code"})],
        "estimator": [HasMethods(["fit", "predict"]), None],
    }

    def __init__(self, *, reg=1.0, variant="transform", estimator=None):
        self.reg = reg
        self.variant = variant
        self.estimator = estimator

    def _fit(self, split: DomainSplit) -> None:
        self._validate_params()
        Xs = split.X_source
        # Without target rows there is nothing to align to: A = I (the source-only classifier).
        Xt = split.X_target if split.has_target else Xs
        if Xs.shape[0] < 2 or Xt.shape[0] < 2:
            raise ValueError(
                f"CORAL: needs at least 2 source and 2 target rows to estimate covariances, got "
                f"{Xs.shape[0]} source and {Xt.shape[0]} target rows; pass more rows."
            )
        self.A_ = coral_transform_matrix(Xs, Xt, self.reg) if split.has_target else np.eye(Xs.shape[1])
        XsA = np.asarray(Xs @ self.A_)
        if self.variant == "transform":
            self.estimator_ = clone_or_default(self.estimator, CVSVC(kernel="linear"))
            self.estimator_.fit(XsA, split.y_source)
        else:
            self.estimator_ = clone_or_default(self.estimator, CVSVC(kernel="precomputed"))
            self.estimator_.fit(XsA @ _dense_T(Xs), split.y_source)
            self.source_aligned_ = XsA

    def _align(self, X, sample_domain):
        if sample_domain is None:
            return X
        is_source = np.asarray(sample_domain) > 0
        if not np.any(is_source):
            return X
        X = X.toarray() if sp.issparse(X) else np.array(X, dtype=float)
        X[is_source] = X[is_source] @ self.A_
        return X

    def predict(self, X, *, sample_domain=None):
        """Predict labels; rows with positive ``sample_domain`` are mapped by ``A_`` first."""
        X = self._validate_predict_X(X, sample_domain)
        return self.classes_[self._predict_encoded(self._align(X, sample_domain))]

    def selection_protocol(self) -> str:
        """``"source_cv"`` with the default SVM (C by 2-fold CV on the source rows)."""
        return estimator_selection(self.estimator)

    def _predict_encoded(self, X):
        if self.variant == "transform":
            return self.estimator_.predict(X)
        return self.estimator_.predict(np.asarray(X @ self.source_aligned_.T))


def _dense_T(X):
    return X.T.toarray() if sp.issparse(X) else X.T
