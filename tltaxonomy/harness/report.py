"""``tltax report``: every record of a result store, aggregated into tables.

One table per ``(dataset, selection protocol)``; rows are strategies, told apart by the config values
in which their records differ (e.g. ``coral [protocol.source_per_class=20]`` beside ``coral``);
columns are the dataset's tasks; a cell is the mean ± standard error over the seeds stored for it
(:func:`tltaxonomy.harness.stats.mean_se`). Records without the metric (e.g. a clustering record in
an accuracy report) are counted, not tabulated.

What makes a row: the resolved config of a record less ``task``, ``seed``, ``dataset.name`` and the
*seed-bound* keys (a key whose value equals the record's seed in every record of that strategy, e.g.
``strategy.random_state: ${seed}``). Records with the same remaining config are one row. A row is
named by the ``conf/strategy`` file its strategy config was composed from (``coral_linear``), when
``strategy_configs`` are given and one matches, else by the registered strategy name; the config
values that differ between rows of the same name follow it in brackets
(``source_only [protocol.source_per_class=20]``).

Markdown, CSV and LaTeX give the aggregated tables; Parquet gives the tidy long table (one row per
record: its identity, its seed and every metric as a column), for pandas / polars / DuckDB.
The output is deterministic (sorted, no dates or paths), which the golden test relies on.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._errors import ConfigError, unknown_name_error
from . import stats

__all__ = [
    "REPORT_FORMATS", "ReportRow", "ReportTable", "aggregate", "render_report", "report", "strategy_configs",
    "tidy_records", "write_parquet",
]

REPORT_FORMATS = ("md", "csv", "latex", "parquet")
_SUFFIX = {"md": "md", "csv": "csv", "latex": "tex", "parquet": "parquet"}


@dataclass(frozen=True)
class ReportRow:
    """One strategy variant of a report table."""

    strategy: str
    #: ``key=value`` of the config values that tell this row from the other rows of the same strategy
    variant: tuple[str, ...]
    #: task -> the per-seed values, sorted by seed, as ``(seed, value)``
    values: dict[str, tuple[tuple[int, float], ...]]

    @property
    def label(self) -> str:
        return self.strategy + (f" [{', '.join(self.variant)}]" if self.variant else "")

    def cell(self, task: str) -> tuple[float | None, float | None, int]:
        """Mean, standard error (None for one seed) and number of seeds of ``task`` (None, None, 0 if absent)."""
        vals = self.values.get(task)
        if not vals:
            return None, None, 0
        mean, se = stats.mean_se([v for _, v in vals])
        return mean, se, len(vals)


@dataclass(frozen=True)
class ReportTable:
    dataset: str
    selection: str
    metric: str
    scale: float
    tasks: tuple[str, ...]
    rows: tuple[ReportRow, ...]
    n_records: int
    #: ``key=value`` of the config values outside ``strategy`` that every record of the table shares
    common: tuple[str, ...] = ()


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out if out or not prefix else {prefix[:-1]: "{}"}
    return {prefix[:-1]: json.dumps(node, sort_keys=True) if isinstance(node, list) else node}


def _identity(record: dict, seed_bound: dict[str, set[str]]) -> dict[str, Any]:
    flat = _flatten(record.get("config", {}))
    for key in ("task", "seed", "dataset.name", *seed_bound.get(str(record.get("strategy")), ())):
        flat.pop(key, None)
    return flat


def _seed_bound_keys(records: list[dict]) -> dict[str, set[str]]:
    """Per strategy name, the config keys whose value is the record's seed in every record of it."""
    bound: dict[str, dict[str, bool]] = {}
    for record in records:
        mine = bound.setdefault(str(record.get("strategy")), {})
        for key, value in _flatten(record.get("config", {})).items():
            if key == "seed":
                continue
            same = isinstance(value, int) and not isinstance(value, bool) and value == record.get("seed")
            mine[key] = mine.get(key, True) and same
    return {name: {k for k, v in keys.items() if v} for name, keys in bound.items()}


