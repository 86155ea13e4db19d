"""Benchmark tables: a spec (rows = strategies, columns = tasks, seeds, protocol) from ``benchmarks/``
plus the published numbers from ``papers/``; :func:`run_table` runs the missing cells through the
runner (resumably: every cell is a stored record) and aggregates mean ± standard error over seeds.
"""

from __future__ import annotations

import copy
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .._errors import ConfigError, unknown_name_error
from ..runner import compose_config, record_key, run_experiment
from .stats import mean_se
from ..store import ResultStore

__all__ = ["BENCH_DIR", "PAPERS_DIR", "CurveSpec", "TableSpec", "Cell", "TableResult", "list_tables", "load_suite", "load_table", "run_selection_tables", "run_table", "run_tables"]

_REPO_ROOT = Path(__file__).resolve().parents[2]
BENCH_DIR = Path(os.environ.get("TLTAX_BENCH_DIR", _REPO_ROOT / "benchmarks"))
PAPERS_DIR = Path(os.environ.get("TLTAX_PAPERS_DIR", _REPO_ROOT / "papers"))


@dataclass(frozen=True)
class RowSpec:
    name: str
    overrides: tuple[str, ...]
    #: ``"final"`` (the run's metrics) or ``"init"``: the metrics of the run's initial solution,
    #: recorded as ``target/init_<metric>`` (DEC: k-means on the encoder's features before refinement),
    #: so one run gives both rows
    stage: str = "final"

    def metric(self, metric: str) -> str:
        """The record key this row reads for the table's ``metric``."""
        if self.stage == "final":
            return metric
        head, _, name = metric.rpartition("/")
        return f"{head}/init_{name}" if head else f"init_{name}"


@dataclass(frozen=True)
class CurveSpec:
    """A learning-curve axis: every task column is run at each value of one config key.

    The expanded columns are labelled ``"<column>/<value>"`` (e.g. ``"A/10"``)."""

    key: str  # a config path, e.g. "protocol.labels_per_class"
    values: tuple[int | float, ...]
    label: str  # the axis label of the figures, e.g. "labelled images per class"
    #: rows run only at some values (expensive rows); the others are shown as "—"
    row_values: dict[str, tuple] = field(default_factory=dict)
    #: the task columns before expansion (label -> task)
    base_columns: dict[str, str] = field(default_factory=dict)

    def runs(self, row: str, value) -> bool:
        allowed = self.row_values.get(row)
        return allowed is None or value in allowed


@dataclass(frozen=True)
class TableSpec:
    """A table to reproduce (``benchmarks/<id>.yaml``) with its published numbers."""

    id: str
    title: str
    protocol: str
    selection: str
    dataset: str
    metric: str
    scale: float
    digits: int
    seeds: tuple[int, ...]
    overrides: tuple[str, ...]
    columns: dict[str, str]  # column label (as in the paper) -> task name
    rows: tuple[RowSpec, ...]
    paper: dict[str, list[float | None]] = field(default_factory=dict)  # row -> values per column
    citation: str = ""
    #: published row averages (``published_avg`` in papers/), for papers that give no per-task numbers
    paper_avg: dict[str, float | None] = field(default_factory=dict)
    #: what we found out where ours and the paper's differ (shown under the table)
    notes: str = ""
    #: a learning-curve axis (``columns`` then holds the expanded ``"<task column>/<value>"`` labels)
    curve: CurveSpec | None = None
    #: column label -> ``(config key, value)`` set on the cells of that column (curve tables)
    column_overrides: dict[str, tuple[str, Any]] = field(default_factory=dict)
    #: Δp (Maninis et al. 2019) of each row against a baseline row over some columns: ``{"baseline":
    #: row, "columns": [labels], "lower_is_better": [labels]}`` (multi-task tables)
    delta_p: dict[str, Any] = field(default_factory=dict)
    #: column label -> Hydra overrides composed into every cell of that column after the row's (e.g.
    #: ``[dataset=amazon_domains]``: a table whose columns are different datasets)
    column_configs: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def column_target(self, column: str) -> tuple[str, str]:
        """``(task, metric)`` of a column: its value is ``"<task>"`` (the table's metric) or
        ``"<task>@<metric>"`` (another metric of the same runs, e.g. one task of a multi-task model)."""
        value = self.columns[column]
        task, sep, metric = value.partition("@")
        return task, (metric if sep else self.metric)


