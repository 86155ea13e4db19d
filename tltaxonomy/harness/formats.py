"""Render a :class:`~tltaxonomy.harness.tables.TableResult` as Markdown, CSV, LaTeX or JSON.

Every format says which protocol and which selection produced the numbers. Ours is printed beside
the paper's with the difference; the average column is derived from the task columns.
"""

from __future__ import annotations

import csv
import io
import json

from .._errors import unknown_name_error
from .tables import TableResult

__all__ = ["FORMATS", "render", "suite_timing"]


def _fmt(value, digits: int, signed: bool = False) -> str:
    if value is None:
        return "—"
    value = round(value, digits) + 0.0  # no "-0.0"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _ours(cell, digits: int) -> str:
    text = _fmt(cell.ours_mean, digits)
    if cell.ours_se is not None:
        text += f" ± {cell.ours_se:.{digits}f}"
    return text


def _grid(result: TableResult):
    """Rows of (row name, [(ours text, paper text, diff text)] per column + average)."""
    spec = result.spec
    d = spec.digits
    out = []
    for row in dict.fromkeys(c.row for c in result.cells):
        cells = [c for c in result.cells if c.row == row]
        entries = []
        for c in cells:
            diff = None if c.paper is None or c.ours_mean is None else c.ours_mean - c.paper
            entries.append((_ours(c, d), _fmt(c.paper, d), _fmt(diff, d, signed=True)))
        ours_avg, paper_avg = result.row_average(row)
        diff = None if ours_avg is None or paper_avg is None else ours_avg - paper_avg
        entries.append((_fmt(ours_avg, d), _fmt(paper_avg, d), _fmt(diff, d, signed=True)))
        out.append((row, entries))
    columns = list(dict.fromkeys(c.column for c in result.cells)) + ["avg"]
    return columns, out


def _curve_markdown(result: TableResult) -> list[str]:
    """The learning-curve summary: strategies as rows, curve values as columns (mean over the task
    columns ± s.e. over seeds), then the mean training time per run at each value."""
    spec = result.spec
    curve = spec.curve
    d = spec.digits
    rows = list(dict.fromkeys(c.row for c in result.cells))
    header = ["strategy"] + [f"{v}" for v in curve.values]
    lines = [
        f"Mean over {len(curve.base_columns)} task(s) ({', '.join(curve.base_columns)}) at each value of "
        f"{curve.label} (`{curve.key}`), ± standard error over seeds:",
        "",
        "| " + " | ".join(header) + " |",
        "|---|" + "---:|" * len(curve.values),
    ]
    times = []
    for row in rows:
        points = {v: (m, se, t) for v, m, se, t in result.curve(row)}
        cells = [row]
        trow = [row]
        for v in curve.values:
            if v not in points:
                cells.append("—")
                trow.append("—")
                continue
            m, se, t = points[v]
            cells.append(_fmt(m, d) + (f" ± {se:.{d}f}" if se is not None else ""))
            trow.append("—" if t is None else f"{t:.1f}")
        lines.append("| " + " | ".join(cells) + " |")
        times.append("| " + " | ".join(trow) + " |")
    lines += [
        "",
        f"Training time per run (mean seconds of `fit`, this machine) at each value of {curve.label}:",
        "",
        "| " + " | ".join(header) + " |",
        "|---|" + "---:|" * len(curve.values),
        *times,
        "",
        "Per task (column = task/value):",
        "",
    ]
    return lines


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _divergence_cells(div: dict, column: str) -> list[str]:
    keys, fmts = ("proxy_a_distance", "mmd2", "coral_distance"), ("{:.2f}", "{:.3f}", "{:.4f}")
    if column == "avg":
        vals = [v for v in div.values() if "proxy_a_distance" in v]
        if not vals:
            return ["—"] * 3
        return [f.format(sum(v[k] for v in vals) / len(vals)) for k, f in zip(keys, fmts)]
    v = div.get(column, {})
    if "proxy_a_distance" not in v:
        return ["—"] * 3
    return [f.format(v[k]) for k, f in zip(keys, fmts)]


def _markdown(result: TableResult) -> str:
    """Tasks as rows; for each method, ours (± s.e.), the paper's, and the difference."""
    spec = result.spec
    columns, grid = _grid(result)
    has_paper = any(c.paper is not None for c in result.cells) or any(v is not None for v in spec.paper_avg.values())
    header = ["task"]
    for row, _ in grid:
        header += [f"{row} (ours)", f"{row} (paper)", "Δ"] if has_paper else [row]
    div = result.divergence
    if div:
        header += ["proxy A-dist.", "MMD²", "CORAL dist."]
    lines = [
        f"### {spec.title}",
        "",
        f"Protocol: {spec.protocol}",
        "",
        f"Selection: {spec.selection.rstrip('.')}. Seeds: {', '.join(map(str, result.seeds or spec.seeds))}. "
        + (f"Published numbers: {spec.citation}" if has_paper else "No published numbers (a table of our own)."),
        "",
        *(_curve_markdown(result) if spec.curve is not None else []),
        "| " + " | ".join(header) + " |",
        "|---|" + "---:|" * (len(header) - 1),
    ]
    for j, column in enumerate(columns):
        cells = [column if column != "avg" else "**avg**"]
        for _, entries in grid:
            cells += list(entries[j]) if has_paper else [entries[j][0]]
        if div:
            cells += _divergence_cells(div, column)
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    if div:
        reasons = sorted({v["reason"] for v in div.values() if "reason" in v})
        lines += [
            "Divergence between each task's domains (no labels; `tltaxonomy.advise.domain_divergence`: at most 2000 "
            "rows per domain, SVD to 256 components above that): the proxy A-distance 2(1 − 2ε) of a domain "
            "classifier (0 = indistinguishable, 2 = separable; a linear classifier, as Ben-David et al.), the "
            "unbiased Gaussian MMD² (median bandwidth; it can dip just below 0) and the CORAL distance (the squared "
            "Frobenius distance of the covariances over 4d²). A per-domain standardisation in the dataset's "
            "preprocessing (e.g. l1_zscore) already equalises each feature's mean and variance, which leaves a "
            "linear domain classifier nothing to find: there the covariances (CORAL distance) carry the shift."
            + (f" No value where {'; '.join(reasons)}." if reasons else ""),
            "",
        ]
    if spec.delta_p:
        dp = spec.delta_p
        lines += [
            f"Δp vs `{dp['baseline']}` (Maninis et al. 2019: the mean relative change over "
            f"{', '.join(dp['columns'])}, in %):",
            "",
            "| strategy | Δp (%) |",
            "|---|---:|",
            *(f"| {row} | {_fmt(result.delta_p(row), 2, signed=True)} |" for row, _ in grid),
            "",
        ]
    if spec.notes:
        lines += [f"Notes: {spec.notes}", ""]
    lines.append(
        f"({result.n_computed} runs computed, {result.n_reused} reused from the store; "
        f"the table's runs took {_duration(result.compute_s)} of compute, one process)"
    )
    return "\n".join(lines) + "\n"


