"""Multi-task learning: hard sharing (any mix of classification and regression tasks, every loss
weighting), the multi-task protocol and datasets, Δp, and a loss weighting combined with a transfer
loss (DANN + PCGrad)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from tltaxonomy._errors import ConfigError
from tltaxonomy.datasets import TaskData, load_task, make_multimnist
from tltaxonomy.inductive.multitask import COMBINERS, HardSharingMTL
from tltaxonomy.metrics import delta_p, explained_variance
from tltaxonomy.protocols import multitask_metrics, multitask_split, run_protocol

HAS_DATA = os.path.isdir(os.environ.get("TLTAX_DATA_DIR", ""))
needs_data = pytest.mark.skipif(not HAS_DATA, reason="real data directory not found (set TLTAX_DATA_DIR)")


def _two_tasks(n=300, seed=0):
    """A classification task and a regression task that share one latent factor of the inputs."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    z = X[:, 0] + 0.5 * X[:, 1]
    Y = np.c_[(z > 0).astype(float), 2.0 * z + 0.1 * rng.normal(size=n) + 5.0]
    return X, Y


def test_hard_sharing_learns_a_classification_and_a_regression_task():
    X, Y = _two_tasks()
    Xte, Yte = _two_tasks(seed=1)
    mtl = HardSharingMTL(backbone_kwargs={"hidden": [16]}, task_types=["classification", "regression"], max_epochs=40,
                         batch_size=32, lr=0.01, device="cpu", random_state=0).fit(X, Y)
    P = mtl.predict(Xte)
    assert P.shape == (300, 2)
    assert set(np.unique(P[:, 0])) <= {0.0, 1.0}
    assert (P[:, 0] == Yte[:, 0]).mean() > 0.9
    assert explained_variance(Yte[:, 1], P[:, 1]) > 0.9  # de-standardised back to the target's scale
    assert mtl.score(Xte, Yte) > 0.9


@pytest.mark.parametrize("weighting", sorted(COMBINERS))
def test_every_loss_weighting_trains_the_shared_network(weighting):
    X, Y = _two_tasks(n=200)
    Y = np.c_[Y[:, 0], (X[:, 0] - X[:, 1] > 0)]  # two classification tasks with partly conflicting needs
    mtl = HardSharingMTL(backbone_kwargs={"hidden": [16]}, loss_weighting=weighting, max_epochs=15, batch_size=32,
                         lr=0.01, device="cpu", random_state=0).fit(X, Y.astype(int))
    losses = mtl.history_.losses
    assert losses[-1] < 0.6 * losses[0], (weighting, losses)
    assert mtl.score(X, Y.astype(int)) > 0.85


