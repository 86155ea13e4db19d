r"""Deep domain-adaptation strategies: one network, one training loop, one loss per method.

Every strategy here trains ``network = head ∘ bottleneck ∘ backbone`` (:class:`DANetwork`) with the
toolkit's :class:`~tltaxonomy.training.Trainer`; a method is only its *step*, an ``nn.Module`` that
computes the loss of one source batch and one target batch from the losses of
:mod:`tltaxonomy.transductive.deep.losses`:

==================  ===========================================================================  ==========
name                loss of a step (:math:`\mathcal{L}_{ce}` = cross-entropy on the source batch)  reference
==================  ===========================================================================  ==========
``deep_source_only``  :math:`\mathcal{L}_{ce}` (the target is not used)                               —
``dann``            :math:`\mathcal{L}_{ce} + \lambda\,\mathcal{L}_d(D(R(f_s)), D(R(f_t)))`            Ganin 2016
``cdan``            :math:`\mathcal{L}_{ce} + \lambda\,\mathcal{L}_d` on :math:`f \otimes g`            Long 2018
``cdan_e``          CDAN with entropy-conditioned weights                                        Long 2018
``dan``             :math:`\mathcal{L}_{ce} + \lambda\,\text{MK-MMD}^2(f_s, f_t)`                      Long 2015
``deep_coral``      :math:`\mathcal{L}_{ce} + \lambda\,\tfrac{1}{4d^2}\|C_s - C_t\|_F^2`                 Sun 2016
``mcc``             :math:`\mathcal{L}_{ce} + \lambda\,\text{MCC}(g_t)`                                  Jin 2020
``adabn``           :math:`\mathcal{L}_{ce}`; then batch-norm statistics re-estimated on the target  Li 2016
``mdd``             :math:`\mathcal{L}_{ce} + \lambda\,[\gamma\,\ell(f'_s,\hat y_s) - \log(1-\sigma(f'_t)_{\hat y_t})]`  Zhang 2019
``deep_self_training``  :math:`\mathcal{L}_{ce} + \lambda\,\mathbb{1}[\max p \ge \tau]\,\ell(g(\mathcal{A}_s(x_t)), \hat y(\mathcal{A}_w(x_t)))`  Sohn 2020
==================  ===========================================================================  ==========

:math:`f` = features (bottleneck output), :math:`g` = class logits, :math:`R` = gradient reversal,
:math:`\lambda` = ``trade_off`` (ramped by ``schedule``).

**Model selection is explicit** (``selection``): ``"source_val"`` keeps the weights of the epoch with
the best accuracy on held-out *source* rows; ``"target_entropy"`` the epoch with the lowest mean
prediction entropy on the unlabelled target rows (an unsupervised scorer); ``"last"`` the final
weights. No strategy ever sees a target label. With ``keep_epoch_weights=True`` the weights of every
epoch are kept and :meth:`BaseDeepDA.staged_predict` yields each epoch's predictions, so that an
*evaluation protocol* — never the strategy — can report the target-label oracle beside the honest
choice (the runner records it as ``target/acc_oracle``).
"""

from __future__ import annotations

import copy
import inspect
import math
import os
from numbers import Integral, Real
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ...backbones import build_backbone, feature_dim
from ...base import BaseDomainAdaptationClassifier, DomainSplit
from ...inductive.multitask.weighting import COMBINERS, make_combiner
from ...registry import register
from ...training import Trainer, resolve_device, seeded
from ...training.augment import cutout, random_shift
from .losses import (
    ConditionalDomainAdversarialLoss,
    CoralLoss,
    DomainAdversarialLoss,
    DomainDiscriminator,
    GradientReversal,
    MinimumClassConfusionLoss,
    MultipleKernelMMD,
    dann_schedule,
    entropy,
)

__all__ = [
    "DANetwork",
    "BaseDeepDA",
    "DeepSourceOnly",
    "DANN",
    "CDAN",
    "CDANE",
    "DAN",
    "DeepCORAL",
    "MCC",
    "AdaBN",
    "MDD",
    "DeepSelfTraining",
    "adapt_batch_norm",
    "random_shift",
    "cutout",
]