@dataclass(frozen=True)
class Cell:
    row: str
    column: str
    ours_mean: float | None
    ours_se: float | None
    n_seeds: int
    paper: float | None
    #: per-seed values, in the order of the table's seeds
    values: tuple[float, ...] = ()
    #: mean seconds of the strategy's ``fit`` over the seeds (from the records)
    fit_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "column": self.column,
            "ours_mean": self.ours_mean,
            "ours_se": self.ours_se,
            "n_seeds": self.n_seeds,
            "paper": self.paper,
            "values": list(self.values),
            "fit_s": self.fit_s,
        }


@dataclass(frozen=True)
class TableResult:
    spec: TableSpec
    cells: tuple[Cell, ...]
    n_computed: int
    n_reused: int
    seeds: tuple[int, ...] = ()
    #: seconds the table's distinct runs took when they were computed (their records' ``total_s``,
    #: summed; one process), whether computed now or reused from the store
    compute_s: float = 0.0
    #: per task column, the divergence between its domains (``tltax bench --divergence``; see
    #: :mod:`tltaxonomy.harness.divergence`): ``{"proxy_a_distance", "mmd2", ...}`` or ``{"reason"}``
    divergence: dict = field(default_factory=dict)

    def cell(self, row: str, column: str) -> Cell:
        for c in self.cells:
            if c.row == row and c.column == column:
                return c
        raise KeyError((row, column))

    def row_average(self, row: str) -> tuple[float | None, float | None]:
        """Mean over the task columns of ours and of the paper (None if any is missing).

        Where the paper gives only an average (no per-task numbers), that average is returned for
        the paper when every column of the table was run."""
        cells = [c for c in self.cells if c.row == row]
        ours = [c.ours_mean for c in cells]
        paper = [c.paper for c in cells]
        mean = lambda v: None if any(x is None for x in v) or not v else float(np.mean(v))  # noqa: E731
        paper_mean = mean(paper)
        if paper_mean is None and all(x is None for x in paper) and len(cells) == len(self.spec.columns):
            paper_mean = self.spec.paper_avg.get(row)
        return mean(ours), paper_mean

    def delta_p(self, row: str) -> float | None:
        r"""Δp of ``row`` against the spec's ``delta_p.baseline`` row, in % (None without the spec key or
        a missing cell): :math:`\frac{1}{T}\sum_t \pm (M_{row,t} - M_{base,t}) / M_{base,t}` over
        ``delta_p.columns`` (minus where lower is better)."""
        from ..metrics import delta_p

        spec = self.spec.delta_p
        if not spec:
            return None
        columns = list(spec["columns"])
        try:
            ours = [self.cell(row, c).ours_mean for c in columns]
            base = [self.cell(spec["baseline"], c).ours_mean for c in columns]
        except KeyError:
            return None
        if any(v is None for v in ours + base):
            return None
        lower = [c in set(spec.get("lower_is_better", ())) for c in columns]
        return 100.0 * delta_p(ours, base, lower)

    def curve(self, row: str) -> list[tuple[Any, float, float | None, float | None]]:
        """The learning curve of ``row``: ``(value, mean, se, fit_s)`` per curve value it ran at.

        ``mean`` averages the task columns; ``se`` is the standard error over seeds of that task
        average (seeds paired across tasks); ``fit_s`` is the mean training time per run. Values at
        which the row did not run on every task column are left out.
        """
        curve = self.spec.curve
        if curve is None:
            raise ValueError(f"Table {self.spec.id!r} has no learning-curve axis (no `curve` in its spec).")
        points = []
        for value in curve.values:
            cells = [
                c for c in self.cells
                if c.row == row and self.spec.column_overrides.get(c.column, (None, None))[1] == value
            ]
            if not cells or any(c.ours_mean is None for c in cells):
                continue
            n = min(len(c.values) for c in cells)
            per_seed = np.mean([c.values[:n] for c in cells], axis=0) if n else np.array([])
            times = [c.fit_s for c in cells if c.fit_s is not None]
            points.append((
                value,
                float(np.mean([c.ours_mean for c in cells])),
                _se(list(per_seed)),
                float(np.mean(times)) if times else None,
            ))
        return points


