"""Backbones: feature-extractor networks, their registry, pretraining and pretrained checkpoints.

A backbone maps inputs to features (``out_features`` wide); strategies add their own heads. A backbone
can be given by registered name (``"lenet"``, ``"mlp"``), as any :class:`torch.nn.Module`, or as the path
of a checkpoint written by :func:`pretrain_backbone`.
"""

from .registry import get_backbone, list_backbones, register_backbone
from .networks import LeNet, MLP, SmallResNet, backbone_blocks  # noqa: E402  (registers the built-in backbones)
from .imagenet import EfficientNetLite0  # noqa: E402  (registers it; its packages are imported when it is built)
from .text import MiniLM, is_text  # noqa: E402  (registers it; its packages are imported when it is built)
from .inputs import BackboneInputMixin, cached_features  # noqa: E402
from .pretrain import (
    BackboneSpec,
    FeatureClassifier,
    build_backbone,
    extract_features,
    feature_dim,
    load_pretrained,
    pretrain_backbone,
)

__all__ = [
    "BackboneInputMixin",
    "BackboneSpec",
    "EfficientNetLite0",
    "FeatureClassifier",
    "LeNet",
    "MLP",
    "MiniLM",
    "SmallResNet",
    "backbone_blocks",
    "build_backbone",
    "cached_features",
    "extract_features",
    "feature_dim",
    "get_backbone",
    "is_text",
    "list_backbones",
    "load_pretrained",
    "pretrain_backbone",
    "register_backbone",
]
