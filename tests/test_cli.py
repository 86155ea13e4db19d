"""The ``tltax`` command line, run as a user would (a subprocess), including its error messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def tltax(*args, cwd, env_extra=None, timeout=300):
    env = {**os.environ, **(env_extra or {})}
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run(
        [sys.executable, "-m", "tltaxonomy", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_list_strategies_datasets_tables(tmp_path):
    out = tltax("list", "strategies", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "coral" in out.stdout and "transductive" in out.stdout and "finetune" in out.stdout
    out = tltax("list", "strategies", "--setting", "unsupervised", cwd=tmp_path)
    assert "feature_kmeans" in out.stdout and "coral" not in out.stdout
    assert "office_caltech_surf" in tltax("list", "datasets", cwd=tmp_path).stdout
    assert "A_to_W" in tltax("list", "tasks", "--dataset", "office_caltech_surf", cwd=tmp_path).stdout
    assert "coral2016_surf_full" in tltax("list", "tables", cwd=tmp_path).stdout


def test_run_prints_metrics_writes_a_record_and_reuses_it(shared_data_dir, tmp_path):
    env = {"TLTAX_STORE": str(tmp_path / "store")}
    args = ("run", "strategy=coral", "dataset=office_caltech_surf", "task=W_to_D", "seed=0")
    out = tltax(*args, cwd=tmp_path, env_extra=env)
    assert out.returncode == 0, out.stderr
    assert "target/acc" in out.stdout and "0.866" in out.stdout  # CORAL's W→D: 86.6
    records = list((tmp_path / "store" / "records").glob("*/*.json"))
    assert len(records) == 1
    assert json.loads(records[0].read_text())["metrics"]["target/acc"] == pytest.approx(0.866, abs=1e-3)
    again = tltax(*args, cwd=tmp_path, env_extra=env)
    assert "reused stored record" in again.stdout


def test_multirun_sweep(shared_data_dir, tmp_path):
    env = {"TLTAX_STORE": str(tmp_path / "store")}
    out = tltax("run", "-m", "strategy=coral,source_only", "task=D_to_W", cwd=tmp_path, env_extra=env)
    assert out.returncode == 0, out.stderr
    assert len(list((tmp_path / "store" / "records").glob("*/*.json"))) == 2


def test_misspelt_names_get_the_valid_choices_not_a_traceback(tmp_path):
    out = tltax("run", "strategy=corall", cwd=tmp_path)
    assert out.returncode != 0
    assert "Did you mean 'coral'" in out.stderr and "Valid strategies: " in out.stderr  # one paragraph, before Hydra
    assert "Traceback" not in out.stderr
    out = tltax("bench", "coral2016_surf_ful", cwd=tmp_path)
    assert out.returncode == 2
    assert "Did you mean 'coral2016_surf_full'" in out.stderr and "Traceback" not in out.stderr
    out = tltax("list", "strategies", "--setting", "inductiv", cwd=tmp_path)
    assert out.returncode == 2 and "Did you mean 'inductive'" in out.stderr


def test_bench_json_smoke(shared_data_dir, tmp_path):
    out = tltax(
        "bench", "coral2016_surf_full", "--format", "json", "--columns", "D→W", "--store", str(tmp_path / "s"), cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    payload = json.loads(out.stdout)
    cells = {c["row"]: c for c in payload["cells"]}
    assert cells["NA"]["paper"] == 52.5 and cells["CORAL"]["paper"] == 84.7
    assert cells["CORAL"]["ours_mean"] == pytest.approx(84.7, abs=0.1)


def test_data_verify_and_missing_name(shared_data_dir, tmp_path):
    out = tltax("data", "verify", "office_caltech_surf", cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("ok") == 4
    out = tltax("data", "fetch", cwd=tmp_path)
    assert out.returncode == 2 and "needs a dataset name" in out.stderr
    out = tltax("data", "verify", "office_caltech_surf", "--data-dir", str(tmp_path / "nothing"), cwd=tmp_path)
    assert out.returncode == 1 and "tltax data fetch office_caltech_surf" in out.stdout
