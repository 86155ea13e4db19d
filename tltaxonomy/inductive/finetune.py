"""Fine-tuning family: reuse a (pretrained) backbone on a few labelled target rows.

- :class:`LinearProbe` — frozen backbone, logistic regression on its features;
- :class:`FineTune` — backbone + new linear head, every weight trained;
- :class:`FromScratch` — the same network and budget from a random initialisation (the baseline
  that tells whether transfer helped).
"""

from __future__ import annotations

import math
import os
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn

from ..backbones import FeatureClassifier, build_backbone, extract_features, feature_dim
from ..base import BaseInductiveClassifier, _check_sample_domain
from ..registry import register
from ..training import Trainer, resolve_device, seeded

__all__ = ["LinearProbe", "FineTune", "FromScratch"]

_BACKBONE_CONSTRAINTS = {
    "backbone": [str, os.PathLike, nn.Module],
    "input_shape": [tuple, list, None],
    "batch_size": [Interval(Integral, 1, None, closed="left")],
    "device": [str, torch.device],
    "random_state": [Interval(Integral, 0, None, closed="left"), None],
}
_TRAINING_CONSTRAINTS = {
    k: Trainer._parameter_constraints[k]
    for k in ("max_epochs", "lr", "optimizer", "momentum", "weight_decay", "progress", "checkpoint_dir")
}