def list_tables() -> list[str]:
    """Ids of the table specs in ``benchmarks/``."""
    return sorted(p.stem for p in BENCH_DIR.glob("*.yaml"))


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping at the top level.")
    return data


def load_suite(table_id: str) -> tuple[str, ...] | None:
    """The table ids of a suite (``benchmarks/<id>.yaml`` holding ``suite: [ids]``), or ``None`` if
    ``table_id`` is a single table."""
    path = BENCH_DIR / f"{table_id}.yaml"
    if not path.is_file():
        raise unknown_name_error("table", table_id, list_tables())
    spec = _read_yaml(path)
    if "suite" not in spec:
        return None
    members = spec["suite"]
    if not isinstance(members, list) or not members:
        raise ConfigError(f"{path}: `suite` must be a non-empty list of table ids.")
    for member in members:
        if load_suite(str(member)) is not None:
            raise ConfigError(f"{path}: suite member {member!r} is itself a suite; list its tables instead.")
    return tuple(str(m) for m in members)


def load_table(table_id: str) -> TableSpec:
    """Load ``benchmarks/<table_id>.yaml`` and the published numbers it points to."""
    path = BENCH_DIR / f"{table_id}.yaml"
    if not path.is_file():
        raise unknown_name_error("table", table_id, list_tables())
    spec = _read_yaml(path)
    if "suite" in spec:
        raise ConfigError(
            f"{table_id!r} is a suite of tables ({', '.join(map(str, spec['suite']))}), not one table; "
            f"run it with `tltax bench {table_id}` or load its members."
        )
    try:
        columns = {str(k): str(v) for k, v in dict(spec["columns"]).items()}
        rows = tuple(
            RowSpec(str(r["name"]), tuple(r.get("overrides", ())), str(r.get("stage", "final"))) for r in spec["rows"]
        )
        bad = [r.name for r in rows if r.stage not in ("final", "init")]
        if bad:
            raise ConfigError(f"{path}: rows {bad} have an unknown stage; use 'final' (default) or 'init'.")
        paper_key = spec.get("paper")
        dataset = spec["dataset"]
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ConfigError(f"{path}: missing or malformed field {exc}; see benchmarks/README.md.") from None
    if "curve" in spec:
        if paper_key is not None:
            raise ConfigError(f"{path}: a learning-curve table (`curve`) has no published columns; set paper: null.")
        curve, columns, column_overrides = _expand_curve(path, spec["curve"], columns, rows)
        return _spec(table_id, spec, dataset, columns, rows, {r.name: [None] * len(columns) for r in rows}, "",
                     curve=curve, column_overrides=column_overrides)
    if paper_key is None:  # a table of our own (no published numbers to compare with)
        return _spec(table_id, spec, dataset, columns, rows, {r.name: [None] * len(columns) for r in rows}, "")
    paper_table = spec.get("paper_table")
    paper_path = PAPERS_DIR / f"{paper_key}.yaml"
    if not paper_path.is_file():
        raise ConfigError(f"{path}: paper {paper_key!r} not found at {paper_path}.")
    paper = _read_yaml(paper_path)
    published = paper.get("tables", {}).get(paper_table)
    if published is None:
        raise ConfigError(f"{paper_path} has no table {paper_table!r} (referenced by {path}).")
    pub_cols = list(published["columns"])
    paper_rows: dict[str, list[float | None]] = {}
    for row in rows:
        values = published["rows"].get(row.name)
        paper_rows[row.name] = (
            [values[pub_cols.index(c)] if c in pub_cols else None for c in columns] if values else [None] * len(columns)
        )
    unknown_cols = [c for c in columns if c not in pub_cols]
    if unknown_cols:
        raise ConfigError(f"{path}: columns {unknown_cols} are not in {paper_path} table {paper_table} ({pub_cols}).")
    averages = published.get("published_avg") or {}
    paper_avg = {r.name: (float(averages[r.name]) if averages.get(r.name) is not None else None) for r in rows}
    return _spec(
        table_id, spec, dataset, columns, rows, paper_rows, " ".join(str(paper.get("citation", "")).split()), paper_avg
    )


