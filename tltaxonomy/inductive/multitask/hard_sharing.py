r"""Hard parameter sharing (Caruana 1997): one trunk shared by every task, one head per task.

The tasks may mix classification and regression. The per-task losses are combined by a
:class:`~tltaxonomy.inductive.multitask.GradientCombiner` (``loss_weighting``): equal weights,
uncertainty weighting, GradNorm, DWA, PCGrad, CAGrad or MGDA-UB — through the toolkit's one training
loop (:class:`~tltaxonomy.training.Trainer`), which hands a step's ``task_losses`` to its combiner.
"""

from __future__ import annotations

import math
import os
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ...backbones import build_backbone, feature_dim
from ...base import BaseStrategy, check_input
from ...registry import register
from ...training import Trainer
from ._targets import check_multitask_targets
from .weighting import COMBINERS, make_combiner

__all__ = ["MultiTaskNetwork", "HardSharingMTL", "check_multitask_targets"]


class MultiTaskNetwork(nn.Module):
    """A trunk (or one trunk per task, ``shared=False``) and one head per task.

    ``forward(x)`` returns ``(z, outputs)``: the shared representation (``None`` without sharing) and
    the list of each head's output (logits of a classification task, one value of a regression task).
    """

    def __init__(self, trunks: list[nn.Module], in_features: int, out_sizes: list[int], head_hidden: int | None = None):
        super().__init__()
        self.shared = len(trunks) == 1
        self.trunks = nn.ModuleList(trunks)

        self.out_sizes = [int(k) for k in out_sizes]
        if head_hidden is None and self.shared:
            # linear heads of a shared trunk: one matrix whose column blocks are the heads (one matmul
            # for hundreds of tasks, e.g. School's 139)
            self.heads = nn.ModuleList([nn.Linear(in_features, sum(self.out_sizes))])
        elif head_hidden is None:
            self.heads = nn.ModuleList([nn.Linear(in_features, k) for k in self.out_sizes])
        else:
            self.heads = nn.ModuleList([
                nn.Sequential(nn.Linear(in_features, head_hidden), nn.ReLU(), nn.Linear(head_hidden, k))
                for k in self.out_sizes
            ])

    def forward(self, x: torch.Tensor):
        if self.shared:
            z = self.trunks[0](x)
            if len(self.heads) == 1 and len(self.out_sizes) > 1:
                return z, list(torch.split(self.heads[0](z), self.out_sizes, dim=1))
            return z, [h(z) for h in self.heads]
        return None, [h(trunk(x)) for trunk, h in zip(self.trunks, self.heads)]


class _MultiTaskStep(nn.Module):
    """Per-task losses (cross-entropy or MSE on the rows where the task is observed) for the combiner."""

    def __init__(self, combiner, kinds: list[str]):
        super().__init__()
        self.combiner = combiner
        self.kinds = kinds

    @staticmethod
    def shared_parameters(model: MultiTaskNetwork):
        return model.trunks[0].parameters() if model.shared else iter(())

    def forward(self, model, batch, state):
        x, Y = batch
        z, outs = model(x)
        losses: list[torch.Tensor | None] = [None] * len(outs)
        reg = [t for t, kind in enumerate(self.kinds) if kind == "regression"]
        if reg:  # every regression task's masked MSE at once (a task absent from the batch gets 0)
            pred = torch.cat([outs[t] for t in reg], dim=1)
            target = Y[:, reg]
            mask = ~torch.isnan(target)
            diff = torch.where(mask, pred - torch.nan_to_num(target), torch.zeros_like(pred))
            per_task = (diff * diff).sum(dim=0) / mask.sum(dim=0).clamp(min=1)
            for t, loss in zip(reg, per_task.unbind()):
                losses[t] = loss
        for t, (out, kind) in enumerate(zip(outs, self.kinds)):
            if kind != "classification":
                continue
            mask = ~torch.isnan(Y[:, t])
            if not bool(mask.any()):  # the task has no row in this batch: a zero loss on the graph
                losses[t] = out.sum() * 0.0
            else:
                losses[t] = F.cross_entropy(out[mask], Y[mask, t].long())
        total = torch.stack(losses).sum()
        logs = {f"loss{t}": loss.detach() for t, loss in enumerate(losses)} if len(losses) <= 10 else {}
        return {"loss": total.detach(), "task_losses": losses, "representation": z, **logs}