# ----------------------------------------------------------------------------------------------------
# the network
# ----------------------------------------------------------------------------------------------------
class DANetwork(nn.Module):
    r"""``logits = head(bottleneck(backbone(x)))``, with :meth:`features` the bottleneck output.

    Parameters
    ----------
    backbone : nn.Module
        Feature extractor ``(B, ...) -> (B, in_features)``.
    in_features : int
        Output width of the backbone.
    n_classes : int
        Number of classes.
    bottleneck_dim : int or None, default=None
        ``None`` = no bottleneck (features are the backbone's); otherwise linear(→bottleneck_dim) →
        BatchNorm1d → ReLU, the bottleneck of CDAN / TLlib's classifiers.

    Shapes
    ------
    ``forward(x)``: ``(B, ...)`` → ``(B, n_classes)``; ``features(x)``: → ``(B, out_features)``.
    """

    def __init__(self, backbone: nn.Module, in_features: int, n_classes: int, bottleneck_dim: int | None = None):
        super().__init__()
        self.backbone = backbone
        if bottleneck_dim is None:
            self.bottleneck: nn.Module = nn.Identity()
            self.out_features = int(in_features)
        else:
            self.bottleneck = nn.Sequential(
                nn.Linear(int(in_features), int(bottleneck_dim)), nn.BatchNorm1d(int(bottleneck_dim)), nn.ReLU()
            )
            self.out_features = int(bottleneck_dim)
        self.head = nn.Linear(self.out_features, int(n_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.bottleneck(self.backbone(x).flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def adapt_batch_norm(model: nn.Module, X: torch.Tensor, batch_size: int = 256) -> int:
    r"""AdaBN: replace the running statistics of every batch-norm layer by those of ``X``.

    Each layer's mean and variance become the exact averages over all rows of ``X`` (cumulative
    moving average, ``momentum=None``), computed in train mode without gradients; the affine weights
    are untouched. Returns the number of batch-norm layers adapted.

    References
    ----------
    Li, Wang, Shi, Liu, Hou. "Revisiting Batch Normalization For Practical Domain Adaptation." ICLR-W 2017.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return 0
    saved = [(m.momentum, m.training) for m in bns]
    was_training = model.training
    model.eval()
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    with torch.no_grad():
        for start in range(0, X.shape[0], batch_size):
            model(X[start : start + batch_size])
    for m, (momentum, _) in zip(bns, saved):
        m.momentum = momentum
    model.train(was_training)
    if not was_training:
        model.eval()
    return len(bns)


# ----------------------------------------------------------------------------------------------------
# augmentations (FixMatch-style self-training on images): tltaxonomy.training.augment
# ----------------------------------------------------------------------------------------------------
# ----------------------------------------------------------------------------------------------------
# steps: one per method (nn.Modules, so that their parameters are trained and checkpointed)
# ----------------------------------------------------------------------------------------------------
def _ramp(schedule: str, progress: float) -> float:
    return dann_schedule(progress) if schedule == "dann" else 1.0


class _SourceStep(nn.Module):
    """Cross-entropy on the source batch only."""

    def forward(self, model, batch, state):
        xs, ys = batch["source"] if isinstance(batch, dict) else batch
        return F.cross_entropy(model(xs), ys)


class _JointStep(nn.Module):
    """Forward the source and target batches together (batch-norm sees both) and add a transfer loss."""

    def __init__(self, trade_off: float, schedule: str):
        super().__init__()
        self.trade_off = float(trade_off)
        self.schedule = schedule
        #: a GradientCombiner (set by ``loss_weighting``); None = one backward pass of ce + trade_off * transfer
        self.combiner = None

    @staticmethod
    def shared_parameters(model):
        """The parameters both losses act on: everything but the class head."""
        return [p for name, p in model.named_parameters() if not name.startswith("head.")]

    def forward(self, model, batch, state):
        (xs, ys), xt = batch["source"], batch["target"][0]
        f = model.features(torch.cat([xs, xt], dim=0))
        g = model.head(f)
        n = xs.shape[0]
        loss_ce = F.cross_entropy(g[:n], ys)
        transfer, logs = self.transfer(f[:n], f[n:], g[:n], g[n:], state)
        out = {"loss": loss_ce + self.trade_off * transfer, "ce": loss_ce.detach(), "transfer": transfer.detach(), **logs}
        if self.combiner is not None:  # the classification and the transfer loss as two tasks
            out.update(loss=out["loss"].detach(), task_losses=[loss_ce, self.trade_off * transfer], representation=f)
        return out

    def transfer(self, f_s, f_t, g_s, g_t, state):  # pragma: no cover - abstract
        raise NotImplementedError


class _DANNStep(_JointStep):
    def __init__(self, trade_off, schedule, in_features, hidden, n_layers):
        super().__init__(trade_off, schedule)
        disc = DomainDiscriminator(in_features, hidden=max(int(hidden), 1), n_hidden_layers=int(n_layers))
        self.adversarial = DomainAdversarialLoss(disc)

    def transfer(self, f_s, f_t, g_s, g_t, state):
        self.adversarial.coeff = _ramp(self.schedule, state.progress)
        loss, acc = self.adversarial(f_s, f_t, return_accuracy=True)
        return loss, {"domain_acc": acc}


class _CDANStep(_JointStep):
    def __init__(self, trade_off, schedule, in_features, n_classes, hidden, n_layers, entropy_conditioning, randomized, randomized_dim, seed):
        super().__init__(trade_off, schedule)
        width = int(randomized_dim) if randomized else int(in_features) * int(n_classes)
        disc = DomainDiscriminator(width, hidden=max(int(hidden), 1), n_hidden_layers=int(n_layers))
        self.adversarial = ConditionalDomainAdversarialLoss(
            disc,
            entropy_conditioning=entropy_conditioning,
            randomized=randomized,
            features_dim=int(in_features),
            num_classes=int(n_classes),
            randomized_dim=int(randomized_dim),
            seed=int(seed),
        )

    def transfer(self, f_s, f_t, g_s, g_t, state):
        self.adversarial.coeff = _ramp(self.schedule, state.progress)
        loss, acc = self.adversarial(f_s, g_s, f_t, g_t, return_accuracy=True)
        return loss, {"domain_acc": acc}


class _DANStep(_JointStep):
    def __init__(self, trade_off, schedule, unbiased):
        super().__init__(trade_off, schedule)
        self.mmd = MultipleKernelMMD(unbiased=unbiased)

    def transfer(self, f_s, f_t, g_s, g_t, state):
        return _ramp(self.schedule, state.progress) * self.mmd(f_s, f_t), {}


class _CoralStep(_JointStep):
    def __init__(self, trade_off, schedule, layer):
        super().__init__(trade_off, schedule)
        self.coral = CoralLoss()
        self.layer = layer

    def transfer(self, f_s, f_t, g_s, g_t, state):
        a, b = (g_s, g_t) if self.layer == "logits" else (f_s, f_t)
        return _ramp(self.schedule, state.progress) * self.coral(a, b), {}


class _MCCStep(_JointStep):
    def __init__(self, trade_off, schedule, temperature):
        super().__init__(trade_off, schedule)
        self.mcc = MinimumClassConfusionLoss(temperature=temperature)

    def transfer(self, f_s, f_t, g_s, g_t, state):
        return _ramp(self.schedule, state.progress) * self.mcc(g_t), {}


class _MDDStep(_JointStep):
    r"""Margin disparity discrepancy with an adversarial head :math:`f'` behind a gradient reversal layer.

    .. math:: D = \gamma\, \ell_{ce}(f'(\psi_s), \hat y_s) - \frac{1}{n_t}\sum_j \log\big(1 - \sigma(f'(\psi_t))_{j, \hat y_t}\big)

    :math:`f'` minimises :math:`D` (agrees with :math:`f` on the source, disagrees on the target, i.e.
    the worst-case disparity); the features, through the reversal layer, maximise it.
    """

    def __init__(self, trade_off, schedule, in_features, n_classes, margin, grl_max):
        super().__init__(trade_off, schedule)
        self.adv_head = nn.Linear(int(in_features), int(n_classes))
        self.grl = GradientReversal(0.0)
        self.margin = float(margin)
        self.grl_max = float(grl_max)

    def transfer(self, f_s, f_t, g_s, g_t, state):
        self.grl.coeff = self.grl_max * _ramp(self.schedule, state.progress)
        adv = self.adv_head(self.grl(torch.cat([f_s, f_t], dim=0)))
        n = f_s.shape[0]
        y_s, y_t = g_s.detach().argmax(1), g_t.detach().argmax(1)
        loss_s = F.cross_entropy(adv[:n], y_s)
        p_t = F.softmax(adv[n:], dim=1).gather(1, y_t[:, None]).squeeze(1)
        loss_t = -torch.log(torch.clamp(1.0 - p_t, min=1e-6)).mean()
        return self.margin * loss_s + loss_t, {}


class _SelfTrainingStep(nn.Module):
    """Confidence-thresholded pseudo-labels; FixMatch consistency when ``augment="shift"``."""

    def __init__(self, trade_off, schedule, threshold, augment, image_shape, prior=None, momentum=0.999):
        super().__init__()
        self.trade_off = float(trade_off)
        self.schedule = schedule
        self.threshold = float(threshold)
        self.augment = augment
        self.image_shape = image_shape
        self.momentum = float(momentum)
        # distribution alignment (ReMixMatch): the class prior the pseudo-labels are pulled towards, and
        # the running mean of the model's target predictions
        self.register_buffer("prior", None if prior is None else torch.as_tensor(prior, dtype=torch.float32))
        self.register_buffer("p_model", None)

    def _align(self, p: torch.Tensor) -> torch.Tensor:
        """``normalize(p * prior / E[p])`` with ``E[p]`` a running mean over the target batches."""
        mean = p.mean(dim=0)
        if self.p_model is None:
            self.p_model = mean.clone()
        else:
            self.p_model.mul_(self.momentum).add_(mean, alpha=1 - self.momentum)
        q = p * self.prior.to(p) / self.p_model.clamp_min(1e-6)
        return q / q.sum(dim=1, keepdim=True)

    def _views(self, xt):
        if self.augment == "none":
            return xt, xt
        img = xt.reshape(-1, *self.image_shape)
        weak = random_shift(img, 2)
        strong = cutout(random_shift(img, 4), max(1, self.image_shape[-1] // 4))
        return weak.reshape(xt.shape), strong.reshape(xt.shape)

    def forward(self, model, batch, state):
        (xs, ys), xt = batch["source"], batch["target"][0]
        weak, strong = self._views(xt)
        n, m = xs.shape[0], xt.shape[0]
        if self.augment == "none":
            g = model(torch.cat([xs, xt], dim=0))
            g_s, g_weak, g_strong = g[:n], g[n:], g[n:]
        else:
            g = model(torch.cat([xs, weak, strong], dim=0))
            g_s, g_weak, g_strong = g[:n], g[n : n + m], g[n + m :]
        loss_ce = F.cross_entropy(g_s, ys)
        with torch.no_grad():
            p = F.softmax(g_weak.detach(), dim=1)
            if self.prior is not None:
                p = self._align(p)
            conf, pseudo = p.max(dim=1)
            mask = (conf >= self.threshold).float()
        pseudo_loss = (F.cross_entropy(g_strong, pseudo, reduction="none") * mask).mean()
        weight = self.trade_off * _ramp(self.schedule, state.progress)
        return {"loss": loss_ce + weight * pseudo_loss, "ce": loss_ce.detach(), "mask_rate": mask.mean()}


# ----------------------------------------------------------------------------------------------------
# the base estimator
# ----------------------------------------------------------------------------------------------------
#: parameters shared by every deep strategy, with their defaults (a subclass may change a default)
_COMMON: dict[str, Any] = {
    "backbone": "mlp",
    "backbone_kwargs": None,
    "pretrained": None,
    "input_shape": None,
    "bottleneck_dim": None,
    "init": "default",
    "trade_off": 1.0,
    "schedule": "dann",
    "max_epochs": 20,
    "steps_per_epoch": None,
    "batch_size": 64,
    "lr": 1e-3,
    "optimizer": "adam",
    "momentum": 0.9,
    "weight_decay": 0.0,
    "lr_schedule": "constant",
    "selection": "source_val",
    "val_fraction": 0.1,
    "val_rows": "random",
    "patience": None,
    "patience_ratio": None,
    "min_epochs": 0,
    "keep_epoch_weights": False,
    "loss_weighting": "sum",
    "loss_weighting_kwargs": None,
    "device": "auto",
    "mixed_precision": "no",
    "random_state": None,
    "progress": False,
}

_COMMON_DOC = r"""
    Parameters shared by the deep strategies
    -----------------------------------------
    backbone : str, path-like or torch.nn.Module, default="mlp"
        Registered name (``"mlp"``, ``"lenet"``, ``"resnet_small"``, see
        :func:`~tltaxonomy.backbones.list_backbones`), any module mapping inputs to features, or a
        checkpoint of :func:`~tltaxonomy.backbones.pretrain_backbone`.
    backbone_kwargs : dict or None, default=None
        Constructor arguments of a registered backbone (e.g. ``{"hidden": [50], "activation": "sigmoid"}``).
    pretrained : str or path-like or None, default=None
        Checkpoint whose weights initialise the backbone.
    input_shape : tuple of int or None, default=None
        Shape of one input; ``X`` holds flat rows of ``prod(input_shape)`` values. ``None`` = flat rows
        as wide as ``X``.
    bottleneck_dim : int or None, default=None
        Width of a linear → BatchNorm1d → ReLU bottleneck between backbone and head (``None`` = none).
    init : {"default", "xavier_uniform"}, default="default"
        ``"xavier_uniform"`` re-initialises every linear / convolution weight of the network
        uniformly in :math:`\pm\sqrt{6/(\text{fan-in} + \text{fan-out})}` with zero biases (the DANN
        authors' code); not allowed with ``pretrained``.
    trade_off : float, default=1.0
        :math:`\lambda`, the weight of the transfer loss (ignored by the source-only methods).
    schedule : {"dann", "constant"}, default="dann"
        ``"dann"`` ramps the adaptation weight as :math:`2/(1+e^{-10p})-1` over the training progress
        :math:`p` (in the gradient reversal layer for the adversarial methods); ``"constant"`` keeps it.
    max_epochs : int, default=20
        Epochs of training (each source batch is paired with a target batch).
    steps_per_epoch : int or None, default=None
        Steps per epoch; ``None`` = one pass over the source rows. A fixed number gives tasks with
        source sets of different sizes the same budget.
    batch_size : int, default=64
        Source rows (and target rows) per step.
    lr, optimizer, momentum, weight_decay, lr_schedule
        Of the :class:`~tltaxonomy.training.Trainer` (``lr_schedule="inv"``: :math:`\eta_0(1+10p)^{-0.75}`).
    selection : {"source_val", "target_entropy", "last"}, default="source_val"
        Which epoch's weights are kept: best accuracy on held-out source rows, lowest mean prediction
        entropy on the unlabelled target rows, or the last epoch. Never target labels. Ties go to the
        later epoch (source accuracy often saturates before the adaptation has acted).
    val_fraction : float, default=0.1
        Fraction of the source rows held out with ``selection="source_val"``.
    val_rows : {"random", "last"}, default="random"
        Which source rows are held out: a seeded random draw, or the last rows (the DANN authors' code).
    patience : int or None, default=None
        Stop after this many epochs without improvement of the selection score.
    patience_ratio : float or None, default=None
        Stop once the epoch exceeds ``max(min_epochs, patience_ratio * best_epoch)`` (DANN's rule: 1.5, 30).
    min_epochs : int, default=0
        See ``patience_ratio``.
    keep_epoch_weights : bool, default=False
        Keep every epoch's weights (on the CPU) for :meth:`staged_predict`.
    loss_weighting : str, default="sum"
        ``"sum"``: one backward pass of :math:`L_{ce} + \lambda L_{transfer}`. Any name of
        :data:`~tltaxonomy.inductive.multitask.COMBINERS` (``"pcgrad"``, ``"mgda"``, ``"uncertainty"``,
        ...) treats the classification loss and the (weighted) transfer loss as two tasks and combines
        their gradients on the shared network (all but the class head) with that multi-task method.
    loss_weighting_kwargs : dict or None, default=None
        Constructor arguments of the combiner.
    device : str, default="auto"
        Torch device.
    mixed_precision : {"no", "bf16", "fp16"}, default="no"
        Autocast the training forward passes to bfloat16 or float16 (fp16 with a gradient scaler), see
        :class:`~tltaxonomy.training.Trainer`; the weights, the optimiser and prediction stay float32.
        On a GPU it halves the activation memory and uses the tensor cores; the published tables are
        computed with ``"no"``.
    random_state : int or None, default=None
        Seeds the initialisation, the batches and the validation split (``None`` = 0). The same value
        gives the same weights on the CPU.
    progress : bool, default=False
        Show progress bars.
"""

_COMMON_CONSTRAINTS = {
    "backbone": [str, os.PathLike, nn.Module],
    "backbone_kwargs": [dict, None],
    "pretrained": [str, os.PathLike, None],
    "input_shape": [tuple, list, None],
    "bottleneck_dim": [Interval(Integral, 1, None, closed="left"), None],
    "init": [StrOptions({"default", "xavier_uniform"})],
    "trade_off": [Interval(Real, 0, None, closed="left")],
    "schedule": [StrOptions({"dann", "constant"})],
    "max_epochs": [Interval(Integral, 1, None, closed="left")],
    "steps_per_epoch": [Interval(Integral, 1, None, closed="left"), None],
    "batch_size": [Interval(Integral, 1, None, closed="left")],
    "lr": [Interval(Real, 0, None, closed="neither")],
    "optimizer": [StrOptions({"adam", "adamw", "sgd"})],
    "momentum": [Interval(Real, 0, 1, closed="left")],
    "weight_decay": [Interval(Real, 0, None, closed="left")],
    "lr_schedule": [StrOptions({"constant", "inv"})],
    "selection": [StrOptions({"source_val", "target_entropy", "last"})],
    "val_fraction": [Interval(Real, 0, 1, closed="neither")],
    "val_rows": [StrOptions({"random", "last"})],
    "patience": [Interval(Integral, 1, None, closed="left"), None],
    "patience_ratio": [Interval(Real, 1, None, closed="left"), None],
    "min_epochs": [Interval(Integral, 0, None, closed="left")],
    "keep_epoch_weights": ["boolean"],
    "loss_weighting": [StrOptions({"sum", *COMBINERS})],
    "loss_weighting_kwargs": [dict, None],
    "device": [str, torch.device],
    "mixed_precision": [StrOptions({"no", "bf16", "fp16"})],
    "random_state": [Interval(Integral, 0, None, closed="left"), None],
    "progress": ["boolean"],
}


def _make_init(names: dict[str, Any]):
    """An ``__init__`` storing keyword-only parameters ``names`` (with defaults), with a real signature
    so that sklearn's ``get_params`` / ``clone`` see every parameter."""
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)] + [
        inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=v) for k, v in names.items()
    ]
    signature = inspect.Signature(params)

    def __init__(self, **kwargs):
        bound = signature.bind(self, **kwargs)  # TypeError on unknown names, as a written-out __init__
        bound.apply_defaults()
        for key in names:
            setattr(self, key, bound.arguments[key])

    __init__.__signature__ = signature
    return __init__


def _entropy_score(model, batch) -> tuple[float, int]:
    x = batch[0]
    return -float(entropy(model(x), reduction="sum")), x.shape[0]


class BaseDeepDA(BaseDomainAdaptationClassifier):
    """Base class of the deep domain-adaptation strategies (see the module docstring).

    Subclasses set ``_extra`` (their own parameters and defaults), ``_defaults`` (changed common
    defaults), ``_extra_constraints`` and implement :meth:`_make_step`.
    """

    _extra: dict[str, Any] = {}
    _defaults: dict[str, Any] = {}
    _extra_constraints: dict[str, list] = {}
    #: whether the step uses target batches (the source-only methods do not)
    _uses_target = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        names = {**_COMMON, **cls._extra}
        names.update(cls._defaults)
        cls.__init__ = _make_init(names)
        cls._parameter_constraints = {**_COMMON_CONSTRAINTS, **cls._extra_constraints}

    # ------------------------------------------------------------------ helpers
    def selection_protocol(self) -> str:
        """``"source_val"``, ``"target_entropy"`` (unsupervised target scorer) or ``"none"`` (last epoch)."""
        return {"last": "none"}.get(self.selection, self.selection)

    def _dense(self, X) -> np.ndarray:
        X = X.toarray() if sp.issparse(X) else np.asarray(X)
        return np.ascontiguousarray(X, dtype=np.float32)

    def _check_shape(self, n_features: int) -> tuple[int, ...]:
        shape = (n_features,) if self.input_shape is None else tuple(int(v) for v in self.input_shape)
        if math.prod(shape) != n_features:
            raise ValueError(
                f"{type(self).__name__}: X has {n_features} features but input_shape={shape} needs {math.prod(shape)} "
                "(flat rows); fix input_shape or reshape X."
            )
        return shape

    def _build_network(self, n_classes: int) -> DANetwork:
        if self.init == "xavier_uniform" and self.pretrained is not None:
            raise ValueError(
                f"{type(self).__name__}: init='xavier_uniform' would overwrite the pretrained weights of "
                f"{str(self.pretrained)!r}; use init='default' with a pretrained backbone."
            )
        backbone = build_backbone(
            self.backbone, input_shape=self.input_shape_, pretrained=self.pretrained, backbone_kwargs=self.backbone_kwargs
        )
        width = getattr(backbone, "out_features", None) or feature_dim(backbone, self.input_shape_)
        net = DANetwork(backbone, width, n_classes, self.bottleneck_dim)
        if self.init == "xavier_uniform":
            for m in net.modules():
                if isinstance(m, (nn.Linear, nn.Conv2d, nn.Conv1d)):
                    nn.init.xavier_uniform_(m.weight)
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)
        return net

    def _make_step(self, network: DANetwork, n_classes: int) -> nn.Module:  # pragma: no cover - abstract
        raise NotImplementedError

    def _trainer(self) -> Trainer:
        return Trainer(
            max_epochs=self.max_epochs,
            steps_per_epoch=self.steps_per_epoch,
            batch_size=self.batch_size,
            lr=self.lr,
            optimizer=self.optimizer,
            momentum=self.momentum,
            weight_decay=self.weight_decay,
            lr_schedule=self.lr_schedule,
            device=self.device,
            mixed_precision=self.mixed_precision,
            seed=0 if self.random_state is None else int(self.random_state),
            progress=self.progress,
            patience=self.patience,
            patience_ratio=self.patience_ratio,
            min_epochs=self.min_epochs,
            val_ties="last",
        )

    def _after_training(self, network: DANetwork, Xt: torch.Tensor | None) -> None:
        """Hook run on the selected weights (AdaBN adapts its batch-norm statistics here)."""

    # ------------------------------------------------------------------ fit
    def _fit(self, split: DomainSplit) -> None:
        self._validate_params()
        if self.selection != "source_val" and (self.patience is not None or self.patience_ratio is not None):
            pass  # early stopping then follows the chosen scorer
        Xs = self._dense(split.X_source)
        Xt = self._dense(split.X_target)
        self.input_shape_ = self._check_shape(Xs.shape[1])
        for name, arr in (("source", Xs), ("target", Xt)):
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"{type(self).__name__}: the {name} rows contain NaN or inf; clean or impute them first.")
        seed = 0 if self.random_state is None else int(self.random_state)
        device = resolve_device(self.device)
        n_classes = split.n_classes
        ys = split.y_source.astype(np.int64)
        adapt = self._uses_target and split.has_target

        val_data, val_fn = None, None
        if self.selection == "source_val":
            n = Xs.shape[0]
            n_val = int(self.val_fraction * n) if self.val_rows == "last" else int(round(self.val_fraction * n))
            if n_val < 1 or n_val >= n:
                raise ValueError(
                    f"{type(self).__name__}: val_fraction={self.val_fraction} of {n} source rows leaves {n_val} validation "
                    "rows; use more source rows, another val_fraction, or selection='last'."
                )
            if self.val_rows == "last":
                val_idx = np.arange(n - n_val, n)
            else:
                val_idx = np.sort(np.random.default_rng(seed).permutation(n)[:n_val])
            keep = np.setdiff1d(np.arange(n), val_idx)
            val_data = (torch.from_numpy(Xs[val_idx]), torch.from_numpy(ys[val_idx]))
            Xs, ys = Xs[keep], ys[keep]
        elif self.selection == "target_entropy":
            if not split.has_target:
                raise ValueError(
                    f"{type(self).__name__}: selection='target_entropy' scores unlabelled target rows, but there are none "
                    "(sample_domain has no negative value); pass target rows or use selection='source_val'."
                )
            val_data, val_fn = (torch.from_numpy(Xt),), _entropy_score

        #: class frequencies of the labelled source rows (the prior that self-training aligns to)
        self.source_prior_ = np.bincount(ys, minlength=n_classes) / len(ys)
        with seeded(seed, device):
            network = self._build_network(n_classes)
            step = self._make_step(network, n_classes) if adapt else _SourceStep()
            if self.loss_weighting != "sum" and (adapt or not self._uses_target):
                if not isinstance(step, _JointStep):
                    raise ValueError(
                        f"{type(self).__name__}: loss_weighting={self.loss_weighting!r} combines a classification and a "
                        "transfer loss, but this strategy has no separate transfer loss; use loss_weighting='sum'."
                    )
                step.combiner = make_combiner(self.loss_weighting, n_tasks=2, seed=seed, **(self.loss_weighting_kwargs or {}))
        data: dict[str, tuple] = {"source": (torch.from_numpy(Xs), torch.from_numpy(ys))}
        if adapt:
            data["target"] = (torch.from_numpy(Xt),)
        Xt_tensor = torch.from_numpy(Xt) if split.has_target else None

        self.epoch_weights_ = [] if self.keep_epoch_weights else None

        def keep(model, epoch):
            if self.epoch_weights_ is None:
                return
            if type(self)._after_training is not BaseDeepDA._after_training:
                model = copy.deepcopy(model)
                self._after_training(model, None if Xt_tensor is None else Xt_tensor.to(device))
            self.epoch_weights_.append({k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()})

        trainer = self._trainer()
        self.history_ = trainer.fit(network, data, step, val_data=val_data, val_fn=val_fn, on_epoch_end=keep)
        self._after_training(network, None if Xt_tensor is None else Xt_tensor.to(device))
        network.eval()
        self.network_ = network.to("cpu")
        self.step_ = step.to("cpu")
        self.best_epoch_ = self.history_.best_epoch or self.history_.n_epochs
        self.n_epochs_ = self.history_.n_epochs

    # ------------------------------------------------------------------ predict
    def _logits(self, X, network: nn.Module | None = None) -> np.ndarray:
        network = self.network_ if network is None else network
        X = torch.from_numpy(self._dense(X))
        if X.shape[0] == 0:
            return np.zeros((0, len(self.classes_)), dtype=np.float32)
        out = []
        network.eval()
        with torch.no_grad():
            for start in range(0, X.shape[0], 1024):
                out.append(network(X[start : start + 1024]))
        return torch.cat(out).numpy()

    def _predict_encoded(self, X) -> np.ndarray:
        return self._logits(X).argmax(axis=1)

    def predict_proba(self, X, *, sample_domain=None) -> np.ndarray:
        """Softmax class probabilities, columns in the order of ``classes_``."""
        X = self._validate_predict_X(X, sample_domain)
        return torch.softmax(torch.from_numpy(self._logits(X)).double(), dim=1).numpy()

    def staged_predict(self, X, *, sample_domain=None):
        """Yield the predictions of each epoch's weights (needs ``keep_epoch_weights=True``).

        For *evaluation protocols* (learning curves, the target-label oracle of a benchmark table):
        the strategy's own choice is :meth:`predict`.
        """
        check_is_fitted(self)
        if self.epoch_weights_ is None:
            raise ValueError(
                f"{type(self).__name__}: staged_predict needs the weights of every epoch; fit with keep_epoch_weights=True."
            )
        X = self._validate_predict_X(X, sample_domain)
        network = copy.deepcopy(self.network_)
        for state in self.epoch_weights_:
            network.load_state_dict(state)
            yield self.classes_[self._logits(X, network).argmax(axis=1)]

    def features(self, X, *, sample_domain=None) -> np.ndarray:
        """Features of ``X`` (the bottleneck output, the space the transfer losses align), e.g. to plot
        or to measure the domain discrepancy left after adaptation."""
        X = self._validate_predict_X(X, sample_domain)
        X = torch.from_numpy(self._dense(X))
        with torch.no_grad():
            return self.network_.features(X).numpy()


