"""The one validator of multi-task target matrices (NaN = unobserved), shared by the linear and the
deep multi-task estimators so that both say the same thing about the same bad ``Y``."""

from __future__ import annotations

import numpy as np

__all__ = ["check_multitask_targets"]


def check_multitask_targets(name: str, Y, n_rows: int, *, allow_1d: bool = True) -> np.ndarray:
    """Validate a multi-task target matrix and return it as float64 of shape ``(n_rows, n_tasks)``.

    Parameters
    ----------
    name : str
        The estimator named in the messages.
    Y : array-like of shape (n_rows, n_tasks), or (n_rows,) when ``allow_1d``
        One column per task, NaN where a row has no label for that task.
    n_rows : int
        The rows of ``X``.
    allow_1d : bool, default=True
        Accept a 1-D ``Y`` as one task; ``False`` makes it an error that says how to reshape it.

    Raises
    ------
    ValueError
        ``Y`` is None, not numeric, not 2-D, has another row count than ``X``, no column, an inf, or a task
        with fewer than 2 observed rows; the message names the estimator and the fix.
    """
    if Y is None:
        raise ValueError(f"{name} requires Y (n_samples, n_tasks), NaN where a row has no label for a task; got None.")
    try:
        Y = np.asarray(Y, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: Y must hold numbers (class ids or targets, NaN for unobserved entries): {exc}") from None
    if Y.ndim == 1 and allow_1d:
        Y = Y[:, None]
    if Y.ndim != 2:
        raise ValueError(
            f"{name}: Y must be a 2-D array (n_samples, n_tasks) with NaN where a row has no label for a task; "
            f"got shape {Y.shape}. For a single task pass Y.reshape(-1, 1)."
        )
    if Y.shape[0] != n_rows:
        raise ValueError(
            f"{name}: X has {n_rows} rows but Y has {Y.shape[0]} (Y has shape {Y.shape}); pass one row of Y (one "
            "label per task, NaN if unobserved) per row of X."
        )
    if Y.shape[1] == 0:
        raise ValueError(f"{name}: Y has 0 columns; pass at least one task (one column per task).")
    if np.isinf(Y).any():
        raise ValueError(f"{name}: Y contains inf; use NaN for unobserved entries and finite values otherwise.")
    counts = np.sum(~np.isnan(Y), axis=0)
    few = np.flatnonzero(counts < 2)
    if few.size:
        listed = ", ".join(f"task {t} has {counts[t]}" for t in few[:5]) + (" ..." if few.size > 5 else "")
        raise ValueError(
            f"{name}: every task needs at least 2 observed (non-NaN) rows in Y, but {listed}; drop those "
            "columns of Y or add labelled rows."
        )
    return Y
