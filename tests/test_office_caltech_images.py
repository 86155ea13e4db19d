"""Tests of the ``office_caltech_images`` dataset: the raw Office+Caltech10 JPEGs read from the tar.

Every load uses ``size=32`` and the small DSLR (157) / Webcam (295) domains; the decode cache goes to a
temporary ``TLTAX_CACHE_DIR``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from tltaxonomy._errors import ConfigError, DataChecksumError, DataFileNotFoundError, UnknownNameError
from tltaxonomy.base import BaseInductiveClassifier
from tltaxonomy.datasets import (
    OFFICE_CALTECH_CLASSES,
    REMOTE_FILES,
    fetch_dataset,
    get_cache_dir,
    get_dataset,
    load_task,
)
from tltaxonomy.datasets import _real
from tltaxonomy.protocols import _inductive, _unsupervised, run_protocol

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TAR = REMOTE_FILES["office_caltech10_images/office_caltech10_images.tar"]
SIZE = 32
DSLR_PER_CLASS = [12, 21, 12, 13, 10, 24, 22, 12, 8, 23]
WEBCAM_PER_CLASS = [29, 21, 31, 27, 27, 30, 43, 30, 27, 30]


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """A fresh, empty decode cache (and no in-process cache) for the test."""
    d = tmp_path / "cache"
    monkeypatch.setenv("TLTAX_CACHE_DIR", str(d))
    _real._office_domain_images.cache_clear()
    yield d
    _real._office_domain_images.cache_clear()


@pytest.fixture
def images(cache_dir, monkeypatch):
    """The real data directory holding the tar (skipped when absent) and a fresh cache."""
    if not (SHARED_DATA / TAR.path).is_file():
        pytest.skip(f"{SHARED_DATA / TAR.path} not found (see shared/data/MANIFEST.md)")
    monkeypatch.setenv("TLTAX_DATA_DIR", str(SHARED_DATA))
    return cache_dir


@pytest.fixture
def decode_calls(monkeypatch):
    """Spy on the JPEG decoding: the list of (domain folder, size) it was called with."""
    calls: list[tuple[str, int]] = []
    real = _real._decode_office_domain

    def spy(tar_path, folder, size):
        calls.append((folder, size))
        return real(tar_path, folder, size)

    monkeypatch.setattr(_real, "_decode_office_domain", spy)
    return calls


# --------------------------------------------------------------------------------------------------
# registry
# --------------------------------------------------------------------------------------------------


def test_registry_entry():
    ds = get_dataset("office_caltech_images")
    pairs = [f"{s}_to_{t}" for s in "ACDW" for t in "ACDW" if s != t]
    assert sorted(ds.tasks) == sorted(pairs + ["A", "C", "D", "W"])
    assert (ds.tasks["A_to_C"].source, ds.tasks["A_to_C"].target) == ("Amazon", "Caltech10")
    assert (ds.tasks["D"].source, ds.tasks["D"].target) == (None, "DSLR")
    assert ds.options == {"size": 64} and ds.image_shape == (3, 64, 64) and ds.n_classes == 10
    assert ds.default_preprocess == "none" and "Saenko" in ds.citation
    assert ds.files == [TAR] and TAR.url is None and "redhat12345" in TAR.note
    assert (TAR.size, TAR.sha256[:12]) == (57251840, "dadd156bac43")
    assert list(OFFICE_CALTECH_CLASSES) == sorted(OFFICE_CALTECH_CLASSES) and len(OFFICE_CALTECH_CLASSES) == 10


def test_cache_dir_setting(tmp_path, monkeypatch):
    monkeypatch.delenv("TLTAX_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert get_cache_dir() == tmp_path / "home" / ".cache" / "tltaxonomy"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert get_cache_dir() == tmp_path / "xdg" / "tltaxonomy"
    monkeypatch.setenv("TLTAX_CACHE_DIR", str(tmp_path / "env"))
    assert get_cache_dir() == tmp_path / "env"
    assert get_cache_dir(tmp_path / "arg") == tmp_path / "arg"


# --------------------------------------------------------------------------------------------------
# contents
# --------------------------------------------------------------------------------------------------


def test_dslr_counts_labels_values_and_layout(images):
    data = load_task("office_caltech_images", "D", size=SIZE)
    assert data.X_source is None and data.y_source is None
    assert data.X_test is data.X_target and data.y_test is data.y_target and data.meta["transductive"]
    X, y = data.X_target, data.y_target
    assert X.shape == (157, 3 * SIZE * SIZE) and X.dtype == np.float32
    assert X.min() >= 0.0 and X.max() <= 1.0 and X.max() > 0.9 and X.min() < 0.1
    assert y.dtype == np.int64 and np.bincount(y, minlength=10).tolist() == DSLR_PER_CLASS
    assert np.all(np.diff(y) >= 0)  # rows sorted by class folder (alphabetical = label order)
    assert data.image_shape == (3, SIZE, SIZE) and data.n_classes == 10
    assert data.meta["size"] == SIZE and data.meta["options"] == {"size": SIZE}
    assert data.meta["classes"] == list(OFFICE_CALTECH_CLASSES)
    assert (data.meta["source_domain"], data.meta["target_domain"]) == (None, "DSLR")
    # channel-first layout: the per-channel means of row 0 are those of the image decoded independently
    import io
    import tarfile

    from PIL import Image

    with tarfile.open(SHARED_DATA / TAR.path) as tar:
        first = sorted(n for n in tar.getnames() if n.startswith("images/dslr/backpack/"))[0]
        ref = np.asarray(Image.open(io.BytesIO(tar.extractfile(first).read())).convert("RGB"), dtype=np.float64)
    h, w, _ = ref.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    ref_means = ref[top : top + side, left : left + side].mean(axis=(0, 1)) / 255.0
    ours = X[0].reshape(3, SIZE, SIZE).mean(axis=(1, 2))
    np.testing.assert_allclose(ours, ref_means, atol=0.02)


def test_webcam_counts(images):
    data = load_task("office_caltech_images", "W", size=SIZE)
    assert data.X_target.shape == (295, 3 * SIZE * SIZE)
    assert np.bincount(data.y_target, minlength=10).tolist() == WEBCAM_PER_CLASS


def test_pair_task_split(images):
    data = load_task("office_caltech_images", "D_to_W", size=SIZE)
    assert data.X_source.shape == (157, 3 * SIZE * SIZE) and data.X_target.shape == (295, 3 * SIZE * SIZE)
    assert np.bincount(data.y_source).tolist() == DSLR_PER_CLASS
    assert np.bincount(data.y_target).tolist() == WEBCAM_PER_CLASS
    assert data.X_test is data.X_target and data.y_test is data.y_target  # transductive: test = target
    assert (data.meta["source_domain"], data.meta["target_domain"]) == ("DSLR", "Webcam")
    assert data.meta["transductive"] and data.meta["files"] == [str(SHARED_DATA / TAR.path)]
    X, y, sd = data.domain_adaptation_view()
    assert X.shape == (452, 3 * SIZE * SIZE) and X.dtype == np.float32
    assert (y[:157] == data.y_source).all() and (y[157:] == -1).all()
    assert (sd[:157] == 1).all() and (sd[157:] == -1).all()
    # the same rows as the single-domain tasks, and every load gets its own arrays
    single = load_task("office_caltech_images", "D", size=SIZE)
    np.testing.assert_array_equal(single.X_target, data.X_source)
    single.X_target[:] = 0.0
    assert load_task("office_caltech_images", "D", size=SIZE).X_target.max() > 0.9


def test_size_parameter(images):
    data = load_task("office_caltech_images", "D", size=24)
    assert data.X_target.shape == (157, 3 * 24 * 24) and data.image_shape == (3, 24, 24)
    for bad in (4, 2000, "64", True, 32.0):
        with pytest.raises(ConfigError, match="size must be an int"):
            load_task("office_caltech_images", "D", size=bad)
    with pytest.raises(UnknownNameError, match=r"Unknown dataset option 'sise'.*Did you mean 'size'"):
        load_task("office_caltech_images", "D", sise=SIZE)
    with pytest.raises(UnknownNameError, match=r"Unknown dataset option 'size'.*office_caltech_surf"):
        load_task("office_caltech_surf", "D_to_W", size=SIZE)


# --------------------------------------------------------------------------------------------------
# the decode cache
# --------------------------------------------------------------------------------------------------


def _cache_file(cache_dir: Path, folder: str, size: int) -> Path:
    return cache_dir / "office_caltech_images" / f"{TAR.sha256[:16]}-{TAR.size}" / f"{folder}-{size}px-v1.npz"


def test_cache_is_written_then_used(images, decode_calls):
    first = load_task("office_caltech_images", "D", size=SIZE)
    assert decode_calls == [("dslr", SIZE)]
    path = _cache_file(images, "dslr", SIZE)
    assert path.is_file() and first.meta["cache_dir"] == str(path.parent)
    assert not list(path.parent.glob(".*.tmp"))  # written atomically: no temporary file left
    _real._office_domain_images.cache_clear()  # a new process: only the file remains
    second = load_task("office_caltech_images", "D", size=SIZE)
    assert decode_calls == [("dslr", SIZE)]  # not decoded again
    np.testing.assert_array_equal(first.X_target, second.X_target)
    np.testing.assert_array_equal(first.y_target, second.y_target)
    load_task("office_caltech_images", "D", size=24)  # another size: its own file
    assert decode_calls == [("dslr", SIZE), ("dslr", 24)] and _cache_file(images, "dslr", 24).is_file()


def test_corrupt_or_foreign_cache_file_is_rebuilt(images, decode_calls):
    first = load_task("office_caltech_images", "D", size=SIZE)
    path = _cache_file(images, "dslr", SIZE)
    path.write_bytes(path.read_bytes()[:1000])  # truncated
    _real._office_domain_images.cache_clear()
    with pytest.warns(RuntimeWarning, match="unreadable cache file"):
        again = load_task("office_caltech_images", "D", size=SIZE)
    assert len(decode_calls) == 2
    np.testing.assert_array_equal(first.X_target, again.X_target)
    # a readable file that is not this cache (another tar's hash): rebuilt as well
    with np.load(path) as z:
        fields = dict(z)
    fields["tar_sha256"] = np.array("0" * 64)
    np.savez(path, **fields)
    _real._office_domain_images.cache_clear()
    with pytest.warns(RuntimeWarning, match="does not match"):
        load_task("office_caltech_images", "D", size=SIZE)
    assert len(decode_calls) == 3
    with np.load(path) as z:
        assert str(z["tar_sha256"]) == TAR.sha256  # repaired


# --------------------------------------------------------------------------------------------------
# missing / corrupt tar, unknown names
# --------------------------------------------------------------------------------------------------


def test_corrupt_tar_gives_checksum_error(tmp_path, cache_dir, monkeypatch, decode_calls):
    if not (SHARED_DATA / TAR.path).is_file():
        pytest.skip(f"{SHARED_DATA / TAR.path} not found")
    data_dir = tmp_path / "data"
    dest = data_dir / TAR.path
    dest.parent.mkdir(parents=True)
    with open(SHARED_DATA / TAR.path, "rb") as src, open(dest, "wb") as dst:
        dst.write(src.read(1 << 20))  # a truncated copy
    monkeypatch.setenv("TLTAX_DATA_DIR", str(data_dir))
    with pytest.raises(DataChecksumError, match="Checksum mismatch") as info:
        load_task("office_caltech_images", "D", size=SIZE)
    msg = str(info.value)
    assert str(dest) in msg and TAR.sha256 in msg and "redhat12345" in msg
    assert decode_calls == [] and not cache_dir.exists()  # nothing decoded or cached from a bad file


def test_missing_tar_says_it_cannot_be_downloaded(tmp_path, cache_dir, monkeypatch):
    monkeypatch.setenv("TLTAX_DATA_DIR", str(tmp_path / "empty"))
    with pytest.raises(DataFileNotFoundError, match="cannot be downloaded automatically.*redhat12345") as info:
        load_task("office_caltech_images", "W", size=SIZE)
    assert "TLTAX_DATA_DIR" in str(info.value) and str(tmp_path / "empty" / TAR.path) in str(info.value)
    with pytest.raises(DataFileNotFoundError, match="cannot be downloaded automatically"):
        fetch_dataset("office_caltech_images", progress=False)
    assert not (tmp_path / "empty" / TAR.path).exists()


def test_unknown_names():
    unknown = r"Unknown task 'D_to_X'.*Did you mean 'D_to_[ACW]'.*office_caltech_images"
    with pytest.raises(UnknownNameError, match=unknown):
        load_task("office_caltech_images", "D_to_X")
    with pytest.raises(UnknownNameError, match="Unknown task 'dslr'"):
        load_task("office_caltech_images", "dslr")
    with pytest.raises(UnknownNameError, match="Did you mean 'office_caltech_images'"):
        load_task("office_caltech_image", "D")


# --------------------------------------------------------------------------------------------------
# protocols and the runner
# --------------------------------------------------------------------------------------------------


class _SpyInductive(BaseInductiveClassifier):
    _setting = "inductive"

    def fit(self, X, y, *, sample_domain=None):
        self.seen_ = np.array(y, copy=True)
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.zeros(len(X), dtype=int)


class _Constant:
    _setting = "unsupervised"

    def fit_predict(self, X):
        return np.arange(len(X)) % 10


def test_single_domain_tasks_with_the_protocols(images):
    data = load_task("office_caltech_images", "D", size=SIZE)
    spy = _SpyInductive()
    metrics, info = _inductive(spy, data, {"seed": 0, "protocol": {"labels_per_class": 3}}, {})
    assert info["n_labelled"] == 30 and info["n_test"] == 127  # the labelled rows are not scored
    assert np.bincount(spy.seen_).tolist() == [3] * 10  # 3 labelled rows of each class, drawn from the domain
    assert metrics["target/acc"] == pytest.approx((12 - 3) / 127)  # class 0 (backpack) has 12 images, 3 drawn
    metrics, info = _unsupervised(_Constant(), data, {"seed": 0}, {})
    assert info["n_target"] == 157 and 0 <= metrics["target/nmi"] <= 1
    with pytest.raises(ConfigError, match="no source split"):
        run_protocol(type("T", (), {"_setting": "transductive"})(), data, {"seed": 0}, {})


def test_runner_passes_the_size_from_the_config(images, tmp_store):
    from tltaxonomy.runner import _load_task, compose_config, record_key, run_experiment

    cfg = compose_config(["dataset=office_caltech_images", "task=D"])
    assert cfg.dataset.size == 64 and cfg.dataset.preprocess == "none"
    common = ["strategy=kmeans_raw", "dataset=office_caltech_images", "task=D", "strategy.n_init=1"]
    small = compose_config([*common, f"dataset.size={SIZE}", f"strategy.input_shape=[3,{SIZE},{SIZE}]"])
    assert record_key(small) != record_key(compose_config(common))  # the size is part of the record's hash
    rec = run_experiment(small, store=tmp_store).record
    assert rec["config"]["dataset"]["size"] == SIZE and rec["protocol_info"]["n_target"] == 157
    assert {"target/acc", "target/nmi", "target/ari"} <= set(rec["metrics"])
    task = _load_task("office_caltech_images", "D", "none", None, (("size", SIZE),))
    assert task.image_shape == (3, SIZE, SIZE) and not task.X_target.flags.writeable
