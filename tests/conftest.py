"""Shared test fixtures: the real data directory (../shared/data) and a throw-away result store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

# Loaders read the real benchmark files through TLTAX_DATA_DIR; CI points it at ../shared/data.
if SHARED_DATA.is_dir():
    os.environ.setdefault("TLTAX_DATA_DIR", str(SHARED_DATA))


@pytest.fixture
def shared_data_dir() -> Path:
    """The real data directory; tests that need it are skipped (with the reason) when it is absent."""
    path = Path(os.environ.get("TLTAX_DATA_DIR", SHARED_DATA))
    if not path.is_dir():
        pytest.skip(f"real data directory {path} not found (set TLTAX_DATA_DIR)")
    return path


@pytest.fixture
def shared_data(monkeypatch):
    """The real data directory, set as TLTAX_DATA_DIR (no download mirror); skipped when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"benchmark data directory {SHARED_DATA} not found (see shared/data/MANIFEST.md)")
    monkeypatch.setenv("TLTAX_DATA_DIR", str(SHARED_DATA))
    monkeypatch.delenv("TLTAX_DATA_URL", raising=False)
    return SHARED_DATA


@pytest.fixture
def empty_data(tmp_path, monkeypatch):
    """An empty data directory, set as TLTAX_DATA_DIR (no download mirror)."""
    d = tmp_path / "data"
    d.mkdir()
    monkeypatch.setenv("TLTAX_DATA_DIR", str(d))
    monkeypatch.delenv("TLTAX_DATA_URL", raising=False)
    return d


@pytest.fixture
def tmp_store(tmp_path):
    from tltaxonomy.store import ResultStore

    return ResultStore(tmp_path / "store")


# --- shared digit data and a small pretrained LeNet (used by the inductive and unsupervised tests) ---
import numpy as np  # noqa: E402

from tltaxonomy.backbones import pretrain_backbone  # noqa: E402

@pytest.fixture(scope="session")
def digits():
    """MNIST (source) and USPS (target) at 28x28 from the shared data; skipped if the files are absent."""
    from tltaxonomy.datasets import load_task

    if not (SHARED_DATA / "usps" / "usps.h5").is_file():
        pytest.skip(f"shared digit data not found in {SHARED_DATA}")
    return load_task("digits", "MNIST_to_USPS", data_dir=SHARED_DATA)


#: the small pretraining of the behaviour tests (verified margins: see the assertions)
SMALL_PRETRAIN = {"max_epochs": 2, "batch_size": 32, "lr": 3e-3, "device": "cpu", "seed": 0}


@pytest.fixture(scope="session")
def lenet_ckpt(digits, tmp_path_factory):
    """LeNet pretrained for 2 epochs on the 15 000 MNIST digits (about 15 s on 2 idle cores).

    The file lies in the session's base temporary folder, so every test module of the session that
    asks for it reuses it (:func:`pretrain_backbone` returns an existing valid checkpoint).
    """
    path = tmp_path_factory.getbasetemp() / "lenet_mnist_e2.pt"
    return pretrain_backbone(
        "lenet", digits.X_source, digits.y_source, input_shape=(1, 28, 28), trainer=SMALL_PRETRAIN,
        checkpoint_path=path,
    )
