"""mSDA — marginalized Stacked Denoising Autoencoder (Chen, Xu, Weinberger & Sha, ICML 2012)."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from sklearn.base import TransformerMixin
from sklearn.svm import LinearSVC
from sklearn.utils import TransformerTags
from sklearn.utils._param_validation import HasMethods, Interval

from ..base import BaseDomainAdaptationClassifier, DomainSplit
from ..classifiers import clone_or_default
from ..registry import register

__all__ = ["MSDA", "msda_layer", "msda_layer_weights", "MSDA_RIDGE"]

#: Ridge added to the diagonal of Q (all but the bias entry), as the authors' ``mSDA.m`` does (lambda = 1e-5).
MSDA_RIDGE = 1e-5


def _dense(X) -> np.ndarray:
    return X.toarray() if sp.issparse(X) else np.asarray(X, dtype=float)


def msda_layer_weights(X, noise: float, reg: float = MSDA_RIDGE) -> np.ndarray:
    r"""Closed-form weights of one marginalized denoising autoencoder (mDA) layer.

    With :math:`\bar X = [X, \mathbf 1] \in \mathbb{R}^{n\times(d+1)}` (bias column appended),
    feature survival probabilities :math:`q = (1-p, \dots, 1-p, 1)` (the bias is never corrupted) and the
    scatter matrix :math:`S = \bar X^\top \bar X`, the expected (over infinitely many corruptions, each
    feature zeroed independently with probability :math:`p`) squared reconstruction loss

    .. math::

        \mathbb{E}\,\big\| X - \tilde{\bar X} W^\top \big\|_F^2

    is minimised by :math:`W = \mathbb{E}[P]\,\mathbb{E}[Q]^{-1}` with

    .. math::

        \mathbb{E}[Q]_{ij} = S_{ij}\, q_i q_j \ (i\ne j), \quad \mathbb{E}[Q]_{ii} = S_{ii}\, q_i, \qquad
        \mathbb{E}[P]_{ij} = S_{ij}\, q_j \quad (i \le d,\ j \le d+1).

    As in the authors' ``mDA.m``, ``reg`` is added to the diagonal of :math:`\mathbb{E}[Q]` except the
    bias entry, and the system is solved (``scipy.linalg.solve``: Cholesky, LU as a fallback) rather than
    inverted.

    Parameters
    ----------
    X : array or sparse matrix of shape (n, d)
        Rows to reconstruct (densified).
    noise : float in [0, 1)
        Corruption probability :math:`p`.
    reg : float, default=1e-5

    Returns
    -------
    W : ndarray of shape (d, d + 1)
        Reconstruction :math:`\hat X = \bar X W^\top`; the last column is the bias.
    """
    X = _dense(X)
    n, d = X.shape
    Xb = np.hstack([X, np.ones((n, 1))])
    S = Xb.T @ Xb
    q = np.full(d + 1, 1.0 - noise)
    q[-1] = 1.0
    Q = S * np.outer(q, q)
    np.fill_diagonal(Q, q * np.diag(S))
    Q[np.arange(d), np.arange(d)] += reg
    P = S[:d, :] * q[None, :]
    # W Q = P  <=>  Q W^T = P^T. Q is symmetric positive semi-definite (S o qq^T plus the non-negative
    # diagonal S_ii q_i (1 - q_i)), positive definite with the ridge: Cholesky ("pos", >10x faster than
    # LAPACK's symmetric-indefinite "sym" at d = 5000); general LU if Cholesky fails (reg = 0, empty feature).
    try:
        return scipy.linalg.solve(Q, P.T, assume_a="pos", check_finite=False).T
    except np.linalg.LinAlgError:
        return scipy.linalg.solve(Q, P.T, check_finite=False).T


def msda_layer(X, noise: float, reg: float = MSDA_RIDGE):
    r"""One mDA layer: :math:`W` from :func:`msda_layer_weights` and :math:`h = \tanh(\bar X W^\top)`.

    Returns
    -------
    H : ndarray of shape (n, d)
        The hidden representation of the rows of ``X``.
    W : ndarray of shape (d, d + 1)
    """
    W = msda_layer_weights(X, noise, reg)
    return _apply_layer(_dense(X), W), W


def _apply_layer(X: np.ndarray, W: np.ndarray) -> np.ndarray:
    return np.tanh(X @ W[:, :-1].T + W[:, -1])


@register("msda", setting="transductive", family="feature_learning")
class MSDA(TransformerMixin, BaseDomainAdaptationClassifier):
    r"""mSDA: closed-form stacked denoising autoencoder learned on source + target rows (Chen et al., ICML 2012).

    Each layer :math:`l = 1..L` is a marginalized denoising autoencoder learned in closed form
    (:func:`msda_layer_weights`) on the previous layer's output :math:`h_{l-1}` of **all** training
    rows, source and target stacked (no label is used), with :math:`h_0 = x`:

    .. math::

        W_l = \mathbb{E}[P_l]\,\mathbb{E}[Q_l]^{-1}, \qquad h_l = \tanh\!\big([h_{l-1}, 1]\, W_l^\top\big).

    Because the layers reconstruct features that were dropped from features that co-occur with them,
    and the co-occurrence statistics are estimated on both domains, domain-specific features are
    mapped towards shared ones. Rows are represented by :math:`[x, h_1, \dots, h_L]` when
    ``concat_input`` (the paper's and the DANN paper's setting), else :math:`[h_1, \dots, h_L]`,
    and ``estimator`` is trained on the source rows' representation.

    Sparse input is densified (the :math:`(d+1)\times(d+1)` solve is dense anyway; the 5000-d Amazon
    files fit in memory). No scaling is applied: pass the features in the form wanted (raw counts,
    binarised, tf-idf).

    Parameters
    ----------
    n_layers : int, default=5
        :math:`L` (the DANN paper's mSDA columns: 5).
    noise : float in [0, 1), default=0.5
        Corruption probability :math:`p` (DANN paper: 0.5).
    concat_input : bool, default=True
        Prepend the input :math:`x` to the hidden layers.
    estimator : sklearn classifier or None, default=None
        ``None`` = ``sklearn.svm.LinearSVC(C=1.0, random_state=random_state)`` — scikit-learn's default
        ``C``, as the DANN authors' SVM column (sklearn's linear SVM with its defaults); ``C`` is not
        tuned. A domain-adaptation strategy (e.g. :class:`~tltaxonomy.transductive.DANN`) is fitted
        on the represented source *and* target rows with their ``sample_domain`` (the "DANN (mSDA)"
        column of the DANN paper); any other classifier on the source rows.
    random_state : int, RandomState or None, default=None
        Passed to the default ``LinearSVC`` (its dual coordinate descent shuffles). The mSDA layers are
        deterministic.

    Attributes
    ----------
    weights_ : list of ndarray of shape (n_features, n_features + 1)
        :math:`W_1, \dots, W_L`.
    estimator_ : fitted classifier
    n_features_out_ : int
        ``n_features * (n_layers + concat_input)``.

    References
    ----------
    .. [1] M. Chen, Z. Xu, K. Weinberger, F. Sha. "Marginalized Denoising Autoencoders for Domain
       Adaptation". ICML 2012.
    .. [2] Y. Ganin et al. "Domain-Adversarial Training of Neural Networks". JMLR 2016 (Table 1, mSDA columns).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> Xs = rng.poisson(0.3, size=(60, 8)).astype(float); ys = (Xs[:, 0] > 0).astype(int)
    >>> Xt = rng.poisson(0.3, size=(50, 8)).astype(float)
    >>> clf = MSDA(n_layers=2, random_state=0).fit_domains(Xs, ys, Xt)
    >>> clf.transform(Xt).shape
    (50, 24)
    >>> clf.predict(Xt).shape
    (50,)
    """

    _parameter_constraints = {
        "n_layers": [Interval(Integral, 1, None, closed="left")],
        "noise": [Interval(Real, 0, 1, closed="left")],
        "concat_input": ["boolean"],
        "estimator": [HasMethods(["fit", "predict"]), None],
        "random_state": ["random_state"],
    }

    def __init__(self, *, n_layers=5, noise=0.5, concat_input=True, estimator=None, random_state=None):
        self.n_layers = n_layers
        self.noise = noise
        self.concat_input = concat_input
        self.estimator = estimator
        self.random_state = random_state

    def _fit(self, split: DomainSplit) -> None:
        self._validate_params()
        Xs = _dense(split.X_source)
        X_all = np.vstack([Xs, _dense(split.X_target)]) if split.has_target else Xs
        self.weights_ = []
        H = X_all
        for _ in range(self.n_layers):
            H, W = msda_layer(H, self.noise)
            self.weights_.append(W)
        self.n_features_out_ = Xs.shape[1] * (self.n_layers + int(self.concat_input))
        self.estimator_ = clone_or_default(self.estimator, LinearSVC(C=1.0, random_state=self.random_state))
        if isinstance(self.estimator_, BaseDomainAdaptationClassifier):
            # a domain-adaptation learner on top (e.g. DANN on mSDA features): it gets the target rows too
            X, y, sd = split.masked()
            self.estimator_.fit(self._embed(X), y, sample_domain=sd)
        else:
            self.estimator_.fit(self._embed(Xs), split.y_source)

    def _embed(self, X) -> np.ndarray:
        X = _dense(X)
        blocks = [X] if self.concat_input else []
        H = X
        for W in self.weights_:
            H = _apply_layer(H, W)
            blocks.append(H)
        return np.hstack(blocks)

    def transform(self, X, sample_domain=None):
        """Represent rows by :math:`[x, h_1, \\dots, h_L]` (or :math:`[h_1, \\dots, h_L]`); the
        representation is the same for source and target rows (``sample_domain`` is only validated)."""
        X = self._validate_predict_X(X, sample_domain)
        return self._embed(X)

    def _predict_encoded(self, X):
        return self.estimator_.predict(self._embed(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags = TransformerTags(preserves_dtype=["float64"])
        return tags
