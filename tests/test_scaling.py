"""Scale: the Nyström variants of TCA / JDA / BDA / KMM agree with the exact ones, ``approximation="auto"``
stays exact on the published tables' sizes, the exact kernel / OT methods refuse (before allocating) a
matrix that does not fit in memory, and the covariance / PCA of CORAL and SA stream."""

from __future__ import annotations

import importlib.util
import pathlib

import numpy as np
import pytest
import scipy.linalg

from tltaxonomy import _linalg
from tltaxonomy._errors import InsufficientMemoryError
from tltaxonomy._linalg import (
    EXACT_KERNEL_MAX_ROWS,
    available_memory_bytes,
    check_dense_memory,
    covariance,
    nystroem_map,
    resolve_approximation,
    scatter_matrix,
)
from tltaxonomy.transductive import BDA, CORAL, JDA, JDOT, KMM, TCA, OTMapping, SubspaceAlignment
from tltaxonomy.transductive.reweighting import _project_box_sum, kmm_weights
from tltaxonomy.transductive.subspace import pca_basis


def _blobs(seed=0, n=300, d=10, n_classes=3, shift=1.0):
    rng = np.random.default_rng(seed)
    centres = 2.0 * rng.normal(size=(n_classes, d))
    ys, yt = rng.integers(0, n_classes, n), rng.integers(0, n_classes, n)
    Xs = centres[ys] + rng.normal(size=(n, d))
    Xt = centres[yt] + rng.normal(size=(n, d)) + shift
    return Xs, ys, Xt, yt


def _max_angle_deg(A, B):
    return float(np.degrees(scipy.linalg.subspace_angles(A, B).max()))


# ---------------------------------------------------------------------------------------------------
# "auto" = exact on the published tables' sizes
# ---------------------------------------------------------------------------------------------------
def test_auto_threshold_covers_every_published_kernel_table():
    # the largest published TCA / JDA / BDA / KMM table has about 4 000 rows (JDA digits: 1800 + 2000;
    # Amazon mSDA-400: about 2000 + 2000; Office-Caltech SURF: at most 1123 + 1123)
    assert EXACT_KERNEL_MAX_ROWS >= 4_000
    assert resolve_approximation("auto", EXACT_KERNEL_MAX_ROWS) == "exact"
    assert resolve_approximation("auto", EXACT_KERNEL_MAX_ROWS + 1) == "nystroem"
    assert resolve_approximation("exact", 10**9) == "exact"
    assert resolve_approximation("nystroem", 10) == "nystroem"


@pytest.mark.parametrize("cls", [TCA, JDA])
@pytest.mark.parametrize("kernel", ["primal", "rbf"])
def test_auto_below_threshold_is_the_exact_fit(cls, kernel):
    Xs, ys, Xt, _ = _blobs(n=80)
    auto = cls(n_components=5, kernel=kernel).fit_domains(Xs, ys, Xt)
    exact = cls(n_components=5, kernel=kernel, approximation="exact").fit_domains(Xs, ys, Xt)
    assert auto.approximation_ == "exact" and auto.nystroem_ is None
    np.testing.assert_array_equal(auto.components_, exact.components_)
    np.testing.assert_array_equal(auto.predict(Xt), exact.predict(Xt))


def test_auto_above_threshold_is_nystroem(monkeypatch):
    monkeypatch.setattr(_linalg, "EXACT_KERNEL_MAX_ROWS", 100)
    Xs, ys, Xt, _ = _blobs(n=80)
    clf = TCA(n_components=5, kernel="rbf", n_landmarks=40, random_state=0).fit_domains(Xs, ys, Xt)
    assert clf.approximation_ == "nystroem" and clf.X_fit_ is None
    assert clf.components_.shape == (40, 5)
    # primal is exact and linear in n whatever the size: the approximation does not apply
    assert TCA(n_components=5).fit_domains(Xs, ys, Xt).approximation_ == "exact"
    kmm = KMM(n_landmarks=40, random_state=0).fit_domains(Xs, ys, Xt)
    assert kmm.approximation_ == "nystroem"


