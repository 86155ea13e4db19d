"""Input handling shared by the estimators built on a backbone: flat rows or raw text, and a feature cache.

- :class:`BackboneInputMixin` validates ``X`` against ``input_shape`` and turns strings into token rows
  when the backbone is a text encoder (one with a ``tokenize`` class method);
- :func:`cached_features` extracts a frozen backbone's features through a joblib cache keyed by the
  backbone's weights and the rows, so a sweep extracts each row once.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
from sklearn.utils.validation import check_memory
from torch import nn

from ..base import check_input
from .pretrain import extract_features
from .registry import get_backbone_factory, is_registered
from .text import is_text

__all__ = ["BackboneInputMixin", "cached_features", "weights_key"]


class BackboneInputMixin:
    """``_check_X`` for estimators with ``backbone`` and ``input_shape`` parameters (sets ``input_shape_``)."""

    def _text_backbone(self):
        """The class of a backbone that tokenizes text (a ``tokenize`` class method), or None."""
        spec = self.backbone
        if isinstance(spec, nn.Module):
            cls = type(spec)
        elif isinstance(spec, str) and is_registered(spec):
            cls = get_backbone_factory(spec)
        else:
            return None
        return cls if callable(getattr(cls, "tokenize", None)) else None

    def _tokenize(self, X, *, reset: bool) -> tuple[np.ndarray, tuple[int, int]]:
        cls = self._text_backbone()
        if cls is None:
            raise ValueError(
                f"{type(self).__name__}: X holds text, but backbone={self.backbone!r} takes numbers; use a text backbone "
                "such as backbone='all_minilm_l6_v2' (extra tltaxonomy[text]), or vectorise the text first."
            )
        if reset:
            shape = (2, cls.default_max_length) if self.input_shape is None else tuple(int(v) for v in self.input_shape)
        else:
            shape = tuple(self.input_shape_)
        if len(shape) != 2 or shape[0] != 2:
            raise ValueError(
                f"{type(self).__name__}: a text backbone takes input_shape=(2, max_length) (token ids and attention "
                f"mask), got input_shape={shape}; e.g. input_shape=(2, 128), or None for the backbone's default."
            )
        return cls.tokenize(list(X), max_length=shape[1]), shape

    def _check_X(self, X, *, reset: bool) -> np.ndarray:
        text_shape = None
        if is_text(X):  # strings: the text backbone's tokenizer turns them into rows of ids and masks
            X, text_shape = self._tokenize(X, reset=reset)
        X = check_input(self, X, reset=reset, dtype=np.float32)
        if reset:  # None = flat vectors of X's width (for MLP backbones)
            if text_shape is not None:
                self.input_shape_ = text_shape
            else:
                self.input_shape_ = (X.shape[1],) if self.input_shape is None else tuple(self.input_shape)
        n_in = math.prod(self.input_shape_)
        if X.shape[1] != n_in:
            raise ValueError(
                f"{type(self).__name__}: X has {X.shape[1]} features but input_shape={self.input_shape_} needs "
                f"{n_in} (flat rows); fix input_shape or reshape X."
            )
        return X


def weights_key(module: nn.Module) -> str:
    """A digest of a module's class and weights (what its features depend on)."""
    h = hashlib.sha256(type(module).__qualname__.encode())
    for name, tensor in module.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _cached_features(weights_key, backbone, X, input_shape, batch_size, device) -> np.ndarray:
    # joblib keys the cache on (weights_key, X, input_shape); the module itself is not hashed
    return extract_features(backbone, X, input_shape=input_shape, batch_size=batch_size, device=device)


def cached_features(memory, backbone: nn.Module, X: np.ndarray, *, input_shape, batch_size: int, device) -> np.ndarray:
    """Features of ``X`` by the frozen ``backbone``, through ``memory`` (a folder or ``joblib.Memory``; None = no cache).

    The cache key is the backbone's class and weights (:func:`weights_key`), the rows and the input
    shape; the batch size and device do not change the features and are not part of the key.
    """
    if memory is None:
        return extract_features(backbone, X, input_shape=input_shape, batch_size=batch_size, device=device)
    cached = check_memory(memory).cache(_cached_features, ignore=["backbone", "batch_size", "device"])
    return cached(weights_key(backbone), backbone, X, tuple(input_shape), batch_size, str(device))
