"""Supervised pretraining of a backbone on source data, pretrained checkpoints, and feature extraction.

A pretrained-backbone checkpoint is a dict ``{"backbone": state_dict, "head": state_dict, "meta": {...}}``
holding tensors and plain values only, written atomically and read with ``weights_only=True``.
"""

from __future__ import annotations

import copy
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch
from torch import nn

from ..training import CheckpointError, Trainer, load_checkpoint, resolve_device, save_checkpoint, seeded, trainer_from
from ..training.augment import AUGMENTATIONS, augment_batch
from ..training.trainer import classification_step
from .registry import get_backbone, is_registered

__all__ = [
    "BackboneSpec",
    "FeatureClassifier",
    "build_backbone",
    "extract_features",
    "feature_dim",
    "load_pretrained",
    "pretrain_backbone",
]

#: a backbone given by registered name, as a module, or as a pretrained checkpoint path
BackboneSpec = Union[str, os.PathLike, nn.Module]

CHECKPOINT_KIND = "tltaxonomy.pretrained_backbone"
_FORMAT = 1


class FeatureClassifier(nn.Module):
    """A backbone followed by a linear head: ``logits = head(backbone(x))``.

    Parameters
    ----------
    backbone : torch.nn.Module
        Feature extractor.
    in_features : int
        Feature dimension of ``backbone``.
    n_classes : int
        Number of classes.
    """

    def __init__(self, backbone: nn.Module, in_features: int, n_classes: int):
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(in_features, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x).flatten(1))


def feature_dim(backbone: nn.Module, input_shape: Sequence[int]) -> int:
    """Feature dimension of ``backbone``: its ``out_features`` attribute, else a dry forward pass.

    Parameters
    ----------
    backbone : torch.nn.Module
        Feature extractor.
    input_shape : tuple of int
        Shape of one input (without the batch axis).
    """
    out = getattr(backbone, "out_features", None)
    if isinstance(out, int) and not isinstance(out, bool):
        return out
    was_training = backbone.training
    backbone.eval()
    try:
        param = next(iter(backbone.parameters()), None)
        device = param.device if param is not None else torch.device("cpu")
        with torch.no_grad():
            z = backbone(torch.zeros(2, *input_shape, device=device))
    except Exception as exc:
        raise ValueError(
            f"Cannot infer the feature dimension of {type(backbone).__name__}: a forward pass on inputs of shape "
            f"(2, {', '.join(map(str, input_shape))}) failed ({type(exc).__name__}: {exc}). Check input_shape, or set "
            "an int attribute `out_features` on the module."
        ) from exc
    finally:
        backbone.train(was_training)
    return int(math.prod(z.shape[1:]))


def _check_meta(ckpt: Mapping[str, Any], path: Path) -> dict:
    meta = ckpt.get("meta")
    if not isinstance(meta, Mapping) or meta.get("kind") != CHECKPOINT_KIND or not isinstance(ckpt.get("backbone"), Mapping):
        raise CheckpointError(
            f"{str(path)!r} is not a pretrained-backbone checkpoint (no 'backbone' state dict and 'meta' of kind "
            f"{CHECKPOINT_KIND!r}); write it with tltaxonomy.backbones.pretrain_backbone."
        )
    return dict(meta)


def _read_pretrained(path: str | os.PathLike) -> tuple[dict, dict]:
    path = Path(path)
    ckpt = load_checkpoint(path, what="pretrained backbone")
    return ckpt, _check_meta(ckpt, path)


