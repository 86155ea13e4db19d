"""Figures of benchmark tables (matplotlib, imported on demand).

:func:`decision_boundary_figure` refits the rows of a table on one 2-D task (e.g. the rotated moons
of DANN) and draws each row's decision boundary with the source and target points, the figure the
DANN paper shows instead of a number.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import numpy as np

from .._errors import ConfigError

__all__ = ["decision_boundary_figure"]


def _fit_row(cfg: dict, data_dir: str | None):
    from hydra.utils import instantiate

    from ..runner import _load_task, check_targets

    check_targets(cfg["strategy"], "strategy")
    task = _load_task(cfg["dataset"]["name"], cfg["task"], cfg["dataset"].get("preprocess"), data_dir)
    if task.X_source is None or task.X_source.shape[1] != 2:
        raise ConfigError(
            f"decision_boundary_figure draws 2-D inputs; {cfg['dataset']['name']}/{cfg['task']} has "
            f"{None if task.X_source is None else task.X_source.shape[1]} features."
        )
    strategy = instantiate(cfg["strategy"], _convert_="all")
    X, y, sd = task.domain_adaptation_view()
    strategy.fit(X, y, sample_domain=sd)
    return strategy, task


def decision_boundary_figure(
    table_id: str,
    path: str | os.PathLike,
    *,
    seed: int | None = None,
    column: str | None = None,
    data_dir: str | None = None,
    resolution: int = 300,
    extra_overrides: tuple[str, ...] = (),
) -> Path:
    """Fit every row of ``table_id`` on one of its 2-D tasks and draw the decision boundaries.

    One panel per row: the predicted class over the plane (shaded), the labelled source points
    (circles) and the target points (crosses, coloured by their true class, which only the figure
    uses), titled with the row's target accuracy.

    Parameters
    ----------
    table_id : str
        A table whose dataset has 2-D inputs (``dann2016_moons``).
    path : path-like
        Output image (the format follows the suffix: ``.png``, ``.pdf``, ``.svg``).
    seed : int, optional
        Seed of the fits (default: the table's first seed).
    column : str, optional
        Column label of the task (default: the first column).
    data_dir : str, optional
        Data directory (default: ``$TLTAX_DATA_DIR`` / the configured one).
    resolution : int, default=300
        Grid points per axis.
    extra_overrides : tuple of str
        Hydra overrides added to every row (e.g. a shorter budget).

    Returns
    -------
    Path
        ``path``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    from .tables import _compose_row, load_table

    spec = load_table(table_id)
    column = column or next(iter(spec.columns))
    if column not in spec.columns:
        raise ConfigError(f"{table_id} has no column {column!r}; columns: {list(spec.columns)}.")
    seed = spec.seeds[0] if seed is None else int(seed)
    fig, axes = plt.subplots(1, len(spec.rows), figsize=(4.2 * len(spec.rows), 4.2), squeeze=False)
    light = ListedColormap(["#f4c7a1", "#a9c8ea"])
    dark = ListedColormap(["#d2601a", "#1f5fa8"])
    for ax, row in zip(axes[0], spec.rows):
        cfg = _compose_row(spec, row, (*extra_overrides, f"task={spec.columns[column]}", f"seed={seed}"))
        strategy, task = _fit_row(cfg, data_dir)
        pts = np.vstack([task.X_source, task.X_target])
        lo, hi = pts.min(axis=0) - 0.5, pts.max(axis=0) + 0.5
        gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
        grid = np.c_[gx.ravel(), gy.ravel()]
        z = strategy.predict(grid, sample_domain=-np.ones(len(grid), dtype=int))
        z = np.searchsorted(strategy.classes_, z).reshape(gx.shape)
        ax.contourf(gx, gy, z, levels=[-0.5, 0.5, 1.5], cmap=light, alpha=0.8)
        ax.scatter(task.X_source[:, 0], task.X_source[:, 1], c=task.y_source, cmap=dark, s=12, marker="o",
                   edgecolors="k", linewidths=0.3, label="source")
        ax.scatter(task.X_test[:, 0], task.X_test[:, 1], c=task.y_test, cmap=dark, s=18, marker="x",
                   linewidths=0.9, label="target")
        acc = float(np.mean(strategy.predict(task.X_test, sample_domain=-np.ones(len(task.X_test), dtype=int)) == task.y_test))
        ax.set_title(f"{row.name}: target accuracy {acc:.3f}")
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][0].legend(loc="lower left", fontsize=8)
    width = max(40, int(4.2 * len(spec.rows) * 12))  # characters that fit the figure at fontsize 10
    fig.suptitle(textwrap.fill(f"{spec.title} — {column}, seed {seed}", width), fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
