"""A smoke version of every published table of the shallow domain-adaptation suite, on a subset.

The full tables are benchmarks (`tltax bench shallow_da -j 2`, see benchmarks/README.md). Here a few
cells of each run through the same harness and runner, and are checked against the paper's numbers
where our reproduction is exact, and against the values of the full benchmark run otherwise (so a
change that moves a reproduced number fails a test). Target labels only score the predictions.
"""

from __future__ import annotations

import os

import pytest

from tltaxonomy.harness import run_table

pytestmark = pytest.mark.skipif(
    not os.path.isdir(os.environ.get("TLTAX_DATA_DIR", "")), reason="real data directory not found (set TLTAX_DATA_DIR)"
)


def _cells(result):
    return {(c.row, c.column): c for c in result.cells}


def test_jda_digits_reproduces_the_paper(tmp_store):
    cells = _cells(run_table("jda2013_digits", store=tmp_store, progress=False))
    for row in ("NN", "PCA", "GFK", "JDA"):  # exact on both tasks
        for column in ("USPS→MNIST", "MNIST→USPS"):
            assert cells[row, column].ours_mean == pytest.approx(cells[row, column].paper, abs=0.006), (row, column)
    tca = [cells["TCA", c] for c in ("USPS→MNIST", "MNIST→USPS")]
    assert abs(sum(c.ours_mean - c.paper for c in tca) / 2) < 2.0  # an [M] table: within 2 points


def test_jda_surf_smoke(tmp_store):
    cells = _cells(run_table("jda2013_surf", columns=("D→W",), store=tmp_store, progress=False))
    assert cells["NN", "D→W"].ours_mean == pytest.approx(63.39, abs=0.006)  # = paper
    assert cells["PCA", "D→W"].ours_mean == pytest.approx(75.93, abs=0.006)  # = paper
    assert cells["TCA", "D→W"].ours_mean == pytest.approx(84.75, abs=0.006)  # paper 86.10
    assert cells["JDA", "D→W"].ours_mean == pytest.approx(84.75, abs=0.006)  # paper 89.49 (see the table notes)
    assert cells["GFK", "D→W"].ours_mean == pytest.approx(71.53, abs=0.006)  # paper 75.59


def test_coral_full_smoke_new_rows(tmp_store):
    cells = _cells(run_table("coral2016_surf_full", rows=("SA", "GFK", "TCA"), columns=("D→W",), store=tmp_store, progress=False))
    assert cells["SA", "D→W"].ours_mean == pytest.approx(85.1, abs=0.06)  # paper 65.1 (see the table notes)
    assert cells["GFK", "D→W"].ours_mean == pytest.approx(75.9, abs=0.06)  # paper 74.6
    assert cells["TCA", "D→W"].ours_mean == pytest.approx(84.7, abs=0.06)  # paper 71.2


def test_coral_standard_smoke(tmp_store):
    """Two of the 20 trials on D→W: every row runs, each trial draws its own source rows."""
    result = run_table("coral2016_surf_standard", seeds=(0, 1), columns=("D→W",), store=tmp_store, progress=False)
    cells = _cells(result)
    assert result.n_computed == 10
    for row in ("NA", "GFK", "SA", "TCA", "CORAL"):
        cell = cells[row, "D→W"]
        assert cell.n_seeds == 2 and cell.ours_se is not None
        assert abs(cell.ours_mean - cell.paper) < 5.0, row  # the 20-trial means are within 2.6 of the paper
    assert cells["CORAL", "D→W"].ours_mean > cells["NA", "D→W"].ours_mean + 20  # 85.8 vs 56.5 over 20 trials


def test_coral_amazon_smoke(tmp_store):
    cells = _cells(run_table("coral2016_amazon", rows=("TCA", "KMM"), columns=("E→K",), store=tmp_store, progress=False))
    assert cells["TCA", "E→K"].ours_mean == pytest.approx(67.0, abs=0.06)  # paper 68.7
    assert cells["KMM", "E→K"].ours_mean == pytest.approx(82.9, abs=0.06)  # paper 83.5


def test_easytl_smoke(tmp_store):
    """Per task, ours equals the public re-run's results.txt (the paper table gives averages only)."""
    surf = _cells(run_table("easytl_surf", columns=("A→C", "D→W"), store=tmp_store, progress=False))
    assert (surf["EasyTL(c)", "A→C"].ours_mean, surf["EasyTL", "A→C"].ours_mean) == pytest.approx((43.0, 42.3), abs=0.06)
    assert (surf["EasyTL(c)", "D→W"].ours_mean, surf["EasyTL", "D→W"].ours_mean) == pytest.approx((69.5, 86.1), abs=0.06)
    amazon = _cells(run_table("easytl_amazon", columns=("E→K",), store=tmp_store, progress=False))
    assert (amazon["EasyTL(c)", "E→K"].ours_mean, amazon["EasyTL", "E→K"].ours_mean) == pytest.approx((84.6, 84.9), abs=0.06)
