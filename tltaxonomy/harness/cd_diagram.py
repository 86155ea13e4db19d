"""The critical-difference diagram of Demšar (JMLR 2006, Fig. 1), drawn with matplotlib's Agg canvas (no pyplot).

The rank axis runs from 1 (best, left) to ``k``; every method hangs from its average rank with its
name and rank; a bar above the axis shows the length of the critical difference; thick horizontal
bars below the axis join the groups of methods whose average ranks differ by less than the critical
difference (not significantly different, :func:`tltaxonomy.harness.stats.cliques`).

References
----------
.. [1] J. Demšar, "Statistical comparisons of classifiers over multiple data sets", JMLR 7:1-30, 2006.

Examples
--------
>>> import tempfile, os
>>> out = cd_diagram(["coral", "sa", "source_only"], [1.2, 1.9, 2.9], 0.96, os.path.join(tempfile.mkdtemp(), "cd.png"))
>>> out.groups
(('coral', 'sa'),)
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .._errors import ConfigError
from . import stats

__all__ = ["CDDiagram", "cd_diagram"]


@dataclass(frozen=True)
class CDDiagram:
    """What :func:`cd_diagram` drew."""

    path: Path
    #: the groups joined by a thick bar (method names, best-ranked first within and across groups)
    groups: tuple[tuple[str, ...], ...]


def cd_diagram(
    names: Sequence[str],
    avg_ranks: Sequence[float],
    cd: float | None,
    path: str | os.PathLike,
    *,
    alpha: float = 0.05,
    title: str | None = None,
    dpi: int = 150,
) -> CDDiagram:
    """Draw the critical-difference diagram of methods with the given average ranks.

    Parameters
    ----------
    names : sequence of str
        Method names.
    avg_ranks : sequence of float
        Their average ranks over the tasks (1 = best), e.g. from
        :func:`~tltaxonomy.harness.stats.average_ranks`.
    cd : float or None
        The critical difference (:func:`~tltaxonomy.harness.stats.critical_difference`); ``None``
        draws the ranks without groups.
    path : path-like
        The image file (format from the suffix: ``.png``, ``.pdf``, ``.svg``).
    alpha : float
        The level ``cd`` was computed at (shown in the figure).
    title : str, optional

    Returns
    -------
    CDDiagram
        The path written and the groups drawn.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure  # no pyplot: no global backend or figure state is touched

    names = [str(n) for n in names]
    ranks = [float(r) for r in avg_ranks]
    k = len(names)
    if k < 2 or len(ranks) != k:
        raise ConfigError(f"cd_diagram needs at least two methods and one average rank each, got {k} names, {len(ranks)} ranks.")
    if any(not (1.0 <= r <= k) for r in ranks):
        raise ConfigError(f"Average ranks must lie in [1, {k}] for {k} methods, got {ranks}.")
    groups = tuple(tuple(names[i] for i in g) for g in stats.cliques(ranks, cd)) if cd is not None else ()
    order = sorted(range(k), key=lambda i: (ranks[i], i))
    left = order[: math.ceil(k / 2)]  # best half: names on the left
    right = order[math.ceil(k / 2):][::-1]  # worst half: names on the right, worst on top

    # layout in inches: the axis spans the middle of the figure, names on both sides
    longest = max(len(n) for n in names) + 6  # "name (1.23)"
    side = 0.09 * longest + 0.3
    axis_w = max(4.0, 0.75 * (k - 1))
    width = axis_w + 2 * side
    row_h, bar_h = 0.28, 0.14
    n_rows = max(len(left), len(right))
    top = 0.95 + (0.35 if title else 0.0)
    height = top + 0.25 + bar_h * (len(groups) + 1) + row_h * n_rows + 0.15
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)  # y grows downwards
    ax.axis("off")

    def x_of(rank: float) -> float:
        return side + (rank - 1) / (k - 1) * axis_w

    y_axis = top
    if title:
        ax.text(width / 2, 0.25, title, ha="center", va="center", fontsize=10)
    ax.plot([x_of(1), x_of(k)], [y_axis, y_axis], color="black", lw=1.2)
    for r in range(1, k + 1):
        ax.plot([x_of(r), x_of(r)], [y_axis - 0.08, y_axis], color="black", lw=1.0)
        ax.text(x_of(r), y_axis - 0.12, str(r), ha="center", va="bottom", fontsize=10)
        if r < k:
            ax.plot([x_of(r + 0.5)] * 2, [y_axis - 0.04, y_axis], color="black", lw=0.6)
    if cd is not None:
        y_cd = y_axis - 0.5
        x0, x1 = x_of(1), x_of(min(1 + cd, k))
        ax.plot([x0, x1], [y_cd, y_cd], color="black", lw=1.5)
        for x in (x0, x1):
            ax.plot([x, x], [y_cd - 0.05, y_cd + 0.05], color="black", lw=1.5)
        ax.text((x0 + x1) / 2, y_cd - 0.07, f"CD = {cd:.2f} (α = {alpha:g})", ha="center", va="bottom", fontsize=9)

    # thick bars of the groups, just below the axis
    index = {n: i for i, n in enumerate(names)}
    for g, group in enumerate(groups):
        y = y_axis + bar_h * (g + 1)
        lo = min(ranks[index[n]] for n in group)
        hi = max(ranks[index[n]] for n in group)
        ax.plot([x_of(lo) - 0.06, x_of(hi) + 0.06], [y, y], color="black", lw=4, solid_capstyle="butt")

    y0 = y_axis + bar_h * (len(groups) + 1) + 0.2
    for j, i in enumerate(left):
        y = y0 + row_h * j
        x = x_of(ranks[i])
        ax.plot([x, x, side - 0.1], [y_axis, y, y], color="0.25", lw=0.9)
        ax.text(side - 0.15, y, f"{names[i]} ({ranks[i]:.2f})", ha="right", va="center", fontsize=10)
    for j, i in enumerate(right):
        y = y0 + row_h * j
        x = x_of(ranks[i])
        ax.plot([x, x, side + axis_w + 0.1], [y_axis, y, y], color="0.25", lw=0.9)
        ax.text(side + axis_w + 0.15, y, f"({ranks[i]:.2f}) {names[i]}", ha="left", va="center", fontsize=10)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return CDDiagram(path, groups)