def _doc(cls):
    cls.__doc__ = (cls.__doc__ or "") + _COMMON_DOC
    return cls


# ----------------------------------------------------------------------------------------------------
# the strategies
# ----------------------------------------------------------------------------------------------------
@_doc
@register("deep_source_only", setting="transductive", family="baseline")
class DeepSourceOnly(BaseDeepDA):
    """The deep baseline: the same network and training as the adaptation methods, on source rows only.

    The target rows are ignored (``trade_off`` and ``schedule`` unused). The "NN" column of DANN's
    tables and the "source only" row of TLlib's.

    Examples
    --------
    >>> import numpy as np
    >>> from tltaxonomy.datasets.synthetic import make_rotated_moons
    >>> Xs, ys, Xt, yt = make_rotated_moons(angle=20)
    >>> clf = DeepSourceOnly(backbone_kwargs={"hidden": [16]}, max_epochs=30, lr=0.01, random_state=0)
    >>> clf.fit_domains(Xs, ys, Xt).score(Xs, ys) > 0.9
    True
    """

    _uses_target = False

    def _make_step(self, network, n_classes):
        return _SourceStep()


_DISC = {"discriminator_hidden": 1024, "discriminator_layers": 2}
_DISC_CONSTRAINTS = {
    "discriminator_hidden": [Interval(Integral, 1, None, closed="left")],
    "discriminator_layers": [Interval(Integral, 0, None, closed="left")],
}


