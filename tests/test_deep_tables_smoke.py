"""Smoke versions of the deep domain-adaptation tables (the full tables are benchmarks).

Every row of ``digits_deep`` runs one short epoch through the harness, the runner and the protocol
(honest selection and the protocol's oracle from the same run); the Amazon table's SVM column is
checked against the value of the full run; the moons figure is drawn.
"""

from __future__ import annotations

import os

import pytest

from tltaxonomy.harness import run_table

pytestmark = pytest.mark.skipif(
    not os.path.isdir(os.environ.get("TLTAX_DATA_DIR", "")), reason="real data directory not found (set TLTAX_DATA_DIR)"
)

SHORT = ("strategy.max_epochs=1", "strategy.steps_per_epoch=3", "strategy.batch_size=8", "strategy.device=cpu")


def test_digits_deep_every_method_runs_one_short_epoch(tmp_store):
    honest = run_table("digits_deep", seeds=(0,), columns=("M→U",), store=tmp_store, progress=False, extra_overrides=SHORT)
    assert honest.n_computed == 9
    oracle = run_table("digits_deep_oracle", seeds=(0,), columns=("M→U",), store=tmp_store, progress=False,
                       extra_overrides=SHORT)
    assert oracle.n_computed == 0 and oracle.n_reused == 9  # the same runs: the oracle is a second metric
    for a, b in zip(honest.cells, oracle.cells):
        assert a.row == b.row and 0.0 <= a.ours_mean <= 100.0
        assert b.ours_mean == pytest.approx(a.ours_mean)  # one epoch: the oracle has nothing else to pick


def test_dann_amazon_svm_column_and_a_short_nn(tmp_store):
    svm = run_table("dann2016_amazon", rows=("SVM",), columns=("B→D",), store=tmp_store, progress=False)
    assert svm.cells[0].ours_mean == pytest.approx(0.7911, abs=5e-4)  # paper .799; C chosen on the last 10%
    short = run_table("dann2016_amazon", rows=("NN", "DANN"), columns=("B→D",), store=tmp_store, progress=False,
                      extra_overrides=("strategy.max_epochs=3", "strategy.min_epochs=0"))
    assert all(c.ours_mean > 0.6 for c in short.cells)  # three epochs of the 200 (full run: .801 / .801)


def test_moons_figure_is_drawn(tmp_path):
    from tltaxonomy.harness.figures import decision_boundary_figure

    out = decision_boundary_figure("dann2016_moons", tmp_path / "moons.png", extra_overrides=("strategy.max_epochs=5",),
                                   resolution=50)
    assert out.stat().st_size > 10_000 and out.read_bytes()[:4] == b"\x89PNG"
