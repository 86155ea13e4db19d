"""tltaxonomy — a research toolkit for transfer learning, organised by the classic taxonomy.

- :mod:`tltaxonomy.inductive` — target labels available: fine-tuning, multi-task, self-taught;
- :mod:`tltaxonomy.transductive` — labelled source, unlabelled target: domain adaptation;
- :mod:`tltaxonomy.unsupervised` — no labels on the target task: feature reuse + clustering.

Every strategy is a scikit-learn estimator registered by name (:func:`list_strategies`).
"""

from ._errors import (  # noqa: F401
    CheckpointError,
    ConfigError,
    DataChecksumError,
    DataFileError,
    DataFileNotFoundError,
    TLTaxonomyError,
    UnknownNameError,
)
from .base import MASKED, stack_domains  # noqa: F401
from .registry import get_strategy, list_strategies, make_strategy, register  # noqa: F401

__version__ = "0.1.0"

__all__ = [
    "MASKED",
    "CheckpointError",
    "ConfigError",
    "DataChecksumError",
    "DataFileError",
    "DataFileNotFoundError",
    "TLTaxonomyError",
    "UnknownNameError",
    "get_strategy",
    "list_strategies",
    "make_strategy",
    "register",
    "stack_domains",
]

_BRANCHES = ("inductive", "transductive", "unsupervised")


def __getattr__(name: str):
    # The branches (and torch) are imported on first use, so that `tltax list tables` or a data
    # check does not pay for them; the registry imports them all before it answers.
    if name in _BRANCHES:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'tltaxonomy' has no attribute {name!r}")
