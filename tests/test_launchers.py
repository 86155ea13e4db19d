"""Sweeps on the Hydra launchers of the ``launchers`` extra: joblib, submitit (its local executor) and
Ray (a local instance), plus concurrent writers on one store.

Every sweep runs ``tltax run -m`` in a subprocess on the tiny ``gaussian_shift`` task, and the store is
checked by config hash: exactly one complete record per configuration, none lost, none duplicated.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tltaxonomy.runner import compose_config, record_key
from tltaxonomy.store import ResultStore

_ENV = {
    **os.environ,
    "PYTHONHASHSEED": "0",
    "OMP_NUM_THREADS": "1",
    "HYDRA_FULL_ERROR": "1",
    "RAY_USAGE_STATS_ENABLED": "0",  # no usage report leaves the machine
}
_HASH = re.compile(r"[0-9a-f]{64}")


def _configs(strategies: list[str], seeds: list[int]) -> list[list[str]]:
    return [
        [f"strategy={s}", "dataset=gaussian_shift", "task=covariate", f"seed={seed}"]
        for s in strategies
        for seed in seeds
    ]


def _sweep(store: Path, sweep_dir: Path, strategies: list[str], seeds: list[int], *launcher: str) -> list[str]:
    return [
        sys.executable, "-m", "tltaxonomy", "run", "-m",
        f"strategy={','.join(strategies)}", "dataset=gaussian_shift", "task=covariate",
        f"seed={','.join(map(str, seeds))}",
        f"runtime.store={store}", f"hydra.sweep.dir={sweep_dir}", *launcher,
    ]  # fmt: skip


def _expected_keys(strategies: list[str], seeds: list[int]) -> set[str]:
    """The config hashes the sweep must leave in the store, computed in this process."""
    return {record_key(compose_config(overrides)) for overrides in _configs(strategies, seeds)}


def _count(store: Path) -> int:
    return len(list((store / "records").glob("*/*.json"))) if (store / "records").exists() else 0


def _check_store(store: Path, expected: set[str]) -> dict[str, dict]:
    """Exactly one complete record per expected config hash, and nothing else that looks like a record."""
    files = sorted(p for p in (store / "records").rglob("*") if p.is_file())
    records = [p for p in files if p.suffix == ".json" and not p.name.startswith(".")]
    # a SIGKILL between mkstemp and os.replace can leave an atomic write's hidden ".<hash>.json.*.tmp"
    # behind; the store never reads those, and nothing else may be there
    others = [p for p in files if p not in records and not (p.name.startswith(".") and p.name.endswith(".tmp"))]
    assert not others, f"unexpected files in the store: {others}"
    names = [p.stem for p in records]
    assert len(names) == len(set(names)), "a config hash stored twice"
    assert set(names) == expected, f"missing {expected - set(names)}, extra {set(names) - expected}"
    out = {}
    for path in records:
        assert _HASH.fullmatch(path.stem) and path.parent.name == path.stem[:2], path
        record = json.loads(path.read_text())  # complete JSON
        assert record["config_hash"] == path.stem and "target/acc" in record["metrics"], path
        out[path.stem] = record
    assert len(list(ResultStore(store))) == len(expected)
    return out


def _summary(stderr: str) -> dict[str, int]:
    """The sweep summary line of ``tltax run -m`` (stderr) as numbers."""
    match = re.search(
        r"tltax sweep: (\d+) runs in [\d.]+ s: (\d+) done, (\d+) skipped \(already in the store\), (\d+) failed",
        stderr,
    )
    assert match, f"no sweep summary in stderr:\n{stderr[-2000:]}"
    total, done, skipped, failed = map(int, match.groups())
    return {"total": total, "done": done, "skipped": skipped, "failed": failed}


def _run(cmd: list[str], cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=_ENV, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(cmd)}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-5000:]}"
    return proc


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="SIGKILL is POSIX-only")
def test_joblib_sweep_killed_mid_way_resumes_to_one_record_per_config(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher", reason="the launchers extra is not installed")
    strategies, seeds = ["source_only_linear", "coral_linear"], [0, 1, 2, 3]  # 8 configurations
    expected = _expected_keys(strategies, seeds)
    assert len(expected) == 8
    store = tmp_path / "store"
    launcher = ("hydra/launcher=joblib", "hydra.launcher.n_jobs=2")

    # the sweep and its loky workers in one new process group, killed all at once with SIGKILL as soon
    # as the first record exists (the workers are then inside other runs or their record writes)
    proc = subprocess.Popen(
        _sweep(store, tmp_path / "mr1", strategies, seeds, *launcher),
        cwd=tmp_path, env=_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 240
    while _count(store) < 1 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    for _ in range(200):  # no orphaned worker goes on writing into the store
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("workers of the killed sweep are still alive")
    killed_at = _count(store)
    assert 0 < killed_at < len(expected), f"the kill did not land mid-sweep ({killed_at} records)"
    for key, record in _check_store(store, {p.stem for p in (store / "records").glob("*/*.json")}).items():
        assert key in expected, record["config"]

    rerun = _run(_sweep(store, tmp_path / "mr2", strategies, seeds, *launcher), tmp_path)
    _check_store(store, expected)
    summary = _summary(rerun.stderr)
    assert summary == {"total": 8, "done": 8 - killed_at, "skipped": killed_at, "failed": 0}, summary


def test_submitit_local_sweep_of_4_jobs(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="the launchers extra is not installed")
    strategies, seeds = ["source_only_linear"], [0, 1, 2, 3]
    store = tmp_path / "store"
    proc = _run(_sweep(store, tmp_path / "mr", strategies, seeds, "hydra/launcher=submitit_local"), tmp_path)
    _check_store(store, _expected_keys(strategies, seeds))
    assert _summary(proc.stderr) == {"total": 4, "done": 4, "skipped": 0, "failed": 0}
    # submitit ran each job as its own process, with its logs in the sweep folder
    assert len(list((tmp_path / "mr" / ".submitit").glob("*/*_result.pkl"))) == 4


def test_ray_sweep_of_4_jobs_on_a_local_instance(tmp_path):
    pytest.importorskip("ray", reason="the launchers extra is not installed")
    strategies, seeds = ["source_only_linear"], [0, 1, 2, 3]
    store = tmp_path / "store"
    ray_args = ("hydra/launcher=ray", "hydra.launcher.num_cpus=2", "+hydra.launcher.init.object_store_memory=100000000")
    cmd = _sweep(store, tmp_path / "mr", strategies, seeds, *ray_args)  # a 100 MB object store is plenty
    proc = _run(cmd, tmp_path)
    _check_store(store, _expected_keys(strategies, seeds))
    assert _summary(proc.stderr) == {"total": 4, "done": 4, "skipped": 0, "failed": 0}
    output = proc.stdout + proc.stderr
    assert "Started a local Ray instance" in output
    assert "(_execute_job pid=" in output  # the jobs ran as Ray tasks, their output relayed to the driver



def test_sweep_summary_counts_failed_runs(tmp_path):
    """In-process launcher: a job that fails is counted, the jobs after it still run (Hydra's semantics:
    the sweep fails at the end of the batch), and the sweep exits non-zero."""
    store = tmp_path / "store"
    cmd = [
        sys.executable, "-m", "tltaxonomy", "run", "-m", "strategy=source_only_linear", "dataset=gaussian_shift",
        "task=no_such_task,covariate", "seed=0", f"runtime.store={store}", f"hydra.sweep.dir={tmp_path / 'mr'}",
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=tmp_path, env=_ENV, capture_output=True, text=True, timeout=240)
    assert proc.returncode != 0
    assert _summary(proc.stderr) == {"total": 2, "done": 1, "skipped": 0, "failed": 1}
    assert _count(store) == 1
    assert "tltax sweep" not in proc.stdout  # the summary never mixes into the runs' output

_WRITER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from tltaxonomy.runner import compose_config, run_experiment
    from tltaxonomy.store import ResultStore

    store, go, seeds = ResultStore(sys.argv[1]), Path(sys.argv[2]), [int(s) for s in sys.argv[3].split(",")]
    cfgs = [compose_config(["strategy=source_only_linear", "dataset=gaussian_shift", "task=covariate",
                            f"seed={s}"]) for s in seeds]
    while not go.exists():  # start together
        time.sleep(0.005)
    for _ in range(2):  # force=True: every worker computes and writes, so the same keys race
        for cfg in cfgs:
            run_experiment(cfg, store=store, force=True)
    """
)

