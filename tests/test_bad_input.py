"""Bad input: one parametrised matrix over the whole registry, plus misspelt configs and unsafe archives.

Every registered strategy (derived from :func:`tltaxonomy.list_strategies`, so a new strategy is covered
the day it is registered) meets every bad-input case that its setting allows. Each cell either

- **works**, and that is asserted (predictions of the right shape, in the caller's label space), or
- **raises** a ``ValueError`` / ``TypeError`` whose message names the strategy (class or registry
  name), the problem and the fix (one regex each, per case).

Some cases must work (string / non-contiguous labels, float32 / float64 / int input, sparse input for a
strategy that declares it accepts sparse), some must raise (NaN, inf, mismatched features, empty input,
no labels, a single class, an inconsistent ``sample_domain``, sparse input for a strategy that declares
it does not), and a few may do either (a single target row, a single sample). Cases that do not apply to
a setting are not generated.

Set ``TLTAX_BAD_INPUT_LOG=path`` to append one ``strategy case outcome`` line per cell (the counts of
the note in the issue come from it).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
import scipy.sparse as sp

from tltaxonomy import list_strategies
from tltaxonomy.inductive import SparseAutoencoder
from tltaxonomy.unsupervised import FeatureClustering

# ---------------------------------------------------------------------------------------------
# Instances with the fastest parameters (the matrix tests validation, not learning).
# ---------------------------------------------------------------------------------------------
_FAST: dict[str, dict] = {
    "sa": {"n_components": 2}, "gfk": {"n_components": 2}, "pca": {"n_components": 2},
    "tca": {"n_components": 2, "l2_normalize": False},
    "jda": {"n_components": 2, "l2_normalize": False},
    "bda": {"n_components": 2, "l2_normalize": False},
    "density_ratio": {"cv": 2, "random_state": 0}, "kliep": {"cv": 2, "random_state": 0},
    "jdot": {"max_iter": 2}, "self_training": {"max_iter": 2},
    "itcc": {"n_clusters": 2, "n_feature_clusters": 2, "n_init": 1, "max_iter": 5, "random_state": 0},
    "stc": {"n_clusters": 2, "n_feature_clusters": 2, "n_init": 1, "max_iter": 5, "random_state": 0},
    "dec": {"n_clusters": 2, "init": "pretrained", "backbone": "mlp", "input_shape": None,
            "backbone_kwargs": {"hidden": [8]}, "n_init": 1, "max_iter": 2, "device": "cpu", "random_state": 0},
    "feature_kmeans": {"n_clusters": 2, "n_init": 1, "device": "cpu", "random_state": 0},
    "feature_clustering": {"n_clusters": 2, "n_init": 1, "device": "cpu", "random_state": 0},
    "unsupervised_search": {  # an encoder: dense input only, as the tags say (without one, k-means takes sparse rows)
        "estimator": FeatureClustering(n_clusters=2, backbone="mlp", input_shape=None, n_init=1, random_state=0),
        "param_grid": {"clusterer": ["kmeans"]}, "random_state": 0,
    },
    "self_taught": {"feature_learner": SparseAutoencoder(n_components=4, decoder="linear", max_iter=5, random_state=0)},
    "linear_probe": {"device": "cpu", "random_state": 0, "max_iter": 50},
    "mean_regularized_mtl": {"cv": 2}, "mtfl": {"cv": 2, "max_iter": 50}, "trace_norm_mtl": {"cv": 2, "max_iter": 50},
    "pooled_ridge": {"cv": 2}, "single_task_ridge": {"cv": 2},
    "adabn": {"bottleneck_dim": 4},
}

ALL = list_strategies()


def _params(info) -> dict:
    defaults = info.cls().get_params(deep=False)
    params = dict(_FAST.get(info.name, {}))
    if "max_epochs" in defaults:
        params.setdefault("max_epochs", 1)
    if "batch_size" in defaults:
        params.setdefault("batch_size", 16)
    if "device" in defaults:
        params.setdefault("device", "cpu")
    if "random_state" in defaults:
        params.setdefault("random_state", 0)
    if "backbone_kwargs" in defaults:
        params.setdefault("backbone_kwargs", {"hidden": [8]})
    if "discriminator_hidden" in defaults:
        params.setdefault("discriminator_hidden", 8)
    if "backbone" in defaults and "input_shape" in defaults and info.setting != "transductive":
        params.setdefault("backbone", "mlp")  # flat rows, not LeNet's 28x28 images
        params.setdefault("input_shape", None)
    return params


def make(info):
    return info.cls(**_params(info))


def _takes_text(info) -> bool:
    tags = info.cls().__sklearn_tags__().input_tags
    return tags.string and not tags.two_d_array


def _accepts_sparse(info) -> bool:
    return bool(make(info).__sklearn_tags__().input_tags.sparse)


def _kind(info) -> str:
    if getattr(info.cls, "_multitask", False):
        return "multitask"
    if _takes_text(info):
        return "text"
    return info.setting


def _fit_kwarg(info, name: str) -> bool:
    import inspect

    return name in inspect.signature(info.cls.fit).parameters


# ---------------------------------------------------------------------------------------------
# Tiny data per setting: 5 features, a few rows, two well separated classes / clusters.
# Values are positive (the co-clustering strategies read X as a joint distribution).
# ---------------------------------------------------------------------------------------------
N_FEATURES = 5


def _blobs(n: int, seed: int, shift: float = 0.0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = rng.random((n, N_FEATURES)) + 1.0 + shift
    X[:, 0] += 3.0 * y
    X[:, 1] += 3.0 * (1 - y)
    return X, y


def _da_data():
    Xs, ys = _blobs(16, 0)
    Xt, yt = _blobs(12, 1, shift=0.3)
    return Xs, ys, Xt, yt


def _stacked(Xs, ys, Xt):
    X = np.vstack([Xs, Xt])
    y = np.concatenate([ys, np.full(len(Xt), -1)])
    sd = np.r_[np.ones(len(Xs), int), -np.ones(len(Xt), int)]
    return X, y, sd


def _texts(n: int = 12, seed: int = 0):
    rng = np.random.default_rng(seed)
    vocab = (["alpha", "bravo", "charlie"], ["xray", "yankee", "zulu"])
    y = np.arange(n) % 2
    docs = [" ".join(rng.choice(vocab[label], 4)) for label in y]
    return np.array(docs, dtype=object), y


def _multitask_data(n: int = 24, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    Y = np.full((n, 2), np.nan)
    Y[: n // 2, 0] = X[: n // 2, 0] - X[: n // 2, 1]
    Y[n // 2 :, 1] = X[n // 2 :, 0] + 0.5
    return X, Y


# ---------------------------------------------------------------------------------------------
# What "works" means, per setting.
# ---------------------------------------------------------------------------------------------
def _assert_labels(pred, n: int, labels) -> None:
    pred = np.asarray(pred)
    assert pred.shape == (n,), pred.shape
    assert set(pred.tolist()) <= set(np.asarray(labels).tolist()), (set(pred.tolist()), labels)


def _da_fit_predict(info, X, y, sd, X_test, labels, **predict_kw):
    est = make(info).fit(X, y, sample_domain=sd)
    assert set(np.asarray(est.classes_).tolist()) == set(np.asarray(labels).tolist())
    _assert_labels(est.predict(X_test, **predict_kw), X_test.shape[0], labels)


def _ind_fit_predict(info, X, y, X_test, labels):
    est = make(info).fit(X, y)
    _assert_labels(est.predict(X_test), X_test.shape[0], labels)


def _clu_fit(info, X, X_test=None):
    est = make(info)
    labels = est.fit_predict(X)
    assert np.asarray(labels).shape == (X.shape[0],)
    if X_test is not None and hasattr(est, "predict"):
        assert np.asarray(est.predict(X_test)).shape == (X_test.shape[0],)


def _mt_fit_predict(info, X, Y, X_test):
    est = make(info).fit(X, Y)
    P = est.predict(X_test)
    assert np.asarray(P).shape == (X_test.shape[0], Y.shape[1])


# ---------------------------------------------------------------------------------------------
# The cases. ``expect``: "works" (must work), "raises" (must raise) or "either".
# ``problem`` / ``fix``: regexes the message must match (case-insensitive) when it raises.
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    name: str
    run: Callable
    expect: str
    problem: str = ""
    fix: str = ""
    applies: Callable = lambda info: True


NAN = ("NaN", r"impute|drop|remove")
INF = (r"inf", r"replace|clip|drop|remove")
NFEAT = (r"features?", r"same (number of )?(features|columns)|same \w+ as|refit|pass")
EMPTY = (r"0 sample|no rows|empty|no target", r"at least|pass")
ONE_CLASS = (r"one class|1 class|single class", r"at least 2|at least two|two classes")
SPARSE_NO = (r"sparse", r"toarray|dense|densif")
SD = (r"sample_domain", r"one domain id per row|positive|source")


def _with(X, value, row=2, col=1):
    X = X.copy()
    X[row, col] = value
    return X


# --- transductive ------------------------------------------------------------------------------
def _t_nan(info):
    Xs, ys, Xt, _ = _da_data()
    X, y, sd = _stacked(Xs, ys, Xt)
    make(info).fit(_with(X, np.nan), y, sample_domain=sd)


def _t_inf(info):
    Xs, ys, Xt, _ = _da_data()
    X, y, sd = _stacked(Xs, ys, Xt)
    make(info).fit(_with(X, np.inf), y, sample_domain=sd)


def _t_nan_predict(info):
    Xs, ys, Xt, _ = _da_data()
    make(info).fit_domains(Xs, ys, Xt).predict(_with(Xt, np.nan, row=0))


def _t_fit_domains_nfeat(info):
    Xs, ys, Xt, _ = _da_data()
    make(info).fit_domains(Xs, ys, Xt[:, :-1])


def _t_predict_nfeat(info):
    Xs, ys, Xt, _ = _da_data()
    make(info).fit_domains(Xs, ys, Xt).predict(Xt[:, :-1])


def _t_empty_target(info):
    Xs, ys, Xt, _ = _da_data()
    est = make(info).fit_domains(Xs, ys, Xt[:0])
    _assert_labels(est.predict(Xt), len(Xt), [0, 1])


def _t_empty_X(info):
    make(info).fit(np.empty((0, N_FEATURES)), np.empty(0, int), sample_domain=np.empty(0, int))


def _t_no_source_labels(info):
    Xs, ys, Xt, _ = _da_data()
    X, y, sd = _stacked(Xs, np.full_like(ys, -1), Xt)
    make(info).fit(X, y, sample_domain=sd)


def _t_single_class(info):
    Xs, ys, Xt, _ = _da_data()
    make(info).fit_domains(Xs, np.zeros_like(ys), Xt)


def _t_string_labels(info):
    Xs, ys, Xt, _ = _da_data()
    names = np.array(["cat", "dog"], dtype=object)[ys]
    est = make(info).fit_domains(Xs, names, Xt)
    _assert_labels(est.predict(Xt), len(Xt), ["cat", "dog"])
    assert list(est.classes_) == ["cat", "dog"]


def _t_noncontiguous_labels(info):
    Xs, ys, Xt, _ = _da_data()
    labels = np.array([3, 17])[ys]
    X, _, sd = _stacked(Xs, ys, Xt)
    y = np.concatenate([labels, np.full(len(Xt), -1)])
    _da_fit_predict(info, X, y, sd, Xt, [3, 17])


def _t_sparse(info):
    Xs, ys, Xt, _ = _da_data()
    X, y, sd = _stacked(Xs, ys, Xt)
    _da_fit_predict(info, sp.csr_matrix(X), y, sd, sp.csr_matrix(Xt), [0, 1])


def _t_dtype(dtype):
    def run(info):
        Xs, ys, Xt, _ = _da_data()
        X, y, sd = _stacked(Xs, ys, Xt)
        if np.issubdtype(dtype, np.integer):
            X, Xt = np.round(3 * X).astype(dtype), np.round(3 * Xt).astype(dtype)
        _da_fit_predict(info, X.astype(dtype), y, sd, Xt.astype(dtype), [0, 1])

    return run


def _t_one_target_sample(info):
    Xs, ys, Xt, _ = _da_data()
    est = make(info).fit_domains(Xs, ys, Xt[:1])
    _assert_labels(est.predict(Xt), len(Xt), [0, 1])


def _t_predict_one_sample(info):
    Xs, ys, Xt, _ = _da_data()
    est = make(info).fit_domains(Xs, ys, Xt)
    _assert_labels(est.predict(Xt[:1]), 1, [0, 1])


def _t_sd_wrong_length(info):
    Xs, ys, Xt, _ = _da_data()
    X, y, sd = _stacked(Xs, ys, Xt)
    make(info).fit(X, y, sample_domain=sd[:-3])


def _t_sd_no_source(info):
    Xs, ys, Xt, _ = _da_data()
    X, y, sd = _stacked(Xs, ys, Xt)
    make(info).fit(X, y, sample_domain=-np.abs(sd))


def _t_sd_predict_wrong_length(info):
    Xs, ys, Xt, _ = _da_data()
    make(info).fit_domains(Xs, ys, Xt).predict(Xt, sample_domain=-np.ones(len(Xt) + 1, int))


TRANSDUCTIVE_CASES = [
    Case("nan_in_X", _t_nan, "raises", *NAN),
    Case("inf_in_X", _t_inf, "raises", *INF),
    Case("nan_in_X_predict", _t_nan_predict, "raises", *NAN),
    Case("n_features_source_vs_target", _t_fit_domains_nfeat, "raises", *NFEAT),
    Case("n_features_fit_vs_predict", _t_predict_nfeat, "raises", *NFEAT),
    Case("empty_target", _t_empty_target, "either", *EMPTY),
    Case("empty_X", _t_empty_X, "raises", *EMPTY),
    Case("no_source_labels", _t_no_source_labels, "raises", r"no source labels|masked", r"label"),
    Case("single_class", _t_single_class, "raises", *ONE_CLASS),
    Case("string_labels", _t_string_labels, "works"),
    Case("noncontiguous_labels", _t_noncontiguous_labels, "works"),
    Case("sparse_accepted", _t_sparse, "works", applies=_accepts_sparse),
    Case("float32", _t_dtype(np.float32), "works"),
    Case("float64", _t_dtype(np.float64), "works"),
    Case("int", _t_dtype(np.int64), "works"),
    Case("one_target_sample", _t_one_target_sample, "either", r"target rows", r"pass more|n_components <="),
    Case("predict_one_sample", _t_predict_one_sample, "works"),
    Case("sample_domain_wrong_length", _t_sd_wrong_length, "raises", *SD),
    Case("sample_domain_no_source", _t_sd_no_source, "raises", r"no source", r"positive sample_domain"),
    Case("sample_domain_wrong_length_predict", _t_sd_predict_wrong_length, "raises", *SD),
]


# --- inductive (numeric X) ---------------------------------------------------------------------
def _ind_data():
    X, y = _blobs(16, 0)
    X_test, _ = _blobs(6, 1)
    return X, y, X_test


def _i_nan(info):
    X, y, _ = _ind_data()
    make(info).fit(_with(X, np.nan), y)


def _i_inf(info):
    X, y, _ = _ind_data()
    make(info).fit(_with(X, -np.inf), y)


def _i_nan_predict(info):
    X, y, X_test = _ind_data()
    make(info).fit(X, y).predict(_with(X_test, np.nan, row=0))


def _i_predict_nfeat(info):
    X, y, X_test = _ind_data()
    make(info).fit(X, y).predict(X_test[:, :-1])


def _i_unlabelled_nfeat(info):
    X, y, X_test = _ind_data()
    make(info).fit(X, y, X_unlabelled=X_test[:, :-1])


def _i_empty(info):
    make(info).fit(np.empty((0, N_FEATURES)), np.empty(0, int))


def _i_no_labels(info):
    X, _, _ = _ind_data()
    make(info).fit(X, None)


def _i_single_class(info):
    X, y, _ = _ind_data()
    make(info).fit(X, np.zeros_like(y))


def _i_string_labels(info):
    X, y, X_test = _ind_data()
    _ind_fit_predict(info, X, np.array(["cat", "dog"], dtype=object)[y], X_test, ["cat", "dog"])


def _i_noncontiguous(info):
    X, y, X_test = _ind_data()
    _ind_fit_predict(info, X, np.array([3, 17])[y], X_test, [3, 17])


def _i_sparse(info):
    X, y, X_test = _ind_data()
    _ind_fit_predict(info, sp.csr_matrix(X), y, sp.csr_matrix(X_test), [0, 1])


def _i_dtype(dtype):
    def run(info):
        X, y, X_test = _ind_data()
        if np.issubdtype(dtype, np.integer):
            X, X_test = np.round(3 * X), np.round(3 * X_test)
        _ind_fit_predict(info, X.astype(dtype), y, X_test.astype(dtype), [0, 1])

    return run


def _i_predict_one(info):
    X, y, X_test = _ind_data()
    _ind_fit_predict(info, X, y, X_test[:1], [0, 1])


INDUCTIVE_CASES = [
    Case("nan_in_X", _i_nan, "raises", *NAN),
    Case("inf_in_X", _i_inf, "raises", *INF),
    Case("nan_in_X_predict", _i_nan_predict, "raises", *NAN),
    Case("n_features_fit_vs_predict", _i_predict_nfeat, "raises", *NFEAT),
    Case("n_features_labelled_vs_unlabelled", _i_unlabelled_nfeat, "raises", *NFEAT,
         applies=lambda info: _fit_kwarg(info, "X_unlabelled")),
    Case("empty_X", _i_empty, "raises", *EMPTY),
    Case("no_labels", _i_no_labels, "raises", r"requires y", r"pass the label"),
    Case("single_class", _i_single_class, "raises", *ONE_CLASS),
    Case("string_labels", _i_string_labels, "works"),
    Case("noncontiguous_labels", _i_noncontiguous, "works"),
    Case("sparse_accepted", _i_sparse, "works", applies=_accepts_sparse),
    Case("sparse_refused", _i_sparse, "raises", *SPARSE_NO, applies=lambda info: not _accepts_sparse(info)),
    Case("float32", _i_dtype(np.float32), "works"),
    Case("float64", _i_dtype(np.float64), "works"),
    Case("int", _i_dtype(np.int64), "works"),
    Case("predict_one_sample", _i_predict_one, "works"),
]


# --- inductive on text (documents, not a numeric matrix: only the label and size cases apply) ----
def _x_empty(info):
    make(info).fit(np.array([], dtype=object), np.empty(0, int))


def _x_single_class(info):
    X, y = _texts()
    make(info).fit(X, np.zeros_like(y))


def _x_no_labels(info):
    X, _ = _texts()
    make(info).fit(X, None)


def _x_labels(values):
    def run(info):
        X, y = _texts()
        est = make(info).fit(X, np.array(values)[y])
        X_test, _ = _texts(seed=1)
        _assert_labels(est.predict(X_test), len(X_test), values)

    return run


def _x_predict_one(info):
    X, y = _texts()
    _assert_labels(make(info).fit(X, y).predict(X[:1]), 1, [0, 1])


TEXT_CASES = [
    Case("empty_X", _x_empty, "raises", *EMPTY),
    Case("no_labels", _x_no_labels, "raises", r"requires y", r"pass the label"),
    Case("single_class", _x_single_class, "raises", *ONE_CLASS),
    Case("string_labels", _x_labels(["cat", "dog"]), "works"),
    Case("noncontiguous_labels", _x_labels([3, 17]), "works"),
    Case("predict_one_sample", _x_predict_one, "works"),
]


# --- unsupervised ------------------------------------------------------------------------------
def _clu_data():
    X, _ = _blobs(16, 0)
    X_test, _ = _blobs(6, 1)
    return X, X_test


def _u_nan(info):
    X, _ = _clu_data()
    make(info).fit(_with(X, np.nan))


def _u_inf(info):
    X, _ = _clu_data()
    make(info).fit(_with(X, np.inf))


def _u_predict_nfeat(info):
    X, X_test = _clu_data()
    make(info).fit(X).predict(X_test[:, :-1])


def _u_aux_nfeat(info):
    X, X_test = _clu_data()
    make(info).fit(X, X_auxiliary=X_test[:, :-1])


def _u_empty(info):
    make(info).fit(np.empty((0, N_FEATURES)))


def _u_sparse(info):
    X, X_test = _clu_data()
    _clu_fit(info, sp.csr_matrix(X), sp.csr_matrix(X_test))


def _u_sparse_refused(info):
    X, _ = _clu_data()
    make(info).fit(sp.csr_matrix(X))


def _u_dtype(dtype):
    def run(info):
        X, X_test = _clu_data()
        if np.issubdtype(dtype, np.integer):
            X, X_test = np.round(3 * X), np.round(3 * X_test)
        _clu_fit(info, X.astype(dtype), X_test.astype(dtype))

    return run


def _u_one_sample(info):
    X, _ = _clu_data()
    _clu_fit(info, X[:1])


def _u_predict_one(info):
    X, X_test = _clu_data()
    est = make(info).fit(X)
    assert np.asarray(est.predict(X_test[:1])).shape == (1,)


def _has_predict(info) -> bool:
    return hasattr(info.cls, "predict")


UNSUPERVISED_CASES = [
    Case("nan_in_X", _u_nan, "raises", *NAN),
    Case("inf_in_X", _u_inf, "raises", *INF),
    Case("n_features_fit_vs_predict", _u_predict_nfeat, "raises", *NFEAT, applies=_has_predict),
    Case("n_features_X_vs_auxiliary", _u_aux_nfeat, "raises", *NFEAT,
         applies=lambda info: _fit_kwarg(info, "X_auxiliary")),
    Case("empty_X", _u_empty, "raises", *EMPTY),
    Case("sparse_accepted", _u_sparse, "works", applies=_accepts_sparse),
    Case("sparse_refused", _u_sparse_refused, "raises", *SPARSE_NO, applies=lambda info: not _accepts_sparse(info)),
    Case("float32", _u_dtype(np.float32), "works"),
    Case("float64", _u_dtype(np.float64), "works"),
    Case("int", _u_dtype(np.int64), "works"),
    Case("one_sample", _u_one_sample, "either", r"\b1 (sample|row|item)", r"at least|pass more|lower"),
    Case("predict_one_sample", _u_predict_one, "works", applies=_has_predict),
]


# --- multi-task (X, Y with NaN = unobserved) ---------------------------------------------------
def _m_nan(info):
    X, Y = _multitask_data()
    make(info).fit(_with(X, np.nan), Y)


def _m_inf(info):
    X, Y = _multitask_data()
    make(info).fit(_with(X, np.inf), Y)


def _m_predict_nfeat(info):
    X, Y = _multitask_data()
    make(info).fit(X, Y).predict(X[:, :-1])


def _m_empty(info):
    make(info).fit(np.empty((0, 4)), np.empty((0, 2)))


def _m_no_labels(info):
    X, Y = _multitask_data()
    make(info).fit(X, np.full_like(Y, np.nan))


def _m_rows(info):
    X, Y = _multitask_data()
    make(info).fit(X, Y[:-2])


def _m_sparse(info):
    X, Y = _multitask_data()
    _mt_fit_predict(info, sp.csr_matrix(X), Y, sp.csr_matrix(X))


def _m_sparse_refused(info):
    X, Y = _multitask_data()
    make(info).fit(sp.csr_matrix(X), Y)


def _m_dtype(dtype):
    def run(info):
        X, Y = _multitask_data()
        if np.issubdtype(dtype, np.integer):
            X = np.round(3 * X)
        _mt_fit_predict(info, X.astype(dtype), Y, X.astype(dtype))

    return run


def _m_predict_one(info):
    X, Y = _multitask_data()
    _mt_fit_predict(info, X, Y, X[:1])


MULTITASK_CASES = [
    Case("nan_in_X", _m_nan, "raises", *NAN),
    Case("inf_in_X", _m_inf, "raises", *INF),
    Case("n_features_fit_vs_predict", _m_predict_nfeat, "raises", *NFEAT),
    Case("empty_X", _m_empty, "raises", *EMPTY),
    Case("no_labels", _m_no_labels, "raises", r"(observed|labelled) (\(non-NaN\) )?rows", r"add labelled rows"),
    Case("Y_wrong_length", _m_rows, "raises", r"rows", r"one row|pass|same"),
    Case("sparse_accepted", _m_sparse, "works", applies=_accepts_sparse),
    Case("sparse_refused", _m_sparse_refused, "raises", *SPARSE_NO, applies=lambda info: not _accepts_sparse(info)),
    Case("float32", _m_dtype(np.float32), "works"),
    Case("float64", _m_dtype(np.float64), "works"),
    Case("int", _m_dtype(np.int64), "works"),
    Case("predict_one_sample", _m_predict_one, "works"),
]

CASES = {
    "transductive": TRANSDUCTIVE_CASES,
    "inductive": INDUCTIVE_CASES,
    "text": TEXT_CASES,
    "unsupervised": UNSUPERVISED_CASES,
    "multitask": MULTITASK_CASES,
}

CELLS = [(info, case) for info in ALL for case in CASES[_kind(info)] if case.applies(info)]


def _log(info, case, outcome: str) -> None:
    path = os.environ.get("TLTAX_BAD_INPUT_LOG")
    if path:
        with open(path, "a") as fh:
            fh.write(f"{info.name} {case.name} {outcome}\n")


def _names_strategy(info, message: str) -> bool:
    return bool(re.search(rf"\b({re.escape(info.cls.__name__)}|{re.escape(info.name)})\b", message))


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize(("info", "case"), CELLS, ids=[f"{i.name}-{c.name}" for i, c in CELLS])
def test_bad_input_matrix(info, case):
    try:
        case.run(info)
    except (ValueError, TypeError) as exc:
        if case.expect == "works":
            raise
        message = str(exc)
        assert _names_strategy(info, message), f"the message does not name the strategy: {message}"
        assert re.search(case.problem, message, re.I), f"the message does not name the problem: {message}"
        assert re.search(case.fix, message, re.I), f"the message does not name the fix: {message}"
        _log(info, case, "raises")
    else:
        assert case.expect != "raises", f"{info.name} accepted {case.name} silently"
        _log(info, case, "works")


def test_matrix_covers_every_strategy():
    covered = {info.name for info, _ in CELLS}
    assert covered == {s.name for s in ALL}
    # every setting gets its cases (none padded with skips)
    assert {_kind(s) for s in ALL} <= set(CASES)


# ---------------------------------------------------------------------------------------------
# Misspelt configuration: one paragraph with the closest valid name (or all of them), exit 2, no trace.
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "closest"),
    [
        (["strategy=corall"], r"Unknown strategy 'corall'\. Did you mean 'coral'.*Valid strategies: .*source_only"),
        (["dataset=offce_caltech_surf"], r"Unknown dataset 'offce_caltech_surf'\. Did you mean 'office_caltech_surf'"),
        (["pretrain=sorce"], r"Unknown pretrain choice 'sorce'\. Did you mean 'source'\?.*Valid pretrain choices: none"),
        (["-m", "strategy=coral,sourceonly"], r"Unknown strategy 'sourceonly'\. Did you mean 'source_only'"),
        (["strategy.regg=1"], r"strategy=coral: Unknown hyper-parameter 'regg'\. Did you mean 'reg'\?.*Valid hyper-parameters: "),
        (["strategy=tca", "strategy.n_component=5"], r"strategy=tca: Unknown hyper-parameter 'n_component'\. Did you mean 'n_components'"),
        (["sed=1"], r"Unknown config key 'sed'\. Did you mean 'seed'\?.*Valid config keys: "),
    ],
    ids=["strategy", "dataset", "group_option", "sweep_value", "hyper_parameter", "hyper_parameter_of_option", "top_level_key"],
)
def test_misspelt_config_gets_the_closest_name(overrides, closest, capsys):
    from tltaxonomy.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["run", *overrides])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tltax run: error: ") and len(err.splitlines()) == 1, err  # one paragraph
    assert re.search(closest, err), err


def test_misspelt_task_gets_the_closest_name_without_a_traceback(shared_data_dir, tmp_path):
    # the task is a plain key, checked by the dataset registry inside the Hydra job
    env = {**os.environ, "TLTAX_STORE": str(tmp_path / "store")}
    env.pop("HYDRA_FULL_ERROR", None)
    out = subprocess.run(
        [sys.executable, "-m", "tltaxonomy", "run", "strategy=coral", "dataset=office_caltech_surf", "task=A_to_X"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and "HYDRA_FULL_ERROR" not in out.stderr, out.stderr
    assert re.search(r"Unknown task 'A_to_X'\. Did you mean 'A_to_W'.*Valid tasks: A_to_C", out.stderr), out.stderr


@pytest.mark.parametrize("seed", ["abc", "1.5", "true"])
def test_a_seed_that_is_not_an_integer_is_named(seed, tmp_path):
    from tltaxonomy._errors import ConfigError
    from tltaxonomy.runner import compose_config, run_experiment
    from tltaxonomy.store import ResultStore

    cfg = compose_config(["strategy=source_only", "dataset=gaussian_shift", "task=covariate"])
    cfg["seed"] = seed if seed != "true" else True
    with pytest.raises(ConfigError, match=r"seed must be an integer, got .*tltax run seed=0"):
        run_experiment(cfg, store=ResultStore(tmp_path))


def test_well_spelt_overrides_pass_the_check():
    from tltaxonomy._overrides import check_overrides
    from tltaxonomy.runner import CONF_DIR

    check_overrides(["-m", "strategy=coral,tca", "strategy.reg=2", "dataset=office_caltech_surf", "task=A_to_W",
                     "seed=1", "+strategy.extra=1", "hydra/launcher=basic", "protocol.labels_per_class=3",
                     "strategy._target_=tltaxonomy.transductive.CORAL", "runtime.store=/tmp/s", "hydra.sweep.dir=/tmp/m",
                     "strategy=choice(coral,sa)"], CONF_DIR)


# ---------------------------------------------------------------------------------------------
# Archives: members that would land outside the destination are refused before anything is written.
# ---------------------------------------------------------------------------------------------
def _malicious_tar(path, *members):
    import io

    with tarfile.open(path, "w:gz" if str(path).endswith(".gz") else "w") as tar:
        for name, kind in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                data = b"evil"
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:  # a symbolic link pointing outside
                info.type = tarfile.SYMTYPE
                info.linkname = "/etc/passwd"
                tar.addfile(info)
    return path


@pytest.mark.parametrize(
    ("member", "kind"),
    [("../evil.txt", "file"), ("/tmp/tltax-absolute-evil.txt", "file"), ("ok/../../evil.txt", "file"), ("link", "symlink")],
    ids=["dotdot", "absolute", "nested_dotdot", "symlink"],
)
def test_safe_extract_refuses_members_outside_the_destination(tmp_path, member, kind):
    from tltaxonomy._errors import DataFileError
    from tltaxonomy.datasets._files import safe_extract

    archive = _malicious_tar(tmp_path / "a.tar", ("good.txt", "file"), (member, kind))
    dest = tmp_path / "out" / "inner"
    with pytest.raises(DataFileError, match=rf"Refusing archive member '{re.escape(member)}' of .*a\.tar: .*"):
        safe_extract(archive, dest)
    assert not dest.exists()  # refused before anything was written
    assert not (tmp_path / "out" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()
    assert not os.path.exists("/tmp/tltax-absolute-evil.txt")


def test_safe_extract_refuses_zip_slip(tmp_path):
    import zipfile

    from tltaxonomy._errors import DataFileError
    from tltaxonomy.datasets._files import safe_extract

    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("good.txt", "ok")
        zf.writestr("../evil.txt", "evil")
    with pytest.raises(DataFileError, match=r"Refusing archive member '\.\./evil\.txt'"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out").exists()


def test_safe_extract_extracts_a_clean_archive(tmp_path):
    from tltaxonomy.datasets._files import safe_extract

    archive = _malicious_tar(tmp_path / "a.tar", ("dir/good.txt", "file"))
    written = safe_extract(archive, tmp_path / "out")
    assert written == [(tmp_path / "out" / "dir" / "good.txt").resolve()]
    assert written[0].read_bytes() == b"evil"


def test_dataset_readers_refuse_unsafe_member_names(tmp_path):
    from tltaxonomy._errors import DataFileError
    from tltaxonomy.datasets._real import _decode_office_domain
    from tltaxonomy.datasets._text_clustering import _read_20news

    news = _malicious_tar(tmp_path / "news.tar.gz", ("../evil.txt", "file"))
    with pytest.raises(DataFileError, match=r"Refusing archive member '\.\./evil\.txt'"):
        _read_20news((str(news), 0, 0))
    office = _malicious_tar(tmp_path / "office.tar", ("images/amazon/../../../evil.txt", "file"))
    with pytest.raises(DataFileError, match=r"Refusing archive member 'images/amazon/\.\./\.\./\.\./evil\.txt'"):
        _decode_office_domain(office, "amazon", 32)
    assert not (tmp_path.parent / "evil.txt").exists()


def test_safe_extract_refuses_a_file_that_is_not_an_archive(tmp_path):
    from tltaxonomy._errors import DataFileError
    from tltaxonomy.datasets._files import safe_extract

    bogus = tmp_path / "bogus.tar"
    bogus.write_bytes(b"not an archive")
    with pytest.raises(DataFileError, match=r"bogus\.tar is neither a tar nor a zip archive"):
        safe_extract(bogus, tmp_path / "out")
    assert not (tmp_path / "out").exists()