def load_pretrained(backbone: str | nn.Module | None, path: str | os.PathLike) -> nn.Module:
    """Load the weights of a pretrained-backbone checkpoint.

    Parameters
    ----------
    backbone : str, torch.nn.Module or None
        The architecture: a registered name, a module (loaded **in place**), or ``None`` to rebuild
        the architecture recorded in the checkpoint.
    path : str or path-like
        A file written by :func:`pretrain_backbone` (read with ``weights_only=True``).

    Returns
    -------
    torch.nn.Module
        The backbone holding the pretrained weights.

    Raises
    ------
    CheckpointError
        If the file is missing, corrupt, not a pretrained-backbone checkpoint, or its weights do not
        fit the given architecture.
    """
    path = Path(path)
    ckpt, meta = _read_pretrained(path)
    saved_name = meta.get("backbone")
    if backbone is None or isinstance(backbone, str):
        name = saved_name if backbone is None else backbone
        if name is None:
            raise CheckpointError(
                f"{str(path)!r} was pretrained from a custom module, so its architecture is not recorded; pass that "
                "module as backbone."
            )
        if saved_name is not None and name != saved_name:
            raise CheckpointError(
                f"{str(path)!r} holds a pretrained {saved_name!r} backbone, not {name!r}; pass backbone={saved_name!r} "
                "or pretrain the backbone you want with pretrain_backbone."
            )
        backbone = get_backbone(name, input_shape=tuple(meta["input_shape"]), **dict(meta.get("backbone_kwargs") or {}))
    try:
        backbone.load_state_dict(ckpt["backbone"])
    except RuntimeError as exc:
        raise CheckpointError(
            f"The weights in {str(path)!r} (backbone {saved_name!r}, input shape {tuple(meta['input_shape'])}) do not fit "
            f"the given {type(backbone).__name__}: {str(exc).splitlines()[0]} ... Pass the same architecture as at "
            "pretraining, or re-run pretrain_backbone for this one."
        ) from exc
    return backbone


def build_backbone(
    spec: BackboneSpec | None,
    *,
    input_shape: Sequence[int],
    pretrained: str | os.PathLike | None = None,
    load_weights: bool = True,
    backbone_kwargs: Mapping[str, Any] | None = None,
) -> nn.Module:
    """Resolve a backbone specification to a fresh module (the caller's module is never modified).

    Parameters
    ----------
    spec : str, path-like, torch.nn.Module or None
        A registered name (randomly initialised under the caller's torch seed), a module (deep-copied),
        a pretrained checkpoint path (architecture and weights from the file), or ``None`` when
        ``pretrained`` gives the checkpoint.
    input_shape : tuple of int
        Shape of one input, without the batch axis.
    pretrained : str or path-like, optional
        A checkpoint of :func:`pretrain_backbone` whose weights are loaded into the backbone.
    load_weights : bool, default=True
        If False, only the architecture is taken from a checkpoint (random initialisation).
    backbone_kwargs : dict, optional
        Keyword arguments of a registered backbone's constructor (``hidden``, ``activation``, ...);
        only with a registered name.

    Raises
    ------
    UnknownNameError
        If ``spec`` is a string that is neither a registered name nor an existing file.
    CheckpointError
        If the checkpoint's input shape differs from ``input_shape`` or its weights do not fit.
    """
    input_shape = tuple(int(v) for v in input_shape)
    if isinstance(spec, (str, os.PathLike)) and not is_registered(spec):
        path = Path(spec)
        if not path.is_file():
            get_backbone(str(spec))  # raises the unknown-name error with suggestions
        if pretrained is not None and Path(pretrained) != path:
            raise ValueError(
                f"backbone={str(spec)!r} is already a checkpoint, and pretrained={str(pretrained)!r} names another one; "
                "pass only one of them."
            )
        spec, pretrained = None, path
    if spec is None:
        if pretrained is None:
            raise ValueError("No backbone given: pass a backbone name, a module, or a pretrained checkpoint path.")
        _, meta = _read_pretrained(pretrained)
        if tuple(meta["input_shape"]) != input_shape:
            raise CheckpointError(
                f"The backbone in {str(pretrained)!r} was pretrained on inputs of shape {tuple(meta['input_shape'])}, "
                f"but input_shape={input_shape}; set input_shape to match or pretrain for this shape."
            )
        if meta.get("backbone") is None:
            raise CheckpointError(
                f"{str(pretrained)!r} was pretrained from a custom module, so its architecture is not recorded; pass "
                "that module as backbone and the file as pretrained."
            )
        module = get_backbone(meta["backbone"], input_shape=input_shape, **dict(meta.get("backbone_kwargs") or {}))
    if backbone_kwargs and not isinstance(spec, str):
        raise ValueError(
            "backbone_kwargs configure a registered backbone by name; they cannot change a module or a checkpoint "
            f"(got backbone={type(spec).__name__ if spec is not None else 'a checkpoint'}). Drop backbone_kwargs."
        )
    if isinstance(spec, nn.Module):
        module = copy.deepcopy(spec)
    elif spec is not None:
        module = get_backbone(spec, input_shape=input_shape, **dict(backbone_kwargs or {}))
    if pretrained is not None and load_weights:
        load_pretrained(module, pretrained)
    return module