class _BackboneClassifier(BaseInductiveClassifier):
    """Shared validation and prediction of the backbone-based inductive classifiers."""

    def _check_X(self, X, *, reset: bool) -> np.ndarray:
        X = validate_data(self, X, reset=reset, dtype=np.float32)
        if reset:  # None = flat vectors of X's width (for MLP backbones)
            self.input_shape_ = (X.shape[1],) if self.input_shape is None else tuple(self.input_shape)
        n_in = math.prod(self.input_shape_)
        if X.shape[1] != n_in:
            raise ValueError(
                f"{type(self).__name__}: X has {X.shape[1]} features but input_shape={self.input_shape_} needs "
                f"{n_in} (flat rows); fix input_shape or reshape X."
            )
        return X

    def _prepare_fit(self, X, y, sample_domain) -> tuple[np.ndarray, np.ndarray]:
        self._validate_params()
        X = self._check_X(X, reset=True)
        _check_sample_domain(self, sample_domain, X.shape[0])
        return X, self._encode_labels(y, X.shape[0])

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``."""
        check_is_fitted(self)
        return self._predict_proba(self._check_X(X, reset=False))

    def predict(self, X) -> np.ndarray:
        """Predicted labels (the values given to ``fit``)."""
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


@register("linear_probe", setting="inductive", family="fine_tuning")
class LinearProbe(TransformerMixin, _BackboneClassifier):
    r"""Linear probe: logistic regression on the features of a frozen (pretrained) backbone.

    With :math:`f_\theta` the frozen backbone, fits

    .. math:: \min_{W, b} \; \frac{1}{2}\|W\|_F^2 + C \sum_{i} -\log \operatorname{softmax}(W f_\theta(x_i) + b)_{y_i}

    on the labelled target rows. Features are extracted once per ``fit`` (eval mode, no gradient).

    Parameters
    ----------
    backbone : str, path-like or torch.nn.Module, default="lenet"
        Registered name, module, or pretrained checkpoint path (see
        :func:`~tltaxonomy.backbones.build_backbone`).
    pretrained : str or path-like, optional
        Checkpoint written by :func:`~tltaxonomy.backbones.pretrain_backbone`; ``None`` = random
        features (a baseline).
    input_shape : tuple of int or None, default=(1, 28, 28)
        Shape of one input; ``X`` holds flat rows of ``prod(input_shape)`` values. ``None`` = flat
        vectors as wide as ``X`` (for an MLP backbone).
    C : float, default=1.0
        Inverse L2 regularisation strength of the logistic regression.
    max_iter : int, default=1000
        Iterations of the logistic-regression solver.
    batch_size : int, default=256
        Rows per forward pass of feature extraction.
    device : str, default="auto"
        Torch device (see :func:`~tltaxonomy.training.resolve_device`).
    random_state : int or None, default=None
        Seed of the backbone's initialisation (when not pretrained) and of the solver.

    Attributes
    ----------
    classes_ : ndarray
        Label values seen in ``fit``.
    backbone_ : torch.nn.Module
        The frozen backbone.
    classifier_ : sklearn.linear_model.LogisticRegression
        The probe.
    n_iter_ : ndarray
        Iterations the probe's solver ran.

    References
    ----------
    .. [1] Kornblith, Shlens, Le. "Do Better ImageNet Models Transfer Better?" CVPR 2019.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.random((20, 784)).astype("float32"), np.repeat(["a", "b"], 10)
    >>> probe = LinearProbe(device="cpu", random_state=0).fit(X, y)
    >>> set(probe.predict(X)) <= {"a", "b"}
    True
    """

    _parameter_constraints = {
        **_BACKBONE_CONSTRAINTS,
        "pretrained": [str, os.PathLike, None],
        "C": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        *,
        backbone: str | os.PathLike | nn.Module = "lenet",
        pretrained: str | os.PathLike | None = None,
        input_shape: tuple[int, ...] = (1, 28, 28),
        C: float = 1.0,
        max_iter: int = 1000,
        batch_size: int = 256,
        device: str = "auto",
        random_state: int | None = None,
    ):
        self.backbone = backbone
        self.pretrained = pretrained
        self.input_shape = input_shape
        self.C = C
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state

    def fit(self, X, y, *, sample_domain=None) -> LinearProbe:
        """Extract features of the labelled rows and fit the probe.

        Parameters
        ----------
        X : array-like of shape (n_samples, prod(input_shape))
            Labelled target rows (flat).
        y : array-like of shape (n_samples,)
            Their labels (any values).
        sample_domain : array-like, optional
            Accepted for API uniformity; every row given is used.
        """
        X, y_enc = self._prepare_fit(X, y, sample_domain)
        with seeded(self.random_state):
            self.backbone_ = build_backbone(self.backbone, input_shape=self.input_shape_, pretrained=self.pretrained)
        self.backbone_.requires_grad_(False)
        Z = self._features(X)
        self.classifier_ = LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=self.random_state)
        self.classifier_.fit(Z, y_enc)
        self.n_iter_ = self.classifier_.n_iter_
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]  # torch features are float32
        return tags

    def _features(self, X: np.ndarray) -> np.ndarray:
        return extract_features(
            self.backbone_, X, input_shape=self.input_shape_, batch_size=self.batch_size, device=self.device
        )

    def transform(self, X) -> np.ndarray:
        """Backbone features of ``X``."""
        check_is_fitted(self)
        return self._features(self._check_X(X, reset=False))

    def _predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.classifier_.predict_proba(self._features(X))


class _TrainedClassifier(_BackboneClassifier):
    """Backbone + linear head trained end to end through the :class:`~tltaxonomy.training.Trainer`."""

    _parameter_constraints = {**_BACKBONE_CONSTRAINTS, **_TRAINING_CONSTRAINTS}
    _random_init = False

    def _make_trainer(self) -> Trainer:
        return Trainer(
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            optimizer=self.optimizer,
            momentum=self.momentum,
            weight_decay=self.weight_decay,
            device=self.device,
            seed=self.random_state,
            progress=self.progress,
            checkpoint_dir=self.checkpoint_dir,
        )

    def fit(self, X, y, *, sample_domain=None):
        """Train the backbone and a new linear head on the labelled rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, prod(input_shape))
            Labelled target rows (flat).
        y : array-like of shape (n_samples,)
            Their labels (any values).
        sample_domain : array-like, optional
            Accepted for API uniformity; every row given is used.
        """
        X, y_enc = self._prepare_fit(X, y, sample_domain)
        shape = self.input_shape_
        pretrained = None if self._random_init else self.pretrained
        with seeded(self.random_state):
            backbone = build_backbone(self.backbone, input_shape=shape, pretrained=pretrained, load_weights=not self._random_init)
            if self._random_init:
                for module in backbone.modules():
                    if hasattr(module, "reset_parameters"):
                        module.reset_parameters()
            model = FeatureClassifier(backbone, feature_dim(backbone, shape), len(self.classes_))
        data = (torch.from_numpy(X.reshape(-1, *shape)), torch.from_numpy(y_enc.astype(np.int64)))
        self.history_ = self._make_trainer().fit(model, data)
        self.model_ = model
        return self

    def _predict_proba(self, X: np.ndarray) -> np.ndarray:
        device = resolve_device(self.device)
        self.model_.to(device).eval()
        X = torch.from_numpy(X)
        out = []
        with torch.no_grad():
            for start in range(0, X.shape[0], max(self.batch_size, 256)):
                xb = X[start : start + max(self.batch_size, 256)].reshape(-1, *self.input_shape_).to(device)
                out.append(torch.softmax(self.model_(xb), dim=1).cpu())
        return torch.cat(out).numpy() if out else np.zeros((0, len(self.classes_)), dtype=np.float32)


_TRAINED_DOC = """
    Parameters
    ----------
    backbone : str, path-like or torch.nn.Module, default="lenet"
        Registered name, module, or checkpoint path (see :func:`~tltaxonomy.backbones.build_backbone`).{pretrained}
    input_shape : tuple of int or None, default=(1, 28, 28)
        Shape of one input; ``X`` holds flat rows of ``prod(input_shape)`` values. ``None`` = flat
        vectors as wide as ``X`` (for an MLP backbone).
    max_epochs : int, default=30
        Training epochs over the labelled rows.
    batch_size : int, default=32
        Rows per mini-batch.
    lr : float, default=1e-3
        Learning rate (the same for backbone and head).
    optimizer : {{"adam", "adamw", "sgd"}}, default="adam"
        Optimiser.
    momentum : float, default=0.9
        SGD momentum.
    weight_decay : float, default=0.0
        L2 penalty.
    device : str, default="auto"
        Torch device.
    random_state : int or None, default=None
        Seed of the head (and backbone) initialisation, shuffling and dropout.
    progress : bool, default=False
        Show a progress bar per epoch.
    checkpoint_dir : str or path-like, optional
        Checkpoint folder of the training run (resumed if it exists); must be unique per run.

    Attributes
    ----------
    classes_ : ndarray
        Label values seen in ``fit``.
    model_ : FeatureClassifier
        The trained network (``model_.backbone``, ``model_.head``).
    history_ : TrainingHistory
        Per-epoch training losses.
