r"""Self-taught learning (Raina et al. 2007): features learned from unlabelled data of another
distribution (and another label set), then a supervised learner on the labelled target rows in that
representation.

- :class:`SparseAutoencoder` — the UFLDL sparse autoencoder (sigmoid hidden layer, KL sparsity
  penalty, weight decay, trained with L-BFGS through :func:`scipy.optimize.minimize`);
- :class:`SparseCoding` — L1 sparse coding bases (Raina et al.'s formulation), learned with
  scikit-learn's dictionary learning; the features are the sparse codes of each input;
- :class:`SelfTaughtClassifier` — the registered strategy: fit a feature learner on the unlabelled
  rows, then any sklearn classifier on the labelled rows' features. A PCA baseline is
  ``feature_learner=sklearn.decomposition.PCA(...)`` and the raw-pixel baseline ``"passthrough"``.

The runner's inductive protocol passes the task's source rows as ``X_unlabelled`` (never their labels)
to strategies that declare ``_uses_unlabelled = True``.

References
----------
R. Raina, A. Battle, H. Lee, B. Packer, A. Y. Ng. Self-taught learning: transfer learning from unlabeled
data. ICML 2007.
A. Ng et al. UFLDL Tutorial (Stanford), "Sparse Autoencoder" and "Self-Taught Learning" exercises.
H. Lee, A. Battle, R. Raina, A. Y. Ng. Efficient sparse coding algorithms. NIPS 2006.
"""

from __future__ import annotations

import os
from numbers import Integral, Real

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin, clone
from sklearn.decomposition import MiniBatchDictionaryLearning, SparseCoder
from sklearn.linear_model import LogisticRegression
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, check_memory

from ..base import BaseInductiveClassifier, _check_sample_domain, check_input
from ..registry import register

__all__ = ["SparseAutoencoder", "SparseCoding", "SelfTaughtClassifier"]


class SparseAutoencoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    r"""Sparse autoencoder of the UFLDL tutorial, trained with L-BFGS.

    One hidden layer :math:`a = \sigma(W_1 x + b_1)` of ``n_components`` sigmoid units and a
    reconstruction :math:`\hat x = \sigma(W_2 a + b_2)` (``decoder="sigmoid"``, inputs in [0, 1]) or
    :math:`\hat x = W_2 a + b_2` (``decoder="linear"``, any real inputs). Over :math:`m` rows it minimises

    .. math::

        J = \frac{1}{2m}\sum_{i=1}^m \|\hat x_i - x_i\|^2
            + \frac{\lambda}{2}\big(\|W_1\|_F^2 + \|W_2\|_F^2\big)
            + \beta \sum_{j=1}^{h} \mathrm{KL}(\rho \,\|\, \hat\rho_j),\qquad
        \hat\rho_j = \frac{1}{m}\sum_i a_{ij},

    with :math:`\mathrm{KL}(\rho\|\hat\rho) = \rho\log\frac{\rho}{\hat\rho} + (1-\rho)\log\frac{1-\rho}{1-\hat\rho}`,
    by L-BFGS (:func:`scipy.optimize.minimize`, ``method="L-BFGS-B"``) on the exact gradient
    (backpropagation; :meth:`cost_and_gradient`). ``transform`` returns the hidden activations
    :math:`a`, the self-taught features.

    Parameters
    ----------
    n_components : int, default=200
        Hidden units :math:`h` (UFLDL's self-taught exercise: 200).
    sparsity : float, default=0.1
        Target mean activation :math:`\rho`.
    sparsity_weight : float, default=3.0
        :math:`\beta`.
    reg : float, default=3e-3
        Weight decay :math:`\lambda` (biases are not decayed).
    decoder : {"sigmoid", "linear"}, default="sigmoid"
        ``"sigmoid"`` needs inputs in [0, 1] (pixels); ``"linear"`` is UFLDL's linear decoder for
        real-valued (e.g. standardised) inputs.
    max_iter : int, default=400
        L-BFGS iterations (UFLDL: 400).
    tol : float, default=1e-9
        L-BFGS ``ftol``/``gtol``.
    random_state : int, RandomState or None, default=None
        Seed of the initialisation :math:`W \sim U(-r, r)`, :math:`r = \sqrt{6 / (n_{in} + h + 1)}`.

    Attributes
    ----------
    W1_ : ndarray of shape (n_components, n_features_in_)
    b1_ : ndarray of shape (n_components,)
    W2_ : ndarray of shape (n_features_in_, n_components)
    b2_ : ndarray of shape (n_features_in_,)
    loss_ : float
        The objective :math:`J` at the end.
    n_iter_ : int
        L-BFGS iterations run.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).random((50, 8))
    >>> sae = SparseAutoencoder(n_components=3, max_iter=20, random_state=0).fit(X)
    >>> sae.transform(X).shape
    (50, 3)
    """

    _parameter_constraints = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "sparsity": [Interval(Real, 0, 1, closed="neither")],
        "sparsity_weight": [Interval(Real, 0, None, closed="left")],
        "reg": [Interval(Real, 0, None, closed="left")],
        "decoder": [StrOptions({"sigmoid", "linear"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        *,
        n_components: int = 200,
        sparsity: float = 0.1,
        sparsity_weight: float = 3.0,
        reg: float = 3e-3,
        decoder: str = "sigmoid",
        max_iter: int = 400,
        tol: float = 1e-9,
        random_state=None,
    ):
        self.n_components = n_components
        self.sparsity = sparsity
        self.sparsity_weight = sparsity_weight
        self.reg = reg
        self.decoder = decoder
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    # -- parameters <-> flat vector (the layout of UFLDL's theta: W1, W2, b1, b2) ---------------------
    def _shapes(self, n_in: int):
        h = int(self.n_components)
        return [(h, n_in), (n_in, h), (h,), (n_in,)]

    @staticmethod
    def _unpack(theta: np.ndarray, shapes):
        out, i = [], 0
        for shape in shapes:
            size = int(np.prod(shape))
            out.append(theta[i : i + size].reshape(shape))
            i += size
        return out

    def init_parameters(self, n_features: int) -> np.ndarray:
        """The initial flat parameter vector ``[W1, W2, b1, b2]`` (UFLDL's ``initializeParameters``)."""
        rng = check_random_state(self.random_state)
        h = int(self.n_components)
        r = np.sqrt(6.0 / (n_features + h + 1))
        W1 = rng.uniform(-r, r, size=(h, n_features))
        W2 = rng.uniform(-r, r, size=(n_features, h))
        return np.concatenate([W1.ravel(), W2.ravel(), np.zeros(h), np.zeros(n_features)])

    def cost_and_gradient(self, theta: np.ndarray, X: np.ndarray) -> tuple[float, np.ndarray]:
        r"""The objective :math:`J(\theta)` on rows ``X`` and its gradient (backpropagation).

        Parameters
        ----------
        theta : ndarray of shape (2 * h * n_features + h + n_features,)
            ``[W1.ravel(), W2.ravel(), b1, b2]``.
        X : ndarray of shape (m, n_features)

        Returns
        -------
        cost : float
        grad : ndarray, the shape of ``theta``
        """
        m, n_in = X.shape
        W1, W2, b1, b2 = self._unpack(theta, self._shapes(n_in))
        a2 = expit(X @ W1.T + b1)
        z3 = a2 @ W2.T + b2
        out = expit(z3) if self.decoder == "sigmoid" else z3
        diff = out - X
        rho = float(self.sparsity)
        rho_hat = np.clip(a2.mean(axis=0), 1e-12, 1 - 1e-12)
        beta = float(self.sparsity_weight)
        lam = float(self.reg)
        kl = np.sum(rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat)))
        cost = 0.5 * np.sum(diff * diff) / m + 0.5 * lam * (np.sum(W1 * W1) + np.sum(W2 * W2)) + beta * kl
        d3 = diff * out * (1 - out) if self.decoder == "sigmoid" else diff
        sparse_term = beta * (-rho / rho_hat + (1 - rho) / (1 - rho_hat))
        d2 = (d3 @ W2 + sparse_term) * a2 * (1 - a2)
        gW1 = d2.T @ X / m + lam * W1
        gW2 = d3.T @ a2 / m + lam * W2
        grad = np.concatenate([gW1.ravel(), gW2.ravel(), d2.mean(axis=0), d3.mean(axis=0)])
        return float(cost), grad

    def _check_range(self, X: np.ndarray) -> None:
        if self.decoder == "sigmoid" and (X.min() < 0 or X.max() > 1):
            raise ValueError(
                f"{type(self).__name__}(decoder='sigmoid') reconstructs inputs in [0, 1], but X ranges over "
                f"[{X.min():.4g}, {X.max():.4g}]; scale X to [0, 1] (e.g. sklearn's MinMaxScaler) or use "
                "decoder='linear' for real-valued inputs."
            )

    def fit(self, X, y=None):
        """Learn the autoencoder on the rows of ``X`` (``y`` is ignored)."""
        self._validate_params()
        X = check_input(self, X, dtype=np.float64)
        self._check_range(X)
        theta0 = self.init_parameters(X.shape[1])
        res = minimize(
            self.cost_and_gradient, theta0, args=(X,), jac=True, method="L-BFGS-B",
            options={"maxiter": int(self.max_iter), "ftol": float(self.tol), "gtol": float(self.tol), "maxcor": 10},
        )
        if not np.all(np.isfinite(res.x)):
            raise FloatingPointError(f"{type(self).__name__}: L-BFGS produced non-finite weights; lower sparsity_weight or check X.")
        self.W1_, self.W2_, self.b1_, self.b2_ = (a.copy() for a in self._unpack(res.x, self._shapes(X.shape[1])))
        self.loss_ = float(res.fun)
        self.n_iter_ = int(res.nit)
        self._n_features_out = int(self.n_components)
        return self

    def transform(self, X) -> np.ndarray:
        """Hidden activations :math:`\\sigma(W_1 x + b_1)`, shape (n_samples, n_components)."""
        check_is_fitted(self)
        X = check_input(self, X, reset=False, dtype=np.float64)
        return expit(X @ self.W1_.T + self.b1_)

    def reconstruct(self, X) -> np.ndarray:
        """The decoder's reconstruction :math:`\\hat x` of each row."""
        a = self.transform(X)
        z = a @ self.W2_.T + self.b2_
        return expit(z) if self.decoder == "sigmoid" else z