def strategy_configs(conf_dir: str | os.PathLike | None = None) -> dict[str, dict]:
    """The ``conf/strategy/*.yaml`` files as ``{name: mapping}`` (to name the rows of a report)."""
    import yaml

    from ..runner import CONF_DIR

    out = {}
    for path in sorted(Path(conf_dir or CONF_DIR / "strategy").glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(data, dict):
            out[path.stem] = data
    return out


def _matches(conf: Any, value: Any) -> bool:
    if isinstance(conf, str) and conf.startswith("${"):
        return True  # an interpolation (``${seed}``): resolved per run
    if isinstance(conf, dict) and isinstance(value, dict):
        return conf.keys() == value.keys() and all(_matches(conf[k], value[k]) for k in conf)
    if isinstance(conf, list) and isinstance(value, list):
        return len(conf) == len(value) and all(_matches(a, b) for a, b in zip(conf, value))
    return conf == value and type(conf) is type(value) or (
        isinstance(conf, (int, float)) and isinstance(value, (int, float)) and not isinstance(conf, bool)
        and not isinstance(value, bool) and float(conf) == float(value)
    )


def _row_name(record: dict, configs: dict[str, dict] | None) -> str:
    strategy = (record.get("config") or {}).get("strategy")
    for name, conf in (configs or {}).items():
        if _matches(conf, strategy):
            return name
    return str(record.get("strategy"))


def _show(value: Any) -> str:
    if isinstance(value, str) and value.startswith("tltaxonomy."):
        return value.rsplit(".", 1)[-1]
    return "null" if value is None else str(value)


def _task_order(dataset: str, tasks: Iterable[str]) -> tuple[str, ...]:
    tasks = set(tasks)
    try:
        from ..datasets import get_dataset

        known = [t for t in get_dataset(dataset).tasks if t in tasks]
    except Exception:  # a dataset registered by a user session that is not registered here
        known = []
    return tuple(known + sorted(tasks - set(known)))


def _scale(metric: str) -> float:
    return 100.0 if metric.rsplit("/", 1)[-1].endswith("acc") else 1.0


def aggregate(
    records: Iterable[dict], *, metric: str = "target/acc", configs: dict[str, dict] | None = None
) -> tuple[list[ReportTable], int]:
    """Group the records into tables; returns the tables and the number of records without ``metric``.

    ``configs`` (:func:`strategy_configs`) name the rows by the strategy config files they match.
    """
    records = list(records)
    with_metric = [r for r in records if metric in r.get("metrics", {})]
    skipped = len(records) - len(with_metric)
    seed_bound = _seed_bound_keys(with_metric)
    groups: dict[tuple[str, str], list[dict]] = {}
    for record in with_metric:
        groups.setdefault((str(record.get("dataset")), str(record.get("selection"))), []).append(record)
    scale = _scale(metric)
    tables = []
    for (dataset, selection), recs in sorted(groups.items()):
        by_row: dict[tuple[str, str], list[dict]] = {}
        idents: dict[tuple[str, str], dict] = {}
        for record in recs:
            ident = _identity(record, seed_bound)
            key = (_row_name(record, configs), json.dumps(ident, sort_keys=True, default=str))
            by_row.setdefault(key, []).append(record)
            idents[key] = ident
        rows = []
        for strategy in sorted({s for s, _ in by_row}):
            keys = [k for k in by_row if k[0] == strategy]
            all_keys = sorted(set().union(*(idents[k] for k in keys)))
            differing = [
                c for c in all_keys if len({json.dumps(idents[k].get(c, "<absent>"), default=str) for k in keys}) > 1
            ]
            for key in keys:
                variant = tuple(f"{c}={_show(idents[key][c])}" for c in differing if c in idents[key])
                values: dict[str, list[tuple[int, float]]] = {}
                for record in by_row[key]:
                    values.setdefault(str(record["task"]), []).append(
                        (int(record["seed"]), float(record["metrics"][metric]) * scale)
                    )
                rows.append(ReportRow(strategy, variant, {t: tuple(sorted(v)) for t, v in values.items()}))
        rows.sort(key=lambda r: r.label)
        tasks = _task_order(dataset, {t for r in rows for t in r.values})
        shared = [dict(i) for i in idents.values()]
        common = tuple(
            f"{c}={_show(shared[0][c])}" for c in sorted(shared[0])
            if not c.startswith("strategy.") and all(c in i and i[c] == shared[0][c] for i in shared)
        )
        tables.append(ReportTable(dataset, selection, metric, scale, tasks, tuple(rows), len(recs), common))
    return tables, skipped


def _cell_text(row: ReportRow, task: str, digits: int) -> str:
    mean, se, _ = row.cell(task)
    if mean is None:
        return "—"
    return f"{round(mean, digits) + 0.0:.{digits}f}" + (f" ± {se:.{digits}f}" if se is not None else "")


def _seeds_text(row: ReportRow) -> str:
    counts = sorted({len(v) for v in row.values.values()})
    return str(counts[0]) if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"


def _markdown(tables: list[ReportTable], skipped: int, digits: int) -> str:
    lines = []
    for t in tables:
        scale = f" (×{t.scale:g})" if t.scale != 1 else ""
        lines += [
            f"### {t.dataset} — selection: {t.selection}",
            "",
            f"{t.metric}{scale}, mean ± standard error over the stored seeds ({t.n_records} records)."
            + (f" Every row: {', '.join(t.common)}." if t.common else ""),
            "",
            "| strategy | " + " | ".join(t.tasks) + " | seeds |",
            "|---|" + "---:|" * (len(t.tasks) + 1),
        ]
        for row in t.rows:
            lines.append(f"| {row.label} | " + " | ".join(_cell_text(row, task, digits) for task in t.tasks)
                         + f" | {_seeds_text(row)} |")
        lines.append("")
    if skipped:
        lines += [f"({skipped} record(s) without {tables[0].metric if tables else 'the metric'} not shown)", ""]
    if not tables:
        lines = ["(no records with the metric in the store)", ""] + lines
    return "\n".join(lines)


def _csv(tables: list[ReportTable], digits: int) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["dataset", "selection", "metric", "strategy", "variant", "task", "mean", "se", "n_seeds", "seeds"])
    for t in tables:
        for row in t.rows:
            for task in t.tasks:
                mean, se, n = row.cell(task)
                if mean is None:
                    continue
                writer.writerow([
                    t.dataset, t.selection, t.metric, row.strategy, "; ".join(row.variant), task,
                    f"{mean:.6f}", "" if se is None else f"{se:.6f}", n, " ".join(str(s) for s, _ in row.values[task]),
                ])
    return buf.getvalue()