_READER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    root, go, done = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    while not go.exists():
        time.sleep(0.005)
    reads = 0
    while not done.exists():  # every record file seen while the writers run is complete
        for path in root.glob("records/*/*.json"):
            try:
                text = path.read_text()
            except FileNotFoundError:
                continue
            record = json.loads(text)
            assert record["config_hash"] == path.stem and "metrics" in record, path
            reads += 1
        time.sleep(0.01)  # leave the CPU to the writers
    print(reads)
    """
)


def test_concurrent_workers_on_one_store_leave_one_complete_record_each(tmp_path):
    store, go, done = tmp_path / "store", tmp_path / "go", tmp_path / "done"
    writer, reader = tmp_path / "writer.py", tmp_path / "reader.py"
    writer.write_text(_WRITER)
    reader.write_text(_READER)
    seed_sets = ["0,1,2", "2,1,3", "3,0"]  # the same configs from several workers, and different ones
    procs = [
        subprocess.Popen([sys.executable, str(writer), str(store), str(go), seeds], env=_ENV, stderr=subprocess.PIPE)
        for seeds in seed_sets
    ]
    check = subprocess.Popen(
        [sys.executable, str(reader), str(store), str(go), str(done)], env=_ENV, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(0.5)
    go.touch()
    for proc in procs:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err.decode()[-3000:]
    done.touch()
    out, err = check.communicate(timeout=60)
    assert check.returncode == 0, err[-3000:]
    assert int(out) > 0  # the reader did read records while they were being rewritten
    expected = _expected_keys(["source_only_linear"], [0, 1, 2, 3])
    records = _check_store(store, expected)
    assert not list((store / "records").rglob(".*.tmp"))  # clean exits leave no temporary file
    assert len(records) == 4


@pytest.mark.parametrize(
    "overrides, target",
    [
        (["hydra/launcher=joblib", "hydra.launcher.n_jobs=8"], "JoblibLauncher"),
        (["hydra/launcher=submitit_local"], "LocalLauncher"),
        (["hydra/launcher=submitit_slurm", "hydra.launcher.partition=gpu", "hydra.launcher.gpus_per_node=1"], "SlurmLauncher"),
        (["hydra/launcher=ray", "hydra.launcher.address=auto", "+hydra.launcher.remote.num_gpus=1"], "RayLauncher"),
    ],
)
def test_each_launcher_is_one_override(overrides, target):
    """The README's overrides compose and build the launcher (SLURM itself is not here to submit to)."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="the launchers extra is not installed")
    pytest.importorskip("ray", reason="the launchers extra is not installed")
    from hydra import compose, initialize_config_dir
    from hydra.core.plugins import Plugins
    from hydra.utils import instantiate

    from tltaxonomy.runner import CONF_DIR

    Plugins.instance()  # scans hydra_plugins: registers the launchers' configs
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides, return_hydra_config=True)
    assert cfg.hydra.launcher._target_.endswith("." + target)
    launcher = instantiate(cfg.hydra.launcher)
    assert type(launcher).__name__ == target
    if target == "RayLauncher":
        assert launcher.address == "auto" and launcher.remote == {"num_cpus": 1, "num_gpus": 1}
