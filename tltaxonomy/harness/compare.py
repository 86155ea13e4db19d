r"""``tltax compare``: an ad-hoc table (rows = strategies, columns = a dataset's tasks) run through the
harness and the store, then ranked with the statistics of :mod:`tltaxonomy.harness.stats`.

``tltax compare strategy=[source_only,coral,sa] dataset=office_caltech_surf task=all seeds=3`` builds a
:class:`~tltaxonomy.harness.tables.TableSpec` in code, runs what the store does not hold (resumably, in
``n_jobs`` processes; other overrides such as ``protocol.source_per_class=20`` reach every run, so the
records are shared with the benchmark tables that use the same overrides), and :func:`compare_result`
computes per task the mean ± standard error over seeds, and per strategy the average, the average
rank, the Wilcoxon p-value against the baseline over the tasks, win / tie / loss and the
negative-transfer flags; over the table the Friedman test and the Nemenyi critical difference.

The noise rule (ties and negative transfer) is :func:`tltaxonomy.harness.stats.paired_outcome`: on a
task, with ``d`` the per-seed differences strategy − baseline (same seed = same draw),
:math:`|\bar d| \le \max(2\,se(d), \delta_{min})` is a tie; with one seed only :math:`\delta_{min}`
(default 0.5 points of the scaled metric) decides.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._errors import ConfigError, unknown_name_error
from . import stats
from .tables import RowSpec, TableResult, TableSpec, run_tables

__all__ = [
    "Comparison",
    "CompareRequest",
    "compare_result",
    "comparison_spec",
    "metric_higher_is_better",
    "parse_compare_overrides",
    "render_comparison",
    "run_compare",
]

#: the formats :func:`render_comparison` writes
COMPARE_FORMATS = ("md", "csv", "latex", "json")
#: the mark of a negative-transfer cell in Markdown
NEG_MARK = "▼"
#: record metrics (the name after the last ``/``) for which lower is better; any other is higher-is-better
LOWER_IS_BETTER = ("nmse", "mse", "rmse", "mae", "error", "err", "loss", "nll", "ece", "brier")


def metric_higher_is_better(metric: str) -> bool:
    """Whether a larger value of the record metric ``metric`` is better, from its name.

    ``False`` for errors and losses (``target/nmse``, ``target/rmse``, ``target/error``, ...: the name after
    the last ``/`` is one of :data:`LOWER_IS_BETTER` or ends with ``_`` and one of them), ``True`` for
    everything else (accuracies, explained variance, NMI, ARI).

    >>> metric_higher_is_better("target/acc"), metric_higher_is_better("target/nmse")
    (True, False)
    """
    name = metric.rsplit("/", 1)[-1].lower()
    return not any(name == m or name.endswith("_" + m) for m in LOWER_IS_BETTER)


def _conf_names(group: str) -> list[str]:
    from ..runner import CONF_DIR

    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def _split_list(value: str) -> list[str]:
    """``[a,b]``, ``a,b`` or ``a`` → ``["a", "b"]`` (Hydra's list syntax, or a plain comma list)."""
    text = value.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    items = [v.strip().strip("'\"") for v in text.split(",")]
    return [v for v in items if v]


@dataclass(frozen=True)
class CompareRequest:
    """What ``tltax compare``'s overrides ask for."""

    strategies: tuple[str, ...]
    dataset: str
    tasks: tuple[str, ...]
    seeds: tuple[int, ...]
    overrides: tuple[str, ...] = ()  #: every other override, passed to every run


def parse_compare_overrides(items: list[str] | tuple[str, ...]) -> CompareRequest:
    """Parse ``strategy=[...] dataset=... task=all|[...] seeds=N|[...]`` and pass the rest through.

    ``seeds=3`` means seeds 0, 1, 2; ``seeds=[0,5]`` lists them. Unknown strategy / dataset / task
    names raise the error that lists the valid ones.
    """
    from ..datasets import get_dataset

    found: dict[str, str] = {}
    rest: list[str] = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(
                f"tltax compare takes Hydra-style overrides such as strategy=[coral,sa] dataset=office_caltech_surf "
                f"task=all seeds=3; got {item!r}."
            )
        key = key.lstrip("+")
        if key in ("strategy", "dataset", "task", "seeds"):
            found[key] = value
        elif key == "seed":
            raise ConfigError("tltax compare runs several seeds: use seeds=N (seeds 0..N-1) or seeds=[0,1,2], not seed=.")
        else:
            rest.append(item)
    if "strategy" not in found:
        raise ConfigError("tltax compare needs strategy=[name,name,...] (see `tltax list strategies`).")
    strategies = _split_list(found["strategy"])
    valid = _conf_names("strategy")
    for name in strategies:
        if name not in valid:
            raise unknown_name_error("strategy", name, valid)
    if len(set(strategies)) != len(strategies):
        raise ConfigError(f"strategy={found['strategy']} names a strategy twice.")
    dataset = found.get("dataset", "office_caltech_surf")
    datasets = _conf_names("dataset")
    if dataset not in datasets:
        raise unknown_name_error("dataset", dataset, datasets)
    all_tasks = list(get_dataset(dataset).tasks)
    task_value = found.get("task", "all")
    tasks = all_tasks if task_value.strip() == "all" else _split_list(task_value)
    for task in tasks:
        if task not in all_tasks:
            raise unknown_name_error("task", task, all_tasks)
    seeds_value = found.get("seeds", "3").strip()
    try:
        if seeds_value.startswith("["):
            seeds = tuple(int(s) for s in _split_list(seeds_value))
        else:
            seeds = tuple(range(int(seeds_value)))
    except ValueError:
        raise ConfigError(f"seeds={seeds_value} must be a count (seeds=3: seeds 0, 1, 2) or a list (seeds=[0,4,7]).") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds={seeds_value} must give at least one seed, each once.")
    if not tasks:
        raise ConfigError("task= names no task; use task=all or task=[name,...].")
    return CompareRequest(tuple(strategies), dataset, tuple(tasks), seeds, tuple(rest))


def _task_label(task: str) -> str:
    return task.replace("_to_", "→")


def comparison_spec(request: CompareRequest, *, metric: str = "target/acc") -> TableSpec:
    """The :class:`TableSpec` of a comparison: one row per strategy (``strategy=<name>``), one column per task."""
    scale = 100.0 if metric.rsplit("/", 1)[-1].endswith("acc") else 1.0
    return TableSpec(
        id=f"compare_{request.dataset}",
        title=f"Comparison on {request.dataset}",
        protocol=" ".join(request.overrides) or "the configs' defaults",
        selection="",
        dataset=request.dataset,
        metric=metric,
        scale=scale,
        digits=1 if scale == 100.0 else 3,
        seeds=request.seeds,
        overrides=request.overrides,
        columns={_task_label(t): t for t in request.tasks},
        rows=tuple(RowSpec(s, (f"strategy={s}",)) for s in request.strategies),
        paper={s: [None] * len(request.tasks) for s in request.strategies},
    )


@dataclass(frozen=True)
class Comparison:
    """Everything ``tltax compare`` prints (see :func:`compare_result`)."""

    result: TableResult
    baseline: str
    strategies: tuple[str, ...]  #: in the order of their average rank (best first)
    columns: tuple[str, ...]
    mean: dict[tuple[str, str], float]  #: (strategy, column) -> mean over seeds
    se: dict[tuple[str, str], float | None]
    average: dict[str, float]  #: mean over the tasks
    avg_rank: dict[str, float]
    pvalue: dict[str, float | None]  #: Wilcoxon over the tasks' means, against the baseline
    outcomes: dict[tuple[str, str], stats.PairedOutcome]  #: (strategy, column) -> against the baseline
    friedman: stats.FriedmanResult | None
    alpha: float
    cd: float | None
    groups: tuple[tuple[str, ...], ...]  #: strategies not significantly different (Nemenyi)
    z: float
    min_delta: float
    selection: dict[str, str] = field(default_factory=dict)  #: strategy -> the selection protocol of its records
    higher_is_better: bool = True  #: the direction of the metric (ranks, wins and losses follow it)

    def wtl(self, strategy: str) -> tuple[int, int, int]:
        """Wins, ties and losses of ``strategy`` against the baseline over the tasks."""
        outs = [self.outcomes[(strategy, c)].outcome for c in self.columns]
        return outs.count("win"), outs.count("tie"), outs.count("loss")


def compare_result(
    result: TableResult, *, baseline: str, alpha: float = 0.05, z: float = 2.0, min_delta: float = 0.5,
    selection: dict[str, str] | None = None, higher_is_better: bool = True,
) -> Comparison:
    """Rank the rows of a table result and test them against the ``baseline`` row.

    Parameters
    ----------
    result : TableResult
        Every cell must have the same seeds (they are paired by position).
    baseline : str
        The row every strategy is tested against; use the no-adaptation row (``source_only``) so that
        its losses are negative transfer.
    alpha : float, default=0.05
        Level of the Nemenyi critical difference.
    z, min_delta : float
        The noise rule of :func:`~tltaxonomy.harness.stats.paired_outcome` (``min_delta`` in the
        table's scaled unit, e.g. accuracy points).
    higher_is_better : bool, default=True
        ``False`` for an error or a loss (``target/nmse``): rank 1 is then the lowest value, and a win
        against the baseline is a lower value beyond noise.
    """
    rows = list(dict.fromkeys(c.row for c in result.cells))
    columns = list(dict.fromkeys(c.column for c in result.cells))
    if baseline not in rows:
        raise unknown_name_error("baseline", baseline, rows)
    cells = {(c.row, c.column): c for c in result.cells}
    missing = [key for key in cells if cells[key].ours_mean is None]
    if missing:
        raise ConfigError(f"The comparison has cells without results: {missing[:3]}; every strategy must run every task.")
    mean = {key: float(c.ours_mean) for key, c in cells.items()}
    se = {key: c.ours_se for key, c in cells.items()}
    scores = np.array([[mean[(r, c)] for r in rows] for c in columns])  # tasks x strategies
    ranks = stats.average_ranks(scores, higher_is_better=higher_is_better)
    avg_rank = {r: float(v) for r, v in zip(rows, ranks)}
    average = {r: float(np.mean(scores[:, j])) for j, r in enumerate(rows)}
    outcomes, pvalue = {}, {}
    for j, r in enumerate(rows):
        for c in columns:
            outcomes[(r, c)] = stats.paired_outcome(cells[(r, c)].values, cells[(baseline, c)].values, z=z,
                                                    min_delta=min_delta, higher_is_better=higher_is_better)
        pvalue[r] = None if r == baseline else stats.wilcoxon(scores[:, j], scores[:, rows.index(baseline)])
    k, n = len(rows), len(columns)
    friedman = stats.friedman(scores)
    cd = stats.critical_difference(k, n, alpha) if k >= 2 else None
    groups = tuple(tuple(rows[i] for i in g) for g in stats.cliques(ranks, cd)) if cd is not None else ()
    order = sorted(rows, key=lambda r: (avg_rank[r], rows.index(r)))
    return Comparison(
        result=result, baseline=baseline, strategies=tuple(order), columns=tuple(columns), mean=mean, se=se,
        average=average, avg_rank=avg_rank, pvalue=pvalue, outcomes=outcomes, friedman=friedman, alpha=alpha,
        cd=cd, groups=groups, z=z, min_delta=min_delta, selection=dict(selection or {}),
        higher_is_better=bool(higher_is_better),
    )


def _record_selection(spec: TableSpec, store) -> dict[str, str]:
    """The selection protocol of each row, from the stored record of its first cell."""
    from ..runner import record_key
    from .tables import _plan

    out: dict[str, str] = {}
    _, _, _, jobs, _ = _plan(spec, spec.seeds, None, (next(iter(spec.columns)),), ())
    for row, _, _, cfg in jobs:
        if row not in out:
            record = store.get(record_key(cfg))
            out[row] = str(record.get("selection")) if record else "?"
    return out


def run_compare(
    request: CompareRequest, *, baseline: str = "source_only", metric: str = "target/acc", store=None,
    n_jobs: int = 1, force: bool = False, progress: bool = True, alpha: float = 0.05,
    higher_is_better: bool | None = None,
) -> Comparison:
    """Run (or reuse) every cell of the comparison and compute its statistics.

    The ``baseline`` strategy is added to the rows when it is not among them. ``higher_is_better=None``
    takes the metric's direction from its name (:func:`metric_higher_is_better`).
    """
    from ..store import ResultStore

    if baseline not in request.strategies:
        valid = _conf_names("strategy")
        if baseline not in valid:
            raise unknown_name_error("strategy", baseline, valid)
        request = CompareRequest((baseline, *request.strategies), request.dataset, request.tasks, request.seeds,
                                 request.overrides)
    if len(request.strategies) < 2:
        raise ConfigError(f"tltax compare needs at least two strategies (the baseline {baseline!r} and another).")
    from hydra.errors import HydraException

    spec = comparison_spec(request, metric=metric)
    store = ResultStore() if store is None else store
    try:
        (result,) = run_tables((spec,), store=store, force=force, progress=progress, n_jobs=n_jobs)
    except HydraException as exc:  # a bad pass-through override: say which, as `tltax run` would
        raise ConfigError(f"An override of tltax compare does not compose ({' '.join(request.overrides)}): {exc}") from None
    if higher_is_better is None:
        higher_is_better = metric_higher_is_better(metric)
    return compare_result(result, baseline=baseline, alpha=alpha, selection=_record_selection(spec, store),
                          higher_is_better=higher_is_better)


# --- rendering -------------------------------------------------------------------------------------


def _num(value: float | None, digits: int, signed: bool = False) -> str:
    if value is None:
        return "—"
    value = round(value, digits) + 0.0
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _p(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.2g}" if value < 0.001 else f"{value:.3f}"


def _rules(comp: Comparison) -> str:
    d = comp.result.spec.digits
    worse = "d̄ < −max(" if comp.higher_is_better else "d̄ > max("
    return (
        f"{NEG_MARK} negative transfer: worse than `{comp.baseline}` beyond noise on that task, i.e. the mean "
        f"paired difference over seeds {worse}{comp.z:g}·s.e.(d), {comp.min_delta:.{d}f}) (s.e. of the per-seed "
        f"differences; with one seed the threshold is {comp.min_delta:.{d}f} alone). W/T/L: tasks where the strategy "
        f"is better than / within noise of / worse than `{comp.baseline}` by the same rule. p: two-sided Wilcoxon "
        f"signed-rank test (zero differences split) of the task means against `{comp.baseline}` over the "
        f"{len(comp.columns)} tasks. Rank: average rank over the tasks (1 = best, ties share the average)."
    )


def _friedman_text(comp: Comparison) -> list[str]:
    k, n = len(comp.strategies), len(comp.columns)
    f = comp.friedman
    lines = []
    if f is None:
        lines.append(f"Friedman test: needs at least 3 strategies and 2 tasks (here {k} and {n}).")
    else:
        lines.append(
            f"Friedman test ({n} tasks, {k} strategies): χ²_F = {f.statistic:.2f}, p = {_p(f.pvalue)}; "
            f"Iman–Davenport F_F = {f.f_statistic:.2f}, p = {_p(f.f_pvalue)}."
        )
    if comp.cd is not None:
        q = stats.nemenyi_q(k, comp.alpha)
        groups = "; ".join("{" + ", ".join(g) + "}" for g in comp.groups) or "none (every pair differs)"
        lines.append(
            f"Nemenyi critical difference at α = {comp.alpha:g}: CD = {comp.cd:.2f} (q_α = {q:.3f}); groups whose "
            f"average ranks lie within CD (not significantly different): {groups}."
        )
    return lines


def _header_lines(comp: Comparison) -> list[str]:
    spec = comp.result.spec
    scale = f" (×{spec.scale:g})" if spec.scale != 1 else ""
    protocols = set(comp.selection.values())
    if len(protocols) == 1 and len(comp.selection) == len(comp.strategies):
        selection = f"{protocols.pop()} for every strategy"
    else:
        selection = ", ".join(f"{s}: {comp.selection[s]}" for s in comp.strategies if s in comp.selection)
    return [
        f"### Comparison on {spec.dataset}: {len(comp.strategies)} strategies × {len(comp.columns)} tasks",
        "",
        f"Metric: {spec.metric}{scale} ({'higher' if comp.higher_is_better else 'lower'} is better), "
        f"mean ± standard error over seeds {', '.join(map(str, comp.result.seeds))}. "
        f"Overrides: {spec.protocol}. Baseline: `{comp.baseline}`."
        + (f" Selection (from the records): {selection}." if selection else ""),
        "",
    ]


def _markdown(comp: Comparison) -> str:
    d = comp.result.spec.digits
    b = comp.baseline
    header = ["strategy", *comp.columns, "avg", "rank", f"p vs {b}", "W/T/L"]
    lines = _header_lines(comp) + ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for s in comp.strategies:
        cells = [f"`{s}`" if s != b else f"`{s}` (baseline)"]
        for c in comp.columns:
            text = _num(comp.mean[(s, c)], d) + (f" ± {comp.se[(s, c)]:.{d}f}" if comp.se[(s, c)] is not None else "")
            if comp.outcomes[(s, c)].negative_transfer:
                text += f" {NEG_MARK}"
            cells.append(text)
        wtl = "—" if s == b else "/".join(map(str, comp.wtl(s)))
        cells += [_num(comp.average[s], d), f"{comp.avg_rank[s]:.2f}", _p(comp.pvalue[s]), wtl]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", *_friedman_text(comp), "", _rules(comp), ""]
    n_seeds = len(comp.result.seeds)
    lines += [
        f"Per task, paired over seeds: mean difference to `{b}` ± s.e. of the paired differences, and the Wilcoxon "
        f"p-value over the {n_seeds} seeds"
        + (f" (its smallest possible value with {n_seeds} seeds is {2 / 2 ** n_seeds:.3g})" if n_seeds > 1 else "")
        + ":",
        "",
        "| strategy | " + " | ".join(comp.columns) + " |",
        "|---|" + "---:|" * len(comp.columns),
    ]
    for s in comp.strategies:
        if s == b:
            continue
        cells = []
        for c in comp.columns:
            o = comp.outcomes[(s, c)]
            cells.append(_num(o.diff, d, signed=True) + (f" ± {o.se:.{d}f}" if o.se is not None else "")
                         + (f" ({_p(o.pvalue)})" if o.pvalue is not None else ""))
        lines.append(f"| `{s}` | " + " | ".join(cells) + " |")
    lines += ["", f"({comp.result.n_computed} runs computed, {comp.result.n_reused} reused from the store)"]
    return "\n".join(lines) + "\n"


def _csv(comp: Comparison) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([
        "dataset", "strategy", "task", "mean", "se", "n_seeds", "diff_vs_baseline", "diff_se", "outcome",
        "negative_transfer", "p_seeds", "avg", "avg_rank", "p_tasks", "wins", "ties", "losses", "baseline",
        "friedman_p", "cd", "alpha",
    ])
    spec = comp.result.spec
    for s in comp.strategies:
        w, t, l_ = comp.wtl(s)
        for c in comp.columns:
            o = comp.outcomes[(s, c)]
            writer.writerow([
                spec.dataset, s, spec.columns[c], comp.mean[(s, c)], comp.se[(s, c)],
                comp.result.cell(s, c).n_seeds, o.diff, o.se, o.outcome, int(o.negative_transfer), o.pvalue,
                comp.average[s], comp.avg_rank[s], comp.pvalue[s], w, t, l_, comp.baseline,
                None if comp.friedman is None else comp.friedman.pvalue, comp.cd, comp.alpha,
            ])
    return buf.getvalue()


def _latex(comp: Comparison) -> str:
    d = comp.result.spec.digits
    esc = lambda s: str(s).replace("→", r"$\to$").replace("_", r"\_").replace("±", r"$\pm$").replace("—", "--")  # noqa: E731
    cols = list(comp.columns)
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\begin{tabular}{l" + "c" * (len(cols) + 4) + "}",
        r"\toprule",
        "Method & " + " & ".join(esc(c) for c in cols) + r" & avg & rank & $p$ & W/T/L \\",
        r"\midrule",
    ]
    for s in comp.strategies:
        cells = []
        for c in cols:
            text = _num(comp.mean[(s, c)], d) + (f" ± {comp.se[(s, c)]:.{d}f}" if comp.se[(s, c)] is not None else "")
            cells.append(esc(text) + (r"$^\downarrow$" if comp.outcomes[(s, c)].negative_transfer else ""))
        wtl = "--" if s == comp.baseline else "/".join(map(str, comp.wtl(s)))
        cells += [_num(comp.average[s], d), f"{comp.avg_rank[s]:.2f}", esc(_p(comp.pvalue[s])), wtl]
        lines.append(esc(s) + " & " + " & ".join(cells) + r" \\")
    caption = " ".join(_friedman_text(comp)) + " " + _rules(comp).replace(NEG_MARK, "$\\downarrow$")
    lines += [r"\bottomrule", r"\end{tabular}", r"\caption{" + esc(caption.replace("`", "")) + "}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def _json(comp: Comparison) -> str:
    spec = comp.result.spec
    payload = {
        "dataset": spec.dataset,
        "metric": spec.metric,
        "higher_is_better": comp.higher_is_better,
        "scale": spec.scale,
        "overrides": list(spec.overrides),
        "seeds": list(comp.result.seeds),
        "baseline": comp.baseline,
        "selection": comp.selection,
        "strategies": [
            {
                "strategy": s,
                "avg": comp.average[s],
                "avg_rank": comp.avg_rank[s],
                "p_tasks": comp.pvalue[s],
                "win_tie_loss": list(comp.wtl(s)),
                "tasks": {
                    spec.columns[c]: {
                        "mean": comp.mean[(s, c)], "se": comp.se[(s, c)], "values": list(comp.result.cell(s, c).values),
                        "diff": comp.outcomes[(s, c)].diff, "diff_se": comp.outcomes[(s, c)].se,
                        "outcome": comp.outcomes[(s, c)].outcome,
                        "negative_transfer": comp.outcomes[(s, c)].negative_transfer,
                        "p_seeds": comp.outcomes[(s, c)].pvalue,
                    }
                    for c in comp.columns
                },
            }
            for s in comp.strategies
        ],
        "friedman": None if comp.friedman is None else vars(comp.friedman),
        "alpha": comp.alpha,
        "cd": comp.cd,
        "groups": [list(g) for g in comp.groups],
        "noise_rule": {"z": comp.z, "min_delta": comp.min_delta},
    }
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"


_RENDERERS = {"md": _markdown, "csv": _csv, "latex": _latex, "json": _json}


def render_comparison(comp: Comparison, fmt: str = "md") -> str:
    """Render a :class:`Comparison` as Markdown, CSV, LaTeX or JSON."""
    if fmt not in _RENDERERS:
        raise unknown_name_error("format", fmt, _RENDERERS)
    return _RENDERERS[fmt](comp)


def write_cd_figure(comp: Comparison, path: str | Path) -> Path:
    """Draw the comparison's critical-difference diagram into ``path``."""
    from .cd_diagram import cd_diagram

    spec = comp.result.spec
    title = (f"{spec.dataset}: {len(comp.columns)} tasks, {len(comp.result.seeds)} seeds — Friedman p = "
             f"{_p(comp.friedman.pvalue) if comp.friedman else '—'}")
    return cd_diagram(list(comp.strategies), [comp.avg_rank[s] for s in comp.strategies], comp.cd, path,
                      alpha=comp.alpha, title=title).path