def _latex(tables: list[ReportTable], digits: int) -> str:
    esc = lambda s: str(s).replace("_", r"\_").replace("±", r"$\pm$").replace("—", "--").replace("→", r"$\to$")  # noqa: E731
    lines = []
    for t in tables:
        lines += [
            r"\begin{table}[t]",
            r"\centering",
            r"\begin{tabular}{l" + "c" * len(t.tasks) + "}",
            r"\toprule",
            "Method & " + " & ".join(esc(x) for x in t.tasks) + r" \\",
            r"\midrule",
            *(esc(row.label) + " & " + " & ".join(esc(_cell_text(row, x, digits)) for x in t.tasks) + r" \\" for row in t.rows),
            r"\bottomrule",
            r"\end{tabular}",
            r"\caption{" + esc(f"{t.dataset}, selection: {t.selection}; {t.metric}, mean ± s.e. over seeds.") + "}",
            r"\end{table}",
            "",
        ]
    return "\n".join(lines)


def render_report(
    records: Iterable[dict], fmt: str = "md", *, metric: str = "target/acc", digits: int = 1,
    configs: dict[str, dict] | None = None,
) -> str:
    """The report of ``records`` as Markdown, CSV or LaTeX text (Parquet: :func:`write_parquet`);
    ``configs`` as :func:`aggregate`."""
    if fmt not in ("md", "csv", "latex"):
        if fmt == "parquet":
            raise ConfigError("Parquet is a binary file: use write_parquet() or `tltax report --format parquet -o DIR`.")
        raise unknown_name_error("format", fmt, REPORT_FORMATS)
    tables, skipped = aggregate(records, metric=metric, configs=configs)
    if fmt == "md":
        return _markdown(tables, skipped, digits)
    return _csv(tables, digits) if fmt == "csv" else _latex(tables, digits)