def extract_features(
    backbone: nn.Module,
    X: np.ndarray,
    *,
    input_shape: Sequence[int],
    batch_size: int = 256,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """Features of the rows of ``X`` (eval mode, no gradient), as a float32 array ``(n, d)``.

    Parameters
    ----------
    backbone : torch.nn.Module
        Feature extractor (moved to ``device``).
    X : ndarray of shape (n_samples, prod(input_shape))
        Flat inputs; reshaped to ``(n, *input_shape)``.
    input_shape : tuple of int
        Shape of one input.
    batch_size : int, default=256
        Rows per forward pass.
    device : str or torch.device, default="cpu"
        Where to compute.
    """
    device = resolve_device(device)
    backbone.to(device).eval()
    X = np.asarray(X, dtype=np.float32)
    out = []
    with torch.no_grad():
        for start in range(0, X.shape[0], batch_size):
            # one batch copied at a time: X may be a cached read-only array, which torch must not share
            xb = torch.tensor(X[start : start + batch_size]).reshape(-1, *input_shape).to(device)
            out.append(backbone(xb).flatten(1).cpu())
    if not out:
        return np.zeros((0, feature_dim(backbone, input_shape)), dtype=np.float32)
    return torch.cat(out).numpy()


def _plain(value):
    """Config values reduced to what ``weights_only=True`` loads (tuples → lists, paths → str)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or type(value) in (str, int, float, bool):
        return value
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)  # str subclasses (torch's version string), paths, ...


def _augmented_step(model: nn.Module, batch, state, *, augment: str) -> torch.Tensor:
    """The cross-entropy step on an augmented batch (a new draw per step, from torch's seeded RNG)."""
    return classification_step(model, (augment_batch(batch[0], augment), batch[1]), state)


def pretrain_backbone(
    backbone: str | nn.Module,
    X: np.ndarray,
    y: np.ndarray,
    *,
    input_shape: Sequence[int],
    trainer: Trainer | Mapping[str, Any] | None = None,
    checkpoint_path: str | os.PathLike,
    backbone_kwargs: Mapping[str, Any] | None = None,
    augment: str = "none",
) -> Path:
    r"""Pretrain a backbone on labelled (source) data and save it; reuse the file if it exists.

    The backbone plus a new linear head is trained by the :class:`~tltaxonomy.training.Trainer`
    with the cross-entropy loss

    .. math:: \min_{\theta, W} \; -\frac{1}{n}\sum_{i=1}^{n} \log \operatorname{softmax}\big(W f_\theta(x_i)\big)_{y_i},

    then ``{"backbone": state_dict, "head": state_dict, "meta": {...}}`` is written atomically.
    Naming the path (e.g. by a hash of the configuration) is the caller's job: if ``checkpoint_path``
    already holds a valid pretrained-backbone checkpoint it is returned without training.

    Parameters
    ----------
    backbone : str or torch.nn.Module
        Registered name (initialised with ``trainer.seed``) or a module (deep-copied, not modified).
    X : ndarray of shape (n_samples, prod(input_shape))
        Flat inputs.
    y : ndarray of shape (n_samples,)
        Labels (any values).
    input_shape : tuple of int
        Shape of one input.
    trainer : Trainer or dict, optional
        Training settings (a dict holds :class:`Trainer` fields); defaults to ``Trainer()``.
    checkpoint_path : str or path-like
        Where to write the checkpoint.
    backbone_kwargs : dict, optional
        Extra constructor arguments of a named backbone (recorded in the checkpoint).
    augment : {"none", "shift", "affine"}, default="none"
        Augmentation of each training batch of images (:func:`~tltaxonomy.training.augment.augment_batch`):
        translations of up to 2 pixels, or random rotations (±10°), scalings (0.9-1.1) and translations
        (up to 10 % of the side). Recorded in the checkpoint.

    Returns
    -------
    pathlib.Path
        ``checkpoint_path``.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.random((40, 16)).astype("float32"), np.arange(40) % 2
    >>> path = pretrain_backbone("mlp", X, y, input_shape=(16,), backbone_kwargs={"hidden": [8]},
    ...                          trainer={"max_epochs": 1, "device": "cpu"},
    ...                          checkpoint_path=os.path.join(tempfile.mkdtemp(), "mlp.pt"))
    >>> load_pretrained(None, path).out_features
    8
    """
    path = Path(checkpoint_path)
    if path.exists():
        try:
            _read_pretrained(path)
            return path
        except CheckpointError as exc:
            warnings.warn(f"{exc} It is pretrained again and overwritten.", stacklevel=2)
    trainer = trainer_from(trainer)
    input_shape = tuple(int(v) for v in input_shape)
    X = np.asarray(X, dtype=np.float32)
    if not X.flags.writeable:  # a cached, read-only task array: torch needs its own copy
        X = X.copy()
    if X.ndim != 2 or X.shape[1] != math.prod(input_shape):
        raise ValueError(
            f"pretrain_backbone: X has shape {X.shape} but input_shape={input_shape} needs (n_samples, "
            f"{math.prod(input_shape)}) flat rows; reshape X or fix input_shape."
        )
    y = np.asarray(y)
    if y.shape != (X.shape[0],):
        raise ValueError(f"pretrain_backbone: y has shape {y.shape} but X has {X.shape[0]} rows; pass one label per row.")
    if augment not in AUGMENTATIONS:
        raise ValueError(f"pretrain_backbone: unknown augment={augment!r}; choose one of {list(AUGMENTATIONS)}.")
    if augment != "none" and len(input_shape) != 3:
        raise ValueError(
            f"pretrain_backbone: augment={augment!r} transforms images, but input_shape={input_shape} is not "
            "(channels, height, width); use augment='none'."
        )
    classes, y_enc = np.unique(y, return_inverse=True)
    name = backbone if is_registered(backbone) else None
    kwargs = dict(backbone_kwargs or {})
    if name is None and kwargs:
        raise ValueError(
            "pretrain_backbone: backbone_kwargs apply to a backbone given by registered name, not to a module or a "
            "checkpoint; build the module with those arguments and pass it instead."
        )
    with seeded(trainer.seed):
        module = get_backbone(name, input_shape=input_shape, **kwargs) if name else build_backbone(backbone, input_shape=input_shape)
        model = FeatureClassifier(module, feature_dim(module, input_shape), len(classes))
    data = (torch.from_numpy(X.reshape(-1, *input_shape)), torch.from_numpy(y_enc.astype(np.int64)))
    if augment == "none":
        history = trainer.fit(model, data)
    else:
        history = trainer.fit(model, data, step=partial(_augmented_step, augment=augment))
    model.cpu()
    meta = {
        "kind": CHECKPOINT_KIND,
        "format": _FORMAT,
        "backbone": name,
        "backbone_kwargs": _plain(kwargs),
        "input_shape": list(input_shape),
        "out_features": feature_dim(model.backbone, input_shape),
        "classes": _plain(classes.tolist()),
        "n_samples": int(X.shape[0]),
        "trainer": _plain({k: v for k, v in vars(trainer).items() if k not in ("progress", "checkpoint_dir")}),
        "augment": augment,
        "losses": [float(v) for v in history.losses],
        "torch_version": str(torch.__version__),
    }
    save_checkpoint({"backbone": model.backbone.state_dict(), "head": model.head.state_dict(), "meta": meta}, path)
    return path