class SparseCoding(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    r"""L1 sparse coding bases learned on unlabelled rows; features = the sparse codes (Raina et al. 2007).

    Learning solves (scikit-learn's :class:`~sklearn.decomposition.MiniBatchDictionaryLearning`)

    .. math::

        \min_{b, a} \sum_i \Big\|x_i - \sum_j a_{ij} b_j\Big\|_2^2 + \beta \|a_i\|_1
        \quad \text{s.t.}\ \|b_j\|_2 \le 1,

    and the features of a new input :math:`x` are its activations
    :math:`\hat a(x) = \arg\min_a \|x - \sum_j a_j b_j\|_2^2 + \beta \|a\|_1` (a lasso on the fixed
    bases, :class:`~sklearn.decomposition.SparseCoder`). scikit-learn scales the objective by
    :math:`\frac{1}{2}` per row, so ``alpha`` is :math:`\beta / 2` of the formula above.

    Parameters
    ----------
    n_components : int, default=200
        Number of bases.
    alpha : float, default=0.1
        L1 weight while learning the bases.
    transform_alpha : float or None, default=None
        L1 weight of the features (``None`` = ``alpha``).
    max_iter : int, default=20
        Passes over the data of the mini-batch learner.
    batch_size : int, default=256
    transform_algorithm : {"lasso_cd", "lasso_lars"}, default="lasso_cd"
    random_state : int, RandomState or None, default=None

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features_in_)
        The unit-norm bases.
    """

    _parameter_constraints = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="neither")],
        "transform_alpha": [Interval(Real, 0, None, closed="neither"), None],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "transform_algorithm": [StrOptions({"lasso_cd", "lasso_lars"})],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        *,
        n_components: int = 200,
        alpha: float = 0.1,
        transform_alpha: float | None = None,
        max_iter: int = 20,
        batch_size: int = 256,
        transform_algorithm: str = "lasso_cd",
        random_state=None,
    ):
        self.n_components = n_components
        self.alpha = alpha
        self.transform_alpha = transform_alpha
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.transform_algorithm = transform_algorithm
        self.random_state = random_state

    def fit(self, X, y=None):
        """Learn the bases on the rows of ``X`` (``y`` is ignored)."""
        self._validate_params()
        X = check_input(self, X, dtype=np.float64)  # float64: the lasso's duality-gap test fails in float32
        dl = MiniBatchDictionaryLearning(
            n_components=int(self.n_components), alpha=float(self.alpha), max_iter=int(self.max_iter),
            batch_size=int(self.batch_size), random_state=self.random_state, fit_algorithm="cd",
        ).fit(X)
        self.components_ = dl.components_
        self.n_iter_ = dl.n_iter_
        self._n_features_out = int(self.n_components)
        return self

    def transform(self, X) -> np.ndarray:
        """The sparse codes of the rows of ``X``, shape (n_samples, n_components)."""
        check_is_fitted(self)
        X = check_input(self, X, reset=False, dtype=np.float64)
        alpha = float(self.alpha if self.transform_alpha is None else self.transform_alpha)
        coder = SparseCoder(dictionary=self.components_, transform_algorithm=self.transform_algorithm,
                            transform_alpha=alpha, transform_max_iter=2000)
        return coder.transform(X)


