"""Smoke tests of the performance benchmarks (benchmarks/perf/): their functions run on tiny inputs.

No timing is asserted (timings are benchmarks, not tests); skada-dependent parts are skipped when the
optional ``bench`` extra is not installed.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

PERF = Path(__file__).resolve().parents[1] / "benchmarks" / "perf"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"perf_{name}", PERF / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def _toy_task(vs):
    rng = np.random.default_rng(0)
    Xs = rng.standard_normal((40, 6))
    ys = (Xs[:, 0] > 0).astype(int)
    Xt = rng.standard_normal((30, 6)) + 0.3
    yt = (Xt[:, 0] > 0.3).astype(int)
    return vs.make_task("surf", "toy", Xs, ys, Xt, yt)


def test_vs_skada_task_layout_and_helpers():
    vs = _load("vs_skada")
    t = _toy_task(vs)
    assert (t.ns, t.nt, t.d) == (40, 30, 6)
    assert np.all(t.y[t.sample_domain < 0] == -1)
    # the TCA translation: skada's mu = 1 / (reg (1/ns + 1/nt))
    np.testing.assert_allclose(vs.tca_mu(t, 1.0), 1.0 / (1 / 40 + 1 / 30))
    assert len(vs.kliep_sigmas(t)) == 5
    assert vs.geomean([0.5, 2.0]) == pytest.approx(1.0)
    sub = vs.make_task("amazon", "toy", np.zeros((50, 3)), np.zeros(50, int), np.ones((20, 3)), np.zeros(20, int), max_rows=10)
    assert (sub.ns, sub.nt) == (10, 10)


def test_vs_skada_bench_cell_runs_both_libraries():
    pytest.importorskip("skada")
    vs = _load("vs_skada")
    t = _toy_task(vs)
    methods = {m.name: m for m in vs._methods()}
    cells = [vs.bench_cell(methods[name], t, repeats=1) for name in ("CORAL", "JDA")]
    assert 0.0 <= cells[0].acc_ours <= 1.0 and 0.0 <= cells[0].acc_skada <= 1.0 and cells[0].ratio > 0
    assert cells[1].acc_skada is None and cells[1].ratio is None  # ours only
    rows = vs.summarise(cells, [methods["CORAL"], methods["JDA"]])
    assert "CORAL" in vs.summary_table(rows) and "JDA" in vs.cells_table(cells)


def test_deep_overhead_times_a_step_of_each_kind():
    do = _load("deep_overhead")
    s = do.SETTINGS["amazon"]
    s = do.Setting("tiny", (20,), 2, 8, dict(s.common, backbone_kwargs={"hidden": [4], "activation": "sigmoid"}), s.per_method)
    data = do.make_data(s, 32)
    rows = do.bench_setting(s, ["dann", "mcc"], n_steps=2, rounds=1, log=lambda m: None)
    assert [r["method"] for r in rows] == ["dann", "mcc"]
    assert all(r["ratio_B"] > 0 and r["ratio_2B"] > 0 for r in rows)
    assert do.time_steps("source_only", s, 2, data=data) > 0
    assert "dann" in do.table(rows)


def test_dann_throughput_fits_ours():
    thr = _load("dann_throughput")
    Xs, ys, Xt = thr.load_rows(64, synthetic=True)
    assert min(thr.ours_fit(Xs, ys, Xt, steps=1)) > 0


def test_dann_throughput_fits_skada():
    pytest.importorskip("skorch")
    pytest.importorskip("skada")
    thr = _load("dann_throughput")
    Xs, ys, Xt = thr.load_rows(64, synthetic=True)
    assert min(thr.skada_fit(Xs, ys, Xt)) > 0


def test_gpu_check_skips_without_cuda_and_its_checks_run_on_cpu(capsys):
    gc = _load("gpu_check")
    if not torch.cuda.is_available():
        assert gc.main([]) == 0
        assert "SKIP" in capsys.readouterr().out
        assert gc.main(["--require-gpu"]) == 1
    # the mixed-precision and throughput paths, on the CPU (bf16 autocast) and tiny
    gc.check_mixed_precision(device="cpu", modes=("bf16",), n=64, epochs=1)
    assert "mixed_precision='bf16'" in capsys.readouterr().out
    assert gc.throughput("cpu", "bf16", steps=1, warmup=1, n=64) > 0


def test_trainer_mixed_precision_option():
    from tltaxonomy.training import Trainer

    X, y = torch.randn(32, 5), torch.randint(0, 2, (32,))
    torch.manual_seed(0)
    h = Trainer(max_epochs=1, batch_size=16, device="cpu", mixed_precision="bf16").fit(torch.nn.Linear(5, 2), (X, y))
    assert np.isfinite(h.losses[0])
    with pytest.raises(ValueError, match="mixed_precision"):
        Trainer(mixed_precision="fp8").fit(torch.nn.Linear(5, 2), (X, y))


@pytest.mark.parametrize("name", ["DANN", "CDAN", "DAN", "DeepCORAL", "MCC", "MDD"])
def test_deep_strategies_train_under_bf16_autocast(name):
    """``mixed_precision`` reaches the Trainer of every deep DA strategy: under bf16 autocast (the CPU's
    mixed precision) the losses stay finite and the model still learns a shift-free two-blob problem."""
    import tltaxonomy.transductive as T

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 60)
    Xs = rng.standard_normal((120, 8)) + 2.0 * y[:, None]
    Xt = rng.standard_normal((120, 8)) + 2.0 * y[:, None]
    est = getattr(T, name)(max_epochs=3, batch_size=32, device="cpu", mixed_precision="bf16", random_state=0)
    est.fit_domains(Xs, y, Xt)
    assert np.all(np.isfinite(est.history_.losses))
    assert np.mean(est.predict(Xt) == y) > 0.85


def test_deep_strategy_rejects_an_unknown_mixed_precision():
    from tltaxonomy.transductive import DANN

    with pytest.raises(ValueError, match="mixed_precision"):
        DANN(mixed_precision="fp8", max_epochs=1).fit_domains(np.zeros((8, 2)), np.arange(8) % 2, np.zeros((8, 2)))