def _expand_curve(path: Path, curve: Any, columns: dict[str, str], rows) -> tuple[CurveSpec, dict, dict]:
    """The curve axis of a spec and the expanded ``"<column>/<value>"`` columns."""
    try:
        key, values = str(curve["key"]), tuple(curve["values"])
        label = str(curve.get("label", key))
        row_values = {str(k): tuple(v) for k, v in dict(curve.get("rows") or {}).items()}
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ConfigError(
            f"{path}: `curve` must be a mapping with key (a config path), values (a list) and optional label and "
            f"rows (row name -> the values it runs at); problem: {exc}."
        ) from None
    if not values or len(set(values)) != len(values):
        raise ConfigError(f"{path}: curve.values must be a non-empty list of distinct values, got {list(values)}.")
    names = [r.name for r in rows]
    for row, allowed in row_values.items():
        if row not in names:
            raise unknown_name_error("row", row, names)
        if not set(allowed) <= set(values):
            raise ConfigError(f"{path}: curve.rows.{row} = {list(allowed)} has values not in curve.values {list(values)}.")
    expanded, overrides = {}, {}
    for column, task in columns.items():
        for value in values:
            label_v = f"{column}/{value}"
            expanded[label_v] = task
            overrides[label_v] = (key, value)
    return CurveSpec(key, values, label, row_values, dict(columns)), expanded, overrides


