"""Faults: a sweep or a training run killed with SIGKILL resumes to the result of an uninterrupted one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tltaxonomy.store import ResultStore

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="SIGKILL is POSIX-only")

_ENV = {**os.environ, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1"}


def _sweep(store, sweep_dir) -> list[str]:
    """Six configurations (2 strategies x 3 seeds) in one Hydra multirun process."""
    return [
        sys.executable, "-m", "tltaxonomy", "run", "-m",
        "strategy=coral_linear,source_only_linear", "dataset=gaussian_shift", "task=covariate", "seed=0,1,2",
        f"runtime.store={store}", f"hydra.sweep.dir={sweep_dir}",
    ]


def _kill_at(cmd, cwd, store, n_records: int, extra_s: float) -> int:
    """Start ``cmd``; SIGKILL it ``extra_s`` seconds after the store holds ``n_records`` records (0 = from
    the start). Returns how many records there were when it died."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while _count(store) < n_records and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(extra_s)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return _count(store)


def _count(store) -> int:
    return len(list((store / "records").glob("*/*.json"))) if (store / "records").exists() else 0


def _records(store) -> dict[str, dict]:
    out = {}
    for path in sorted((store / "records").glob("*/*.json")):
        out[path.stem] = json.loads(path.read_text())  # every file that looks like a record parses
    return out


def test_a_sweep_killed_at_random_points_resumes_to_one_record_per_config(tmp_path):
    import random

    reference = tmp_path / "reference"
    subprocess.run(_sweep(reference, tmp_path / "mr0"), cwd=tmp_path, env=_ENV, check=True, capture_output=True)
    expected = _records(reference)
    assert len(expected) == 6

    store = tmp_path / "killed"
    rng = random.Random(0)
    # killed four times at random points: during start-up, then after the 1st-2nd, 3rd-4th and 5th
    # record (plus a random fraction of a run, so that most kills land inside a run or a record write)
    seen = [_kill_at(_sweep(store, tmp_path / "mr1"), tmp_path, store, 0, rng.uniform(0.5, 2.0))]
    for i, (lo, hi) in enumerate([(1, 2), (3, 4), (4, 5)]):
        seen.append(_kill_at(_sweep(store, tmp_path / f"mr{i + 2}"), tmp_path, store, rng.randint(lo, hi), rng.uniform(0, 0.1)))
    assert any(0 < k < 6 for k in seen), f"no kill landed mid-sweep (records at each kill: {seen})"
    partial = seen[-1]
    subprocess.run(_sweep(store, tmp_path / "mr9"), cwd=tmp_path, env=_ENV, check=True, capture_output=True)
    got = _records(store)
    assert set(got) == set(expected), f"{partial} records after the kills"
    for key, record in got.items():  # exactly one complete record per config, with the uninterrupted numbers
        assert record["metrics"] == expected[key]["metrics"]
    assert len(list(ResultStore(store))) == 6


_TRAIN = textwrap.dedent(
    """
    import sys, numpy as np, torch
    from torch import nn
    from tltaxonomy.training import Trainer
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    X = torch.from_numpy(rng.normal(size=(8000, 10)).astype(np.float32))
    y = torch.from_numpy((X[:, 0].numpy() > 0).astype(np.int64))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 2))
    history = Trainer(max_epochs=12, batch_size=32, lr=1e-3, seed=0, device="cpu", checkpoint_dir=sys.argv[1]).fit(model, (X, y))
    torch.save({"state": model.state_dict(), "resumed_from": history.resumed_from, "losses": history.losses}, sys.argv[2])
    """
)


def test_training_killed_mid_way_resumes_to_the_uninterrupted_weights(tmp_path):
    import torch

    script = tmp_path / "train.py"
    script.write_text(_TRAIN)
    run = lambda ckpt, out: [sys.executable, str(script), str(ckpt), str(out)]  # noqa: E731
    subprocess.run(run(tmp_path / "ref_ckpt", tmp_path / "ref.pt"), env=_ENV, check=True, capture_output=True)

    ckpt = tmp_path / "ckpt"
    proc = subprocess.Popen(run(ckpt, tmp_path / "never.pt"), env=_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (ckpt / "last.pt").exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # right after the first checkpoint: mid-way through 12 epochs
    proc.wait()
    assert (ckpt / "last.pt").exists() and not (tmp_path / "never.pt").exists()

    subprocess.run(run(ckpt, tmp_path / "resumed.pt"), env=_ENV, check=True, capture_output=True)
    ref = torch.load(tmp_path / "ref.pt", weights_only=True)
    resumed = torch.load(tmp_path / "resumed.pt", weights_only=True)
    assert resumed["resumed_from"] is not None and resumed["resumed_from"] >= 1
    assert resumed["losses"] == ref["losses"]
    for name, tensor in ref["state"].items():
        assert torch.equal(tensor, resumed["state"][name]), name