def test_kmm_auto_below_threshold_is_exact():
    Xs, ys, Xt, _ = _blobs(n=60, d=4)
    auto = KMM().fit_domains(Xs, ys, Xt)
    exact = KMM(approximation="exact").fit_domains(Xs, ys, Xt)
    assert auto.approximation_ == "exact"
    np.testing.assert_array_equal(auto.weights_, exact.weights_)


# ---------------------------------------------------------------------------------------------------
# Nyström variants agree with the exact ones
# ---------------------------------------------------------------------------------------------------
def test_nystroem_map_reproduces_the_kernel_on_its_landmarks():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 6))
    phi = nystroem_map(X, kernel="rbf", gamma=0.2, n_landmarks=120, random_state=0)
    P = phi.transform(X, chunk_rows=17)  # several blocks
    from sklearn.metrics.pairwise import rbf_kernel

    np.testing.assert_allclose(P @ P.T, rbf_kernel(X, gamma=0.2), atol=1e-8)


@pytest.mark.parametrize("cls", [TCA, JDA, BDA])
def test_nystroem_with_linear_kernel_is_exact(cls):
    """The linear kernel has rank <= d: with n_landmarks >= d the Nyström factor is exact, and so is
    the embedding (same subspace, same predictions)."""
    Xs, ys, Xt, _ = _blobs(n=120, d=8)
    kw = dict(n_components=5, kernel="linear", reg=1.0)
    exact = cls(approximation="exact", **kw).fit_domains(Xs, ys, Xt)
    approx = cls(approximation="nystroem", n_landmarks=50, random_state=0, **kw).fit_domains(Xs, ys, Xt)
    X = np.vstack([Xs, Xt])
    assert _max_angle_deg(exact.embed(X), approx.embed(X)) < 1e-4
    np.testing.assert_array_equal(exact.predict(Xt), approx.predict(Xt))


@pytest.mark.parametrize("cls", [TCA, JDA])
def test_nystroem_rbf_agrees_with_exact(cls):
    Xs, ys, Xt, yt = _blobs(n=300, d=20)
    kw = dict(n_components=10, kernel="rbf", gamma=1.0)
    exact = cls(approximation="exact", **kw).fit_domains(Xs, ys, Xt)
    approx = cls(approximation="nystroem", n_landmarks=300, random_state=0, **kw).fit_domains(Xs, ys, Xt)
    X = np.vstack([Xs, Xt])
    # the embedded subspaces (in R^n) are close; measured: largest principal angle 6.5 deg (TCA), 3.2 (JDA)
    assert _max_angle_deg(exact.embed(X), approx.embed(X)) < 15.0
    acc_exact, acc_approx = (exact.predict(Xt) == yt).mean(), (approx.predict(Xt) == yt).mean()
    assert acc_approx >= acc_exact - 0.02


def test_kmm_nystroem_weights_agree_with_exact():
    rng = np.random.default_rng(0)
    Xs = rng.normal(size=(500, 5))
    Xt = 0.8 * rng.normal(size=(400, 5)) + 0.5
    beta, info = kmm_weights(Xs, Xt, approximation="exact", return_info=True)
    approx, ainfo = kmm_weights(Xs, Xt, approximation="nystroem", n_landmarks=300, random_state=0, return_info=True)
    assert ainfo["approximation"] == "nystroem" and ainfo["K"] is None
    # feasible for the exact QP's constraints
    n_s, eps = len(beta), info["eps"]
    assert approx.min() >= 0 and approx.max() <= info["B"]
    assert n_s * (1 - eps) - 1e-6 <= approx.sum() <= n_s * (1 + eps) + 1e-6
    # near-optimal for the exact objective, and correlated weights
    K, kappa = info["K"], info["kappa"]
    f = lambda b: 0.5 * b @ K @ b - kappa @ b  # noqa: E731
    uniform = np.ones(n_s)
    assert (f(approx) - f(beta)) <= 0.02 * (f(uniform) - f(beta))
    assert np.corrcoef(beta, approx)[0, 1] > 0.8