def _csv(result: TableResult) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["table", "protocol", "selection", "row", "column", "ours_mean", "ours_se", "n_seeds", "paper", "diff", "fit_s"])
    for c in result.cells:
        diff = None if c.paper is None or c.ours_mean is None else c.ours_mean - c.paper
        writer.writerow([result.spec.id, result.spec.protocol, result.spec.selection, c.row, c.column, c.ours_mean, c.ours_se, c.n_seeds, c.paper, diff, c.fit_s])
    return buf.getvalue()


def _latex(result: TableResult) -> str:
    spec = result.spec
    columns, grid = _grid(result)
    esc = lambda s: s.replace("→", r"$\to$").replace("_", r"\_").replace("±", r"$\pm$").replace("—", "--")  # noqa: E731
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\begin{tabular}{l" + "c" * len(columns) + "}",
        r"\toprule",
        "Method & " + " & ".join(esc(c) for c in columns) + r" \\",
        r"\midrule",
    ]
    for row, entries in grid:
        lines.append(esc(row) + " (ours) & " + " & ".join(esc(o) for o, _, _ in entries) + r" \\")
        lines.append(esc(row) + " (paper) & " + " & ".join(esc(p) for _, p, _ in entries) + r" \\")
    lines += [
        r"\bottomrule",
        r"\end{tabular}",
        r"\caption{" + esc(spec.title) + ". Protocol: " + esc(spec.protocol) + ". Selection: " + esc(spec.selection) + "."
        + (" Notes: " + esc(spec.notes) if spec.notes else "")
        + "}",
        r"\end{table}",
    ]
    return "\n".join(lines) + "\n"


def _json(result: TableResult) -> str:
    spec = result.spec
    payload = {
        "table": spec.id,
        "title": spec.title,
        "protocol": spec.protocol,
        "selection": spec.selection,
        "metric": spec.metric,
        "citation": spec.citation,
        "notes": spec.notes,
        "cells": [c.as_dict() for c in result.cells],
        "runs": {"computed": result.n_computed, "reused": result.n_reused, "compute_s": result.compute_s},
        **({"divergence": result.divergence} if result.divergence else {}),
    }
    if spec.delta_p:
        payload["delta_p"] = {**spec.delta_p, "rows": {row: result.delta_p(row) for row in dict.fromkeys(c.row for c in result.cells)}}
    if spec.curve is not None:
        payload["curve"] = {
            "key": spec.curve.key,
            "label": spec.curve.label,
            "values": list(spec.curve.values),
            "rows": {
                row: [{"value": v, "mean": m, "se": se, "fit_s": t} for v, m, se, t in result.curve(row)]
                for row in dict.fromkeys(c.row for c in result.cells)
            },
        }
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"


FORMATS = {"md": _markdown, "csv": _csv, "latex": _latex, "json": _json}


def render(result: TableResult, fmt: str = "md") -> str:
    """Render ``result`` in ``fmt`` (one of :data:`FORMATS`)."""
    if fmt not in FORMATS:
        raise unknown_name_error("format", fmt, FORMATS)
    return FORMATS[fmt](result)


def suite_timing(results, wall_s: float, n_jobs: int) -> str:
    """Markdown summary of a suite's cost: per table its runs (computed now / reused from the store) and
    the compute time of its runs (their records' ``total_s``, one process), then the totals and the
    wall time of the whole command run with ``-j n_jobs``.

    The tables of a suite share one pool of workers, so a table has no wall time of its own; its compute
    time is what it costs alone in one process.
    """
    lines = [
        f"### Suite timing: {len(results)} tables",
        "",
        "| table | runs computed | runs reused | compute (one process) |",
        "|---|---:|---:|---:|",
    ]
    for r in results:
        lines.append(f"| {r.spec.id} | {r.n_computed} | {r.n_reused} | {_duration(r.compute_s)} |")
    computed = sum(r.n_computed for r in results)
    reused = sum(r.n_reused for r in results)
    compute = sum(r.compute_s for r in results)
    lines += [
        f"| **total** | {computed} | {reused} | {_duration(compute)} |",
        "",
        f"Wall time of the command: {_duration(wall_s)} with `-j {n_jobs}` (joblib's n_jobs: -1 = one worker per "
        "core; reused runs cost only their lookup).",
        "",
    ]
    return "\n".join(lines)
