"""The backbone registry: names → constructors of feature-extractor networks."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from .._errors import unknown_name_error

__all__ = ["register_backbone", "get_backbone", "list_backbones"]

_BACKBONES: dict[str, Callable[..., nn.Module]] = {}


def register_backbone(name: str):
    """Decorator registering a backbone constructor (class or function) under ``name``.

    The constructor takes ``input_shape`` (shape of one input, without the batch axis) and its own
    keyword arguments, and returns an :class:`torch.nn.Module` mapping inputs to features, with an
    ``out_features`` attribute (the feature dimension).

    Examples
    --------
    >>> from torch import nn
    >>> @register_backbone("tiny_linear")
    ... def tiny_linear(input_shape=(4,), out_features=2):
    ...     net = nn.Sequential(nn.Flatten(), nn.Linear(4, out_features))
    ...     net.out_features = out_features
    ...     return net
    >>> "tiny_linear" in list_backbones()
    True
    """

    def decorator(factory):
        if name in _BACKBONES and _BACKBONES[name] is not factory:
            raise ValueError(f"Backbone name {name!r} is already registered to {_BACKBONES[name]!r}; choose another name.")
        _BACKBONES[name] = factory
        return factory

    return decorator


def get_backbone(name: str, **kwargs) -> nn.Module:
    """Build the backbone registered as ``name`` (unknown names suggest close matches).

    Parameters
    ----------
    name : str
        Registered name (see :func:`list_backbones`).
    **kwargs
        Passed to the constructor (``input_shape``, ``out_features``, ``hidden``, ...).
    """
    try:
        factory = _BACKBONES[name]
    except (KeyError, TypeError):
        raise unknown_name_error("backbone", name, _BACKBONES) from None
    return factory(**kwargs)


def get_backbone_factory(name: str) -> Callable[..., nn.Module]:
    """The constructor registered as ``name`` (unknown names suggest close matches)."""
    try:
        return _BACKBONES[name]
    except (KeyError, TypeError):
        raise unknown_name_error("backbone", name, _BACKBONES) from None


def list_backbones() -> list[str]:
    """Names of the registered backbones, sorted."""
    return sorted(_BACKBONES)


def is_registered(name: object) -> bool:
    """Whether ``name`` is a registered backbone name."""
    return isinstance(name, str) and name in _BACKBONES
