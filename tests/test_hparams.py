"""Hyper-parameter spaces (DomainBed's pattern): defaults, reproducible draws seeded per name, and the runner."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from tltaxonomy._errors import ConfigError, UnknownNameError
from tltaxonomy.hparams import (
    Hyperparameter,
    _SPACES,
    apply_hparams,
    hparams,
    list_search_spaces,
    search_space,
    seed_hash,
)
from tltaxonomy.registry import get_strategy, list_strategies
from tltaxonomy.runner import CONF_DIR, compose_config, record_key, run_experiment


def test_every_transductive_strategy_declares_a_space():
    names = {s.name for s in list_strategies(setting="transductive")}
    assert names <= set(list_search_spaces())


@pytest.mark.parametrize("name", list_search_spaces())
def test_seed_zero_is_the_defaults_and_the_names_are_parameters(name):
    space = search_space(name)
    assert hparams(name, 0) == {k: hp.default for k, hp in space.items()}
    params = get_strategy(name)().get_params(deep=False)
    for key in space:
        assert key.split("__")[0] in params, f"{name}: {key} is not a parameter of {get_strategy(name).__name__}"
    # the defaults are the values of conf/strategy/<name>.yaml (the published configuration)
    path = CONF_DIR / "strategy" / f"{name}.yaml"
    if path.is_file():
        conf = yaml.safe_load(path.read_text())
        for key, hp in space.items():
            node = conf
            for part in key.split("__"):
                node = node.get(part) if isinstance(node, dict) else None
            if node is not None and not (isinstance(node, str) and node.startswith("${")):
                assert node == hp.default, f"{name}.{key}: default {hp.default!r} but conf says {node!r}"


def test_draws_are_reproducible_distinct_and_seeded_per_name():
    assert hparams("tca", 5) == hparams("tca", 5)
    assert hparams("tca", 5) != hparams("tca", 6)
    # the generator of one hyper-parameter is seeded by (strategy, seed, name) through crc32
    hp = search_space("tca")["reg"]
    expected = hp.distribution(np.random.default_rng(seed_hash("tca", 5, "reg")))
    assert hparams("tca", 5)["reg"] == expected
    import zlib

    assert seed_hash("tca", 5, "reg") == zlib.crc32(b"tca/5/reg")


def test_adding_a_hyperparameter_does_not_change_the_others(monkeypatch):
    before = hparams("coral", 7)
    extra = Hyperparameter("new_one", 1.0, lambda rng: float(rng.uniform()))
    monkeypatch.setitem(_SPACES, "coral", (*_SPACES["coral"], extra))
    after = hparams("coral", 7)
    assert {k: after[k] for k in before} == before and "new_one" in after


@pytest.mark.parametrize("name", list_search_spaces())
def test_draws_lie_in_the_declared_distributions(name):
    for seed in range(1, 6):
        for key, value in hparams(name, seed).items():
            hp = search_space(name)[key]
            dist = hp.distribution
            if hasattr(dist, "options"):
                assert value in dist.options
            elif type(dist).__name__ == "OneC":
                assert len(value) == 1 and 10**dist.lo <= value[0] <= 10**dist.hi
            elif type(dist).__name__ == "LogUniform":
                assert 10**dist.lo <= value <= 10**dist.hi * (1 + 1e-6)
            elif type(dist).__name__ == "IntLogUniform":
                assert isinstance(value, int) and int(2**dist.lo) <= value <= 2**dist.hi
            else:
                assert dist.lo <= value <= dist.hi


def test_unknown_strategy_and_bad_seed():
    with pytest.raises(UnknownNameError, match="Did you mean 'coral'"):
        hparams("corall", 1)
    with pytest.raises(ConfigError, match="hparams_seed=-1 must be a non-negative integer"):
        hparams("coral", -1)
    with pytest.raises(ConfigError, match="hparams_seed=True"):
        hparams("coral", True)


def test_apply_hparams_writes_nested_names_and_the_default_svm():
    node = {"_target_": "tltaxonomy.transductive.CORAL", "reg": 1.0, "variant": "released_code", "estimator": None}
    out = apply_hparams(node, {"reg": 0.5, "estimator__Cs": [3.0]})
    assert node["estimator"] is None  # the caller's config is not modified
    assert out["reg"] == 0.5
    assert out["estimator"] == {"_target_": "tltaxonomy.classifiers.CVSVC", "kernel": "precomputed", "Cs": [3.0]}
    linear = apply_hparams({**node, "variant": "transform"}, {"estimator__Cs": [3.0]})
    assert linear["estimator"]["kernel"] == "linear"
    with pytest.raises(ConfigError, match="'nope' is not a parameter of tltaxonomy.transductive.CORAL"):
        apply_hparams(node, {"nope": 1})
    with pytest.raises(ConfigError, match="strategy.reg is 1.0, not a config"):
        apply_hparams(node, {"reg__x": 1})


@pytest.mark.parametrize("variant", ["transform", "released_code"])
def test_the_default_svm_written_out_is_the_strategy_default(variant):
    """Seed 0 of coral (estimator__Cs = the default grid on a written-out SVM) predicts exactly as estimator=None."""
    from hydra.utils import instantiate

    rng = np.random.default_rng(0)
    Xs = rng.normal(size=(60, 4))
    ys = (Xs[:, 0] + 0.3 * rng.normal(size=60) > 0).astype(int)
    Xt = 1.5 * rng.normal(size=(40, 4)) + 0.5
    node = {"_target_": "tltaxonomy.transductive.CORAL", "reg": 1.0, "variant": variant, "estimator": None}
    a = instantiate(node, _convert_="all").fit_domains(Xs, ys, Xt).predict(Xt)
    b = instantiate(apply_hparams(node, hparams("coral", 0)), _convert_="all").fit_domains(Xs, ys, Xt).predict(Xt)
    np.testing.assert_array_equal(a, b)


def test_runner_applies_hparams_seed(tmp_store):
    base = ["strategy=ot_mapping", "dataset=gaussian_shift", "task=covariate"]
    plain = compose_config(base)
    # null = the config as written: the key is not in the hash (the published records keep theirs)
    assert record_key(plain) == record_key(compose_config([*base, "hparams_seed=null"]))
    keys = {record_key(compose_config([*base, f"hparams_seed={k}"])) for k in (0, 1, 2)}
    assert len(keys) == 3 and record_key(plain) not in keys
    rec = run_experiment(compose_config([*base, "hparams_seed=2"]), store=tmp_store).record
    assert rec["hparams_seed"] == 2 and rec["hparams"] == hparams("ot_mapping", 2)
    assert rec["config"]["hparams"] == hparams("ot_mapping", 2)
    assert rec["config"]["strategy"]["reg_e"] == 0.01  # the config as written; the override is `hparams`
    with pytest.raises(ConfigError, match="hparams_seed='x'"):
        record_key(compose_config([*base, "hparams_seed=x"]))


def _strategy_configs():
    return sorted(p.stem for p in (CONF_DIR / "strategy").glob("*.yaml"))


def test_every_strategy_config_instantiates_with_drawn_hparams():
    """Each conf/strategy file of a strategy with a space builds with a draw, and the draw is what it gets."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from tltaxonomy.hparams import applicable_hparams
    from tltaxonomy.runner import _strategy_class

    def load(option):  # the strategy node as composed (its interpolations are random_state: ${seed})
        def resolve(v):
            if isinstance(v, dict):
                return {k: resolve(x) for k, x in v.items()}
            return 0 if isinstance(v, str) and v.startswith("${") else v

        return resolve(yaml.safe_load((CONF_DIR / "strategy" / f"{option}.yaml").read_text()))

    checked = 0
    for option in _strategy_configs():
        cfg = load(option)
        name = getattr(_strategy_class({"strategy": cfg}), "_strategy_name", None)
        if name not in list_search_spaces():
            continue
        values = applicable_hparams(cfg, hparams(name, 1))
        params = instantiate(apply_hparams(cfg, values), _convert_="all").get_params(deep=True)
        assert {k: params[k] for k in values} == values, option
        checked += 1
    assert checked >= 30
    # a 1-NN has no C: the SVM's C is left out of gfk_1nn's hyper-parameters
    cfg = OmegaConf.to_container(compose_config(["strategy=gfk_1nn"]), resolve=True)["strategy"]
    assert cfg == load("gfk_1nn")
    assert set(applicable_hparams(cfg, hparams("gfk", 1))) == {"n_components"}