def test_project_box_sum_is_a_projection():
    rng = np.random.default_rng(0)
    v = 3.0 * rng.normal(size=200)
    for lower, upper in [(0.0, 1e9), (150.0, 160.0), (0.0, 5.0)]:
        p = _project_box_sum(v, 2.0, lower, upper)
        assert p.min() >= 0 and p.max() <= 2.0
        assert lower - 1e-8 <= p.sum() <= upper + 1e-8
        # optimality: no feasible random point is closer to v
        for _ in range(20):
            q = _project_box_sum(v + rng.normal(size=200), 2.0, lower, upper)
            assert np.linalg.norm(v - p) <= np.linalg.norm(v - q) + 1e-9


def test_kmm_weights_rejects_an_unknown_approximation():
    with pytest.raises(ValueError, match="approximation must be 'auto', 'exact' or 'nystroem'"):
        kmm_weights(np.zeros((3, 2)), np.ones((3, 2)), approximation="rff")


# ---------------------------------------------------------------------------------------------------
# Memory refusal
# ---------------------------------------------------------------------------------------------------
@pytest.fixture
def tiny_memory(monkeypatch):
    """Pretend that 1 MB is available (nothing large is ever allocated)."""
    monkeypatch.setattr(_linalg, "available_memory_bytes", lambda: 1_000_000)


def test_available_memory_is_known_on_linux():
    avail = available_memory_bytes()
    assert avail is None or avail > 0


def test_check_dense_memory_message(tiny_memory):
    with pytest.raises(InsufficientMemoryError, match=r"Who: the exact method needs the 1,000 x 1,000 thing \(0\.0 GB") as err:
        check_dense_memory("Who", "thing", (1000, 1000), copies=2, fix="Do X.")
    assert isinstance(err.value, MemoryError)
    assert "Do X." in str(err.value) and "GB of memory is available" in str(err.value)
    check_dense_memory("Who", "thing", (10, 10), fix="never")  # 800 bytes fit


@pytest.mark.parametrize("cls", [TCA, JDA, BDA])
def test_exact_kernel_embedding_refuses_what_does_not_fit(cls, tiny_memory):
    Xs, ys, Xt, _ = _blobs(n=200)
    with pytest.raises(InsufficientMemoryError, match=rf'{cls.__name__}: .*400 x 400 rbf kernel.*approximation="nystroem"'):
        cls(n_components=5, kernel="rbf", approximation="exact").fit_domains(Xs, ys, Xt)
    # the Nyström variant and the primal form need no n x n matrix: they fit
    cls(n_components=5, kernel="rbf", approximation="nystroem", n_landmarks=30, random_state=0).fit_domains(Xs, ys, Xt)
    cls(n_components=5).fit_domains(Xs, ys, Xt)


def test_exact_kmm_refuses_what_does_not_fit(tiny_memory):
    Xs, ys, Xt, _ = _blobs(n=200, d=4)
    with pytest.raises(InsufficientMemoryError, match=r'KMM: .*200 x 200 source x source RBF kernel.*approximation="nystroem"'):
        KMM(approximation="exact").fit_domains(Xs, ys, Xt)
    KMM(approximation="nystroem", n_landmarks=30, random_state=0).fit_domains(Xs, ys, Xt)


@pytest.mark.parametrize("cls", [OTMapping, JDOT])
def test_ot_refuses_what_does_not_fit(cls, tiny_memory):
    Xs, ys, Xt, _ = _blobs(n=200, d=4)
    with pytest.raises(InsufficientMemoryError, match=rf"{cls.__name__}: .*200 x 200 cost and coupling.*random subsample"):
        cls().fit_domains(Xs, ys, Xt)


