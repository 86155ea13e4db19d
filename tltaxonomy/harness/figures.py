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

__all__ = ["decision_boundary_figure", "learning_curve_figures"]


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


def _time_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}_time{path.suffix}")


def learning_curve_figures(result, path: str | os.PathLike) -> tuple[Path, Path]:
    """Draw the learning curves of a curve table: accuracy against the label budget, and accuracy
    against the training time.

    Left figure (``path``): one line per strategy, the mean over the task columns at each curve value
    (x, log scale), error bars = ± one standard error over seeds. Right figure (``<stem>_time<suffix>``
    beside ``path``): the same points against the mean seconds of ``fit`` per run (x, log scale),
    each point labelled with its curve value. Rows that did not run at a value leave that point out.

    Parameters
    ----------
    result : TableResult
        A table run whose spec has a ``curve`` (see :func:`~tltaxonomy.harness.run_table`).
    path : path-like
        The accuracy-vs-labels image (the format follows the suffix: ``.png``, ``.pdf``, ``.svg``).

    Returns
    -------
    (Path, Path)
        The two images written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .._io import atomic_open

    spec = result.spec
    if spec.curve is None:
        raise ConfigError(f"Table {spec.id!r} has no learning-curve axis; learning_curve_figures needs a `curve` in its spec.")
    metric = {"acc": "accuracy", "nmi": "NMI", "ari": "ARI"}.get(spec.metric.split("/")[-1], spec.metric.split("/")[-1])
    unit = " (%)" if spec.scale == 100 else ""
    rows = list(dict.fromkeys(c.row for c in result.cells))
    markers = ["o", "s", "^", "D", "v", "P", "X", "*", "h", "<", ">"]
    title = textwrap.fill(spec.title, 70)
    subtitle = f"mean over {', '.join(spec.curve.base_columns)}; error bars ± 1 s.e. over seeds {', '.join(map(str, result.seeds))}"
    path = Path(path)
    written = []
    for kind, out in (("labels", path), ("time", _time_path(path))):
        fig, ax = plt.subplots(figsize=(7.5, 5.0))
        for i, row in enumerate(rows):
            points = result.curve(row)
            if kind == "time":
                points = [p for p in points if p[3] is not None and p[3] > 0]
            if not points:
                continue
            x = [p[0] if kind == "labels" else p[3] for p in points]
            y = [p[1] for p in points]
            err = [0.0 if p[2] is None else p[2] for p in points]
            scratch = "scratch" in row or "tfidf" in row
            ax.errorbar(x, y, yerr=err, marker=markers[i % len(markers)], capsize=3, linewidth=1.6, markersize=5,
                        label=row, linestyle="--" if scratch else "-")
            if kind == "time":
                for xv, yv, p in zip(x, y, points):
                    ax.annotate(str(p[0]), (xv, yv), textcoords="offset points", xytext=(4, -10), fontsize=7)
        ax.set_xscale("log")
        if kind == "labels":
            values = list(spec.curve.values)
            ax.set_xticks(values)
            ax.set_xticklabels([str(v) for v in values])
            ax.minorticks_off()
            ax.set_xlabel(spec.curve.label)
        else:
            ax.set_xlabel(f"training time per run (s, log scale; points labelled with {spec.curve.label})")
        ax.set_ylabel(f"target test {metric}{unit}")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="best")
        ax.set_title(f"{title}\n{textwrap.fill(subtitle, 90)}", fontsize=9)
        fig.tight_layout()
        import io

        buf = io.BytesIO()
        fig.savefig(buf, dpi=120, format=out.suffix.lstrip(".") or "png")
        plt.close(fig)
        with atomic_open(out, "wb") as fh:
            fh.write(buf.getvalue())
        written.append(out)
    return written[0], written[1]
