"""The one torch training loop of the toolkit.

Every deep strategy trains through :class:`Trainer`. A strategy supplies a model and a *step*: a
callable ``step(model, batch, state) -> loss`` that computes the loss of one batch. Methods differ by
their step (a domain-adversarial step adds a target batch and a discriminator loss, a fine-tuning step
is plain cross-entropy), never by a new loop.

The loop owns what every method needs and none should re-implement: seeding, shuffling, the optimiser,
device placement, validation on held-out *training* rows with early stopping and best-weight restoring,
progress bars and checkpoint / resume with bit-identical results.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from numbers import Integral, Real
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils._param_validation import Interval, StrOptions, validate_parameter_constraints
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler, Subset, TensorDataset

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint

__all__ = [
    "Trainer",
    "TrainingHistory",
    "TrainState",
    "classification_step",
    "resolve_device",
    "seeded",
    "trainer_from",
]

CHECKPOINT_NAME = "last.pt"
_CHECKPOINT_FORMAT = 1

#: what a training set may be: a Dataset, a tuple of arrays / tensors, or named sets of those
DataLike = Union[Dataset, Sequence, Mapping[str, Any]]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn a device specification into a :class:`torch.device`.

    Parameters
    ----------
    device : str or torch.device, default="auto"
        ``"auto"`` picks CUDA if available, else Apple MPS, else the CPU; any other value is passed
        to :class:`torch.device` (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``).

    Raises
    ------
    ValueError
        If the value is not a device name, or names an accelerator that is not available.
    """
    if isinstance(device, torch.device):
        dev = device
    elif device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    else:
        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError) as exc:
            raise ValueError(
                f"device={device!r} is not a device name; use 'auto', 'cpu', 'cuda', 'cuda:<index>' or 'mps'."
            ) from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but CUDA is not available here; use device='auto' or 'cpu'.")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device={device!r} was requested but MPS is not available here; use device='auto' or 'cpu'.")
    return dev


class seeded:
    """Context manager: run a block with torch's global RNG seeded, then restore the caller's RNG.

    Used to make weight initialisation reproducible without changing the caller's random stream.

    Examples
    --------
    >>> import torch
    >>> with seeded(0):
    ...     a = torch.nn.Linear(3, 2).weight
    >>> with seeded(0):
    ...     b = torch.nn.Linear(3, 2).weight
    >>> bool(torch.equal(a, b))
    True
    """

    def __init__(self, seed: int | None, device: torch.device | None = None):
        self.seed = seed
        self.device = device

    def __enter__(self):
        devices = []
        if self.device is not None and self.device.type == "cuda":
            devices = [self.device.index if self.device.index is not None else torch.cuda.current_device()]
        self._fork = torch.random.fork_rng(devices=devices)
        self._fork.__enter__()
        if self.seed is not None:
            torch.manual_seed(int(self.seed))
        return self

    def __exit__(self, *exc):
        return self._fork.__exit__(*exc)


@dataclass(frozen=True)
class TrainState:
    """Where the loop is; passed to the step (schedules such as DANN's :math:`\\lambda_p` read it).

    Attributes
    ----------
    epoch : int
        Current epoch, from 0.
    iteration : int
        Batch index inside the epoch, from 0.
    max_epochs : int
        Number of epochs of the run.
    iters_per_epoch : int
        Batches per epoch.
    """

    epoch: int
    iteration: int
    max_epochs: int
    iters_per_epoch: int

    @property
    def progress(self) -> float:
        """Fraction of the training done, :math:`p \\in [0, 1)`."""
        return (self.epoch * self.iters_per_epoch + self.iteration) / max(1, self.max_epochs * self.iters_per_epoch)