def _check_delta_p(table_id: str, value: Any, columns: dict[str, str], rows) -> dict[str, Any]:
    if not value:
        return {}
    try:
        out = {"baseline": str(value["baseline"]), "columns": [str(c) for c in value["columns"]],
               "lower_is_better": [str(c) for c in value.get("lower_is_better", ())]}
    except (KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(
            f"Table {table_id!r}: `delta_p` must be a mapping with baseline (a row) and columns (column labels); "
            f"problem: {exc}."
        ) from None
    names = [r.name for r in rows]
    if out["baseline"] not in names:
        raise unknown_name_error("row", out["baseline"], names)
    for c in out["columns"] + out["lower_is_better"]:
        if c not in columns:
            raise unknown_name_error("column", c, columns)
    return out


def _spec(table_id, spec, dataset, columns, rows, paper_rows, citation, paper_avg=None, curve=None,
          column_overrides=None) -> TableSpec:
    return TableSpec(
        id=table_id,
        title=spec.get("title", table_id),
        protocol=" ".join(str(spec.get("protocol", "")).split()),
        selection=spec.get("selection", "none"),
        dataset=dataset,
        metric=spec.get("metric", "target/acc"),
        scale=float(spec.get("scale", 100.0)),
        digits=int(spec.get("digits", 1)),
        seeds=tuple(int(s) for s in spec.get("seeds", [0])),
        overrides=tuple(spec.get("overrides", ())),
        columns=columns,
        rows=rows,
        paper=paper_rows,
        citation=citation,
        paper_avg=paper_avg or {},
        notes=" ".join(str(spec.get("notes", "")).split()),
        curve=curve,
        column_overrides=column_overrides or {},
        delta_p=_check_delta_p(table_id, spec.get("delta_p"), columns, rows),
        column_configs=_check_column_configs(table_id, spec.get("column_configs"), columns),
    )


def _check_column_configs(table_id, raw, columns) -> dict[str, tuple[str, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(isinstance(v, (list, tuple)) for v in raw.values()):
        raise ConfigError(f"Table {table_id!r}: column_configs must map column labels to lists of Hydra overrides.")
    for label in raw:
        if label not in columns:
            raise unknown_name_error("column", label, columns)
    return {str(k): tuple(str(o) for o in v) for k, v in raw.items()}


def _se(values: list[float]) -> float | None:
    """Standard error over seeds (``None`` for one seed): :func:`tltaxonomy.harness.stats.mean_se`."""
    return mean_se(values)[1]


def run_table(
    table_id: str,
    *,
    seeds: tuple[int, ...] | None = None,
    store: ResultStore | None = None,
    force: bool = False,
    extra_overrides: tuple[str, ...] = (),
    rows: tuple[str, ...] | None = None,
    columns: tuple[str, ...] | None = None,
    progress: bool = True,
    n_jobs: int = 1,
) -> TableResult:
    """Reproduce a table: run (or reuse) every cell and aggregate over seeds.

    Parameters
    ----------
    table_id : str
        A spec in ``benchmarks/`` (see :func:`list_tables`).
    seeds : tuple of int, optional
        Override the spec's seeds.
    rows, columns : tuple of str, optional
        Restrict to these row names / column labels (for smoke runs).
    n_jobs : int, default=1
        Cells run in this many worker processes (joblib); ``-1`` = one per core. Every cell is
        seeded by its own config, so the numbers do not depend on ``n_jobs``.
    """
    return run_tables(
        (table_id,), seeds=seeds, store=store, force=force, extra_overrides=extra_overrides, rows=rows,
        columns=columns, progress=progress, n_jobs=n_jobs,
    )[0]


def run_tables(
    table_ids: tuple[str | TableSpec, ...] | list[str | TableSpec],
    *,
    seeds: tuple[int, ...] | None = None,
    store: ResultStore | None = None,
    force: bool = False,
    extra_overrides: tuple[str, ...] = (),
    rows: tuple[str, ...] | None = None,
    columns: tuple[str, ...] | None = None,
    progress: bool = True,
    n_jobs: int = 1,
    divergence: bool = False,
) -> list[TableResult]:
    """:func:`run_table` for several tables (a suite), with the cells of all of them in one pool of
    ``n_jobs`` workers (no idle worker at the end of each table). Parameters as :func:`run_table`; a
    table is a spec id in ``benchmarks/`` or a :class:`TableSpec` built in code (``tltax compare``)."""
    store = ResultStore() if store is None else store
    plans = [_plan(table_id, seeds, rows, columns, extra_overrides) for table_id in table_ids]
    jobs = [(plan, job) for plan in plans for job in plan[3]]
    results = _run_cells([job for _, job in jobs], store, force, n_jobs)
    jobs_of = {plan[0].id: plan[3] for plan in plans}
    values: dict[tuple[str, str, str], list[float]] = {}
    fit_times: dict[tuple[str, str, str], list[float]] = {}
    counts: dict[str, list[int]] = {plan[0].id: [0, 0] for plan in plans}
    run_seconds: dict[str, dict[str, float]] = {plan[0].id: {} for plan in plans}
    for done, (((spec, _, _, _, _), (row_name, column, seed, _)), (metrics, reused, total_s, fit_s)) in enumerate(
        zip(jobs, results), start=1
    ):
        counts[spec.id][0 if reused else 1] += 1
        run_seconds[spec.id][record_key(jobs[done - 1][1][3])] = total_s
        metric = next(r for r in spec.rows if r.name == row_name).metric(spec.column_target(column)[1])
        if metric not in metrics:
            raise ConfigError(f"Row {row_name!r} produced no metric {metric!r} (got {sorted(metrics)}).")
        value = float(metrics[metric]) * spec.scale
        values.setdefault((spec.id, row_name, column), []).append(value)
        if fit_s is not None:
            fit_times.setdefault((spec.id, row_name, column), []).append(fit_s)
        if progress:
            how = "reused" if reused else f"{total_s:.1f}s"
            print(
                f"[{done}/{len(jobs)}] {spec.id} {row_name} {column} seed={seed}: {value:.{spec.digits}f} ({how})",
                file=sys.stderr,
                flush=True,
            )
    out = []
    for spec, row_specs, col_items, _, table_seeds in plans:
        cells = []
        for row in row_specs:
            for column, _ in col_items:
                paper_value = spec.paper[row.name][list(spec.columns).index(column)]
                vals = values.get((spec.id, row.name, column))
                if vals is None:  # a curve row that does not run at this value
                    cells.append(Cell(row.name, column, None, None, 0, paper_value))
                    continue
                times = fit_times.get((spec.id, row.name, column))
                cells.append(Cell(row.name, column, float(np.mean(vals)), _se(vals), len(vals), paper_value,
                                  tuple(vals), float(np.mean(times)) if times else None))
        n_reused, n_computed = counts[spec.id]
        div = {}
        if divergence:  # label-free, cached in the store: how far apart each task's domains are
            from .divergence import column_divergences

            div = column_divergences(jobs_of[spec.id], store=store)
        out.append(TableResult(spec=spec, cells=tuple(cells), n_computed=n_computed, n_reused=n_reused, seeds=table_seeds,
                               compute_s=float(sum(run_seconds[spec.id].values())), divergence=div))
    return out


_ABSENT = object()


def _plan(table_id, seeds, rows, columns, extra_overrides):
    """The spec, rows, columns, cell jobs ``(row, column, seed, config)`` and seeds of one table."""
    spec = table_id if isinstance(table_id, TableSpec) else load_table(table_id)
    seeds = tuple(seeds) if seeds else spec.seeds
    row_specs = [r for r in spec.rows if rows is None or r.name in rows]
    col_items = [(c, t) for c, t in spec.columns.items() if columns is None or c in columns]
    if rows is not None and len(row_specs) != len(rows):
        missing = [r for r in rows if r not in {s.name for s in spec.rows}][0]
        raise unknown_name_error("row", missing, [r.name for r in spec.rows])
    if columns is not None and len(col_items) != len(columns):
        missing = [c for c in columns if c not in spec.columns][0]
        raise unknown_name_error("column", missing, spec.columns)
    # Hydra composes each row once (composition costs ~0.2-0.5 s), unresolved; task and seed are set
    # per cell and only then are the interpolations (``random_state: ${seed}``) resolved, so each cell
    # is the config `tltax run task=... seed=...` composes.
    from omegaconf import OmegaConf

    jobs = []
    for row in row_specs:
        composed = {(): _compose_row(spec, row, extra_overrides, resolve=False)}
        for column, _ in col_items:
            col_cfg = spec.column_configs.get(column, ())
            if col_cfg not in composed:
                composed[col_cfg] = _compose_row(spec, row, (*col_cfg, *extra_overrides), resolve=False)
            base = composed[col_cfg]
            task = spec.column_target(column)[0]
            override = spec.column_overrides.get(column)
            if override is not None and spec.curve is not None and not spec.curve.runs(row.name, override[1]):
                continue
            for seed in seeds:
                cell = OmegaConf.create(copy.deepcopy(base))
                cell.task, cell.seed = task, int(seed)
                if override is not None:
                    if OmegaConf.select(cell, override[0], default=_ABSENT) is _ABSENT:
                        raise ConfigError(
                            f"Table {spec.id!r}: curve.key {override[0]!r} is not a key of row {row.name!r}'s config; "
                            "use a dotted path that `tltax run` accepts, e.g. protocol.labels_per_class."
                        )
                    OmegaConf.update(cell, override[0], override[1], merge=False)
                jobs.append((row.name, column, seed, OmegaConf.to_container(cell, resolve=True)))
    return spec, row_specs, col_items, jobs, tuple(int(s) for s in seeds)


def _compose_row(spec: TableSpec, row: RowSpec, extra_overrides: tuple[str, ...], *, resolve: bool = True) -> dict:
    from omegaconf import OmegaConf

    overrides = [*spec.overrides, f"dataset={spec.dataset}", *row.overrides, *extra_overrides]
    cfg = compose_config(overrides)
    if resolve:
        return OmegaConf.to_container(cfg, resolve=True)
    container = OmegaConf.to_container(cfg, resolve=False)
    container.pop("hydra", None)  # Hydra's own node resolves only in its runtime context
    return container


def _timings(record: dict) -> tuple[float, float | None]:
    timings = record.get("timings", {})
    fit_s = timings.get("fit_s")
    return float(timings.get("total_s", 0.0)), None if fit_s is None else float(fit_s)


def _run_cell(cfg: dict, store: ResultStore | str, force: bool) -> tuple[dict, bool, float, float | None]:
    store = ResultStore(store) if isinstance(store, str) else store
    result = run_experiment(cfg, store=store, force=force)
    return dict(result.metrics), bool(result.reused), *_timings(result.record)


def _run_cells(jobs, store: ResultStore, force: bool, n_jobs: int):
    """Run (or reuse) every cell; yields ``(metrics, reused, seconds)`` in the order of ``jobs``."""
    if n_jobs == 1:
        for _, _, _, cfg in jobs:
            yield _run_cell(cfg, store, force)
        return
    from joblib import Parallel, delayed

    # Stored cells are read here; only the missing ones go to the worker processes.
    keys = [record_key(cfg) for _, _, _, cfg in jobs]
    stored = [None if force else store.get(key) for key in keys]
    # one run per distinct config (columns reading several metrics of the same runs share them)
    todo = {key: cfg for key, (_, _, _, cfg), record in zip(keys, jobs, stored) if record is None}
    computed = iter(())
    if todo:
        computed = iter(Parallel(n_jobs=n_jobs, return_as="generator")(
            delayed(_run_cell)(cfg, str(store.root), force) for cfg in todo.values()))
    done: dict[str, tuple] = {}
    for key, record in zip(keys, stored):
        if record is not None:
            yield dict(record["metrics"]), True, *_timings(record)
        elif key in done:
            yield done[key][0], True, *done[key][2:]
        else:
            done[key] = next(computed)
            yield done[key]


def run_selection_tables(
    table_ids: tuple[str | TableSpec, ...] | list[str | TableSpec],
    protocols: str | tuple[str, ...] = "all",
    n_hparams: int = 8,
    *,
    seeds: tuple[int, ...] | None = None,
    store: ResultStore | None = None,
    force: bool = False,
    extra_overrides: tuple[str, ...] = (),
    rows: tuple[str, ...] | None = None,
    columns: tuple[str, ...] | None = None,
    progress: bool = True,
    n_jobs: int = 1,
) -> list[TableResult]:
    """Tables under selection protocols: every cell runs at ``hparams_seed`` 0 .. ``n_hparams``-1 with
    ``selection=scores`` (resumably, through the store), then :func:`tltaxonomy.selection.select_records`
    picks one run per cell and seed under each protocol — all protocols from the same runs.

    Returns one :class:`TableResult` per table and protocol (tables outer, protocols in the given
    order); its title and ``selection`` name the protocol, and the oracle's say it is not a valid result.
    Other parameters as :func:`run_table`.
    """
    from dataclasses import replace

    from ..selection import parse_protocols, select_records

    protos = parse_protocols(protocols)
    if isinstance(n_hparams, bool) or not isinstance(n_hparams, int) or n_hparams < 1:
        raise ConfigError(f"n_hparams={n_hparams!r} must be a positive integer (the hparams seeds 0..n_hparams-1 run).")
    store = ResultStore() if store is None else store
    plans = [_plan(t, seeds, rows, columns, (*extra_overrides, "selection=scores")) for t in table_ids]
    jobs = []
    for spec, _, _, cell_jobs, _ in plans:
        if spec.curve is not None:
            raise ConfigError(f"Table {spec.id!r} is a learning curve; selection tables take task columns only.")
        for row, column, seed, cfg in cell_jobs:
            for h in range(n_hparams):
                jobs.append((spec, row, column, seed, h, {**copy.deepcopy(cfg), "hparams_seed": h}))
    results = _run_cells([(row, column, seed, cfg) for _, row, column, seed, _, cfg in jobs], store, force, n_jobs)
    runs: dict[tuple, list[dict]] = {}
    counts: dict[str, list[int]] = {plan[0].id: [0, 0] for plan in plans}
    seconds: dict[str, float] = {plan[0].id: 0.0 for plan in plans}
    for done, ((spec, row, column, seed, h, cfg), (metrics, reused, total_s, fit_s)) in enumerate(zip(jobs, results), 1):
        counts[spec.id][0 if reused else 1] += 1
        seconds[spec.id] += total_s
        runs.setdefault((spec.id, row, column, seed), []).append({"config": cfg, "metrics": metrics, "fit_s": fit_s})
        if progress:
            how = "reused" if reused else f"{total_s:.1f}s"
            metric = next(r for r in spec.rows if r.name == row).metric(spec.column_target(column)[1])
            print(f"[{done}/{len(jobs)}] {spec.id} {row} {column} seed={seed} hparams_seed={h}: "
                  f"{float(metrics.get(metric, float('nan'))) * spec.scale:.{spec.digits}f} ({how})",
                  file=sys.stderr, flush=True)
    out = []
    for spec, row_specs, col_items, _, table_seeds in plans:
        for proto in protos:
            cells, chosen_seeds = [], []
            for row in row_specs:
                picks = []
                for column, _ in col_items:
                    metric = row.metric(spec.column_target(column)[1])
                    vals, times = [], []
                    for seed in table_seeds:
                        (pick,) = select_records(runs[(spec.id, row.name, column, seed)], proto, metric=metric)
                        vals.append(pick.target_acc * spec.scale)
                        picks.append(str(pick.hparams_seed))
                        if pick.record.get("fit_s") is not None:
                            times.append(pick.record["fit_s"])
                    paper_value = spec.paper[row.name][list(spec.columns).index(column)]
                    cells.append(Cell(row.name, column, float(np.mean(vals)), _se(vals), len(vals), paper_value,
                                      tuple(vals), float(np.mean(times)) if times else None))
                chosen_seeds.append(f"{row.name}: {' '.join(picks)}")
            how = ("chosen with the TARGET TEST LABELS — an upper bound, not a valid result" if proto.uses_target_labels
                   else "no target label used")
            which = "the run at hparams_seed=0" if proto.metric is None else "the best under it"
            selection = (
                f"{proto.label}: {which} of {n_hparams} hyper-parameter draws per cell and seed (hparams_seed "
                f"0..{n_hparams - 1} of tltaxonomy/hparams.py; 0 = the defaults), every run fitted with a seeded, "
                f"stratified share (protocol.source_val_fraction) of the source rows held out (selection=scores); {how}"
            )
            notes = "Chosen hparams_seed per row (columns in order): " + "; ".join(chosen_seeds) + "."
            sel_spec = replace(spec, title=f"{spec.title} — {proto.title}", selection=selection, notes=notes)
            n_reused, n_computed = counts[spec.id]
            out.append(TableResult(spec=sel_spec, cells=tuple(cells), n_computed=n_computed, n_reused=n_reused,
                                   seeds=table_seeds, compute_s=seconds[spec.id]))
    return out