@register("self_taught", setting="inductive", family="self_taught")
class SelfTaughtClassifier(TransformerMixin, BaseInductiveClassifier):
    r"""Self-taught learning: a representation learned on unlabelled rows of another distribution, then
    a classifier on the labelled rows in that representation (Raina et al. 2007).

    ``fit(X, y, X_unlabelled=U)`` fits ``feature_learner`` on ``U`` alone (no label of ``U`` exists or
    is used), then ``classifier`` on ``feature_learner.transform(X)``, ``y``. Without ``X_unlabelled``
    the features are learned on ``X`` itself (plain unsupervised pre-processing, no transfer). In
    ``tltax run``, the inductive protocol passes the task's source rows as ``X_unlabelled``.

    Parameters
    ----------
    feature_learner : transformer or "passthrough", default=None
        Any sklearn transformer with ``fit``/``transform`` (:class:`SparseAutoencoder`,
        :class:`SparseCoding`, :class:`~sklearn.decomposition.PCA`, ...); ``None`` =
        ``SparseAutoencoder()`` (UFLDL's settings); ``"passthrough"`` = the raw inputs (the baseline).
    classifier : classifier, default=None
        Any sklearn classifier; ``None`` = ``LogisticRegression(max_iter=1000)`` (multinomial softmax,
        as UFLDL's softmax regression).
    memory : str, path-like, joblib.Memory or None, default=None
        Cache of the fitted feature learner (scikit-learn's ``Pipeline(memory=...)`` convention), keyed
        by the learner's parameters and the unlabelled rows: a learning curve over the label budget
        learns the features once per seed.

    Attributes
    ----------
    feature_learner_ : transformer or None
        The fitted feature learner (``None`` for ``"passthrough"``).
    classifier_ : classifier
        The fitted classifier (on encoded labels ``0 .. n_classes-1``).
    classes_ : ndarray
    n_unlabelled_ : int
        Rows the features were learned on.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.decomposition import PCA
    >>> rng = np.random.default_rng(0)
    >>> U = rng.normal(size=(200, 10)); X = rng.normal(size=(20, 10)); y = (X[:, 0] > 0).astype(int)
    >>> clf = SelfTaughtClassifier(feature_learner=PCA(n_components=5)).fit(X, y, X_unlabelled=U)
    >>> clf.predict(X).shape
    (20,)
    """

    #: the inductive protocol passes the task's unlabelled source rows as ``X_unlabelled``
    _uses_unlabelled = True

    _parameter_constraints = {
        "feature_learner": [HasMethods(["fit", "transform"]), StrOptions({"passthrough"}), None],
        "classifier": [HasMethods(["fit", "predict"]), None],
        "memory": [str, os.PathLike, HasMethods(["cache"]), None],
    }

    def __init__(self, *, feature_learner=None, classifier=None, memory=None):
        self.feature_learner = feature_learner
        self.classifier = classifier
        self.memory = memory

    def _features(self, X) -> np.ndarray:
        return X if self.feature_learner_ is None else self.feature_learner_.transform(X)

    def fit(self, X, y, *, X_unlabelled=None, sample_domain=None):
        """Learn the features on ``X_unlabelled`` (or ``X``), then the classifier on ``X``, ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Labelled target rows.
        y : array-like of shape (n_samples,)
        X_unlabelled : array-like of shape (n_unlabelled, n_features), default=None
            Unlabelled rows (another distribution / label set is the point of self-taught learning).
        sample_domain : ignored (accepted for the toolkit's common signature; must match ``X``).
        """
        self._validate_params()
        X = check_input(self, X, dtype=[np.float64, np.float32])
        _check_sample_domain(self, sample_domain, X.shape[0])
        y_enc = self._encode_labels(y, X.shape[0])
        if X_unlabelled is None:
            U = X
        else:
            if getattr(X_unlabelled, "shape", (1,))[0] == 0:
                raise ValueError(f"{type(self).__name__}: X_unlabelled has no rows; pass unlabelled rows or None.")
            U = check_input(self, X_unlabelled, what="X_unlabelled", reset=False, dtype=[np.float64, np.float32])
        self.n_unlabelled_ = int(U.shape[0])
        if self.feature_learner == "passthrough":
            self.feature_learner_ = None
        else:
            learner = SparseAutoencoder() if self.feature_learner is None else self.feature_learner
            fit = _fit_learner if self.memory is None else check_memory(self.memory).cache(_fit_learner)
            self.feature_learner_ = fit(clone(learner), U)
        clf = LogisticRegression(max_iter=1000) if self.classifier is None else self.classifier
        self.classifier_ = clone(clf).fit(self._features(X), y_enc)
        return self

    def fit_transform(self, X, y=None, **fit_params):
        """:meth:`fit` then :meth:`transform` of ``X`` (the features of the labelled rows)."""
        return self.fit(X, y, **fit_params).transform(X)

    def transform(self, X) -> np.ndarray:
        """The learned features of ``X``."""
        check_is_fitted(self)
        X = check_input(self, X, reset=False, dtype=[np.float64, np.float32])
        return self._features(X)

    def predict(self, X) -> np.ndarray:
        """Predicted labels (the values given to ``fit``)."""
        F = self.transform(X)
        return self.classes_[np.asarray(self.classifier_.predict(F), dtype=int)]

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities of the classifier (when it has ``predict_proba``)."""
        F = self.transform(X)
        return self.classifier_.predict_proba(F)


def _fit_learner(learner, U):
    # a module-level function, so that joblib.Memory can key the cache on (learner's params, U)
    return learner.fit(U)
