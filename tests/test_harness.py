"""The benchmark harness: a smoke version of the CORAL table, the formats, the aggregation, errors."""

from __future__ import annotations

import json

import pytest

from tltaxonomy import UnknownNameError
from tltaxonomy._errors import ConfigError
from tltaxonomy.harness import render, run_table
from tltaxonomy.harness import tables as tables_mod
from tltaxonomy.harness.tables import Cell, TableResult, load_table


@pytest.fixture(scope="module")
def coral_smoke(tmp_path_factory):
    """Two columns of coral2016_surf_full (the full table is `tltax bench coral2016_surf_full`)."""
    import os

    from tltaxonomy.store import ResultStore

    if not os.path.isdir(os.environ.get("TLTAX_DATA_DIR", "")):
        pytest.skip("real data directory not found (set TLTAX_DATA_DIR)")
    store = ResultStore(tmp_path_factory.mktemp("store"))
    return store, run_table("coral2016_surf_full", rows=("NA", "CORAL"), columns=("D→W", "W→D"), store=store, progress=False)


def test_smoke_reproduces_the_published_cells(coral_smoke):
    _, result = coral_smoke
    expected = {("NA", "D→W"): 52.5, ("NA", "W→D"): 78.3, ("CORAL", "D→W"): 84.7, ("CORAL", "W→D"): 86.6}
    for (row, col), paper in expected.items():
        cell = result.cell(row, col)
        assert cell.paper == paper
        assert cell.ours_mean == pytest.approx(paper, abs=0.1)
        assert cell.n_seeds == 1 and cell.ours_se is None
    assert result.n_computed == 4 and result.n_reused == 0


def test_rerun_is_resumed_from_the_store(coral_smoke):
    store, first = coral_smoke
    again = run_table("coral2016_surf_full", rows=("NA", "CORAL"), columns=("D→W", "W→D"), store=store, progress=False)
    assert again.n_reused == 4 and again.n_computed == 0
    assert again.cells == first.cells
    # the time the table took is reported from the records, the same whether computed now or reused
    assert first.compute_s > 0 and again.compute_s == pytest.approx(first.compute_s)
    assert "of compute, one process" in render(again, "md")


def test_json_format_is_the_documented_schema(coral_smoke):
    _, result = coral_smoke
    payload = json.loads(render(result, "json"))
    assert payload["table"] == "coral2016_surf_full"
    assert "2-fold" in payload["protocol"] or "2-fold" in payload["selection"]
    assert {c["row"] for c in payload["cells"]} == {"NA", "CORAL"}
    assert {c["column"] for c in payload["cells"]} == {"D→W", "W→D"}
    for cell in payload["cells"]:
        assert set(cell) == {"row", "column", "ours_mean", "ours_se", "n_seeds", "paper", "values", "fit_s"}
    assert "SA (+5.9)" in payload["notes"]


def test_text_formats_show_ours_beside_the_paper(coral_smoke):
    _, result = coral_smoke
    md = render(result, "md")
    assert "| D→W | 52.5 | 52.5 | +0.0 | 84.7 | 84.7 | +0.0 |" in md
    assert "Selection: source_cv" in md and "Protocol:" in md
    csv_text = render(result, "csv")
    assert csv_text.splitlines()[0].startswith("table,protocol,selection,row,column,ours_mean")
    assert len(csv_text.splitlines()) == 5
    latex = render(result, "latex")
    assert r"\begin{tabular}" in latex and r"D$\to$W" in latex
    with pytest.raises(UnknownNameError, match="Did you mean 'json'"):
        render(result, "jsno")


def test_aggregation_mean_and_standard_error():
    spec = load_table("coral2016_surf_full")
    values = [40.0, 42.0, 47.0]
    cell = Cell("CORAL", "A→C", sum(values) / 3, tables_mod._se(values), 3, 45.1)
    assert cell.ours_se == pytest.approx(13**0.5 / 3**0.5)  # sample std (ddof=1) / sqrt(n)
    result = TableResult(spec, (cell, Cell("CORAL", "A→D", 50.0, None, 1, 39.5)), 0, 0)
    ours, paper = result.row_average("CORAL")
    assert ours == pytest.approx((43.0 + 50.0) / 2) and paper == pytest.approx((45.1 + 39.5) / 2)


def test_unknown_table_row_and_column_suggest_names(tmp_store):
    with pytest.raises(UnknownNameError, match="Did you mean 'coral2016_surf_full'"):
        load_table("coral2016_surf_ful")
    with pytest.raises(UnknownNameError, match="row 'CORALL'"):
        run_table("coral2016_surf_full", rows=("CORALL",), store=tmp_store, progress=False)
    with pytest.raises(UnknownNameError, match="column 'X→Y'"):
        run_table("coral2016_surf_full", columns=("X→Y",), store=tmp_store, progress=False)