# ---------------------------------------------------------------------------------------------------
# Streaming covariance / PCA (CORAL, SA)
# ---------------------------------------------------------------------------------------------------
def test_scatter_matrix_streams_exactly():
    rng = np.random.default_rng(0)
    X = 100.0 + rng.normal(size=(1000, 7))  # a large mean: no X^T X - n mu mu^T cancellation
    mu, S = scatter_matrix(X, chunk_rows=64)
    np.testing.assert_allclose(mu, X.mean(axis=0))
    np.testing.assert_allclose(S / 999, np.cov(X, rowvar=False), rtol=1e-10)
    X32 = X.astype(np.float32)
    mu32, S32 = scatter_matrix(X32, chunk_rows=64)  # float32 rows, accumulated in float64
    assert S32.dtype == np.float64
    np.testing.assert_allclose(S32, scatter_matrix(X32.astype(np.float64))[1], rtol=1e-10)
    # below CHUNK_ROWS the covariance is np.cov's to the last bit (the published tables do not move)
    np.testing.assert_array_equal(covariance(X), np.cov(X, rowvar=False, ddof=1))


def test_pca_basis_of_many_rows_matches_svd():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(600, 12)) @ rng.normal(size=(12, 12)) + 5.0
    V, var, mu = pca_basis(X, 4)
    _, s, Vt = np.linalg.svd(X - X.mean(axis=0), full_matrices=False)
    assert _max_angle_deg(V, Vt[:4].T) < 1e-6
    np.testing.assert_allclose(var, s[:4] ** 2 / 599, rtol=1e-10)


@pytest.mark.parametrize("cls", [CORAL, SubspaceAlignment])
def test_coral_and_sa_accept_float32_rows(cls):
    from sklearn.linear_model import RidgeClassifier

    Xs, ys, Xt, _ = _blobs(n=200, d=10)
    kw = {"n_components": 5} if cls is SubspaceAlignment else {}
    clf = cls(estimator=RidgeClassifier(), **kw).fit_domains(Xs.astype(np.float32), ys, Xt.astype(np.float32))
    assert clf.predict(Xt.astype(np.float32)).shape == (200,)


# ---------------------------------------------------------------------------------------------------
# The scaling benchmark's smoke version
# ---------------------------------------------------------------------------------------------------
def _load_scaling():
    path = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "perf" / "scaling.py"
    spec = importlib.util.spec_from_file_location("tltax_perf_scaling", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_scaling_benchmark_smoke(tmp_path):
    scaling = _load_scaling()
    rows = [scaling.run_one(method, variant, 300, d=16, seed=0) for method, variant in scaling.METHODS]
    assert all(r["status"] == "ok" and r["fit_s"] > 0 for r in rows), rows
    # the report: a Markdown table with slopes, and the log-log figure
    fake = [dict(r, n=n, fit_s=r["fit_s"] * n / 300, peak_mb=100.0) for r in rows for n in (300, 600, 1200)]
    md = scaling.write_report(fake, tmp_path / "perf.md", tmp_path / "perf.png", d=16)
    assert (tmp_path / "perf.png").stat().st_size > 0
    assert "slope" in md and "| CORAL |" in md


def test_memoize_skips_hashing_large_arrays(monkeypatch):
    calls = []

    @_linalg.memoize_on_content()
    def f(X):
        calls.append(1)
        return np.asarray(X).sum(axis=0)

    X = np.ones((50, 4))
    f(X), f(X)
    assert len(calls) == 1  # small: cached
    monkeypatch.setattr(_linalg, "MEMO_MAX_ELEMENTS", 100)
    out = f(X)
    f(X)
    assert len(calls) == 3  # large: computed each time, never hashed
    assert not out.flags.writeable  # read-only either way
