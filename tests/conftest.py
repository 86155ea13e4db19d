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
def tmp_store(tmp_path):
    from tltaxonomy.store import ResultStore

    return ResultStore(tmp_path / "store")