@dataclass
class TrainingHistory:
    """What a :meth:`Trainer.fit` run did.

    Attributes
    ----------
    losses : list of float
        Mean training loss of each epoch (including epochs loaded from a checkpoint).
    val_scores : list of float
        Validation metric after each epoch (empty without validation).
    best_epoch : int or None
        Epoch (from 1) whose weights the model holds at the end when validation is on.
    resumed_from : int or None
        Number of epochs loaded from a checkpoint, ``None`` if the run started fresh.
    stopped_early : bool
        Whether early stopping ended the run.
    logs : list of dict
        Per-epoch means of the extra values a step returned besides its loss.
    """

    losses: list[float] = field(default_factory=list)
    val_scores: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    resumed_from: int | None = None
    stopped_early: bool = False
    logs: list[dict[str, float]] = field(default_factory=list)

    @property
    def n_epochs(self) -> int:
        """Number of epochs completed."""
        return len(self.losses)


def classification_step(model: nn.Module, batch, state: TrainState) -> torch.Tensor:
    r"""Cross-entropy of ``model(x)`` against ``y`` for a batch ``(x, y)``.

    .. math:: \mathcal{L} = -\frac{1}{B} \sum_{i=1}^{B} \log \operatorname{softmax}(f(x_i))_{y_i}
    """
    x, y = batch[0], batch[1]
    return F.cross_entropy(model(x), y)


def _accuracy_score(model: nn.Module, batch) -> tuple[float, int]:
    x, y = batch[0], batch[1]
    return float((model(x).argmax(dim=1) == y).sum()), len(y)


def _neg_loss_score(model: nn.Module, batch) -> tuple[float, int]:
    x, y = batch[0], batch[1]
    return -float(F.cross_entropy(model(x), y, reduction="sum")), len(y)


_VAL_METRICS = {"accuracy": _accuracy_score, "loss": _neg_loss_score}


def _as_dataset(data) -> Dataset:
    if isinstance(data, Dataset):
        return data
    if isinstance(data, (tuple, list)):
        tensors = [torch.as_tensor(np.asarray(a)) if not torch.is_tensor(a) else a for a in data]
        return TensorDataset(*tensors)
    raise TypeError(
        f"Trainer.fit: training data must be a torch Dataset, a tuple of arrays/tensors (x, y, ...) or a dict "
        f"of those; got {type(data).__name__}."
    )


def _subset(ds: Dataset, idx: np.ndarray) -> Dataset:
    if isinstance(ds, TensorDataset):
        index = torch.as_tensor(idx, dtype=torch.long)
        return TensorDataset(*[t[index] for t in ds.tensors])
    return Subset(ds, idx.tolist())


def _make_loader(
    ds: Dataset, batch_size: int, *, shuffle: bool, generator, num_workers: int, pin_memory: bool = False
) -> DataLoader:
    if isinstance(ds, TensorDataset):
        # whole batches are indexed at once: much faster than collating single rows
        base = RandomSampler(ds, generator=generator) if shuffle else SequentialSampler(ds)
        sampler = BatchSampler(base, batch_size=batch_size, drop_last=False)
        return DataLoader(
            ds, sampler=sampler, batch_size=None, num_workers=num_workers, generator=generator, pin_memory=pin_memory
        )
    return DataLoader(
        ds,
        batch_size=batch_size,
        sampler=RandomSampler(ds, generator=generator) if shuffle else None,
        num_workers=num_workers,
        generator=generator,
        pin_memory=pin_memory,
    )


def _to_device(batch, device: torch.device):
    if torch.is_tensor(batch):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: _to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to_device(v, device) for v in batch)
    return batch


