"""`tltax advise`: diagnostics without target labels and the recommendation they lead to."""

from __future__ import annotations

import numpy as np
import pytest

from tltaxonomy.advise import advise
from tltaxonomy.cli import main
from tltaxonomy.datasets import load_task


def test_label_shift_task_is_flagged_with_the_right_direction():
    task = load_task("gaussian_shift", "label")  # class priors 0.8/0.2 (source) vs 0.2/0.8 (target)
    adv = advise(task)
    w = adv.diagnostics["label-shift weights (est.)"]
    assert w[1] > 2 > 1 > w[0]  # the minority source class is the majority of the target
    est = adv.diagnostics["target proportions (est.)"]
    assert est[1] > est[0]
    assert adv.diagnostics["pred. proportions differ (p)"] < 1e-6
    assert any("other class proportions" in r for r in adv.recommendations)


def test_advice_never_reads_target_labels():
    task = load_task("gaussian_shift", "covariate")
    import dataclasses

    scrambled = dataclasses.replace(task, y_target=np.zeros_like(task.y_target), y_test=np.zeros_like(task.y_test))
    a, b = advise(task), advise(scrambled)
    assert a.format() == b.format()


def test_single_domain_task_points_to_pretrained_models():
    import dataclasses

    task = load_task("gaussian_shift", "label")
    single = dataclasses.replace(task, X_source=None, y_source=None)
    assert "pretrained model" in advise(single).recommendations[0]


def test_cli_prints_the_diagnostics(capsys):
    assert main(["advise", "dataset=gaussian_shift", "task=covariate"]) == 0
    out = capsys.readouterr().out
    for key in ("proxy A-distance", "MMD^2", "CORAL distance", "label-shift weights", "Recommendation:"):
        assert key in out
    assert main(["advise", "dataset=gaussian_shift", "covariate"]) == 2
    assert "Hydra overrides" in capsys.readouterr().err


def test_domains_standardised_one_by_one_are_not_called_close():
    """A per-domain z-score (the SURF papers' l1_zscore) removes every first-order difference, so the
    linear proxy A-distance is ~0; advise must say so and point at the covariances, not at source-only."""
    import dataclasses

    from sklearn.preprocessing import StandardScaler

    task = load_task("gaussian_shift", "covariate")
    rng = np.random.default_rng(0)
    mix = rng.normal(size=(task.X_target.shape[1],) * 2)
    Xs = StandardScaler().fit_transform(task.X_source)
    Xt = StandardScaler().fit_transform(task.X_target @ mix)  # other covariances, same means and variances
    adv = advise(dataclasses.replace(task, X_source=Xs, X_target=Xt))
    assert adv.diagnostics["proxy A-distance"] < 0.5
    assert any("standardised on its own" in r and "coral" in r for r in adv.recommendations)
    assert not any("hard to tell apart" in r for r in adv.recommendations)
    # unstandardised, the same close domains keep the plain advice
    assert not any("standardised on its own" in r for r in advise(task).recommendations)