@_doc
@register("dann", setting="transductive", family="adversarial")
class DANN(BaseDeepDA):
    r"""Domain-adversarial neural network (Ganin et al. 2016).

    .. math:: \min_{\theta_f, \theta_y} \max_{\theta_d} \; \mathcal{L}_{ce}(G_y(G_f(x_s)), y_s) - \lambda\,
              \mathcal{L}_d(\theta_f, \theta_d)

    solved in one backward pass with a gradient reversal layer between the features and the domain
    discriminator (:class:`~tltaxonomy.transductive.deep.DomainAdversarialLoss`, the mean of the
    source and target binary cross-entropies).

    Parameters
    ----------
    discriminator_hidden : int, default=1024
        Width of the discriminator's hidden layers.
    discriminator_layers : int, default=2
        Hidden layers of the discriminator; 0 = one logistic unit on the features (the shallow DANN of
        the paper's Amazon experiments).

    Attributes
    ----------
    network_ : DANetwork
        The trained network (CPU, eval mode).
    step_ : nn.Module
        The trained step (holds the discriminator).
    history_ : TrainingHistory
        Losses, validation scores and the per-epoch domain accuracy (``history_.logs``).
    best_epoch_ : int
        Epoch whose weights are kept.
    epoch_weights_ : list of dict or None
        Every epoch's weights with ``keep_epoch_weights=True``.

    References
    ----------
    Ganin, Ustinova, Ajakan, Germain, Larochelle, Laviolette, Marchand, Lempitsky. "Domain-Adversarial
    Training of Neural Networks." JMLR 17(59), 2016.

    Examples
    --------
    >>> from tltaxonomy.datasets.synthetic import make_rotated_moons
    >>> Xs, ys, Xt, yt = make_rotated_moons()
    >>> clf = DANN(backbone_kwargs={"hidden": [15], "activation": "sigmoid"}, max_epochs=5, random_state=0)
    >>> clf.fit_domains(Xs, ys, Xt).predict(Xt).shape
    (300,)
    """

    _extra = dict(_DISC)
    _extra_constraints = dict(_DISC_CONSTRAINTS)

    def _make_step(self, network, n_classes):
        return _DANNStep(self.trade_off, self.schedule, network.out_features, self.discriminator_hidden, self.discriminator_layers)


