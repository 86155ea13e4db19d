"""The strategy registry: names → strategy classes, with the taxonomy as metadata.

Examples
--------
>>> from tltaxonomy import list_strategies, get_strategy
>>> get_strategy("coral").__name__
'CORAL'
>>> [s.name for s in list_strategies(setting="transductive", family="statistics")]
['coral']
"""

from __future__ import annotations

from dataclasses import dataclass

from ._errors import unknown_name_error

__all__ = ["SETTINGS", "StrategyInfo", "register", "get_strategy", "list_strategies", "make_strategy"]

#: The three settings of the taxonomy (Pan & Yang 2010).
SETTINGS = ("inductive", "transductive", "unsupervised")

_REGISTRY: dict[str, StrategyInfo] = {}


@dataclass(frozen=True)
class StrategyInfo:
    """What the registry knows about one strategy."""

    name: str
    cls: type
    setting: str
    family: str

    @property
    def summary(self) -> str:
        """First line of the strategy's docstring."""
        doc = (self.cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""


def register(name: str, *, setting: str, family: str):
    """Class decorator that registers a strategy under ``name``.

    Parameters
    ----------
    name : str
        Registry name, used on the command line (``strategy=<name>``).
    setting : {"inductive", "transductive", "unsupervised"}
        Branch of the taxonomy.
    family : str
        Family inside the branch (``"statistics"``, ``"fine_tuning"``, ``"feature_reuse"``, ...).
    """
    if setting not in SETTINGS:
        raise ValueError(f"register({name!r}): setting must be one of {SETTINGS}, got {setting!r}.")

    def decorator(cls):
        if name in _REGISTRY and _REGISTRY[name].cls is not cls:
            raise ValueError(
                f"Strategy name {name!r} is already registered to {_REGISTRY[name].cls.__qualname__}; "
                "choose another name."
            )
        _REGISTRY[name] = StrategyInfo(name=name, cls=cls, setting=setting, family=family)
        cls._strategy_name = name
        cls._setting = setting
        cls._family = family
        return cls

    return decorator


def _ensure_loaded() -> None:
    # Importing the three branches registers every built-in strategy.
    import tltaxonomy.inductive  # noqa: F401
    import tltaxonomy.transductive  # noqa: F401
    import tltaxonomy.unsupervised  # noqa: F401


def get_strategy(name: str) -> type:
    """Return the strategy class registered as ``name`` (unknown names suggest close matches)."""
    _ensure_loaded()
    try:
        return _REGISTRY[name].cls
    except KeyError:
        raise unknown_name_error("strategy", name, _REGISTRY) from None


def make_strategy(name: str, **params):
    """Instantiate the strategy registered as ``name`` with ``params``."""
    return get_strategy(name)(**params)


def list_strategies(setting: str | None = None, family: str | None = None) -> list[StrategyInfo]:
    """List registered strategies, optionally filtered by setting and family (sorted by name)."""
    _ensure_loaded()
    if setting is not None and setting not in SETTINGS:
        raise unknown_name_error("setting", setting, SETTINGS)
    families = {info.family for info in _REGISTRY.values()}
    if family is not None and family not in families:
        raise unknown_name_error("family", family, families)
    return sorted(
        (
            info
            for info in _REGISTRY.values()
            if (setting is None or info.setting == setting) and (family is None or info.family == family)
        ),
        key=lambda info: info.name,
    )