"""


@register("finetune", setting="inductive", family="fine_tuning")
class FineTune(_TrainedClassifier):
    r"""Full fine-tuning: a (pretrained) backbone plus a new linear head, all weights trained.

    Starting from the pretrained :math:`\theta_0` and a random head :math:`W`, minimises the
    cross-entropy on the labelled target rows

    .. math:: \min_{\theta, W} \; -\frac{1}{n}\sum_{i=1}^{n} \log \operatorname{softmax}(W f_\theta(x_i))_{y_i}

    with :math:`\theta` initialised at :math:`\theta_0`.
    {doc}
    References
    ----------
    .. [1] Yosinski, Clune, Bengio, Lipson. "How transferable are features in deep neural networks?"
       NeurIPS 2014.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.random((20, 784)).astype("float32"), np.repeat([3, 7], 10)
    >>> FineTune(max_epochs=1, device="cpu", random_state=0).fit(X, y).predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints = {**_TrainedClassifier._parameter_constraints, "pretrained": [str, os.PathLike, None]}

    def __init__(
        self,
        *,
        backbone: str | os.PathLike | nn.Module = "lenet",
        pretrained: str | os.PathLike | None = None,
        input_shape: tuple[int, ...] = (1, 28, 28),
        max_epochs: int = 30,
        batch_size: int = 32,
        lr: float = 1e-3,
        optimizer: str = "adam",
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        device: str = "auto",
        random_state: int | None = None,
        progress: bool = False,
        checkpoint_dir: str | os.PathLike | None = None,
    ):
        self.backbone = backbone
        self.pretrained = pretrained
        self.input_shape = input_shape
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.device = device
        self.random_state = random_state
        self.progress = progress
        self.checkpoint_dir = checkpoint_dir


@register("scratch", setting="inductive", family="fine_tuning")
class FromScratch(_TrainedClassifier):
    r"""The no-transfer baseline: :class:`FineTune`'s network and budget from a random initialisation.

    Every parameter is re-initialised (``reset_parameters``) under ``random_state``, also when the
    backbone is given as a module or a checkpoint path (only its architecture is used), then trained
    exactly as :class:`FineTune` does. The gap ``FineTune - FromScratch`` measures what transfer
    brought.
    {doc}
    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.random((20, 784)).astype("float32"), np.repeat([3, 7], 10)
    >>> FromScratch(max_epochs=1, device="cpu", random_state=0).fit(X, y).score(X, y) >= 0
    True
    """

    _random_init = True

    def __init__(
        self,
        *,
        backbone: str | os.PathLike | nn.Module = "lenet",
        input_shape: tuple[int, ...] = (1, 28, 28),
        max_epochs: int = 30,
        batch_size: int = 32,
        lr: float = 1e-3,
        optimizer: str = "adam",
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        device: str = "auto",
        random_state: int | None = None,
        progress: bool = False,
        checkpoint_dir: str | os.PathLike | None = None,
    ):
        self.backbone = backbone
        self.input_shape = input_shape
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.device = device
        self.random_state = random_state
        self.progress = progress
        self.checkpoint_dir = checkpoint_dir


_PRETRAINED_DOC = """
    pretrained : str or path-like, optional
        Checkpoint written by :func:`~tltaxonomy.backbones.pretrain_backbone` whose weights
        initialise the backbone; ``None`` = random initialisation."""
FineTune.__doc__ = FineTune.__doc__.replace("{doc}", _TRAINED_DOC.format(pretrained=_PRETRAINED_DOC))
FromScratch.__doc__ = FromScratch.__doc__.replace("{doc}", _TRAINED_DOC.format(pretrained=""))