_CDAN_EXTRA = {**_DISC, "entropy_conditioning": False, "randomized": False, "randomized_dim": 1024}
_CDAN_CONSTRAINTS = {
    **_DISC_CONSTRAINTS,
    "entropy_conditioning": ["boolean"],
    "randomized": ["boolean"],
    "randomized_dim": [Interval(Integral, 1, None, closed="left")],
}


@_doc
@register("cdan", setting="transductive", family="adversarial")
class CDAN(BaseDeepDA):
    r"""Conditional domain-adversarial network (Long et al. 2018).

    The discriminator sees the multilinear map :math:`f \otimes g` of features and class
    probabilities (or its randomized projection), optionally weighted by :math:`1 + e^{-H(g)}`
    (entropy conditioning, CDAN+E, see :class:`CDANE`).

    Parameters
    ----------
    discriminator_hidden, discriminator_layers
        As :class:`DANN`.
    entropy_conditioning : bool, default=False
        Weight the examples by :math:`1 + e^{-H(g)}` (CDAN+E).
    randomized : bool, default=False
        Use the randomized multilinear map (for wide features × many classes).
    randomized_dim : int, default=1024
        Output width of the randomized map.

    References
    ----------
    Long, Cao, Wang, Jordan. "Conditional Adversarial Domain Adaptation." NeurIPS 2018.
    """

    _extra = dict(_CDAN_EXTRA)
    _extra_constraints = dict(_CDAN_CONSTRAINTS)

    def _make_step(self, network, n_classes):
        return _CDANStep(
            self.trade_off, self.schedule, network.out_features, n_classes, self.discriminator_hidden,
            self.discriminator_layers, self.entropy_conditioning, self.randomized, self.randomized_dim,
            0 if self.random_state is None else self.random_state,
        )


