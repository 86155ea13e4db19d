"""HoldOutSearch: hyper-parameters chosen on one held-out split of the training rows."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.svm import LinearSVC

from tltaxonomy.classifiers import HoldOutSearch, estimator_selection


def _data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 20))
    y = (X[:, 0] + 0.5 * rng.normal(size=n) > 0).astype(int)
    return X, y


def test_picks_the_setting_with_the_best_held_out_accuracy_on_the_last_rows_and_refits_on_all():
    X, y = _data()
    grid = [1e-4, 1e-2, 1.0]
    search = HoldOutSearch(LinearSVC(), {"C": grid}, val_fraction=0.25).fit(X, y)
    n_val = 50
    expected = [float(np.mean(LinearSVC(C=c).fit(X[:-n_val], y[:-n_val]).predict(X[-n_val:]) == y[-n_val:])) for c in grid]
    assert search.val_scores_ == expected
    assert search.best_params_ == {"C": grid[int(np.argmax(expected))]}
    refit = LinearSVC(C=search.best_params_["C"]).fit(X, y)
    np.testing.assert_array_equal(search.predict(X), refit.predict(X))
    assert estimator_selection(search) == "source_val"


def test_ties_go_to_the_first_setting_and_refit_false_keeps_the_partial_model():
    X, y = _data()
    search = HoldOutSearch(LinearSVC(), {"C": [1.0, 1.0]}, refit=False).fit(X, y)
    assert search.best_params_ == {"C": 1.0} and search.val_scores_[0] == search.val_scores_[1]
    partial = LinearSVC(C=1.0).fit(X[:-20], y[:-20])
    np.testing.assert_allclose(search.decision_function(X), partial.decision_function(X))


def test_errors_name_the_problem():
    X, y = _data(n=5)
    with pytest.raises(ValueError, match="leaves 0 held-out rows"):
        HoldOutSearch(LinearSVC(), {"C": [1.0]}, val_fraction=0.1).fit(X, y)
    X, y = _data()
    assert HoldOutSearch(LinearSVC(), {}).fit(X, y).best_params_ == {}  # no grid: the estimator as given
    y_sorted = np.r_[np.zeros(180, int), np.ones(20, int)]
    with pytest.raises(ValueError, match="one class only; use val_rows='random'"):
        HoldOutSearch(LinearSVC(), {"C": [1.0]}).fit(X, y_sorted)
    assert HoldOutSearch(LinearSVC(), {"C": [1.0]}, val_rows="random", random_state=0).fit(X, y_sorted).score(X, y_sorted) > 0.8
