"""Errors shared by the whole toolkit.

Every error says what is wrong and how to fix it. Unknown names (strategies, datasets, tasks,
tables, preprocessing steps) all go through :func:`unknown_name_error` so that the message always
lists the closest valid names.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "TLTaxonomyError",
    "UnknownNameError",
    "DataFileError",
    "DataFileNotFoundError",
    "DataChecksumError",
    "ConfigError",
    "CheckpointError",
    "InsufficientMemoryError",
    "unknown_name_error",
]


class TLTaxonomyError(Exception):
    """Base class of the toolkit's own errors."""


class UnknownNameError(TLTaxonomyError, KeyError):
    """A name (strategy, dataset, task, table, ...) that is not registered."""

    def __str__(self) -> str:  # KeyError quotes its message; we do not want that.
        return str(self.args[0]) if self.args else ""


class DataFileError(TLTaxonomyError, OSError):
    """A data file is missing, corrupt or cannot be read."""


class DataFileNotFoundError(DataFileError, FileNotFoundError):
    """A data file is not in the data directory."""


class DataChecksumError(DataFileError):
    """A data file exists but its sha256 is not the pinned one."""


class CheckpointError(TLTaxonomyError, OSError):
    """A checkpoint file is missing, corrupt, unsafe or does not match the model it is loaded into."""


class InsufficientMemoryError(TLTaxonomyError, MemoryError):
    """A strategy was asked for a dense matrix (an n x n kernel, an n_s x n_t cost) larger than the memory
    available; raised *before* the allocation, with the approximate variant or option to use instead."""


class ConfigError(TLTaxonomyError, ValueError):
    """A configuration (Hydra config, table spec, override) is invalid."""


def unknown_name_error(kind: str, name: object, choices: Iterable[str]) -> UnknownNameError:
    """Build the error for an unknown ``name`` of the given ``kind``.

    The message names the bad value, suggests the closest registered names (``difflib``) and lists
    all valid choices.

    Examples
    --------
    >>> str(unknown_name_error("strategy", "corall", ["coral", "source_only"]))
    "Unknown strategy 'corall'. Did you mean 'coral'? Valid strategies: coral, source_only."
    """
    choices = sorted(choices)
    close = difflib.get_close_matches(str(name), choices, n=3, cutoff=0.5)
    if not close:
        lowered = str(name).lower()
        close = [c for c in choices if lowered and (lowered in c.lower() or c.lower() in lowered)][:3]
    msg = f"Unknown {kind} {name!r}."
    if close:
        msg += " Did you mean " + " or ".join(repr(c) for c in close) + "?"
    plural = kind[:-1] + "ies" if kind.endswith("y") and kind[-2:-1] not in "aeiou" else kind + "s"
    msg += f" Valid {plural}: " + (", ".join(choices) if choices else "(none registered)") + "."
    return UnknownNameError(msg)