@_doc
@register("cdan_e", setting="transductive", family="adversarial")
class CDANE(CDAN):
    """CDAN+E: :class:`CDAN` with entropy conditioning on (the default of ``entropy_conditioning``).

    References
    ----------
    Long, Cao, Wang, Jordan. "Conditional Adversarial Domain Adaptation." NeurIPS 2018.
    """

    _defaults = {"entropy_conditioning": True}


@_doc
@register("dan", setting="transductive", family="statistics")
class DAN(BaseDeepDA):
    r"""Deep adaptation network (Long et al. 2015): multi-kernel MMD between source and target features.

    .. math:: \mathcal{L} = \mathcal{L}_{ce} + \lambda\, \text{MK-MMD}^2(f_s, f_t)

    with the Gaussian kernels of :class:`~tltaxonomy.transductive.deep.MultipleKernelMMD` (bandwidths
    :math:`2^{-3..1}` times the mean squared distance, equal weights, as in TLlib).

    Parameters
    ----------
    unbiased : bool, default=False
        Unbiased (U-statistic) MMD estimate instead of the biased V-statistic.

    References
    ----------
    Long, Cao, Wang, Jordan. "Learning Transferable Features with Deep Adaptation Networks." ICML 2015.
    """

    _extra = {"unbiased": False}
    _extra_constraints = {"unbiased": ["boolean"]}

    def _make_step(self, network, n_classes):
        return _DANStep(self.trade_off, self.schedule, self.unbiased)