def tidy_records(records: Iterable[dict]) -> list[dict[str, Any]]:
    """One flat dict per record: identity, seed, timings and every metric (``metric:<name>`` columns)."""
    records = list(records)
    seed_bound = _seed_bound_keys(records)
    metric_names = sorted({m for r in records for m, v in r.get("metrics", {}).items() if isinstance(v, (int, float))})
    out = []
    for r in sorted(records, key=lambda r: r.get("config_hash", "")):
        ident = _identity(r, seed_bound)
        row = {
            "config_hash": r.get("config_hash"),
            "dataset": r.get("dataset"),
            "task": r.get("task"),
            "strategy": r.get("strategy"),
            "setting": r.get("setting"),
            "family": r.get("family"),
            "selection": str(r.get("selection")),
            "seed": int(r["seed"]) if r.get("seed") is not None else None,
            "config": json.dumps(ident, sort_keys=True, default=str),
            "fit_s": (r.get("timings") or {}).get("fit_s"),
            "total_s": (r.get("timings") or {}).get("total_s"),
            "git_commit": r.get("git_commit"),
            "created": r.get("created"),
        }
        metrics = r.get("metrics", {})
        for name in metric_names:
            value = metrics.get(name)
            row[f"metric:{name}"] = float(value) if isinstance(value, (int, float)) else None
        out.append(row)
    return out


def write_parquet(records: Iterable[dict], path: str | os.PathLike) -> Path:
    """Write :func:`tidy_records` as a Parquet file (needs ``pyarrow``)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigError("Parquet output needs pyarrow: pip install pyarrow (or use --format md|csv|latex).") from None
    rows = tidy_records(records)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = list(rows[0]) if rows else ["config_hash"]
    table = pa.table({c: [r.get(c) for r in rows] for c in columns})
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return path


def report(
    store: str | os.PathLike | None = None, *, fmt: str = "md", output_dir: str | os.PathLike | None = None,
    metric: str = "target/acc",
) -> tuple[str | None, Path | None]:
    """Aggregate the records of ``store``; returns ``(text, None)`` or, with ``output_dir``,
    ``(None, path written)`` (``report.md`` / ``.csv`` / ``.tex`` / ``.parquet``)."""
    from ..store import ResultStore, atomic_write_text

    if fmt not in REPORT_FORMATS:
        raise unknown_name_error("format", fmt, REPORT_FORMATS)
    store = ResultStore(store)
    if not (store.root / "records").is_dir():
        raise ConfigError(f"No result store at {store.root} (no records/ folder); pass --store DIR or set TLTAX_STORE.")
    records = list(store)
    if fmt == "parquet":
        if output_dir is None:
            raise ConfigError("--format parquet writes a file: give an output directory with -o DIR.")
        return None, write_parquet(records, Path(output_dir) / "report.parquet")
    text = render_report(records, fmt, metric=metric, configs=strategy_configs())
    if output_dir is None:
        return text, None
    path = Path(output_dir) / f"report.{_SUFFIX[fmt]}"
    atomic_write_text(path, text)
    return None, path
