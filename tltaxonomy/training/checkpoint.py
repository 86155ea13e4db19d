"""Safe, atomic checkpoint files.

Every checkpoint of the toolkit is written with :func:`save_checkpoint` (temporary file in the same
folder, then :func:`os.replace`, so a reader never sees a half-written file) and read with
:func:`load_checkpoint`, which uses ``torch.load(..., weights_only=True)``: a checkpoint may hold
tensors and plain containers (dict, list, tuple, str, int, float, bool, None) only, never an
arbitrary pickled object, so loading a file cannot run code.
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from typing import Any

import torch

from .._errors import CheckpointError  # noqa: F401  (re-exported: tltaxonomy.training.CheckpointError)
from .._io import atomic_open

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint"]




def save_checkpoint(obj: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``obj`` to ``path`` atomically (temporary file + :func:`os.replace`).

    Parameters
    ----------
    obj : dict
        Tensors, state dicts and plain Python containers only (what ``weights_only=True`` loads).
    path : str or path-like
        Destination; its parent folder is created if needed.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    path = Path(path)
    with atomic_open(path, "wb") as f:
        torch.save(obj, f)
    return path


def load_checkpoint(path: str | os.PathLike, *, map_location: str | torch.device = "cpu", what: str = "checkpoint") -> dict:
    """Load a checkpoint written by :func:`save_checkpoint` with ``weights_only=True``.

    Parameters
    ----------
    path : str or path-like
        The file.
    map_location : str or torch.device, default="cpu"
        Where tensors are loaded.
    what : str, default="checkpoint"
        How the file is named in error messages (``"pretrained backbone"``, ...).

    Raises
    ------
    CheckpointError
        If the file does not exist, is not a torch checkpoint, holds objects other than tensors and
        plain containers (refused by ``weights_only=True``), or is not a dict.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"The {what} file {str(path)!r} does not exist; check the path or create it first.")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        match = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        if match is None:  # not a pickled object the unpickler refused: garbage bytes
            raise CheckpointError(
                f"Cannot read the {what} {str(path)!r}: the file is corrupt or not a torch checkpoint. Delete it and "
                "re-create it."
            ) from exc
        raise CheckpointError(
            f"Refused to load the {what} {str(path)!r}: it holds objects other than tensors and plain containers, "
            "which weights_only=True does not load (loading them could run arbitrary code). Re-create the file with "
            f"the toolkit, or convert it to a plain state dict. Refused object: {match.group(1)}."
        ) from exc
    except Exception as exc:  # truncated / not a torch file
        raise CheckpointError(
            f"Cannot read the {what} {str(path)!r} ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
            "the file is corrupt or not a torch checkpoint. Delete it and re-create it."
        ) from exc
    if not isinstance(obj, dict):
        raise CheckpointError(
            f"The {what} {str(path)!r} holds a {type(obj).__name__}, not a dict; it was not written by tltaxonomy. "
            "Delete it and re-create it."
        )
    return obj