def test_malformed_specs_are_named(tmp_path, monkeypatch):
    monkeypatch.setattr(tables_mod, "BENCH_DIR", tmp_path)
    (tmp_path / "broken.yaml").write_text("rows: [unclosed\n")
    with pytest.raises(ConfigError, match="broken.yaml is not valid YAML"):
        load_table("broken")
    (tmp_path / "nodataset.yaml").write_text("columns: {a: b}\nrows: [{name: X}]\n")
    with pytest.raises(ConfigError, match="nodataset.yaml: missing or malformed field 'dataset'"):
        load_table("nodataset")
    (tmp_path / "badpaper.yaml").write_text("dataset: d\ncolumns: {a: b}\nrows: [{name: X}]\npaper: nope\n")
    with pytest.raises(ConfigError, match="paper 'nope' not found"):
        load_table("badpaper")


def test_every_table_spec_loads_and_points_at_real_tasks_and_configs():
    from tltaxonomy.datasets import get_dataset
    from tltaxonomy.harness import list_tables
    from tltaxonomy.runner import compose_config

    from tltaxonomy.harness import load_suite

    tables = list_tables()
    assert {"coral2016_surf_full", "coral2016_surf_standard", "coral2016_amazon", "jda2013_digits", "jda2013_surf"} <= set(tables)
    assert load_suite("shallow_da") == (
        "coral2016_surf_full", "coral2016_surf_standard", "coral2016_amazon", "jda2013_digits", "jda2013_surf",
        "easytl_surf", "easytl_amazon",
    )
    for table_id in tables:
        members = load_suite(table_id)
        if members is not None:
            assert set(members) <= set(tables), table_id
            continue
        spec = load_table(table_id)
        for column in spec.columns:
            col_cfg = spec.column_configs.get(column, ())
            dataset = next((o.split("=", 1)[1] for o in reversed(col_cfg) if o.startswith("dataset=")), spec.dataset)
            # raises for an unknown task (parametrised families such as rotated_<angle>_n<N> resolve)
            get_dataset(dataset).get_task(spec.column_target(column)[0])
            for row in spec.rows:
                compose_config([*spec.overrides, f"dataset={spec.dataset}", *row.overrides, *col_cfg])
        assert spec.protocol and spec.selection, f"{table_id} must say its protocol and selection"
        for row in spec.rows:
            compose_config([*spec.overrides, f"dataset={spec.dataset}", *row.overrides])
        # the deep digits tables have rows TLlib does not report (Deep CORAL, AdaBN, self-training), and the
        # moons figure has no number at all
        # the MultiMNIST table has weightings that the PCGrad re-implementation does not report
        # (and the UFLDL tutorial quotes raw pixels and the autoencoder only)
        reference_only = {"digits_deep", "digits_deep_oracle", "dann2016_moons", "dann2016_moons_authors", "mtl_multimnist",
                          "selftaught_mnist"}
        if spec.citation and table_id not in reference_only:  # every row we print has the paper's value (or average)
            for row in spec.rows:
                assert all(v is not None for v in spec.paper[row.name]) or spec.paper_avg.get(row.name) is not None, (table_id, row.name)