@_doc
@register("deep_coral", setting="transductive", family="statistics")
class DeepCORAL(BaseDeepDA):
    r"""Deep CORAL (Sun & Saenko 2016): align the second-order statistics of a layer.

    .. math:: \mathcal{L} = \mathcal{L}_{ce} + \lambda\, \frac{1}{4d^2} \| C_s - C_t \|_F^2

    Parameters
    ----------
    coral_layer : {"logits", "features"}, default="logits"
        Which activations are aligned: the class logits (the paper aligns fc8, its last layer) or the
        features.

    References
    ----------
    Sun, Saenko. "Deep CORAL: Correlation Alignment for Deep Domain Adaptation." ECCV Workshops 2016.
    """

    _min_target_rows = 2  # a target covariance needs at least 2 rows

    _extra = {"coral_layer": "logits"}
    _defaults = {"schedule": "constant"}
    _extra_constraints = {"coral_layer": [StrOptions({"logits", "features"})]}

    def _make_step(self, network, n_classes):
        return _CoralStep(self.trade_off, self.schedule, self.coral_layer)


@_doc
@register("mcc", setting="transductive", family="self_training")
class MCC(BaseDeepDA):
    r"""Minimum class confusion (Jin et al. 2020) on the target predictions.

    .. math:: \mathcal{L} = \mathcal{L}_{ce} + \lambda\, \text{MCC}(g_t / T)

    Parameters
    ----------
    temperature : float, default=2.5
        Softmax temperature :math:`T`.

    References
    ----------
    Jin, Wang, Long, Wang. "Minimum Class Confusion for Versatile Domain Adaptation." ECCV 2020.
    """

    _extra = {"temperature": 2.5}
    _defaults = {"schedule": "constant"}
    _extra_constraints = {"temperature": [Interval(Real, 0, None, closed="neither")]}

    def _make_step(self, network, n_classes):
        return _MCCStep(self.trade_off, self.schedule, self.temperature)