def test_rows_with_one_task_each_and_nan_elsewhere():
    """School-like data: every row is labelled for one task only; the other entries are NaN."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 4))
    w = np.array([1.0, -1.0, 0.5, 0.0])
    Y = np.full((400, 2), np.nan)
    Y[:200, 0] = X[:200] @ w
    Y[200:, 1] = X[200:] @ w + 1.0
    mtl = HardSharingMTL(backbone_kwargs={"hidden": [16]}, max_epochs=30, batch_size=32, lr=0.01, device="cpu",
                         random_state=0).fit(X, Y)
    assert mtl.task_types_ == ["regression", "regression"]  # float Y with NaN: regression
    P = mtl.predict(X)
    assert not np.isnan(P).any()  # every task is predicted for every row
    assert explained_variance(Y[:200, 0], P[:200, 0]) > 0.8


def test_single_task_networks_share_nothing():
    X, Y = _two_tasks(n=100)
    mtl = HardSharingMTL(sharing="none", task_types=["classification", "regression"], max_epochs=2, device="cpu",
                         random_state=0).fit(X, Y)
    assert len(mtl.network_.trunks) == 2 and not mtl.network_.shared


def test_hard_sharing_is_deterministic():
    X, Y = _two_tasks(n=100)
    kw = dict(task_types=["classification", "regression"], loss_weighting="pcgrad", max_epochs=3, device="cpu", random_state=4)
    np.testing.assert_array_equal(HardSharingMTL(**kw).fit(X, Y).predict(X), HardSharingMTL(**kw).fit(X, Y).predict(X))


def test_hard_sharing_errors():
    X, Y = _two_tasks(n=50)
    with pytest.raises(ValueError, match=r"HardSharingMTL: X has 50 rows but Y has 10 \(Y has shape \(10, 2\)\)"):
        HardSharingMTL(max_epochs=1, device="cpu").fit(X, Y[:10])
    with pytest.raises(ValueError, match="task_types has 3 entries but Y has 2"):
        HardSharingMTL(task_types=["regression"] * 3, max_epochs=1, device="cpu").fit(X, Y)
    with pytest.raises(ValueError, match=r"every task needs at least 2 observed \(non-NaN\) rows in Y, but task 1 has 0"):
        HardSharingMTL(max_epochs=1, device="cpu").fit(X, np.c_[Y[:, 0], np.full(50, np.nan)])
    with pytest.raises(ValueError, match="task 0 has one class"):
        HardSharingMTL(task_types="classification", max_epochs=1, device="cpu").fit(X, np.c_[np.ones(50), Y[:, 0]])
    with pytest.raises(ValueError, match="labels are not integers"):
        HardSharingMTL(task_types="classification", max_epochs=1, device="cpu").fit(X, Y)
    with pytest.raises(ValueError, match="loss_weighting"):
        HardSharingMTL(loss_weighting="magic", max_epochs=1, device="cpu").fit(X, Y)


# ---------------------------------------------------------------------------------------------
# protocol and metrics
# ---------------------------------------------------------------------------------------------
def test_multitask_split_draws_a_fraction_of_each_task():
    Y = np.full((100, 2), np.nan)
    Y[:60, 0] = 1.0
    Y[60:, 1] = 2.0
    train, test = multitask_split(Y, 0.2, seed=0)
    assert train[:, 0].sum() == 12 and train[:, 1].sum() == 8
    assert not (train & test).any() and ((train | test) == ~np.isnan(Y)).all()
    again, _ = multitask_split(Y, 0.2, seed=0)
    np.testing.assert_array_equal(train, again)
    with pytest.raises(ConfigError, match="train_fraction must be in"):
        multitask_split(Y, 1.5, seed=0)


def test_multitask_metrics_closed_forms():
    Y = np.array([[0, 1.0], [1, 2.0], [1, np.nan], [np.nan, 4.0]])
    P = np.array([[0, 1.5], [0, 2.0], [1, 9.0], [1, 3.0]])
    m = multitask_metrics(Y, P, ["classification", "regression"], names=["a", "b"])
    assert m["target/acc"] == pytest.approx(2 / 3)
    y, p = np.array([1.0, 2.0, 4.0]), np.array([1.5, 2.0, 3.0])
    assert m["target/ev"] == pytest.approx(1 - np.sum((y - p) ** 2) / np.sum((y - y.mean()) ** 2))
    assert m["target/b/ev"] == m["target/ev"] and m["target/a/acc"] == m["target/acc"]


def test_delta_p_closed_form_and_errors():
    assert delta_p([0.9, 0.5], [0.8, 0.5]) == pytest.approx(0.0625)
    assert delta_p([0.9, 0.4], [0.8, 0.5], lower_is_better=[False, True]) == pytest.approx((0.125 + 0.2) / 2)
    with pytest.raises(ValueError, match="one value per task"):
        delta_p([0.9], [0.8, 0.5])
    with pytest.raises(ValueError, match="baseline is 0"):
        delta_p([0.9], [0.0])


def _toy_multitask_task():
    X, Y = _two_tasks(n=120)
    Y = np.c_[Y[:, 0], np.full(120, np.nan)]
    Y[60:, 1], Y[60:, 0] = X[60:, 0] * 2.0, np.nan
    return TaskData(dataset="toy", task="mt", X_source=None, y_source=None, X_target=X, y_target=Y, X_test=X,
                    y_test=Y, preprocess="none", n_classes=2,
                    meta={"multitask": True, "task_types": ["classification", "regression"], "task_names": ["c", "r"]})


def test_protocol_trains_on_a_fraction_and_tests_on_the_rest():
    task = _toy_multitask_task()
    mtl = HardSharingMTL(backbone_kwargs={"hidden": [8]}, task_types=["classification", "regression"], max_epochs=2,
                         device="cpu", random_state=0)
    metrics, info = run_protocol(mtl, task, {"seed": 0, "protocol": {"train_fraction": 0.25}}, {})
    assert info["n_train_labels"] == 30 and info["n_test_labels"] == 90
    assert {"target/acc", "target/ev", "target/c/acc", "target/r/ev"} <= set(metrics)


def test_protocol_refuses_single_task_strategies_on_multitask_data_and_vice_versa():
    from tltaxonomy.inductive import SelfTaughtClassifier

    with pytest.raises(ConfigError, match="single-task strategy but toy/mt is multi-task.*hard_sharing"):
        run_protocol(SelfTaughtClassifier(), _toy_multitask_task(), {"seed": 0}, {})
    single = TaskData(dataset="toy", task="s", X_source=None, y_source=None, X_target=np.zeros((4, 2)),
                      y_target=np.array([0, 1, 0, 1]), X_test=np.zeros((4, 2)), y_test=np.array([0, 1, 0, 1]),
                      preprocess="none", n_classes=2)
    with pytest.raises(ConfigError, match="multi-task strategy but toy/s has one task"):
        run_protocol(HardSharingMTL(), single, {"seed": 0}, {})


# ---------------------------------------------------------------------------------------------
# datasets
# ---------------------------------------------------------------------------------------------
def test_make_multimnist_overlays_two_digits():
    rng = np.random.default_rng(0)
    imgs = np.zeros((5, 28, 28), dtype=np.float32)
    for i in range(5):
        imgs[i, 10:18, 10:18] = (i + 1) / 5
    X, Y = make_multimnist(imgs.reshape(5, -1), np.arange(5), random_state=0)
    partner = np.random.RandomState(0).randint(0, 5, size=5)
    np.testing.assert_array_equal(Y, np.c_[np.arange(5), partner].astype(float))
    canvas = np.zeros((36, 36), dtype=np.float32)
    canvas[:28, :28] = imgs[0]
    canvas[6:34, 6:34] = imgs[partner[0]]
    canvas[6:28, 6:28] = np.maximum(imgs[0][6:28, 6:28], imgs[partner[0]][:22, :22])
    idx = (np.arange(28) * 36) // 28
    np.testing.assert_array_equal(X[0].reshape(28, 28), canvas[idx][:, idx])
    assert rng is not None


@needs_data
def test_school_and_newsgroups_load_as_multitask_pools():
    school = load_task("school", "all")
    assert school.y_target.shape == (15362, 139)
    assert (np.sum(~np.isnan(school.y_target), axis=1) == 1).all()  # one school per student
    assert school.meta["task_types"] == ["regression"] * 139 and school.X_test is school.X_target
    news = load_task("newsgroups_mtl", "comp_vs_sci")
    assert news.y_target.shape == (3702, 2) and set(np.unique(news.y_target[~np.isnan(news.y_target)])) == {0.0, 1.0}


@needs_data
def test_school_through_the_runner(tmp_store):
    from tltaxonomy.runner import compose_config, run_experiment
    from omegaconf import OmegaConf

    cfg = OmegaConf.to_container(compose_config([
        "strategy=hard_sharing", "dataset=school", "task=all", "strategy.max_epochs=2",
        "strategy.device=cpu",
    ]), resolve=True)
    cfg.pop("hydra", None)
    rec = run_experiment(cfg, store=tmp_store).record
    assert -1.0 < rec["metrics"]["target/ev"] < 1.0
    assert rec["protocol_info"]["n_tasks"] == 139 and rec["protocol_info"]["train_fraction"] == 0.2
    assert "labels_per_class" not in rec["config"].get("protocol", {})  # not part of a multi-task run's hash


# ---------------------------------------------------------------------------------------------
# a loss weighting combined with a transfer loss
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("weighting", ["pcgrad", "mgda", "uncertainty"])
def test_dann_with_a_multitask_gradient_combiner(weighting):
    from tltaxonomy.datasets.synthetic import make_rotated_moons
    from tltaxonomy.transductive import DANN

    Xs, ys, Xt, yt = make_rotated_moons()
    kw = dict(backbone_kwargs={"hidden": [16]}, max_epochs=10, lr=0.01, batch_size=32, device="cpu", random_state=0,
              discriminator_hidden=16)
    clf = DANN(loss_weighting=weighting, **kw).fit_domains(Xs, ys, Xt)
    assert clf.score(Xs, ys) > 0.8
    assert type(clf.step_.combiner).__name__.lower().startswith(weighting[:3])
    # the discriminator (a task-specific module of the transfer loss) was trained by the combiner's backward
    disc = dict(clf.step_.adversarial.named_parameters())
    assert all(torch.isfinite(p).all() for p in disc.values())
    accs = [log["domain_acc"] for log in clf.history_.logs]
    assert len(accs) == 10 and all(0.0 <= a <= 1.0 for a in accs)


def test_loss_weighting_needs_a_transfer_loss():
    from tltaxonomy.datasets.synthetic import make_rotated_moons
    from tltaxonomy.transductive import AdaBN, DeepSelfTraining

    Xs, ys, Xt, _ = make_rotated_moons()
    kw = dict(loss_weighting="pcgrad", backbone_kwargs={"hidden": [8]}, bottleneck_dim=4, max_epochs=1, device="cpu")
    for cls in (AdaBN, DeepSelfTraining):
        with pytest.raises(ValueError, match="has no separate transfer loss"):
            cls(**kw).fit_domains(Xs, ys, Xt)


# ---------------------------------------------------------------------------------------------
# the harness: one run read through several metrics, and Δp
# ---------------------------------------------------------------------------------------------
def _mtl_table(bench_dir, **extra):
    import yaml

    spec = {
        "title": "tiny multi-task table", "paper": None, "dataset": "newsgroups_mtl", "metric": "target/acc",
        "seeds": [0], "selection": "none", "protocol": "a tiny multi-task table for the tests",
        "overrides": ["strategy=hard_sharing", "+strategy.backbone_kwargs={hidden: [8]}", "strategy.max_epochs=2",
                      "strategy.device=cpu", "dataset.preprocess=binary"],
        "delta_p": {"baseline": "single", "columns": ["t1", "t2"]},
        "columns": {"t1": "comp_vs_sci@target/comp_vs_sci_task1/acc", "t2": "comp_vs_sci@target/comp_vs_sci_task2/acc"},
        "rows": [{"name": "single", "overrides": ["strategy.sharing=none"]},
                 {"name": "pcgrad", "overrides": ["strategy.loss_weighting=pcgrad"]}],
        **extra,
    }
    (bench_dir / "tinymtl.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True))


@needs_data
def test_metric_columns_share_runs_and_delta_p_is_reported(tmp_path, monkeypatch, tmp_store):
    from tltaxonomy.harness import render, run_table
    from tltaxonomy.harness import tables as tables_mod

    monkeypatch.setattr(tables_mod, "BENCH_DIR", tmp_path)
    _mtl_table(tmp_path)
    result = run_table("tinymtl", store=tmp_store, progress=False)
    assert result.n_computed == 2 and result.n_reused == 2  # one run per row, read through two metrics
    cells = {(c.row, c.column): c.ours_mean for c in result.cells}
    expected = 100 * delta_p([cells["pcgrad", "t1"], cells["pcgrad", "t2"]], [cells["single", "t1"], cells["single", "t2"]])
    assert result.delta_p("pcgrad") == pytest.approx(expected)
    assert result.delta_p("single") == pytest.approx(0.0)
    text = render(result, "md")
    assert "Δp vs `single`" in text and f"| pcgrad | {expected:+.2f} |" in text


@pytest.mark.parametrize("delta, message", [
    ({"baseline": "nope", "columns": ["t1"]}, "Unknown row 'nope'"),
    ({"baseline": "single", "columns": ["t3"]}, "Unknown column 't3'"),
    ({"columns": ["t1"]}, "must be a mapping with baseline"),
])
def test_malformed_delta_p_is_named(tmp_path, monkeypatch, delta, message):
    from tltaxonomy._errors import UnknownNameError
    from tltaxonomy.harness import tables as tables_mod
    from tltaxonomy.harness.tables import load_table

    monkeypatch.setattr(tables_mod, "BENCH_DIR", tmp_path)
    _mtl_table(tmp_path, delta_p=delta)
    with pytest.raises((ConfigError, UnknownNameError), match=message):
        load_table("tinymtl")


def test_pcgrad_counts_the_conflicting_pairs_it_projects():
    from tltaxonomy.inductive.multitask import PCGrad

    w = torch.nn.Parameter(torch.zeros(2))
    pc = PCGrad(random_state=0)
    pc.backward([w @ torch.tensor([1.0, 0.0]), w @ torch.tensor([-1.0, 1.0])], [w])  # g1 . g2 = -1: a conflict
    pc.backward([w @ torch.tensor([1.0, 0.0]), w @ torch.tensor([1.0, 1.0])], [w])  # g1 . g2 = 1: none
    assert (pc.n_steps_, pc.n_conflicts_) == (2, 1)