def _own_table(bench_dir, name="tiny", **extra):
    spec = {
        "title": "tiny",
        "paper": None,
        "dataset": "gaussian_shift",
        "metric": "target/acc",
        "seeds": [0, 1],
        "selection": "source_cv",
        "protocol": "a tiny table for the tests",
        "columns": {"cov": "covariate"},
        "rows": [{"name": "NA", "overrides": ["strategy=source_only_linear"]}, {"name": "CORAL", "overrides": ["strategy=coral_linear"]}],
        **extra,
    }
    import yaml

    (bench_dir / f"{name}.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True))


def test_parallel_cells_give_the_same_numbers_as_serial(tmp_path, monkeypatch):
    from tltaxonomy.store import ResultStore

    monkeypatch.setattr(tables_mod, "BENCH_DIR", tmp_path)
    _own_table(tmp_path)
    serial = run_table("tiny", store=ResultStore(tmp_path / "a"), progress=False)
    parallel = run_table("tiny", store=ResultStore(tmp_path / "b"), progress=False, n_jobs=2)
    def numbers(result):  # the cells without their training times (fit_s), which are measured
        return [{k: v for k, v in c.as_dict().items() if k != "fit_s"} for c in result.cells]

    assert numbers(serial) == numbers(parallel)
    assert parallel.n_computed == 4
    again = run_table("tiny", store=ResultStore(tmp_path / "b"), progress=False, n_jobs=2)
    assert (again.n_computed, again.n_reused) == (0, 4)
    assert numbers(again) == numbers(serial)


def test_suites_and_notes(tmp_path, monkeypatch):
    from tltaxonomy.harness import load_suite

    monkeypatch.setattr(tables_mod, "BENCH_DIR", tmp_path)
    _own_table(tmp_path, notes="why   ours differs")
    (tmp_path / "both.yaml").write_text("suite: [tiny]\n")
    assert load_suite("both") == ("tiny",) and load_suite("tiny") is None
    with pytest.raises(ConfigError, match="'both' is a suite of tables \\(tiny\\)"):
        load_table("both")
    (tmp_path / "nested.yaml").write_text("suite: [both]\n")
    with pytest.raises(ConfigError, match="member 'both' is itself a suite"):
        load_suite("nested")
    spec = load_table("tiny")
    assert spec.notes == "why ours differs"
    result = TableResult(spec, (Cell("NA", "cov", 90.0, None, 2, None), Cell("CORAL", "cov", 91.0, None, 2, None)), 0, 0)
    assert "Notes: why ours differs" in render(result, "md")
    assert json.loads(render(result, "json"))["notes"] == "why ours differs"


def test_columns_of_other_datasets_and_rows_reading_the_initial_solution(tmp_path, monkeypatch):
    from tltaxonomy.harness.tables import RowSpec
    from tltaxonomy.store import ResultStore

    monkeypatch.setattr(tables_mod, "BENCH_DIR", tmp_path)
    _own_table(
        tmp_path,
        columns={"cov": "covariate", "moons": "rotated_30"},
        column_configs={"moons": ["dataset=moons"]},
        rows=[{"name": "NA", "overrides": ["strategy=source_only_linear"]}],
    )
    result = run_table("tiny", store=ResultStore(tmp_path / "s"), progress=False)
    assert result.n_computed == 4  # 2 columns x 2 seeds, each column on its own dataset
    records = list(ResultStore(tmp_path / "s"))
    assert {r["dataset"] for r in records} == {"gaussian_shift", "moons"}
    assert RowSpec("km", (), "init").metric("target/nmi") == "target/init_nmi"
    assert RowSpec("km", ()).metric("target/nmi") == "target/nmi"
    _own_table(tmp_path, name="bad_stage", rows=[{"name": "NA", "overrides": [], "stage": "middle"}])
    with pytest.raises(ConfigError, match="unknown stage"):
        load_table("bad_stage")
    _own_table(tmp_path, name="bad_col", column_configs={"nope": ["dataset=moons"]})
    with pytest.raises(UnknownNameError, match="nope"):
        load_table("bad_col")


def test_paper_averages_are_used_when_the_paper_gives_no_per_task_numbers():
    spec = load_table("coral2016_surf_full")
    import dataclasses

    only_avg = dataclasses.replace(spec, paper={r: [None] * len(spec.columns) for r in spec.paper}, paper_avg={"NA": 41.1})
    cells = tuple(Cell("NA", c, 40.0, None, 1, None) for c in spec.columns)
    assert TableResult(only_avg, cells, 0, 0).row_average("NA") == (40.0, 41.1)
    # a subset of the columns is not comparable with the published average
    assert TableResult(only_avg, cells[:2], 0, 0).row_average("NA") == (40.0, None)


def test_a_suite_runs_its_tables_in_one_pool_with_the_same_numbers(tmp_path, monkeypatch):
    from tltaxonomy.harness import run_tables
    from tltaxonomy.store import ResultStore

    monkeypatch.setattr(tables_mod, "BENCH_DIR", tmp_path)
    _own_table(tmp_path, "tiny")
    _own_table(tmp_path, "tiny_one_seed", seeds=[3])
    both = run_tables(("tiny", "tiny_one_seed"), store=ResultStore(tmp_path / "a"), progress=False)
    alone = [run_table(t, store=ResultStore(tmp_path / "b"), progress=False) for t in ("tiny", "tiny_one_seed")]
    assert [r.spec.id for r in both] == ["tiny", "tiny_one_seed"]
    def numbers(r):  # without the measured training times
        return [{k: v for k, v in c.as_dict().items() if k != "fit_s"} for c in r.cells]

    assert [numbers(r) for r in both] == [numbers(r) for r in alone]
    assert [(r.n_computed, r.seeds) for r in both] == [(4, (0, 1)), (2, (3,))]


def test_bench_of_a_suite_reports_each_tables_runs_and_compute_time(tmp_path, monkeypatch, capsys):
    """``tltax bench SUITE``: after the tables, a timing table (runs computed / reused, compute time per
    table, totals) and the command's wall time, on stderr and at the end of the Markdown output; a rerun
    reuses every run and says so."""
    from tltaxonomy.cli import main
    from tltaxonomy.harness.formats import suite_timing

    monkeypatch.setattr(tables_mod, "BENCH_DIR", tmp_path)
    _own_table(tmp_path, "tiny")
    _own_table(tmp_path, "tiny_one_seed", seeds=[3])
    (tmp_path / "pair.yaml").write_text("suite: [tiny, tiny_one_seed]\n")
    out = tmp_path / "pair.md"
    assert main(["bench", "pair", "-q", "--store", str(tmp_path / "s"), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    text = out.read_text()
    assert "### Suite timing: 2 tables" in err and "### Suite timing: 2 tables" in text
    assert "| tiny | 4 | 0 |" in text and "| tiny_one_seed | 2 | 0 |" in text and "| **total** | 6 | 0 |" in text
    assert "Wall time of the command:" in text and "`-j 1`" in text
    assert main(["bench", "pair", "-q", "--store", str(tmp_path / "s"), "-o", str(out)]) == 0
    assert "| **total** | 0 | 6 |" in out.read_text()
    # the compute column sums the records' times
    results = tables_mod.run_tables(("tiny", "tiny_one_seed"), store=tables_mod.ResultStore(tmp_path / "s"), progress=False)
    total = sum(r.compute_s for r in results)
    assert total > 0 and f"| **total** | 0 | 6 | {total:.1f} s |" in suite_timing(results, 1.0, 2)


def test_each_seed_of_a_table_runs_with_its_own_random_state():
    """``random_state: ${seed}`` is resolved per cell (composing a row once must not freeze seed 0)."""
    from tltaxonomy.runner import compose_config, record_key

    _, _, _, jobs, seeds = tables_mod._plan("digits_deep", None, ["DANN"], ["M→U"], ())
    assert [cfg["strategy"]["random_state"] for *_, cfg in jobs] == list(seeds) == [0, 1, 2]
    spec = load_table("digits_deep")
    row = next(r for r in spec.rows if r.name == "DANN")
    direct = compose_config([*row.overrides, "dataset=digits", "task=MNIST_to_USPS", "seed=2"])
    assert record_key(jobs[2][3]) == record_key(direct)


def test_divergence_column_is_label_free_cached_and_printed(coral_smoke, monkeypatch):
    """``--divergence``: each task's proxy A-distance and MMD², computed once (cached in the store),
    printed beside the task; a one-domain task gets no value and the reason is said."""
    from tltaxonomy import advise as advise_mod
    from tltaxonomy.harness.divergence import task_divergence

    store, _ = coral_smoke
    with_div = tables_mod.run_tables(("coral2016_surf_full",), rows=("NA",), columns=("D→W", "W→D"), store=store,
                                     progress=False, divergence=True)[0]
    div = with_div.divergence
    assert set(div) == {"D→W", "W→D"}
    for value in div.values():
        # MMD² is the unbiased estimate: it can dip just below 0 when the domains' kernel means agree
        assert 0.0 <= value["proxy_a_distance"] <= 2.0 and value["mmd2"] > -0.05
    md = render(with_div, "md")
    assert "proxy A-dist." in md and f"{div['D→W']['proxy_a_distance']:.2f}" in md
    assert json.loads(render(with_div, "json"))["divergence"]["W→D"] == div["W→D"]

    def no_recompute(*args, **kwargs):
        raise AssertionError("the divergence was recomputed instead of read from the store's cache")

    monkeypatch.setattr(advise_mod, "domain_divergence", no_recompute)
    again = tables_mod.run_tables(("coral2016_surf_full",), rows=("NA",), columns=("D→W", "W→D"), store=store,
                                  progress=False, divergence=True)[0]
    assert again.divergence == div
    # the same numbers as `tltax advise` reports for the task
    monkeypatch.undo()
    from tltaxonomy.datasets import load_task

    task = load_task("office_caltech_surf", "D_to_W", preprocess="l1_zscore")
    assert advise_mod.domain_divergence(task.X_source, task.X_target)["proxy_a_distance"] == pytest.approx(
        div["D→W"]["proxy_a_distance"])
    # a single-domain dataset: no value, with the reason
    one = task_divergence({"name": "school", "preprocess": "none"}, "all", None)
    assert "reason" in one and "one domain" in one["reason"]
