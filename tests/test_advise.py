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
