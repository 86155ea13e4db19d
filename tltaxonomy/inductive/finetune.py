"""Fine-tuning family: reuse a (pretrained) backbone on a few labelled target rows.

- :class:`LinearProbe` — frozen backbone, logistic regression on its features;
- :class:`FineTune` — backbone + new linear head, every weight trained;
- :class:`FromScratch` — the same network and budget from a random initialisation (the baseline
  that tells whether transfer helped).
"""

from __future__ import annotations

import inspect
import os
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
import torch.nn.functional as F
from torch import nn

from ..backbones import FeatureClassifier, backbone_blocks, build_backbone, extract_features, feature_dim
from ..backbones.inputs import BackboneInputMixin, cached_features
from ..base import BaseInductiveClassifier, _check_sample_domain
from ..registry import register
from ..training import Trainer, classification_step, resolve_device, seeded
from .regularizers import BatchSpectralShrinkage, SPRegularization

__all__ = [
    "BSS",
    "DiscriminativeFineTune",
    "FineTune",
    "FromScratch",
    "GradualUnfreezing",
    "L2SP",
    "LPFT",
    "LinearProbe",
    "PartialFineTune",
]

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


class _BackboneClassifier(BackboneInputMixin, BaseInductiveClassifier):
    """Shared validation and prediction of the backbone-based inductive classifiers."""

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
    memory : str, path-like, joblib.Memory or None, default=None
        Cache of the extracted features (scikit-learn's ``Pipeline(memory=...)`` convention), keyed by
        the backbone's weights and the rows: a sweep over ``C``, seeds or label budgets drawn from the
        same images extracts each row's features once. ``None`` = no cache.

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
        "memory": [str, os.PathLike, HasMethods(["cache"]), None],
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
        memory=None,
    ):
        self.backbone = backbone
        self.pretrained = pretrained
        self.input_shape = input_shape
        self.C = C
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state
        self.memory = memory

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
        return cached_features(
            self.memory, self.backbone_, X, input_shape=self.input_shape_, batch_size=self.batch_size, device=self.device
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
        step, groups = self._training_plan(model, X, y_enc)
        self.history_ = self._make_trainer().fit(model, data, step, param_groups=groups)
        self.model_ = model.requires_grad_(True)  # a plan may end with blocks frozen (gradual unfreezing)
        return self

    def _training_plan(self, model: FeatureClassifier, X: np.ndarray, y_enc: np.ndarray):
        """The step and parameter groups of the run (plain cross-entropy, one group)."""
        return classification_step, None

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
    r"""Fine-tuning a (pretrained) backbone plus a new linear head, with the standard variants as options.

    Starting from the pretrained :math:`\theta_0` and a head :math:`W`, minimises on the labelled
    target rows

    .. math:: \min_{\theta, W} \; -\frac{1}{n}\sum_{i=1}^{n} \log \operatorname{softmax}(W f_\theta(x_i))_{y_i}
              \;+\; \frac{\alpha}{2}\|\theta - \theta_0\|^2 + \frac{\beta}{2}\|W\|^2
              \;+\; \eta \sum_{j=1}^{k} \sigma_{-j}^2\big(f_\theta(X_B)\big)

    with :math:`\theta` initialised at :math:`\theta_0`. With the defaults (:math:`\alpha=\beta=\eta=0`,
    nothing frozen, one learning rate, a random head) this is full fine-tuning (Yosinski et al. 2014).
    The options, which combine freely, are the standard strategies (each is also registered with its
    defaults set: :class:`PartialFineTune`, :class:`GradualUnfreezing`, :class:`DiscriminativeFineTune`,
    :class:`L2SP`, :class:`LPFT`, :class:`BSS`):

    - ``freeze_blocks=k`` — partial fine-tuning: the first :math:`k` blocks of the backbone
      (:func:`~tltaxonomy.backbones.backbone_blocks`) keep their weights and batch-norm statistics;
    - ``unfreeze_every=e`` — gradual unfreezing (Howard & Ruder 2018): the frozen blocks (all of them
      when ``freeze_blocks=0``) are unfrozen one per ``e`` epochs, from the top;
    - ``backbone_lr_mult=m`` — discriminative learning rates: the backbone learns at ``m * lr``;
    - ``l2sp_alpha``, ``l2sp_beta`` — L2-SP (Li et al. 2018,
      :class:`~tltaxonomy.inductive.regularizers.SPRegularization`): weight decay towards
      :math:`\theta_0` instead of towards zero;
    - ``head_init="linear_probe"`` — LP-FT (Kumar et al. 2022): the head starts from a logistic
      regression fitted on the frozen features, so fine-tuning does not begin by distorting the
      features with a random head's gradients;
    - ``bss_eta``, ``bss_k`` — BSS (Chen et al. 2019,
      :class:`~tltaxonomy.inductive.regularizers.BatchSpectralShrinkage`): shrink the :math:`k`
      smallest singular values of each batch's features;
    - ``freeze_bn=True`` — the backbone's batch-norm layers stay in eval mode: they normalise with the
      pretrained running statistics in training as in prediction (their affine weights still train).
      With a few labelled images per batch, training-mode statistics differ from the ones used at
      prediction and the head learns on features it never sees again.
    {doc}
    backbone_lr_mult : float, default=1.0
        Learning rate of the backbone relative to the head's (``lr``); 0 keeps the backbone fixed
        while its batch-norm statistics still adapt.
    freeze_blocks : int, default=0
        Number of backbone blocks, counted from the input, that are not trained.
    unfreeze_every : int, default=0
        Epochs between two unfreezings; 0 = no gradual unfreezing.
    l2sp_alpha : float, default=0.0
        Weight :math:`\alpha` of the distance to the pretrained weights.
    l2sp_beta : float, default=0.0
        Weight :math:`\beta` of the head's L2 penalty.
    head_init : {{"random", "linear_probe"}}, default="random"
        Initialisation of the head.
    probe_C : float, default=1.0
        Inverse regularisation of the logistic regression of ``head_init="linear_probe"``.
    bss_eta : float, default=0.0
        Weight :math:`\eta` of batch spectral shrinkage.
    bss_k : int, default=1
        Number :math:`k` of smallest singular values shrunk.
    freeze_bn : bool, default=False
        Keep the backbone's batch-norm layers in eval mode during training.

    References
    ----------
    .. [1] Yosinski, Clune, Bengio, Lipson. "How transferable are features in deep neural networks?"
       NeurIPS 2014.
    .. [2] Howard, Ruder. "Universal Language Model Fine-tuning for Text Classification". ACL 2018.
    .. [3] Li, Grandvalet, Davoine. "Explicit Inductive Bias for Transfer Learning with Convolutional
       Networks". ICML 2018.
    .. [4] Kumar, Raghunathan, Jones, Ma, Liang. "Fine-Tuning can Distort Pretrained Features and
       Underperform Out-of-Distribution". ICLR 2022.
    .. [5] Chen, Wang, Fu, Long, Wang. "Catastrophic Forgetting Meets Negative Transfer: Batch Spectral
       Shrinkage for Safe Transfer Learning". NeurIPS 2019.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.random((20, 784)).astype("float32"), np.repeat([3, 7], 10)
    >>> FineTune(max_epochs=1, device="cpu", random_state=0).fit(X, y).predict(X[:3]).shape
    (3,)
    >>> FineTune(max_epochs=1, freeze_blocks=2, l2sp_alpha=0.1, device="cpu", random_state=0).fit(X, y).score(X, y) >= 0
    True
    """

    _parameter_constraints = {
        **_TrainedClassifier._parameter_constraints,
        "pretrained": [str, os.PathLike, None],
        "backbone_lr_mult": [Interval(Real, 0, None, closed="left")],
        "freeze_blocks": [Interval(Integral, 0, None, closed="left")],
        "unfreeze_every": [Interval(Integral, 0, None, closed="left")],
        "l2sp_alpha": [Interval(Real, 0, None, closed="left")],
        "l2sp_beta": [Interval(Real, 0, None, closed="left")],
        "head_init": [StrOptions({"random", "linear_probe"})],
        "probe_C": [Interval(Real, 0, None, closed="neither")],
        "bss_eta": [Interval(Real, 0, None, closed="left")],
        "bss_k": [Interval(Integral, 1, None, closed="left")],
        "freeze_bn": ["boolean"],
    }

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
        backbone_lr_mult: float = 1.0,
        freeze_blocks: int = 0,
        unfreeze_every: int = 0,
        l2sp_alpha: float = 0.0,
        l2sp_beta: float = 0.0,
        head_init: str = "random",
        probe_C: float = 1.0,
        bss_eta: float = 0.0,
        bss_k: int = 1,
        freeze_bn: bool = False,
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
        self.backbone_lr_mult = backbone_lr_mult
        self.freeze_blocks = freeze_blocks
        self.unfreeze_every = unfreeze_every
        self.l2sp_alpha = l2sp_alpha
        self.l2sp_beta = l2sp_beta
        self.head_init = head_init
        self.probe_C = probe_C
        self.bss_eta = bss_eta
        self.bss_k = bss_k
        self.freeze_bn = freeze_bn
        self.device = device
        self.random_state = random_state
        self.progress = progress
        self.checkpoint_dir = checkpoint_dir

    def _training_plan(self, model: FeatureClassifier, X: np.ndarray, y_enc: np.ndarray):
        blocks = backbone_blocks(model.backbone)
        if self.freeze_blocks > len(blocks):
            raise ValueError(
                f"{type(self).__name__}: freeze_blocks={self.freeze_blocks} but the backbone has {len(blocks)} blocks "
                f"({', '.join(type(b).__name__ for b in blocks)}); use at most {len(blocks)}."
            )
        if self.head_init == "linear_probe":
            self.probe_ = _probe_head(model, X, y_enc, self.input_shape_, C=self.probe_C, batch_size=max(self.batch_size, 256),
                                      device=self.device, random_state=self.random_state)
        step = _FineTuneStep(
            model,
            blocks,
            freeze_blocks=self.freeze_blocks,
            unfreeze_every=self.unfreeze_every,
            l2sp_alpha=self.l2sp_alpha,
            l2sp_beta=self.l2sp_beta,
            bss_eta=self.bss_eta,
            bss_k=self.bss_k,
            freeze_bn=self.freeze_bn,
        )
        groups = [
            {"params": list(model.backbone.parameters()), "lr_mult": float(self.backbone_lr_mult)},
            {"params": list(model.head.parameters()), "lr_mult": 1.0},
        ]
        return step, groups


class _FineTuneStep(nn.Module):
    """Cross-entropy plus the fine-tuning options: frozen blocks, L2-SP and BSS (a module, so the L2-SP
    starting point is saved with the training checkpoints)."""

    def __init__(self, model, blocks, *, freeze_blocks, unfreeze_every, l2sp_alpha, l2sp_beta, bss_eta, bss_k,
                 freeze_bn=False):
        super().__init__()
        self._blocks = list(blocks)  # not registered: they belong to the model
        # batch-norm layers of the backbone kept in eval mode (normalising with the pretrained statistics)
        self._bn = [m for m in model.backbone.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)] if freeze_bn else []
        self.n_frozen0 = int(freeze_blocks) if (freeze_blocks or not unfreeze_every) else len(self._blocks)
        self.unfreeze_every = int(unfreeze_every)
        self.sp = SPRegularization(model.backbone, model.head, alpha=l2sp_alpha, beta=l2sp_beta) if (l2sp_alpha or l2sp_beta) else None
        self.bss_eta = float(bss_eta)
        self.bss = BatchSpectralShrinkage(bss_k) if bss_eta else None

    def n_frozen(self, epoch: int) -> int:
        """Blocks frozen during ``epoch`` (from 0)."""
        if not self.unfreeze_every:
            return self.n_frozen0
        return max(self.n_frozen0 - epoch // self.unfreeze_every, 0)

    def forward(self, model, batch, state):
        n = self.n_frozen(state.epoch)
        for i, block in enumerate(self._blocks):
            block.requires_grad_(i >= n)
            if i < n:
                block.eval()  # a frozen block keeps its batch-norm statistics and disables its dropout
        for bn in self._bn:
            bn.eval()  # the Trainer puts the model in train mode each epoch; these layers stay in eval mode
        x, y = batch[0], batch[1]
        feats = model.backbone(x).flatten(1)
        loss = F.cross_entropy(model.head(feats), y)
        out = {"ce": loss.detach()}
        if self.sp is not None:
            penalty = self.sp()
            loss = loss + penalty
            out["l2sp"] = penalty.detach()
        if self.bss is not None:
            shrink = self.bss(feats)
            loss = loss + self.bss_eta * shrink
            out["bss"] = shrink.detach()
        out["loss"] = loss
        return out


def _probe_head(model, X, y_enc, input_shape, *, C, batch_size, device, random_state) -> LogisticRegression:
    """LP-FT's first stage: fit a logistic regression on the frozen features and copy it into the head."""
    Z = extract_features(model.backbone, X, input_shape=input_shape, batch_size=batch_size, device=device)
    probe = LogisticRegression(C=C, max_iter=1000, random_state=random_state).fit(Z, y_enc)
    coef, intercept = probe.coef_, probe.intercept_
    if coef.shape[0] == 1:  # binary: logit(p1) = w.z + b  ==  softmax over (-(w.z + b)/2, (w.z + b)/2)
        coef, intercept = np.vstack([-coef / 2, coef / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
    with torch.no_grad():
        model.head.weight.copy_(torch.as_tensor(coef, dtype=model.head.weight.dtype))
        model.head.bias.copy_(torch.as_tensor(intercept, dtype=model.head.bias.dtype))
    return probe


def _variant(name: str, base: type, summary: str, defaults: dict, doc: str) -> type:
    """A registered subclass of ``base`` that differs only in the defaults of some parameters.

    The subclass's ``__init__`` carries the full signature (sklearn's ``get_params`` / ``clone`` read it),
    with ``defaults`` replacing the base's.
    """
    sig = inspect.signature(base.__init__)
    unknown = set(defaults) - set(sig.parameters)
    if unknown:
        raise TypeError(f"_variant({name!r}): {sorted(unknown)} are not parameters of {base.__name__}.")
    new_sig = sig.replace(parameters=[p.replace(default=defaults.get(p.name, p.default)) for p in sig.parameters.values()])

    def __init__(self, **kwargs):
        bound = new_sig.bind(self, **kwargs)
        bound.apply_defaults()
        for key, value in bound.arguments.items():
            if key != "self":
                setattr(self, key, value)

    __init__.__signature__ = new_sig
    __init__.__doc__ = base.__init__.__doc__
    settings = ", ".join(f"``{k}={v!r}``" for k, v in defaults.items())
    cls = type(name, (base,), {
        "__init__": __init__,
        "__module__": base.__module__,
        "__doc__": f"{summary}\n\n    :class:`{base.__name__}` with {settings} by default (every other parameter and "
                   f"the behaviour are {base.__name__}'s; the options combine).\n\n    {doc}\n",
    })
    cls.__qualname__ = name
    return cls


PartialFineTune = register("partial_finetune", setting="inductive", family="fine_tuning")(_variant(
    "PartialFineTune", FineTune, "Partial fine-tuning: the first blocks of the backbone stay frozen (Yosinski et al. 2014).",
    {"freeze_blocks": 1},
    "``freeze_blocks`` counts blocks from the input (LeNet: conv1, conv2, fc).",
))
GradualUnfreezing = register("gradual_unfreezing", setting="inductive", family="fine_tuning")(_variant(
    "GradualUnfreezing", FineTune, "Gradual unfreezing (Howard & Ruder 2018): the head first, then one more backbone block per epoch from the top.",
    {"unfreeze_every": 1},
    "With ``freeze_blocks=0`` every backbone block starts frozen.",
))
DiscriminativeFineTune = register("discriminative_lr", setting="inductive", family="fine_tuning")(_variant(
    "DiscriminativeFineTune", FineTune, "Fine-tuning with discriminative learning rates: the backbone learns at a tenth of the head's rate.",
    {"backbone_lr_mult": 0.1},
    "``backbone_lr_mult`` scales the backbone's learning rate (the ``lr_schedule`` of the trainer scales both).",
))
L2SP = register("l2sp", setting="inductive", family="fine_tuning")(_variant(
    "L2SP", FineTune, "L2-SP (Li, Grandvalet, Davoine, ICML 2018): fine-tuning with weight decay towards the pretrained weights.",
    {"l2sp_alpha": 0.1, "l2sp_beta": 0.01},
    "The paper's alpha = 0.1, beta = 0.01; keep ``weight_decay=0`` (the penalty replaces it).",
))
LPFT = register("lp_ft", setting="inductive", family="fine_tuning")(_variant(
    "LPFT", FineTune, "LP-FT (Kumar et al., ICLR 2022): a linear probe first, then fine-tuning from it.",
    {"head_init": "linear_probe"},
    "The fitted probe is ``probe_`` (a LogisticRegression on the frozen features).",
))
BSS = register("bss", setting="inductive", family="fine_tuning")(_variant(
    "BSS", FineTune, "Batch spectral shrinkage (Chen et al., NeurIPS 2019): fine-tuning that shrinks the smallest singular values of the features.",
    {"bss_eta": 0.001, "bss_k": 1},
    "The paper's eta = 0.001, k = 1.",
))


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
FineTune.__doc__ = FineTune.__doc__.replace("{doc}", _TRAINED_DOC.format(pretrained=_PRETRAINED_DOC).split("\n    Attributes")[0].rstrip("\n") + "\n", 1)
_FT_ATTRIBUTES = """
    Attributes
    ----------
    classes_ : ndarray
        Label values seen in ``fit``.
    model_ : FeatureClassifier
        The trained network (``model_.backbone``, ``model_.head``).
    history_ : TrainingHistory
        Per-epoch losses (``logs``: cross-entropy ``ce`` and, when on, ``l2sp`` and ``bss``).
    probe_ : LogisticRegression
        The probe that initialised the head (``head_init="linear_probe"`` only).
"""
FineTune.__doc__ = FineTune.__doc__.replace("\n    References\n", _FT_ATTRIBUTES + "\n    References\n", 1)
FromScratch.__doc__ = FromScratch.__doc__.replace("{doc}", _TRAINED_DOC.format(pretrained=""))
