"""The runner: composing configs, one record per run, reuse, the allow-list, and the protocols."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tltaxonomy._errors import ConfigError
from tltaxonomy.base import BaseInductiveClassifier
from tltaxonomy.protocols import _inductive, draw_labelled_subset, run_protocol
from tltaxonomy.runner import check_targets, compose_config, run_experiment


def test_run_writes_one_record_and_reuses_it(shared_data_dir, tmp_store):
    cfg = compose_config(["strategy=coral", "dataset=office_caltech_surf", "task=D_to_W", "seed=0"])
    first = run_experiment(cfg, store=tmp_store)
    assert not first.reused
    rec = first.record
    assert rec["strategy"] == "coral" and rec["setting"] == "transductive" and rec["family"] == "statistics"
    assert rec["dataset"] == "office_caltech_surf" and rec["task"] == "D_to_W" and rec["seed"] == 0
    assert rec["selection"] == "source_cv"
    assert rec["config"]["strategy"]["variant"] == "released_code"
    assert "pretrain" not in rec["config"]  # irrelevant to CORAL: not hashed
    assert rec["config"]["protocol"] == {"source_per_class": None}  # the inductive budget is not hashed either
    assert {"load_s", "fit_s", "predict_s", "total_s"} <= set(rec["timings"])
    assert {"numpy", "scikit-learn", "torch", "tltaxonomy"} <= set(rec["versions"])
    assert rec["metrics"]["target/acc"] == pytest.approx(0.847, abs=0.001)  # CORAL's D→W: 84.7
    second = run_experiment(cfg, store=tmp_store)
    assert second.reused and second.record == first.record
    assert len(tmp_store) == 1
    # runtime settings are not part of the hash
    third = run_experiment(compose_config(["strategy=coral", "task=D_to_W", "runtime.progress=true"]), store=tmp_store)
    assert third.reused
    assert not run_experiment(cfg, store=tmp_store, force=True).reused


def test_same_config_and_seed_give_the_same_numbers(shared_data_dir, tmp_path):
    from tltaxonomy.store import ResultStore

    cfg = compose_config(["strategy=source_only", "task=W_to_D"])
    a = run_experiment(cfg, store=ResultStore(tmp_path / "a")).metrics
    b = run_experiment(cfg, store=ResultStore(tmp_path / "b")).metrics
    assert a == b


@pytest.mark.parametrize(
    "overrides",
    [
        # transductive, torch: DANN on the two moons (a few epochs)
        ["strategy=dann", "dataset=moons", "task=rotated_30", "strategy.max_epochs=3", "strategy.discriminator_hidden=16"],
        # unsupervised, torch: DEC from an autoencoder of the target rows (tiny)
        ["strategy=dec_autoencoder", "dataset=gaussian_shift", "task=covariate", "strategy.max_iter=20",
         "strategy.autoencoder_kwargs={hidden_dims:[8],n_components:2,max_epochs:3}"],
        # unsupervised, numpy: k-means on the raw rows
        ["strategy=feature_clustering", "dataset=gaussian_shift", "task=covariate", "strategy.input_shape=null"],
    ],
    ids=["dann", "dec", "feature_clustering"],
)
def test_torch_runs_are_pinned_recorded_and_repeatable(tmp_path, overrides):
    import torch

    from tltaxonomy.store import ResultStore

    before = torch.get_num_threads()
    cfg = compose_config([*overrides, "pretrain=none"])
    a = run_experiment(cfg, store=ResultStore(tmp_path / "a")).record
    b = run_experiment(cfg, store=ResultStore(tmp_path / "b")).record
    assert a["metrics"] == b["metrics"]  # same config and seed, same numbers on the CPU
    assert a["torch_settings"]["num_threads"] == 1 and "deterministic_algorithms" in a["torch_settings"]
    assert torch.get_num_threads() == before  # the pin is undone after the run
    with pytest.raises(ConfigError, match="runtime.torch_threads=0 must be a positive integer"):
        run_experiment(compose_config([*overrides, "runtime.torch_threads=0"]), store=ResultStore(tmp_path / "c"))


def test_targets_outside_the_allow_list_are_refused(tmp_store):
    with pytest.raises(ConfigError, match="os.system.*not allowed"):
        check_targets({"strategy": {"_target_": "tltaxonomy.transductive.CORAL", "estimator": {"_target_": "os.system"}}})
    cfg = compose_config(["strategy=coral", "+strategy.estimator._target_=subprocess.Popen"])
    with pytest.raises(ConfigError, match="subprocess.Popen.*not allowed"):
        run_experiment(cfg, store=tmp_store)
    assert len(tmp_store) == 0


def test_unknown_group_option_lists_the_choices():
    from hydra.errors import MissingConfigException

    with pytest.raises(MissingConfigException, match="coral"):
        compose_config(["strategy=corall"])


def test_unknown_task_and_dataset_suggest_close_names(shared_data_dir, tmp_store):
    with pytest.raises(KeyError, match="A_to_W"):
        run_experiment(compose_config(["task=A_to_WW"]), store=tmp_store)
    with pytest.raises(KeyError, match="office_caltech_surf"):
        run_experiment(compose_config(["dataset.name=office_caltech_surff"]), store=tmp_store)


def test_missing_data_file_says_where_and_how(tmp_path, tmp_store):
    from tltaxonomy import DataFileNotFoundError

    cfg = compose_config(["strategy=coral", f"runtime.data_dir={tmp_path / 'empty'}"])
    with pytest.raises(DataFileNotFoundError, match="tltax data fetch office_caltech_surf"):
        run_experiment(cfg, store=tmp_store)


def test_draw_labelled_subset_is_seeded_and_per_class():
    y = np.repeat(np.arange(3), [5, 20, 2])
    rows = draw_labelled_subset(y, 4, seed=0)
    np.testing.assert_array_equal(np.bincount(y[rows]), [4, 4, 2])
    np.testing.assert_array_equal(rows, draw_labelled_subset(y, 4, seed=0))
    assert not np.array_equal(rows, draw_labelled_subset(y, 4, seed=1))
    with pytest.raises(ConfigError, match="labels_per_class must be >= 1"):
        draw_labelled_subset(y, 0, seed=0)


class _SpyInductive(BaseInductiveClassifier):
    """Records what the inductive protocol gives it."""

    _setting = "inductive"

    def fit(self, X, y, *, sample_domain=None):
        self.seen_ = (np.array(X, copy=True), np.array(y, copy=True))
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.zeros(len(X), dtype=int)


@dataclasses.dataclass
class _FakeTask:
    X_source: np.ndarray
    y_source: np.ndarray
    X_target: np.ndarray
    y_target: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    dataset: str = "fake"
    task: str = "t"


def test_inductive_protocol_gives_only_the_label_budget():
    rng = np.random.default_rng(0)
    y_target = np.repeat(np.arange(4), 30)
    X_target = np.c_[np.arange(120), rng.normal(size=(120, 2))]  # first column = row id
    task = _FakeTask(None, None, X_target, y_target, -np.ones((50, 3)), np.full(50, 7))
    spy = _SpyInductive()
    metrics, info = _inductive(spy, task, {"seed": 3, "protocol": {"labels_per_class": 5}}, {})
    X_seen, y_seen = spy.seen_
    assert len(y_seen) == 20 and info["n_labelled"] == 20
    ids = X_seen[:, 0].astype(int)
    np.testing.assert_array_equal(y_seen, y_target[ids])  # the budget rows with their own labels
    assert 7 not in y_seen and not np.any(X_seen == -1)  # never a test row or a test label
    assert metrics["target/acc"] == 0.0


def test_protocol_needs_a_registered_strategy():
    class Unregistered(_SpyInductive):
        _setting = ""

    with pytest.raises(ConfigError, match="not a registered strategy"):
        run_protocol(Unregistered(), None, {}, {})


def _options(group):
    from tltaxonomy.runner import CONF_DIR

    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def test_every_strategy_config_composes_and_instantiates():
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    for option in _options("strategy"):
        cfg = OmegaConf.to_container(compose_config([f"strategy={option}"]), resolve=True)
        check_targets(cfg["strategy"], "strategy")
        est = instantiate(cfg["strategy"], _convert_="all")
        assert type(est)._strategy_name, f"conf/strategy/{option}.yaml builds an unregistered class"
        # the config is the constructor's keyword arguments, 1:1
        assert set(cfg["strategy"]) - {"_target_"} == set(est.get_params(deep=False)), option


def test_every_dataset_and_pretrain_config_composes():
    from tltaxonomy.datasets import PREPROCESSORS, get_dataset

    for option in _options("dataset"):
        cfg = compose_config([f"dataset={option}"])
        ds = get_dataset(cfg.dataset.name)
        assert cfg.dataset.preprocess in PREPROCESSORS
        assert cfg.dataset.preprocess == ds.default_preprocess, option
    for option in _options("pretrain"):
        compose_config([f"pretrain={option}"])


def test_inductive_and_unsupervised_runs_pretrain_once_and_record_it(shared_data_dir, tmp_store):
    """Smoke version of the transfer_digits_* tables: one short pretraining on MNIST, shared."""
    common = ["dataset=digits", "task=MNIST_to_USPS", "pretrain.trainer.max_epochs=1"]
    probe = run_experiment(
        compose_config([*common, "strategy=linear_probe", "protocol.labels_per_class=5"]), store=tmp_store
    ).record
    km = run_experiment(compose_config([*common, "strategy=kmeans_transfer", "strategy.n_init=1"]), store=tmp_store).record
    checkpoints = list((tmp_store.cache_dir / "pretrained").glob("*.pt"))
    assert len(checkpoints) == 1  # cached by content: the second run reused it
    assert probe["runtime_params"]["pretrained"] == km["runtime_params"]["pretrained"] == str(checkpoints[0])
    assert "pretrain_s" in probe["timings"] and "pretrain_s" in km["timings"]
    assert probe["setting"] == "inductive" and probe["selection"] == "none"
    assert probe["protocol_info"]["n_labelled"] == 50 and probe["metrics"]["target/acc"] > 0.5
    assert km["setting"] == "unsupervised" and km["runtime_params"]["n_clusters"] == "10"
    assert set(km["metrics"]) == {"target/acc", "target/nmi", "target/ari"}
    scratch_cfg = run_experiment(
        compose_config([*common, "strategy=scratch", "strategy.max_epochs=1", "protocol.labels_per_class=2"]), store=tmp_store
    ).record["config"]
    assert "pretrain" not in scratch_cfg  # a strategy without pretrained weights does not depend on them


def test_standard_protocol_draws_k_source_rows_per_class(shared_data_dir, tmp_store):
    full = run_experiment(compose_config(["strategy=source_only", "task=W_to_D"]), store=tmp_store).record
    draws = [
        run_experiment(
            compose_config(["strategy=source_only", "task=W_to_D", "protocol.source_per_class=3", f"seed={seed}"]),
            store=tmp_store,
        ).record
        for seed in (0, 1)
    ]
    assert full["protocol_info"]["n_source"] == 295
    assert draws[0]["protocol_info"]["n_source"] == 30  # 3 per class x 10 classes
    assert draws[0]["config"]["protocol"] == {"source_per_class": 3}
    assert len({full["config_hash"], draws[0]["config_hash"], draws[1]["config_hash"]}) == 3
    assert draws[0]["metrics"] != draws[1]["metrics"] or draws[0]["metrics"] != full["metrics"]