def _state_dict_copy(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


#: keys of a step's output mapping that are not logged (tensors for the combiner)
_NOT_LOGGED = ("loss", "task_losses", "representation")


def _combine(step, model: nn.Module, out: Mapping, state: TrainState) -> None:
    """Backward pass of a step that returned several losses: its ``combiner`` (a
    :class:`~tltaxonomy.inductive.multitask.GradientCombiner`) writes the gradients, with the
    parameters named by the step's ``shared_parameters(model)`` as the shared ones."""
    combiner = getattr(step, "combiner", None)
    shared = getattr(step, "shared_parameters", None)
    if combiner is None or shared is None:
        raise TypeError(
            f"Trainer: the step returned 'task_losses' but {type(step).__name__} has no `combiner` and "
            "`shared_parameters(model)`; return a single 'loss' or give the step both."
        )
    combiner.backward(list(out["task_losses"]), [p for p in shared(model) if p.requires_grad],
                      representation=out.get("representation"), epoch=state.epoch)


@dataclass
class Trainer:
    """The toolkit's training loop: mini-batch gradient descent with a pluggable loss.

    Parameters
    ----------
    max_epochs : int, default=10
        Number of passes over the (main) training set.
    batch_size : int, default=64
        Rows per mini-batch.
    lr : float, default=1e-3
        Learning rate.
    optimizer : {"adam", "adamw", "sgd"}, default="adam"
        Optimiser.
    momentum : float, default=0.9
        SGD momentum (ignored by Adam).
    weight_decay : float, default=0.0
        L2 penalty (decoupled for ``"adamw"``).
    device : str, default="auto"
        ``"auto"`` = CUDA if available, else MPS, else CPU; see :func:`resolve_device`.
    seed : int or None, default=0
        Seeds torch's RNG (dropout, ...), the shuffling generators and the validation split. The
        caller's global RNG is restored after :meth:`fit`. The same seed gives bit-identical weights
        on the CPU.
    progress : bool, default=False
        Show a tqdm bar per epoch.
    checkpoint_dir : str or path-like or None, default=None
        Folder of the run's checkpoint (``last.pt``); ``None`` = no checkpointing.
    checkpoint_every : int, default=1
        Save every this many epochs (and always after the last one).
    resume : bool, default=True
        Continue from ``checkpoint_dir/last.pt`` when it exists. A run interrupted after epoch *k* and
        resumed ends with exactly the weights of an uninterrupted run.
    val_fraction : float, default=0.0
        Fraction of the training rows held out for validation (never target test data). When > 0,
        the validation metric is computed after each epoch and the best weights are restored at the end.
    val_metric : {"accuracy", "loss"}, default="accuracy"
        Validation metric of a classifier ``model(x) -> logits`` on the held-out rows ``(x, y)``.
    patience : int or None, default=None
        Stop after this many epochs without improvement of the validation metric (needs
        validation rows); ``None`` = no early stopping.
    patience_ratio : float or None, default=None
        The relative early-stopping rule of the DANN authors' code: stop once the epoch number
        exceeds ``max(min_epochs, patience_ratio * best_epoch)`` (needs validation rows).
    min_epochs : int, default=0
        Epochs always run before ``patience_ratio`` may stop the run.
    steps_per_epoch : int or None, default=None
        Optimiser steps per epoch; ``None`` = one pass over the (main) training set. A fixed number
        (TLlib's "iterations per epoch") gives tasks with training sets of different sizes the same
        budget; the main set is reshuffled whenever a pass ends.
    val_ties : {"first", "last"}, default="first"
        Which epoch wins a tie of the validation metric: the earliest, or the latest (the DANN
        authors' rule; better when the metric saturates early, e.g. source accuracy in domain
        adaptation, where later epochs have adapted more).
    lr_schedule : {"constant", "inv"}, default="constant"
        ``"inv"`` anneals the learning rate as :math:`\\eta_p = \\eta_0 (1 + 10 p)^{-0.75}` with
        :math:`p` the training progress (Ganin et al. 2016, used by DANN / CDAN / MDD).
    num_workers : int, default=0
        DataLoader worker processes.
    mixed_precision : {"no", "bf16", "fp16"}, default="no"
        Run the step (forward and loss) under :func:`torch.autocast` in that dtype; ``"fp16"`` also
        scales the loss with a :class:`torch.amp.GradScaler` (single-loss steps; a multi-task combiner
        gets unscaled gradients). On the CPU autocast is meant for ``"bf16"``. ``"no"`` = full
        float32, bit-identical to earlier releases. On CUDA the loaders also pin their batches
        (``pin_memory``) so that the ``non_blocking`` copies overlap.

    Examples
    --------
    >>> import torch
    >>> X, y = torch.randn(64, 5), torch.randint(0, 2, (64,))
    >>> model = torch.nn.Linear(5, 2)
    >>> history = Trainer(max_epochs=2, batch_size=16, device="cpu").fit(model, (X, y))
    >>> history.n_epochs
    2
    """

    max_epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    device: str = "auto"
    seed: int | None = 0
    progress: bool = False
    checkpoint_dir: str | Path | None = None
    checkpoint_every: int = 1
    resume: bool = True
    val_fraction: float = 0.0
    val_metric: str = "accuracy"
    patience: int | None = None
    patience_ratio: float | None = None
    min_epochs: int = 0
    steps_per_epoch: int | None = None
    val_ties: str = "first"
    lr_schedule: str = "constant"
    num_workers: int = 0
    mixed_precision: str = "no"

    _parameter_constraints = {
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "optimizer": [StrOptions({"adam", "adamw", "sgd"})],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "device": [str, torch.device],
        "seed": [Interval(Integral, 0, None, closed="left"), None],
        "progress": ["boolean"],
        "checkpoint_dir": [str, Path, None],
        "checkpoint_every": [Interval(Integral, 1, None, closed="left")],
        "resume": ["boolean"],
        "val_fraction": [Interval(Real, 0, 1, closed="left")],
        "val_metric": [StrOptions(set(_VAL_METRICS))],
        "patience": [Interval(Integral, 1, None, closed="left"), None],
        "patience_ratio": [Interval(Real, 1, None, closed="left"), None],
        "min_epochs": [Interval(Integral, 0, None, closed="left")],
        "steps_per_epoch": [Interval(Integral, 1, None, closed="left"), None],
        "val_ties": [StrOptions({"first", "last"})],
        "lr_schedule": [StrOptions({"constant", "inv"})],
        "num_workers": [Interval(Integral, 0, None, closed="left")],
        "mixed_precision": [StrOptions({"no", "bf16", "fp16"})],
    }

    # ------------------------------------------------------------------ helpers
    def _validate(self) -> None:
        validate_parameter_constraints(self._parameter_constraints, asdict(self), caller_name="Trainer")
    def _check_stopping(self, has_val: bool) -> None:
        for name in ("patience", "patience_ratio"):
            if getattr(self, name) is not None and not has_val:
                raise ValueError(
                    f"Trainer: {name}={getattr(self, name)} needs validation rows; set val_fraction > 0 (e.g. 0.1), "
                    f"pass val_data, or set {name}=None."
                )

    def _fingerprint(self) -> dict[str, Any]:
        """The settings a checkpoint must share with the run that resumes it."""
        keys = ("batch_size", "lr", "optimizer", "momentum", "weight_decay", "seed", "val_fraction", "val_metric", "lr_schedule", "steps_per_epoch")
        return {k: getattr(self, k) for k in keys}

    def _make_optimizer(self, params) -> torch.optim.Optimizer:
        for group in params:  # a group's learning rate is lr x its lr_mult (the schedule scales both)
            group["lr"] = self.lr * group["lr_mult"]
        if self.optimizer == "sgd":
            return torch.optim.SGD(params, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)
        if self.optimizer == "adamw":
            return torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        return torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)

    @staticmethod
    def _param_groups(model: nn.Module, param_groups) -> list[dict[str, Any]]:
        if param_groups is None:
            return [{"params": [p for p in model.parameters() if p.requires_grad], "lr_mult": 1.0}]
        groups, seen = [], set()
        for i, g in enumerate(param_groups):
            if not isinstance(g, Mapping) or "params" not in g:
                raise ValueError(f"Trainer.fit: param_groups[{i}] must be a dict with a 'params' list, got {g!r}.")
            mult = float(g.get("lr_mult", 1.0))
            if not math.isfinite(mult) or mult < 0:
                raise ValueError(f"Trainer.fit: param_groups[{i}] has lr_mult={mult}; use a finite number >= 0.")
            params = list(g["params"])
            for p in params:
                if id(p) in seen:
                    raise ValueError(f"Trainer.fit: a parameter appears in more than one of param_groups (again in group {i}).")
                seen.add(id(p))
            groups.append({"params": params, "lr_mult": mult})
        missing = [n for n, p in model.named_parameters() if p.requires_grad and id(p) not in seen]
        if missing:
            raise ValueError(
                f"Trainer.fit: trainable parameters of the model are in no param_groups entry: {missing[:5]}"
                f"{' ...' if len(missing) > 5 else ''}; add them to a group or set requires_grad=False."
            )
        return [g for g in groups if g["params"]]

    @property
    def checkpoint_path(self) -> Path | None:
        """``checkpoint_dir / "last.pt"``, or ``None`` without a checkpoint folder."""
        return None if self.checkpoint_dir is None else Path(self.checkpoint_dir) / CHECKPOINT_NAME

    # ------------------------------------------------------------------ the loop
    def fit(
        self,
        model: nn.Module,
        data: DataLike,
        step: Callable[[nn.Module, Any, TrainState], Any] = classification_step,
        *,
        val_data: Dataset | Sequence | None = None,
        val_fn: Callable[[nn.Module, Any], tuple[float, int]] | None = None,
        on_epoch_end: Callable[[nn.Module, int], None] | None = None,
        param_groups: Sequence[Mapping[str, Any]] | None = None,
    ) -> TrainingHistory:
        """Train ``model`` in place and return its :class:`TrainingHistory`.

        Parameters
        ----------
        model : torch.nn.Module
            The network; moved to the trainer's device and left in eval mode at the end.
        data : Dataset, tuple of arrays / tensors, or dict of those
            Training data. A dict names several sets (``{"source": (Xs, ys), "target": (Xt,)}``):
            an epoch is one pass over the *first* set; the others are reshuffled at each epoch and
            cycled alongside it, and the step receives a dict of batches with the same keys.
            Otherwise the step receives one batch (a tuple of tensors for a tuple / TensorDataset).
        step : callable, default=:func:`classification_step`
            ``step(model, batch, state) -> loss`` (a scalar tensor) or ``-> {"loss": loss, name:
            value, ...}`` (the other values are averaged per epoch into ``history.logs``). A mapping
            with ``"task_losses"`` (a list of scalar tensors, and optionally ``"representation"``, the
            shared features) is back-propagated by the step's ``combiner`` (multi-task loss weighting
            or gradient surgery, e.g. PCGrad) over ``step.shared_parameters(model)``; ``"loss"`` is then
            only logged. If the step
            is an :class:`torch.nn.Module` (a loss with parameters, e.g. a domain discriminator), its
            parameters are optimised with the model's and saved in checkpoints.
        val_data : Dataset or tuple, optional
            Explicit validation rows; by default ``val_fraction`` of the first training set.
        val_fn : callable, optional
            ``val_fn(model, batch) -> (sum_of_scores, n_rows)``, higher is better; overrides
            ``val_metric``.
        on_epoch_end : callable, optional
            ``on_epoch_end(model, epoch)`` after each epoch (``epoch`` from 1), after validation; e.g. to
            keep per-epoch weights. It must not change the model.
        param_groups : sequence of dict, optional
            Optimiser parameter groups, each ``{"params": [...], "lr_mult": float}``: a group's learning
            rate is ``lr * lr_mult`` (the ``lr_schedule`` scales it too), e.g. a backbone at 0.1 x the
            head's rate (discriminative learning rates). Every trainable parameter of ``model`` must be
            in exactly one group; parameters whose ``requires_grad`` is off stay in their group, so a
            step may freeze and unfreeze them during training (gradual unfreezing). ``None`` = one group
            of ``model``'s trainable parameters at ``lr``.

        Returns
        -------
        TrainingHistory

        Raises
        ------
        CheckpointError
            If the checkpoint to resume was written with different settings (learning rate, batch
            size, seed, ...) or for training sets of other sizes.
        FloatingPointError
            If the loss of an epoch is not finite.
        """
        self._validate()
        device = resolve_device(self.device)
        seed = self.seed

        named = isinstance(data, Mapping)
        sets = {k: _as_dataset(v) for k, v in data.items()} if named else {"_": _as_dataset(data)}
        if not sets:
            raise ValueError("Trainer.fit: the dict of training sets is empty; pass at least one (x, y) set.")
        main = next(iter(sets))
        for name, ds in sets.items():
            if len(ds) == 0:
                raise ValueError(f"Trainer.fit: training set {name if named else ''!s} has no rows; pass at least one row.")

        rng = np.random.default_rng(seed)
        val_set = _as_dataset(val_data) if val_data is not None else None
        if val_set is None and self.val_fraction > 0:
            n = len(sets[main])
            n_val = int(round(self.val_fraction * n))
            if n_val < 1 or n_val >= n:
                raise ValueError(
                    f"Trainer: val_fraction={self.val_fraction} of {n} training rows leaves {n_val} validation rows; "
                    "choose a fraction that keeps at least one row on each side."
                )
            perm = rng.permutation(n)
            val_set = _subset(sets[main], np.sort(perm[:n_val]))
            sets[main] = _subset(sets[main], np.sort(perm[n_val:]))
        self._check_stopping(val_set is not None)
        score_fn = val_fn or _VAL_METRICS[self.val_metric]
        sign = -1.0 if (val_fn is None and self.val_metric == "loss") else 1.0  # report the loss, not its negative

        base_seed = 0 if seed is None else int(seed)
        generators = {}
        for k, name in enumerate(sets):
            g = torch.Generator()
            if seed is None:
                g.seed()
            else:
                g.manual_seed(base_seed + k)
            generators[name] = g
        loaders = {
            name: _make_loader(
                ds, self.batch_size, shuffle=True, generator=generators[name], num_workers=self.num_workers,
                pin_memory=device.type == "cuda",
            )
            for name, ds in sets.items()
        }
        iters_per_epoch = len(loaders[main]) if self.steps_per_epoch is None else int(self.steps_per_epoch)
        n_rows = [len(ds) for ds in sets.values()]

        model.to(device)
        step_module = step if isinstance(step, nn.Module) else None
        groups = self._param_groups(model, param_groups)
        if step_module is not None:
            step_module.to(device)
            seen = {id(p) for g in groups for p in g["params"]}
            extra = [p for p in step_module.parameters() if id(p) not in seen and p.requires_grad]
            if extra:
                groups.append({"params": extra, "lr_mult": 1.0})
        optimizer = self._make_optimizer(groups)

        history = TrainingHistory()
        best = {"score": None, "epoch": None, "bad_epochs": 0, "state": None}
        start_epoch, stopped = 0, False

        with seeded(seed, device):
            ckpt_path = self.checkpoint_path
            if ckpt_path is not None and self.resume and ckpt_path.exists():
                ckpt = load_checkpoint(ckpt_path, map_location=device, what="training checkpoint")
                self._check_resumable(ckpt, ckpt_path, n_rows)
                model.load_state_dict(ckpt["model"])
                if step_module is not None and ckpt.get("step") is not None:
                    step_module.load_state_dict(ckpt["step"])
                optimizer.load_state_dict(ckpt["optimizer"])
                torch.set_rng_state(ckpt["rng"]["torch"].cpu())
                if device.type == "cuda" and ckpt["rng"].get("cuda") is not None:
                    torch.cuda.set_rng_state(ckpt["rng"]["cuda"].cpu(), device)
                for name, state in zip(generators, ckpt["rng"]["loaders"]):
                    generators[name].set_state(state.cpu())
                h = ckpt["history"]
                history.losses, history.val_scores, history.logs = list(h["losses"]), list(h["val_scores"]), list(h["logs"])
                best = dict(ckpt["best"])
                start_epoch = history.resumed_from = int(ckpt["epoch"])
                stopped = history.stopped_early = bool(ckpt.get("stopped", False))

            for epoch in range(start_epoch, self.max_epochs):
                if stopped:
                    break
                mean_loss, logs = self._run_epoch(model, loaders, main, named, step, optimizer, device, epoch, iters_per_epoch)
                history.losses.append(mean_loss)
                history.logs.append(logs)
                if val_set is not None:
                    score = self._validate_epoch(model, val_set, score_fn, device)
                    history.val_scores.append(sign * score)
                    if best["score"] is None or score > best["score"] or (self.val_ties == "last" and score == best["score"]):
                        best.update(score=score, epoch=epoch + 1, bad_epochs=0, state=_state_dict_copy(model))
                    else:
                        best["bad_epochs"] += 1
                        if self.patience is not None and best["bad_epochs"] >= self.patience:
                            stopped = history.stopped_early = True
                    if self.patience_ratio is not None and epoch + 1 > max(self.min_epochs, self.patience_ratio * best["epoch"]):
                        stopped = history.stopped_early = True
                if on_epoch_end is not None:
                    on_epoch_end(model, epoch + 1)
                last = epoch + 1 == self.max_epochs or stopped
                if ckpt_path is not None and ((epoch + 1) % self.checkpoint_every == 0 or last):
                    self._save(ckpt_path, model, step_module, optimizer, generators, device, epoch + 1, history, best, stopped, n_rows)

        if best["state"] is not None:
            model.load_state_dict(best["state"])
            history.best_epoch = best["epoch"]
        model.eval()
        return history

    def _run_epoch(self, model, loaders, main, named, step, optimizer, device, epoch, iters_per_epoch):
        from tqdm.auto import tqdm

        model.train()
        if isinstance(step, nn.Module):
            step.train()
        amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.mixed_precision)
        scaler = torch.amp.GradScaler(device.type) if self.mixed_precision == "fp16" else None
        aux = {name: iter(loader) for name, loader in loaders.items() if name != main}
        total = torch.zeros((), device=device)
        log_sums: dict[str, Any] = {}
        log_dtype = torch.float32 if device.type == "mps" else torch.float64
        def main_batches():  # one pass, or exactly steps_per_epoch batches (reshuffling when a pass ends)
            if self.steps_per_epoch is None:
                yield from loaders[main]
                return
            done = 0
            while done < iters_per_epoch:
                for b in loaders[main]:
                    yield b
                    done += 1
                    if done == iters_per_epoch:
                        return

        bar = tqdm(
            main_batches(),
            total=iters_per_epoch,
            desc=f"epoch {epoch + 1}/{self.max_epochs}",
            disable=not self.progress,
            leave=False,
        )
        for it, batch in enumerate(bar):
            if named:
                batches = {main: batch}
                for name in aux:
                    try:
                        batches[name] = next(aux[name])
                    except StopIteration:
                        aux[name] = iter(loaders[name])
                        batches[name] = next(aux[name])
                batch = batches
            batch = _to_device(batch, device)
            state = TrainState(epoch, it, self.max_epochs, iters_per_epoch)
            if self.lr_schedule == "inv":
                for group in optimizer.param_groups:
                    group["lr"] = self.lr * group["lr_mult"] * (1.0 + 10.0 * state.progress) ** -0.75
            with torch.autocast(device.type, dtype=amp_dtype) if amp_dtype is not None else contextlib.nullcontext():
                out = step(model, batch, state)
            task_losses = None
            if isinstance(out, Mapping):
                loss = out["loss"]
                task_losses = out.get("task_losses")
                for key, value in out.items():
                    if key not in _NOT_LOGGED:
                        # tensors are summed where they live (no device-to-host sync per step on a GPU),
                        # in float64 where the device has it, and read once at the end of the epoch
                        value = value.detach().to(log_dtype) if torch.is_tensor(value) else float(value)
                        log_sums[key] = log_sums.get(key, 0.0) + value
            else:
                loss = out
            optimizer.zero_grad(set_to_none=True)
            if task_losses is None and scaler is not None:  # fp16: scale the loss against underflow
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                if task_losses is None:
                    loss.backward()
                else:  # several losses: the step's combiner turns them into gradients (multi-task weighting)
                    _combine(step, model, out, state)
                optimizer.step()
            total += loss.detach()
            if self.progress:
                bar.set_postfix(loss=f"{float(loss):.4f}")
        bar.close()
        mean_loss = float(total) / iters_per_epoch
        if not math.isfinite(mean_loss):
            raise FloatingPointError(
                f"Trainer: the training loss is {mean_loss} at epoch {epoch + 1}; lower the learning rate "
                f"(lr={self.lr}) or check the inputs for NaN / inf."
            )
        return mean_loss, {k: float(v) / iters_per_epoch for k, v in log_sums.items()}

    def _validate_epoch(self, model, val_set, score_fn, device) -> float:
        model.eval()
        loader = _make_loader(val_set, max(self.batch_size, 256), shuffle=False, generator=None, num_workers=self.num_workers)
        total, count = 0.0, 0
        with torch.no_grad():
            for batch in loader:
                s, n = score_fn(model, _to_device(batch, device))
                total += s
                count += n
        return total / max(count, 1)

    def _check_resumable(self, ckpt: dict, path: Path, n_rows: list[int]) -> None:
        if ckpt.get("format") != _CHECKPOINT_FORMAT or "config" not in ckpt:
            raise CheckpointError(
                f"Trainer: {str(path)!r} is not a Trainer checkpoint (format {ckpt.get('format')!r}); delete it, "
                "choose another checkpoint_dir, or pass resume=False."
            )
        mine = {**self._fingerprint(), "n_rows": n_rows}
        diff = {k: (ckpt["config"].get(k), v) for k, v in mine.items() if ckpt["config"].get(k) != v}
        if diff:
            detail = ", ".join(f"{k}: checkpoint {a!r} vs now {b!r}" for k, (a, b) in diff.items())
            raise CheckpointError(
                f"Trainer: cannot resume from {str(path)!r}, it was written with other settings ({detail}). Use another "
                "checkpoint_dir, delete the old checkpoint, or pass resume=False to start over."
            )

    def _save(self, path, model, step_module, optimizer, generators, device, epoch, history, best, stopped, n_rows) -> None:
        save_checkpoint(
            {
                "format": _CHECKPOINT_FORMAT,
                "epoch": epoch,
                "stopped": stopped,
                "config": {**self._fingerprint(), "n_rows": n_rows},
                "model": model.state_dict(),
                "step": step_module.state_dict() if step_module is not None else None,
                "optimizer": optimizer.state_dict(),
                "rng": {
                    "torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
                    "loaders": [g.get_state() for g in generators.values()],
                },
                "history": {"losses": history.losses, "val_scores": history.val_scores, "logs": history.logs},
                "best": best,
            },
            path,
        )


def trainer_from(spec: Trainer | Mapping[str, Any] | None, **overrides) -> Trainer:
    """Build a :class:`Trainer` from a Trainer, a dict of its fields, or ``None`` (defaults)."""
    if spec is None:
        base = {}
    elif isinstance(spec, Trainer):
        base = asdict(spec)
    elif isinstance(spec, Mapping):
        unknown = set(spec) - {f.name for f in fields(Trainer)}
        if unknown:
            raise ValueError(
                f"Trainer has no setting(s) {sorted(unknown)}; valid settings: {[f.name for f in fields(Trainer)]}."
            )
        base = dict(spec)
    else:
        raise TypeError(f"trainer must be a Trainer, a dict of its settings or None; got {type(spec).__name__}.")
    base.update(overrides)
    return Trainer(**base)

