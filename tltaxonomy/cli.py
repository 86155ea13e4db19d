"""The ``tltax`` command line.

``tltax run ...``      one run or a Hydra multirun sweep (``-m``), e.g.
                       ``tltax run strategy=coral dataset=office_caltech_surf task=A_to_W seed=0``
``tltax bench TABLE``  reproduce a published table, ours beside the paper's (``--format md|csv|latex|json``);
                       ``--selection all --hparams 8``: one table per selection protocol (the oracle labelled)
``tltax advise ...``   domain diagnostics of a task and what to try (``dataset=... task=...``)
``tltax compare ...``  rank strategies on a dataset's tasks with paired tests, Friedman / Nemenyi and a
                       critical-difference diagram (``strategy=[coral,sa] dataset=... task=all seeds=3``)
``tltax report``       aggregate every record of the store into tables (``--format md|csv|latex|parquet``)
``tltax list WHAT``    strategies | datasets | tasks | tables | backbones | preprocessors
``tltax data ...``     ``fetch NAME`` (download into the data directory), ``verify [NAME]``, ``path``
"""

from __future__ import annotations

import argparse
import sys

from ._errors import ConfigError, TLTaxonomyError

__all__ = ["main"]


def _cmd_bench(args) -> int:
    import json
    import time

    from .harness import load_suite, render, run_tables
    from .store import ResultStore

    started = time.perf_counter()

    seeds = tuple(int(s) for s in args.seeds.split(",")) if args.seeds else None
    rows = tuple(args.rows.split(",")) if args.rows else None
    columns = tuple(args.columns.split(",")) if args.columns else None
    tables = load_suite(args.table) or (args.table,)
    store = ResultStore(args.store) if args.store else None
    if args.selection or args.hparams:  # one table per selection protocol, from the same hparams_seed runs
        from .harness.tables import run_selection_tables

        results = run_selection_tables(
            tables, args.selection or "all", 8 if args.hparams is None else args.hparams, seeds=seeds, store=store,
            force=args.force, rows=rows, columns=columns, progress=not args.quiet, n_jobs=args.jobs,
        )
    else:
        results = run_tables(
            tables,
            seeds=seeds,
            store=store,
            force=args.force,
            rows=rows,
            columns=columns,
            progress=not args.quiet,
            n_jobs=args.jobs,
            divergence=args.divergence,
        )
    texts = [render(result, args.format) for result in results]
    timing = None
    if len(results) > 1:  # a suite: what each table cost, and the whole command's wall time
        from .harness.formats import suite_timing

        timing = suite_timing(results, time.perf_counter() - started, args.jobs)
        print(timing, file=sys.stderr)
    if len(texts) == 1:
        text = texts[0]
    elif args.format == "json":  # a suite: one JSON list of the tables
        text = json.dumps([json.loads(t) for t in texts], indent=2, ensure_ascii=False) + "\n"
    else:
        text = "\n".join(texts + ([timing] if timing and args.format == "md" else []))
    if args.output:
        from pathlib import Path

        from .store import atomic_write_text

        atomic_write_text(Path(args.output), text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    curves = [result for result in results if result.spec.curve is not None]
    for result in curves:  # a learning-curve table always draws its two figures
        from pathlib import Path

        from .harness.figures import learning_curve_figures

        default = Path("outputs") / "figures" / f"{result.spec.id}.png"
        target = Path(args.figure) if args.figure and len(curves) == 1 else default
        for path in learning_curve_figures(result, target):
            print(f"wrote {path}", file=sys.stderr)
    if args.figure and not curves:
        from .harness.figures import decision_boundary_figure

        if len(tables) != 1:
            raise ConfigError("--figure draws one table; run the suite's tables one by one.")
        print(f"wrote {decision_boundary_figure(tables[0], args.figure, seed=seeds[0] if seeds else None)}", file=sys.stderr)
    return 0


def _cmd_advise(args) -> int:
    from .advise import advise
    from .runner import _load_task, compose_config

    for item in args.overrides:
        if "=" not in item:
            raise ConfigError(f"tltax advise takes Hydra overrides such as dataset=office_caltech_surf task=A_to_W; got {item!r}.")
    cfg = compose_config(args.overrides)
    ds = dict(cfg.dataset)
    options = tuple(sorted((k, v) for k, v in ds.items() if k not in ("name", "preprocess")))
    task = _load_task(ds["name"], cfg.task, ds.get("preprocess"), cfg.runtime.get("data_dir"), options)
    sys.stdout.write(advise(task, random_state=int(cfg.seed)).format())
    return 0


def _write_or_print(text: str, output: str | None) -> None:
    if output:
        from pathlib import Path

        from .store import atomic_write_text

        atomic_write_text(Path(output), text)
        print(f"wrote {output}", file=sys.stderr)
    else:
        sys.stdout.write(text)


def _cmd_compare(args) -> int:
    from pathlib import Path

    from .harness.compare import parse_compare_overrides, render_comparison, run_compare, write_cd_figure
    from .store import ResultStore

    request = parse_compare_overrides(args.overrides)
    comp = run_compare(
        request, baseline=args.baseline, metric=args.metric, store=ResultStore(args.store) if args.store else None,
        n_jobs=args.jobs, force=args.force, progress=not args.quiet, alpha=args.alpha,
        higher_is_better={"auto": None, "higher": True, "lower": False}[args.direction],
    )
    _write_or_print(render_comparison(comp, args.format), args.output)
    figure = Path(args.figure) if args.figure else Path("outputs") / "figures" / f"compare_{request.dataset}_cd.png"
    print(f"wrote {write_cd_figure(comp, figure)}", file=sys.stderr)
    return 0


def _cmd_report(args) -> int:
    from .harness.report import report

    text, path = report(args.store, fmt=args.format, output_dir=args.output, metric=args.metric)
    if path is not None:
        print(f"wrote {path}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _cmd_list(args) -> int:
    what = args.what
    if what == "strategies":
        from .registry import list_strategies

        for info in list_strategies(setting=args.setting, family=args.family):
            print(f"{info.name:<22} {info.setting:<13} {info.family:<14} {info.summary}")
    elif what == "datasets":
        from .datasets import get_dataset, list_datasets

        for name in list_datasets():
            ds = get_dataset(name)
            print(f"{name:<22} {len(ds.tasks):>3} tasks  preprocess={ds.default_preprocess:<10} {ds.description}")
    elif what == "tasks":
        from .datasets import get_dataset, list_datasets

        for name in [args.dataset] if args.dataset else list_datasets():
            print(f"{name}: {', '.join(get_dataset(name).tasks)}")
    elif what == "tables":
        from .harness import list_tables, load_table

        from .harness import load_suite

        for table in list_tables():
            members = load_suite(table)
            title = f"suite: {', '.join(members)}" if members else load_table(table).title
            print(f"{table:<28} {title}")
    elif what == "backbones":
        from .backbones import list_backbones

        print("\n".join(list_backbones()))
    elif what == "preprocessors":
        from .datasets import PREPROCESSORS

        print("\n".join(sorted(PREPROCESSORS)))
    return 0


def _cmd_data(args) -> int:
    from .datasets import ensure_file, fetch_dataset, get_data_dir, get_dataset, list_datasets

    if args.action == "path":
        print(get_data_dir(args.data_dir))
        return 0
    names = [args.name] if args.name else list_datasets()
    if args.action == "fetch":
        if not args.name:
            raise TLTaxonomyError("tltax data fetch needs a dataset name; see `tltax list datasets`.")
        for path in fetch_dataset(args.name, data_dir=args.data_dir):
            print(path)
        return 0
    failures = 0
    for name in names:
        for remote in get_dataset(name).files:
            try:
                print(f"ok       {ensure_file(remote, data_dir=args.data_dir, progress=False)}")
            except TLTaxonomyError as exc:
                failures += 1
                print(f"PROBLEM  {remote.path}: {exc}")
    return 1 if failures else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tltax", description="tltaxonomy: transfer learning, by the taxonomy.")
    sub = parser.add_subparsers(dest="command", metavar="{run,bench,advise,compare,report,list,data}")
    sub.add_parser("run", help="run one experiment or a sweep (Hydra overrides; -m for multirun; --help for Hydra's help)")

    bench = sub.add_parser("bench", help="reproduce a published table")
    bench.add_argument("table", help="table id (see `tltax list tables`)")
    bench.add_argument("--format", default="md", choices=["md", "csv", "latex", "json"])
    bench.add_argument("--seeds", help="comma-separated seeds (default: the table's)")
    bench.add_argument("--rows", help="comma-separated row names to run (default: all)")
    bench.add_argument("--columns", help="comma-separated column labels to run (default: all)")
    bench.add_argument("--store", help="result store directory (default: $TLTAX_STORE or outputs/store)")
    bench.add_argument("--force", action="store_true", help="recompute cells even if stored")
    bench.add_argument("--output", "-o", help="write the table to this file instead of stdout")
    bench.add_argument("--jobs", "-j", type=int, default=1, help="worker processes for the cells (-1: one per core)")
    bench.add_argument("--quiet", "-q", action="store_true", help="no per-cell progress on stderr")
    bench.add_argument(
        "--selection",
        help="print one table per selection protocol: 'all' or comma-separated names of default, source_acc, iwv, "
        "dev, entropy, snd, oracle (tltaxonomy.selection.PROTOCOLS); every cell runs at --hparams draws",
    )
    bench.add_argument(
        "--hparams", type=int, metavar="N",
        help="hyper-parameter draws per cell for --selection (hparams_seed 0..N-1; 0 = the defaults; default 8)",
    )
    bench.add_argument(
        "--figure",
        help="image file: a learning-curve table draws its curves here (and <stem>_time beside it; default "
        "outputs/figures/<table>.png); a 2-D table draws the rows' decision boundaries on its first task",
    )
    bench.add_argument(
        "--divergence", action="store_true",
        help="add each task's proxy A-distance and MMD² between its domains (label-free, as `tltax advise`; cached "
        "in the store), so a reader sees where adaptation has room to help",
    )
    bench.set_defaults(func=_cmd_bench)

    adv = sub.add_parser("advise", help="diagnostics between a task's domains and which strategy families to try")
    adv.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. dataset=office_caltech_surf task=A_to_W")
    adv.set_defaults(func=_cmd_advise)

    cmp_ = sub.add_parser(
        "compare",
        help="rank strategies on a dataset's tasks (runs what the store lacks): mean ± s.e., ranks, Wilcoxon, "
        "win/tie/loss, negative transfer, Friedman + Nemenyi CD diagram",
    )
    cmp_.add_argument(
        "overrides", nargs="*",
        help="strategy=[a,b,...] dataset=NAME task=all|[t,...] seeds=N|[s,...]; any other Hydra override "
        "(e.g. protocol.source_per_class=20) reaches every run",
    )
    cmp_.add_argument("--baseline", default="source_only", help="the no-adaptation strategy to test against (default: source_only)")
    cmp_.add_argument("--metric", default="target/acc", help="the record metric compared (default target/acc)")
    cmp_.add_argument(
        "--direction", default="auto", choices=["auto", "higher", "lower"],
        help="which values of the metric are better; auto (default): lower for errors and losses (nmse, rmse, "
        "error, loss, ...; tltaxonomy.harness.compare.LOWER_IS_BETTER), higher otherwise",
    )
    cmp_.add_argument("--alpha", type=float, default=0.05, help="level of the Nemenyi critical difference (default 0.05)")
    cmp_.add_argument("--format", default="md", choices=["md", "csv", "latex", "json"])
    cmp_.add_argument("--output", "-o", help="write the table to this file instead of stdout")
    cmp_.add_argument("--figure", help="critical-difference diagram (default outputs/figures/compare_<dataset>_cd.png)")
    cmp_.add_argument("--store", help="result store directory (default: $TLTAX_STORE or outputs/store)")
    cmp_.add_argument("--force", action="store_true", help="recompute cells even if stored")
    cmp_.add_argument("--jobs", "-j", type=int, default=1, help="worker processes for the cells (-1: one per core)")
    cmp_.add_argument("--quiet", "-q", action="store_true", help="no per-cell progress on stderr")
    cmp_.set_defaults(func=_cmd_compare)

    rep_ = sub.add_parser("report", help="aggregate every record of the store into tables (one per dataset and selection)")
    rep_.add_argument("--store", help="result store directory (default: $TLTAX_STORE or outputs/store)")
    rep_.add_argument("--format", default="md", choices=["md", "csv", "latex", "parquet"])
    rep_.add_argument("--output", "-o", help="directory for the files (default: print md/csv/latex to stdout)")
    rep_.add_argument("--metric", default="target/acc", help="the record metric tabulated (default target/acc)")
    rep_.set_defaults(func=_cmd_report)

    lst = sub.add_parser("list", help="list strategies, datasets, tasks, tables, backbones or preprocessors")
    lst.add_argument("what", choices=["strategies", "datasets", "tasks", "tables", "backbones", "preprocessors"])
    lst.add_argument("--setting", help="filter strategies by setting (inductive, transductive, unsupervised)")
    lst.add_argument("--family", help="filter strategies by family")
    lst.add_argument("--dataset", help="list the tasks of this dataset only")
    lst.set_defaults(func=_cmd_list)

    data = sub.add_parser("data", help="fetch or verify the data files")
    data.add_argument("action", choices=["fetch", "verify", "path"])
    data.add_argument("name", nargs="?", help="dataset name (default for verify: all)")
    data.add_argument("--data-dir", help="data directory (default: $TLTAX_DATA_DIR)")
    data.set_defaults(func=_cmd_data)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``tltax`` console script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "run":
        from .runner import main as run_main

        run_main(argv[1:])
        return 0
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except TLTaxonomyError as exc:
        print(f"tltax {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