@_doc
@register("adabn", setting="transductive", family="statistics")
class AdaBN(BaseDeepDA):
    r"""Adaptive batch normalisation (Li et al. 2016): train on the source, then re-estimate every
    batch-norm layer's statistics on the target rows (:func:`adapt_batch_norm`).

    The network must have batch-norm layers: set ``bottleneck_dim`` or use a backbone with batch-norm
    (``"resnet_small"``). Without target rows it is the source-only network.

    References
    ----------
    Li, Wang, Shi, Liu, Hou. "Revisiting Batch Normalization For Practical Domain Adaptation." ICLR-W 2017.
    """

    _uses_target = False
    _min_target_rows = 2  # batch-norm statistics need at least 2 target rows
    _defaults = {"bottleneck_dim": 256}

    def _make_step(self, network, n_classes):
        return _SourceStep()

    def _build_network(self, n_classes):
        network = super()._build_network(n_classes)
        if not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in network.modules()):
            raise ValueError(
                "AdaBN: the network has no batch-norm layer to adapt; set bottleneck_dim (e.g. 256) or use a backbone "
                "with batch-norm such as 'resnet_small'."
            )
        return network

    def _after_training(self, network, Xt):
        if Xt is not None and Xt.shape[0] > 0:
            self.n_adapted_layers_ = adapt_batch_norm(network, Xt)


@_doc
@register("mdd", setting="transductive", family="adversarial")
class MDD(BaseDeepDA):
    r"""Margin disparity discrepancy (Zhang et al. 2019).

    An adversarial head :math:`f'` behind a gradient reversal layer (coefficient ``grl_max`` times the
    ``schedule`` ramp) minimises

    .. math:: D = \gamma\, \ell_{ce}(f'(\psi(x_s)), \hat y_s) - \tfrac{1}{n_t}\textstyle\sum_j \log(1 - \sigma(f'(\psi(x_t)))_{\hat y_t})

    (:math:`\hat y` = predictions of the main head); the features maximise it.

    Parameters
    ----------
    margin : float, default=4.0
        :math:`\gamma` (4 in the paper's digits / Office experiments).
    grl_max : float, default=0.1
        Final coefficient of the gradient reversal layer.

    References
    ----------
    Zhang, Liu, Long, Jordan. "Bridging Theory and Algorithm for Domain Adaptation." ICML 2019.
    """

    _extra = {"margin": 4.0, "grl_max": 0.1}
    _extra_constraints = {
        "margin": [Interval(Real, 0, None, closed="neither")],
        "grl_max": [Interval(Real, 0, None, closed="left")],
    }

    def _make_step(self, network, n_classes):
        return _MDDStep(self.trade_off, self.schedule, network.out_features, n_classes, self.margin, self.grl_max)


@_doc
@register("deep_self_training", setting="transductive", family="self_training")
class DeepSelfTraining(BaseDeepDA):
    r"""Confidence-thresholded pseudo-labelling; FixMatch consistency on images (Sohn et al. 2020).

    .. math:: \mathcal{L} = \mathcal{L}_{ce} + \lambda\, \frac{1}{B}\sum_j \mathbb{1}[\max_k p_{jk} \ge \tau]\,
              \ell_{ce}\big(g(\mathcal{A}_s(x^t_j)), \arg\max_k p_{jk}\big), \quad p = \operatorname{softmax}(g(\mathcal{A}_w(x^t)))

    With ``augment="none"`` both views are the input (plain pseudo-labelling); with ``"shift"`` the
    weak view :math:`\mathcal{A}_w` is a random translation of up to 2 pixels and the strong view
    :math:`\mathcal{A}_s` a translation of up to 4 pixels plus a cutout of a quarter of the side
    (needs image ``input_shape``).

    Parameters
    ----------
    threshold : float, default=0.95
        Confidence :math:`\tau` above which a pseudo-label is used.
    augment : {"none", "shift"}, default="none"
        The views.
    distribution_alignment : bool, default=True
        Before thresholding, rescale the weak-view probabilities by the source class prior over the
        running mean of the model's target predictions and renormalise (ReMixMatch, Berthelot et al.
        2020): :math:`p \leftarrow \operatorname{normalize}(p \cdot \pi_s / \bar p)`, with :math:`\bar p` an
        exponential moving average (momentum 0.999) over the target batches. Without it, a class the
        source model over-predicts on the target takes over the pseudo-labels (on MNIST→USPS with LeNet
        the "1"s grew from 23% to 49% of the predictions in 600 steps and accuracy fell from 60% to 43%).

    References
    ----------
    Lee. "Pseudo-Label: The Simple and Efficient Semi-Supervised Learning Method." ICML-W 2013.
    Sohn et al. "FixMatch: Simplifying Semi-Supervised Learning with Consistency and Confidence." NeurIPS 2020.
    Berthelot et al. "ReMixMatch: Semi-Supervised Learning with Distribution Alignment and Augmentation
    Anchoring." ICLR 2020.
    """

    _extra = {"threshold": 0.95, "augment": "none", "distribution_alignment": True}
    _extra_constraints = {
        "threshold": [Interval(Real, 0, 1, closed="both")],
        "augment": [StrOptions({"none", "shift"})],
        "distribution_alignment": ["boolean"],
    }

    def _make_step(self, network, n_classes):
        if self.augment == "shift" and len(self.input_shape_) != 3:
            raise ValueError(
                f"DeepSelfTraining: augment='shift' translates images, but input_shape={self.input_shape_} is not "
                "(channels, height, width); set input_shape or augment='none'."
            )
        prior = None
        if self.distribution_alignment:  # the source class frequencies (set by fit; uniform when called alone)
            prior = getattr(self, "source_prior_", None)
            prior = np.full(n_classes, 1.0 / n_classes) if prior is None else prior
        return _SelfTrainingStep(self.trade_off, self.schedule, self.threshold, self.augment, self.input_shape_, prior)