@register("hard_sharing", setting="inductive", family="multi_task")
class HardSharingMTL(BaseStrategy):
    r"""Multi-task learning with hard parameter sharing: a shared trunk, one head per task.

    ``fit(X, Y)`` takes ``Y`` of shape ``(n_samples, n_tasks)`` with ``NaN`` where a row has no label
    for a task (rows may carry every task, as MultiMNIST, or one task each, as School). It minimises,
    over the trunk :math:`\theta_{sh}` and the heads :math:`\theta_t`, the per-task losses
    :math:`L_t` (cross-entropy for a classification task, mean squared error on the standardised
    target for a regression task, each over its observed rows of the batch), combined by
    ``loss_weighting``: :math:`\sum_t w_t L_t` for the weighting methods, or a direction computed from
    the per-task gradients on :math:`\theta_{sh}` for gradient surgery / multi-objective methods.
    ``sharing="none"`` trains one trunk per task instead (the single-task baselines, in one estimator,
    with the same budget).

    Parameters
    ----------
    backbone : str, path-like or torch.nn.Module, default="mlp"
        The trunk: a registered backbone (``"mlp"``, ``"lenet"``, ...), a module or a checkpoint.
    backbone_kwargs : dict or None, default=None
        Constructor arguments of a registered backbone.
    input_shape : tuple of int or None, default=None
        Shape of one input (``X`` holds flat rows); ``None`` = flat rows.
    head_hidden : int or None, default=None
        Width of a hidden ReLU layer in each head (``None`` = linear heads).
    sharing : {"hard", "none"}, default="hard"
        ``"none"`` = an independent trunk per task (single-task learning).
    task_types : "auto", {"classification", "regression"} or list of those, default="auto"
        Per task. ``"auto"``: integer / boolean ``Y`` → classification, float ``Y`` → regression (the
        runner passes the dataset's declared types).
    loss_weighting : str, default="equal"
        A name of :data:`~tltaxonomy.inductive.multitask.COMBINERS`: ``"equal"``, ``"uncertainty"``,
        ``"gradnorm"``, ``"dwa"``, ``"pcgrad"``, ``"cagrad"``, ``"mgda"``.
    loss_weighting_kwargs : dict or None, default=None
        Constructor arguments of the combiner (e.g. ``{"c": 0.4}`` for CAGrad).
    max_epochs, batch_size, lr, optimizer, weight_decay
        Of the :class:`~tltaxonomy.training.Trainer`.
    device : str, default="auto"
    random_state : int or None, default=None
        Seeds the initialisation and the batches (``None`` = 0).
    progress : bool, default=False

    Attributes
    ----------
    network_ : MultiTaskNetwork
    task_types_ : list of str
    classes_ : list of ndarray or None
        Per task, the class values (classification) or ``None`` (regression).
    combiner_ : GradientCombiner
    history_ : TrainingHistory

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 5)); Y = np.c_[X[:, 0] > 0, X[:, 1] > 0].astype(int)
    >>> mtl = HardSharingMTL(loss_weighting="pcgrad", max_epochs=5, device="cpu", random_state=0).fit(X, Y)
    >>> mtl.predict(X).shape
    (200, 2)

    References
    ----------
    R. Caruana. Multitask learning. Machine Learning 28, 1997.
    S. Ruder. An overview of multi-task learning in deep neural networks. arXiv:1706.05098, 2017.
    """

    #: the runner's multi-task protocol applies (Y with one column per task)
    _multitask = True

    _parameter_constraints = {
        "backbone": [str, os.PathLike, nn.Module],
        "backbone_kwargs": [dict, None],
        "input_shape": [tuple, list, None],
        "head_hidden": [Interval(Integral, 1, None, closed="left"), None],
        "sharing": [StrOptions({"hard", "none"})],
        "task_types": [StrOptions({"auto", "classification", "regression"}), list, tuple],
        "loss_weighting": [StrOptions(set(COMBINERS))],
        "loss_weighting_kwargs": [dict, None],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "optimizer": [StrOptions({"adam", "adamw", "sgd"})],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "device": [str, torch.device],
        "random_state": [Interval(Integral, 0, None, closed="left"), None],
        "progress": ["boolean"],
    }

    def __init__(
        self,
        *,
        backbone="mlp",
        backbone_kwargs: dict | None = None,
        input_shape=None,
        head_hidden: int | None = None,
        sharing: str = "hard",
        task_types="auto",
        loss_weighting: str = "equal",
        loss_weighting_kwargs: dict | None = None,
        max_epochs: int = 20,
        batch_size: int = 256,
        lr: float = 1e-3,
        optimizer: str = "adam",
        weight_decay: float = 0.0,
        device: str = "auto",
        random_state: int | None = None,
        progress: bool = False,
    ):
        self.backbone = backbone
        self.backbone_kwargs = backbone_kwargs
        self.input_shape = input_shape
        self.head_hidden = head_hidden
        self.sharing = sharing
        self.task_types = task_types
        self.loss_weighting = loss_weighting
        self.loss_weighting_kwargs = loss_weighting_kwargs
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.device = device
        self.random_state = random_state
        self.progress = progress

    def selection_protocol(self) -> str:
        return "none"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = False
        return tags

    # ------------------------------------------------------------------ helpers
    def _dense(self, X) -> np.ndarray:
        X = X.toarray() if sp.issparse(X) else np.asarray(X)
        return np.ascontiguousarray(X, dtype=np.float32)

    def _resolve_types(self, Y_raw: np.ndarray, n_tasks: int) -> list[str]:
        name = type(self).__name__
        if isinstance(self.task_types, str):
            if self.task_types != "auto":
                return [self.task_types] * n_tasks
            kind = "classification" if Y_raw.dtype.kind in "biu" else "regression"
            return [kind] * n_tasks
        types = [str(t) for t in self.task_types]
        if len(types) != n_tasks:
            raise ValueError(f"{name}: task_types has {len(types)} entries but Y has {n_tasks} task columns; give one per task.")
        bad = [t for t in types if t not in ("classification", "regression")]
        if bad:
            raise ValueError(f"{name}: task_types entries must be 'classification' or 'regression', got {bad[0]!r}.")
        return types

    # ------------------------------------------------------------------ fit / predict
    def fit(self, X, Y):
        """Train on ``X`` and the multi-task targets ``Y`` (n_samples, n_tasks), NaN = unobserved."""
        self._validate_params()
        name = type(self).__name__
        X = check_input(self, X, accept_sparse="csr", dtype=[np.float64, np.float32])
        Y_raw = np.asarray(Y)
        Yf = check_multitask_targets(name, Y_raw, X.shape[0])
        T = Yf.shape[1]
        self.task_types_ = self._resolve_types(Y_raw, T)
        self.n_tasks_ = T
        Y_enc = np.full_like(Yf, np.nan)
        self.classes_, self.target_scale_ = [], []
        out_sizes = []
        for t, kind in enumerate(self.task_types_):
            obs = ~np.isnan(Yf[:, t])
            if kind == "classification":
                if np.any(Yf[obs, t] != np.round(Yf[obs, t])):
                    raise ValueError(f"{name}: task {t} is a classification task but its labels are not integers.")
                classes, enc = np.unique(Yf[obs, t], return_inverse=True)
                if classes.size < 2:
                    raise ValueError(f"{name}: task {t} has one class ({classes[0]:g}); a classification task needs at least 2.")
                Y_enc[obs, t] = enc
                self.classes_.append(classes)
                self.target_scale_.append(None)
                out_sizes.append(classes.size)
            else:
                mu, sd = float(Yf[obs, t].mean()), float(Yf[obs, t].std())
                sd = sd if sd > 0 else 1.0
                Y_enc[obs, t] = (Yf[obs, t] - mu) / sd
                self.classes_.append(None)
                self.target_scale_.append((mu, sd))
                out_sizes.append(1)
        shape = (X.shape[1],) if self.input_shape is None else tuple(int(v) for v in self.input_shape)
        if math.prod(shape) != X.shape[1]:
            raise ValueError(f"{name}: X has {X.shape[1]} features but input_shape={shape} needs {math.prod(shape)}.")
        self.input_shape_ = shape
        seed = 0 if self.random_state is None else int(self.random_state)
        torch.manual_seed(seed)
        n_trunks = 1 if self.sharing == "hard" else T
        trunks = [build_backbone(self.backbone, input_shape=shape, backbone_kwargs=self.backbone_kwargs) for _ in range(n_trunks)]
        width = getattr(trunks[0], "out_features", None) or feature_dim(trunks[0], shape)
        self.network_ = MultiTaskNetwork(trunks, width, out_sizes, self.head_hidden)
        weighting = self.loss_weighting if self.sharing == "hard" else "equal"  # nothing is shared to combine
        self.combiner_ = make_combiner(weighting, n_tasks=T, seed=seed, **(self.loss_weighting_kwargs or {}))
        step = _MultiTaskStep(self.combiner_, self.task_types_)
        trainer = Trainer(max_epochs=self.max_epochs, batch_size=self.batch_size, lr=self.lr, optimizer=self.optimizer,
                          weight_decay=self.weight_decay, device=self.device, seed=seed, progress=self.progress)
        Xt = torch.tensor(self._dense(X)).reshape(-1, *shape)  # a copy: X may be a read-only view
        Yt = torch.from_numpy(Y_enc.astype(np.float32))
        self.history_ = trainer.fit(self.network_, (Xt, Yt), step=step)
        self.network_.to("cpu").eval()
        return self

    def _outputs(self, X) -> list[np.ndarray]:
        check_is_fitted(self)
        X = check_input(self, X, reset=False, accept_sparse="csr", dtype=[np.float64, np.float32])
        Xd = self._dense(X)
        outs: list[list[np.ndarray]] = [[] for _ in range(self.n_tasks_)]
        with torch.no_grad():
            for i in range(0, Xd.shape[0], 1024):
                xb = torch.from_numpy(Xd[i : i + 1024]).reshape(-1, *self.input_shape_)
                _, heads = self.network_(xb)
                for t, h in enumerate(heads):
                    outs[t].append(h.numpy())
        return [np.concatenate(o) if o else np.zeros((0, 1)) for o in outs]

    def predict(self, X) -> np.ndarray:
        """Predictions of every task, shape (n_samples, n_tasks): class values or regression targets."""
        P = []
        for t, out in enumerate(self._outputs(X)):
            if self.classes_[t] is not None:
                P.append(self.classes_[t][out.argmax(axis=1)])
            else:
                mu, sd = self.target_scale_[t]
                P.append(out[:, 0].astype(np.float64) * sd + mu)
        return np.stack(P, axis=1).astype(np.float64)

    def predict_proba(self, X) -> list[np.ndarray]:
        """Per classification task, the softmax probabilities (``None`` for a regression task)."""
        outs = self._outputs(X)
        return [None if c is None else torch.softmax(torch.from_numpy(o), dim=1).numpy() for o, c in zip(outs, self.classes_)]

    def score(self, X, Y) -> float:
        """Mean over tasks of the accuracy (classification) or explained variance (regression), on the
        observed entries of ``Y``."""
        from ...metrics import accuracy, explained_variance

        Yf = check_multitask_targets(type(self).__name__, Y, np.asarray(X).shape[0] if not sp.issparse(X) else X.shape[0])
        P = self.predict(X)
        scores = []
        for t, kind in enumerate(self.task_types_):
            obs = ~np.isnan(Yf[:, t])
            f = accuracy if kind == "classification" else explained_variance
            scores.append(f(Yf[obs, t], P[obs, t]))
        return float(np.mean(scores))
