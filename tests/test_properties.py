"""Property-based tests (hypothesis) of the shallow strategies over random shapes, dtypes and label sets.

For any number of source / target rows, features, dtype (float32 / float64 / int) and label values
(strings, negative or non-contiguous integers, one class or several), ``fit`` + ``predict`` either

- works, with one prediction per row, every one of them a label given to ``fit``; or
- raises one of the documented error types (``ValueError``, ``TypeError``) with a message that names
  the strategy.

Examples are derandomised (the same ones on every run) and few, so that CI stays fast and deterministic.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tltaxonomy import list_strategies

from test_bad_input import make

#: the shallow transductive strategies (no torch training loop), plus a few inductive ones
SHALLOW = [s for s in list_strategies(setting="transductive") if "max_epochs" not in s.cls().get_params()]
INDUCTIVE = [s for s in list_strategies(setting="inductive") if s.name in ("self_taught", "linear_probe")]

LABEL_SETS = [(0, 1), ("cat", "dog", "eel"), (-5, 7), (3, 17, 100, 2000), ("only",)]
DTYPES = [np.float32, np.float64, np.int64]

PROPERTY_SETTINGS = settings(
    max_examples=8, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow], database=None
)


@st.composite
def problems(draw, max_rows: int = 30):
    """``(X_source, y_source, X_target)`` of random sizes, dtype and label set."""
    n_source = draw(st.integers(1, max_rows))
    n_target = draw(st.integers(0, max_rows))
    n_features = draw(st.integers(1, 6))
    dtype = draw(st.sampled_from(DTYPES))
    labels = np.array(draw(st.sampled_from(LABEL_SETS)))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    y = labels[rng.integers(0, len(labels), n_source)]
    Xs = rng.normal(size=(n_source, n_features)) * 3
    Xs[:, 0] += 4 * (np.searchsorted(np.unique(labels), y) if labels.dtype.kind != "U" else (y == labels[0]))
    Xt = rng.normal(size=(n_target, n_features)) * 3 + 1
    if np.issubdtype(dtype, np.integer):
        Xs, Xt = np.round(Xs), np.round(Xt)
    return Xs.astype(dtype), y, Xt.astype(dtype), labels


def _check_outcome(info, run) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            run()
        except (ValueError, TypeError) as exc:
            pattern = rf"\b({re.escape(info.cls.__name__)}|{re.escape(info.name)})\b"
            assert re.search(pattern, str(exc)), f"{type(exc).__name__} does not name {info.name}: {exc}"


@pytest.mark.parametrize("info", SHALLOW, ids=[s.name for s in SHALLOW])
@PROPERTY_SETTINGS
@given(problem=problems())
def test_transductive_fit_predict_any_shape(info, problem):
    Xs, ys, Xt, labels = problem

    def run():
        est = make(info).fit_domains(Xs, ys, Xt)
        X_test = Xt if Xt.shape[0] else Xs
        pred = est.predict(X_test)
        assert pred.shape == (X_test.shape[0],)
        assert set(pred.tolist()) <= set(ys.tolist())
        assert set(est.classes_.tolist()) == set(ys.tolist())

    _check_outcome(info, run)


@pytest.mark.parametrize("info", INDUCTIVE, ids=[s.name for s in INDUCTIVE])
@PROPERTY_SETTINGS
@given(problem=problems())
def test_inductive_fit_predict_any_shape(info, problem):
    X, y, X_test, labels = problem

    def run():
        est = make(info).fit(X, y)
        test = X_test if X_test.shape[0] else X
        pred = est.predict(test)
        assert pred.shape == (test.shape[0],)
        assert set(pred.tolist()) <= set(y.tolist())

    _check_outcome(info, run)
