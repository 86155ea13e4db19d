"""``tltax compare`` (harness/compare.py): override parsing, the statistics of a hand-made table, the
renderers, and one small end-to-end run through the harness and the store."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest
from scipy.stats import wilcoxon

from tltaxonomy._errors import ConfigError, UnknownNameError
from tltaxonomy.harness import stats
from tltaxonomy.harness.compare import (
    CompareRequest,
    compare_result,
    comparison_spec,
    metric_higher_is_better,
    parse_compare_overrides,
    render_comparison,
)
from tltaxonomy.harness.tables import Cell, TableResult

SURF_TASKS = ["A_to_C", "A_to_D", "A_to_W", "C_to_A", "C_to_D", "C_to_W",
              "D_to_A", "D_to_C", "D_to_W", "W_to_A", "W_to_C", "W_to_D"]


def test_parse_overrides():
    req = parse_compare_overrides(
        ["strategy=[source_only,coral,sa]", "dataset=office_caltech_surf", "task=all", "seeds=3",
         "protocol.source_per_class=20"]
    )
    assert req.strategies == ("source_only", "coral", "sa")
    assert req.tasks == tuple(SURF_TASKS)
    assert req.seeds == (0, 1, 2)
    assert req.overrides == ("protocol.source_per_class=20",)
    req = parse_compare_overrides(["strategy=coral,sa", "dataset=moons", "task=[rotated_10,rotated_30]", "seeds=[0,4]"])
    assert (req.strategies, req.tasks, req.seeds) == (("coral", "sa"), ("rotated_10", "rotated_30"), (0, 4))


@pytest.mark.parametrize(
    "items, error, match",
    [
        (["strategy=[corall,sa]"], UnknownNameError, r"Unknown strategy 'corall'. Did you mean 'coral'.*Valid strategies:"),
        (["strategy=coral", "dataset=office_caltech_sruf"], UnknownNameError, r"Did you mean 'office_caltech_surf'"),
        (["strategy=coral", "dataset=moons", "task=A_to_W"], UnknownNameError, r"Unknown task 'A_to_W'.*rotated_10"),
        (["strategy=coral", "seed=0"], ConfigError, r"use seeds=N"),
        (["dataset=moons"], ConfigError, r"needs strategy="),
        (["strategy=coral", "seeds=three"], ConfigError, r"must be a count"),
        (["strategy=coral", "seeds=0"], ConfigError, r"at least one seed"),
        (["strategy=[coral,coral]"], ConfigError, r"names a strategy twice"),
        (["coral"], ConfigError, r"Hydra-style overrides"),
    ],
)
def test_parse_overrides_errors(items, error, match):
    with pytest.raises(error, match=match):
        parse_compare_overrides(items)


# three strategies on four tasks, three seeds each (higher is better)
_VALUES = {
    "base": {"t1": [50, 51, 52], "t2": [60, 60, 61], "t3": [40, 42, 41], "t4": [70, 71, 72]},
    "good": {"t1": [55, 56, 57], "t2": [64, 66, 65], "t3": [45, 46, 47], "t4": [71, 70, 73]},
    "bad": {"t1": [45, 46, 44], "t2": [61, 59, 62], "t3": [41, 43, 40], "t4": [60, 61, 62]},
}


def _result(values=_VALUES) -> TableResult:
    rows = list(values)
    tasks = list(values[rows[0]])
    spec = comparison_spec(CompareRequest(tuple(rows), "gaussian_shift", tuple(tasks), (0, 1, 2)))
    cells = []
    for r in rows:
        for t in tasks:
            v = [float(x) for x in values[r][t]]
            mean, se = stats.mean_se(v)
            cells.append(Cell(r, t, mean, se, len(v), None, tuple(v)))
    return TableResult(spec=spec, cells=tuple(cells), n_computed=0, n_reused=len(cells), seeds=(0, 1, 2))


def test_compare_result_by_hand():
    comp = compare_result(_result(), baseline="base")
    # ranks per task (good, base, bad): t1 1,2,3; t2 1,3,2; t3 1,3,2; t4 1,2,3
    assert comp.avg_rank == pytest.approx({"good": 1.0, "base": 2.5, "bad": 2.5})
    assert comp.strategies == ("good", "base", "bad")
    assert comp.average["good"] == pytest.approx(np.mean([56, 65, 46, 71.3333333]))
    # t4 for good: differences 0, -1, 1 → mean 0.33, within 2 s.e. → tie; the others are clear wins
    assert comp.wtl("good") == (3, 1, 0)
    # bad: t1 -6 (loss), t2 +0.33 ± 0.88 (tie), t3 +0.33 (tie), t4 -10 (loss)
    assert comp.wtl("bad") == (0, 2, 2)
    assert [comp.outcomes[("bad", t)].negative_transfer for t in ("t1", "t2", "t3", "t4")] == [True, False, False, True]
    assert not any(comp.outcomes[("base", t)].negative_transfer for t in comp.columns)
    means = {r: [np.mean(_VALUES[r][t]) for t in ("t1", "t2", "t3", "t4")] for r in _VALUES}
    assert comp.pvalue["good"] == pytest.approx(wilcoxon(means["good"], means["base"], zero_method="zsplit").pvalue)
    assert comp.pvalue["base"] is None
    assert comp.cd == pytest.approx(stats.nemenyi_q(3, 0.05) * math.sqrt(3 * 4 / (6 * 4)))
    assert comp.friedman.pvalue == pytest.approx(stats.friedman(np.array([means[r] for r in _VALUES]).T).pvalue)
    # CD = 1.66: good (1.0) and base/bad (2.5) are all within CD
    assert comp.groups == (("good", "base", "bad"),)


def test_compare_result_lower_is_better():
    """An error metric (nmse): the same table with lower-is-better reverses ranks, wins and losses."""
    comp = compare_result(_result(), baseline="base", higher_is_better=False)
    # ranks per task reversed (good, base, bad): t1 3,2,1; t2 3,1,2; t3 3,1,2; t4 3,2,1
    assert comp.avg_rank == pytest.approx({"good": 3.0, "base": 1.5, "bad": 1.5})
    assert comp.strategies[-1] == "good"
    assert comp.wtl("good") == (0, 1, 3) and comp.wtl("bad") == (2, 2, 0)
    assert [comp.outcomes[("good", t)].negative_transfer for t in ("t1", "t2", "t3", "t4")] == [True, True, True, False]
    assert comp.average == compare_result(_result(), baseline="base").average  # values are not changed
    md = render_comparison(comp, "md")
    assert "(lower is better)" in md and "d̄ > max(" in md
    assert json.loads(render_comparison(comp, "json"))["higher_is_better"] is False


@pytest.mark.parametrize("metric, higher", [
    ("target/acc", True), ("target/ev", True), ("target/nmi", True), ("target/acc_last", True),
    ("target/nmse", False), ("target/rmse", False), ("source/loss", False), ("target/class_error", False),
])
def test_metric_direction_from_name(metric, higher):
    assert metric_higher_is_better(metric) is higher


def test_paired_outcome_lower_is_better():
    # the method's error is lower on every seed: a win when lower is better, a loss otherwise
    out = stats.paired_outcome([0.40, 0.41, 0.42], [0.50, 0.505, 0.52], higher_is_better=False)
    assert out.outcome == "win" and not out.negative_transfer and out.diff < 0
    assert stats.paired_outcome([0.40, 0.41, 0.42], [0.50, 0.505, 0.52]).outcome == "loss"


def test_compare_result_errors():
    with pytest.raises(UnknownNameError, match="Unknown baseline 'source_only'.*Valid baselines: bad, base, good"):
        compare_result(_result(), baseline="source_only")
    res = _result()
    holes = TableResult(res.spec, (Cell("base", "t1", None, None, 0, None),) + res.cells[1:], 0, 0, (0, 1, 2))
    with pytest.raises(ConfigError, match="without results"):
        compare_result(holes, baseline="base")


def test_render_formats():
    comp = compare_result(_result(), baseline="base")
    md = render_comparison(comp, "md")
    assert "| `good` | 56.0 ± 0.6 | 65.0 ± 0.6 | 46.0 ± 0.6 | 71.3 ± 0.9 | 59.6 | 1.00 |" in md
    assert "| `bad` | 45.0 ± 0.6 ▼ |" in md
    assert "`base` (baseline)" in md and "Friedman test (4 tasks, 3 strategies)" in md and "CD = 1.66" in md
    assert "smallest possible value with 3 seeds is 0.25" in md
    rows = list(csv.DictReader(io.StringIO(render_comparison(comp, "csv"))))
    assert len(rows) == 12
    bad_t1 = next(r for r in rows if r["strategy"] == "bad" and r["task"] == "t1")
    assert (bad_t1["outcome"], bad_t1["negative_transfer"], bad_t1["losses"]) == ("loss", "1", "2")
    latex = render_comparison(comp, "latex")
    assert r"\begin{tabular}" in latex and r"$^\downarrow$" in latex and "source\\_only" not in latex
    payload = json.loads(render_comparison(comp, "json"))
    assert payload["groups"] == [["good", "base", "bad"]]
    assert payload["strategies"][0]["win_tie_loss"] == [3, 1, 0]
    with pytest.raises(UnknownNameError, match="Unknown format 'xlsx'"):
        render_comparison(comp, "xlsx")


def test_cli_compare_end_to_end(tmp_path, capsys):
    """Two strategies on one 2-d task, two seeds: runs, writes the table and the diagram; a rerun reuses."""
    from tltaxonomy.cli import main

    args = ["compare", "strategy=[coral_linear]", "dataset=gaussian_shift", "task=covariate", "seeds=2",
            "--store", str(tmp_path / "store"), "--figure", str(tmp_path / "cd.png"), "-q"]
    assert main([*args, "-o", str(tmp_path / "t.md")]) == 0
    text = (tmp_path / "t.md").read_text()
    assert "`source_only` (baseline)" in text and "`coral_linear`" in text  # the baseline is added
    assert "(4 runs computed, 0 reused from the store)" in text
    assert (tmp_path / "cd.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main([*args, "--format", "csv"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("dataset,strategy,task,mean") and len(out.strip().splitlines()) == 3
    assert main(["compare", "strategy=[corall]", "dataset=gaussian_shift"]) == 2
    assert "Did you mean 'coral'" in capsys.readouterr().err
    assert main([args[0], "protocol.no_such_key=1", *args[1:]]) == 2
    assert "does not compose (protocol.no_such_key=1)" in capsys.readouterr().err


# --- tltax report ----------------------------------------------------------------------------------

GOLDEN = __import__("pathlib").Path(__file__).parent / "data" / "golden_store"


def _golden_records():
    from tltaxonomy.store import ResultStore

    return list(ResultStore(GOLDEN))


@pytest.mark.parametrize("fmt, expected", [("md", "expected_report.md"), ("csv", "expected_report.csv")])
def test_report_golden(fmt, expected):
    """The aggregation of the committed hand-made store must not change silently."""
    from tltaxonomy.harness.report import render_report

    records = _golden_records()
    assert len(records) == 16  # the 17th file is a hand-edited record the store refuses
    assert render_report(records, fmt) == (GOLDEN / expected).read_text(encoding="utf-8")


def test_report_rows_and_groups():
    from tltaxonomy.harness.report import aggregate

    tables, skipped = aggregate(_golden_records())
    assert skipped == 1  # the clustering record has no target/acc
    assert [(t.dataset, t.selection) for t in tables] == [
        ("gaussian_shift", "source_cv"), ("office_caltech_surf", "source_cv"), ("office_caltech_surf", "target_oracle")]
    surf = tables[1]
    labels = [r.label for r in surf.rows]
    # the protocol tells the two coral rows apart; sa's random_state follows the seed, so its seeds are one row
    assert labels == ["coral [protocol.source_per_class=20]", "coral [protocol.source_per_class=null]", "sa", "source_only"]
    assert surf.rows[0].cell("A_to_W") == pytest.approx((47.0, 2 / math.sqrt(3), 3))
    assert surf.rows[1].cell("C_to_A") == (None, None, 0)


def test_report_names_rows_by_strategy_config(tmp_path):
    from tltaxonomy.harness.report import aggregate

    confs = {
        "coral_kernel": {"_target_": "tltaxonomy.transductive.CORAL", "reg": 1.0, "variant": "kernel", "estimator": None},
        "sa_seeded": {"_target_": "tltaxonomy.transductive.SubspaceAlignment", "n_components": 80,
                      "variant": "kernel", "random_state": "${seed}", "estimator": None},
    }
    tables, _ = aggregate(_golden_records(), configs=confs)
    assert [r.label for r in tables[1].rows] == [
        "coral_kernel [protocol.source_per_class=20]", "coral_kernel [protocol.source_per_class=null]", "sa_seeded",
        "source_only"]


def test_report_parquet_and_errors(tmp_path, capsys):
    from tltaxonomy.cli import main
    from tltaxonomy.harness.report import render_report, report, tidy_records

    rows = tidy_records(_golden_records())
    assert len(rows) == 16 and {"metric:target/acc", "metric:target/nmi", "seed", "strategy"} <= set(rows[0])
    with pytest.raises(UnknownNameError, match="Unknown format 'xlsx'"):
        render_report([], "xlsx")
    with pytest.raises(ConfigError, match="give an output directory"):
        report(GOLDEN, fmt="parquet")
    with pytest.raises(ConfigError, match="No result store"):
        report(tmp_path / "nothing")
    assert main(["report", "--store", str(GOLDEN), "--format", "latex"]) == 0
    assert r"\begin{tabular}{lcc}" in capsys.readouterr().out
    assert main(["report", "--store", str(GOLDEN), "-o", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "report.md").read_text() == (GOLDEN / "expected_report.md").read_text()
    try:
        import pyarrow.parquet as pq
    except ImportError:
        with pytest.raises(ConfigError, match="pip install pyarrow"):
            report(GOLDEN, fmt="parquet", output_dir=tmp_path)
        return
    _, path = report(GOLDEN, fmt="parquet", output_dir=tmp_path)
    table = pq.read_table(path).to_pylist()
    assert len(table) == 16
    acc = sorted(r["metric:target/acc"] for r in table if r["strategy"] == "source_only")
    assert acc == pytest.approx([0.40, 0.42, 0.46, 0.50])


def test_report_parquet_without_pyarrow(tmp_path, monkeypatch):
    import sys

    from tltaxonomy.harness.report import write_parquet

    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow → ImportError
    with pytest.raises(ConfigError, match="pip install pyarrow"):
        write_parquet(_golden_records(), tmp_path / "r.parquet")
