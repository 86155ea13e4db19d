"""Selection protocols: closed forms of the scorers, the selection pass, and target labels kept away."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tltaxonomy._errors import ConfigError, UnknownNameError
from tltaxonomy.base import BaseDomainAdaptationClassifier
from tltaxonomy.selection import (
    ORACLE_LABEL,
    PROTOCOLS,
    class_probabilities,
    dev_risk,
    importance_weights,
    iwcv_risk,
    parse_protocols,
    prediction_entropy,
    select_records,
    soft_neighborhood_density,
    source_accuracy,
    source_validation_split,
)

# --- closed forms of the scorers ------------------------------------------------------------------


def test_entropy_closed_form():
    np.testing.assert_allclose(prediction_entropy([[0.5, 0.5], [1.0, 0.0]]), math.log(2) / 2)
    np.testing.assert_allclose(prediction_entropy(np.full((3, 4), 0.25)), math.log(4))
    assert prediction_entropy(np.eye(3)) == 0.0 and str(prediction_entropy(np.eye(3))) == "0.0"


def test_snd_closed_form():
    # three identical predictions: each row's two neighbours are equally similar -> entropy log 2
    np.testing.assert_allclose(soft_neighborhood_density([[1, 0], [1, 0], [1, 0]]), math.log(2))
    # two clusters of two one-hot rows: each row sees 1 neighbour at similarity 1 and 2 at 0 (tau=0.05)
    P = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], dtype=float)
    e = np.array([math.exp(1 / 0.05), 1.0, 1.0])
    p = e / e.sum()
    np.testing.assert_allclose(soft_neighborhood_density(P), -(p * np.log(p)).sum())
    # the rows are L2-normalised (cosine similarity) and the chunked sum equals the whole
    rng = np.random.default_rng(0)
    Q = rng.dirichlet(np.ones(3), size=30)
    np.testing.assert_allclose(soft_neighborhood_density(Q, chunk=7), soft_neighborhood_density(Q))
    np.testing.assert_allclose(soft_neighborhood_density(3 * Q), soft_neighborhood_density(Q))


def test_iwcv_and_dev_closed_forms():
    np.testing.assert_allclose(iwcv_risk([1, 0, 1], [2.0, 1.0, 0.5]), 2.5 / 3)
    # DEV by hand: L = w*l = [2, 0, 1, 0], mean 0.75; mean w = 1.5; Cov(L, w) = 0.5/3, Var(w) = 1/3
    # -> eta = -0.5; R = 0.75 + eta * 1.5 - eta = 0.5
    np.testing.assert_allclose(dev_risk([1, 0, 1, 0], [2.0, 1.0, 1.0, 2.0]), 0.5)
    losses, w = np.array([1, 0, 1, 1, 0.0]), np.array([0.5, 2.0, 1.5, 0.2, 0.8])
    L = w * losses
    eta = -np.cov(L, w)[0, 1] / np.var(w, ddof=1)
    np.testing.assert_allclose(dev_risk(losses, w), L.mean() + eta * w.mean() - eta)
    # constant weights: no control variate, DEV = IWCV
    np.testing.assert_allclose(dev_risk(losses, np.full(5, 1.3)), iwcv_risk(losses, np.full(5, 1.3)))


def test_importance_weights_closed_form():
    rng = np.random.default_rng(0)
    Xs, Xt = rng.normal(size=(120, 2)), rng.normal(size=(40, 2))
    # a classifier that cannot separate (C -> 0) predicts the prior n_t / n: w = (n_s/n_t)(n_t/n_s) = 1
    np.testing.assert_allclose(importance_weights(Xs, Xt, Xs[:10], Cs=[1e-8]), 1.0, atol=1e-4)
    # shifted target: the ratio grows towards the target, as p_t/p_s = exp(x1 - 1/2) does for N(1,1) vs N(0,1)
    Xt = rng.normal(size=(400, 2)) + [1.0, 0.0]
    Xs = rng.normal(size=(400, 2))
    grid = np.c_[np.linspace(-1, 2, 7), np.zeros(7)]
    w = importance_weights(Xs, Xt, grid, Cs=[1.0])
    assert np.all(np.diff(w) > 0)
    np.testing.assert_allclose(np.log(w), grid[:, 0] - 0.5, atol=0.3)


def test_source_accuracy_and_validation_split():
    assert source_accuracy([0, 1, 1, 2], [0, 1, 0, 2]) == 0.75
    y = np.repeat([0, 1, 2], [10, 20, 5])
    fit, val = source_validation_split(y, 0.2, seed=3)
    assert np.intersect1d(fit, val).size == 0 and fit.size + val.size == y.size
    assert [int((y[val] == c).sum()) for c in range(3)] == [2, 4, 1]  # stratified: 20 % of each class
    again = source_validation_split(y, 0.2, seed=3)
    np.testing.assert_array_equal(again[1], val)
    assert not np.array_equal(source_validation_split(y, 0.2, seed=4)[1], val)
    with pytest.raises(ConfigError, match="source_val_fraction must be in"):
        source_validation_split(y, 1.0, seed=0)


class _Proba:
    classes_ = np.array([0, 1, 2])

    def predict_proba(self, X, *, sample_domain=None):
        return np.tile([0.2, 0.3, 0.5], (len(X), 1))


class _Decision:
    classes_ = np.array(["a", "b"])

    def decision_function(self, X, *, sample_domain=None):
        return np.asarray(X)[:, 0]


class _Labels:
    classes_ = np.array([0, 1, 2])

    def predict(self, X, *, sample_domain=None):
        return np.array([2, 0])


def test_class_probabilities_prefers_proba_then_decision_then_one_hot():
    P, kind = class_probabilities(_Proba(), np.zeros((2, 1)))
    assert kind == "predict_proba" and P.shape == (2, 3)
    P, kind = class_probabilities(_Decision(), np.array([[0.0], [np.log(3) / 2]]))
    assert kind == "decision_function"
    np.testing.assert_allclose(P, [[0.5, 0.5], [0.25, 0.75]])  # softmax of (-s, s)
    P, kind = class_probabilities(_Labels(), np.zeros((2, 1)))
    assert kind == "predict"
    np.testing.assert_array_equal(P, [[0, 0, 1], [1, 0, 0]])


# --- the selection pass ---------------------------------------------------------------------------


def _record(task, hseed, acc, **select):
    config = {"strategy": {"_target_": "tltaxonomy.transductive.CORAL"}, "task": task, "seed": 0,
              "selection": "scores", "hparams_seed": hseed, "hparams": {"reg": hseed}}
    return {"config": config, "metrics": {"target/acc": acc, **{f"select/{k}": v for k, v in select.items()}}}


RECORDS = [
    # task A: source_acc -> seed 1, iwv -> 2, dev -> 0, entropy -> 2, snd -> 1, oracle -> 0
    _record("A", 0, 0.70, source_acc=0.80, iwv=0.30, dev=0.10, entropy=0.9, snd=1.0),
    _record("A", 1, 0.60, source_acc=0.90, iwv=0.25, dev=0.20, entropy=0.5, snd=3.0),
    _record("A", 2, 0.65, source_acc=0.85, iwv=0.20, dev=0.30, entropy=0.1, snd=2.0),
    # task B: every score ties -> the smallest hparams_seed; the oracle -> 2
    _record("B", 2, 0.90, source_acc=0.5, iwv=0.5, dev=0.5, entropy=0.0, snd=1.0),
    _record("B", 0, 0.40, source_acc=0.5, iwv=0.5, dev=0.5, entropy=0.0, snd=1.0),
    _record("B", 1, 0.50, source_acc=0.5, iwv=0.5, dev=0.5, entropy=0.0, snd=1.0),
]


@pytest.mark.parametrize(
    "protocol, seeds",
    [("default", [0, 0]), ("source_acc", [1, 0]), ("iwv", [2, 0]), ("dev", [0, 0]), ("entropy", [2, 0]),
     ("snd", [1, 0]), ("oracle", [0, 2])],
)
def test_select_records_picks_the_best_per_group(protocol, seeds):
    chosen = select_records(RECORDS, protocol)
    assert [s.group_config["task"] for s in chosen] == ["A", "B"]
    assert [s.hparams_seed for s in chosen] == seeds
    accs = {(r["config"]["task"], r["config"]["hparams_seed"]): r["metrics"]["target/acc"] for r in RECORDS}
    assert [s.target_acc for s in chosen] == [accs[("A", seeds[0])], accs[("B", seeds[1])]]
    assert all(s.n_candidates == 3 for s in chosen)


def test_the_oracle_is_labelled_and_every_protocol_is_named():
    assert PROTOCOLS["oracle"].label == ORACLE_LABEL == "oracle (target labels)"
    assert PROTOCOLS["oracle"].uses_target_labels
    assert "ORACLE" in PROTOCOLS["oracle"].title and "not a valid result" in PROTOCOLS["oracle"].title
    assert not any(p.uses_target_labels for name, p in PROTOCOLS.items() if name != "oracle")
    assert [p.name for p in parse_protocols("all")] == list(PROTOCOLS)


def test_bad_protocol_name_and_missing_scores():
    with pytest.raises(UnknownNameError, match=r"Unknown selection protocol 'ent'.*Valid selection protocols: all, default, dev"):
        select_records(RECORDS, "ent")
    with pytest.raises(UnknownNameError, match="Did you mean 'oracle'"):
        parse_protocols("oracel,iwv")
    bare = [{"config": {"task": "A", "seed": 0, "hparams_seed": 1}, "metrics": {"target/acc": 0.5}}]
    with pytest.raises(ConfigError, match="reads 'select/snd'.*selection=scores"):
        select_records(bare, "snd")
    with pytest.raises(ConfigError, match="needs the run with hparams_seed=0"):
        select_records(bare, "default")


# --- the protocol: scores logged, target labels never passed --------------------------------------


class _Spy(BaseDomainAdaptationClassifier):
    """Nearest class mean; remembers every (y, sample_domain) it is fitted on and every X it predicts."""

    _setting = "transductive"
    _strategy_name = "spy"
    _family = "test"
    calls: list = []

    def fit(self, X, y, *, sample_domain=None):
        type(self).calls.append(("fit", np.array(y, copy=True), np.array(sample_domain, copy=True), X.shape[0]))
        return super().fit(X, y, sample_domain=sample_domain)

    def _fit(self, split):
        self.means_ = np.stack([split.X_source[split.y_source == c].mean(axis=0) for c in range(len(self.classes_))])

    def _predict_encoded(self, X):
        return np.argmin(((X[:, None, :] - self.means_[None]) ** 2).sum(-1), axis=1)

    def predict_proba(self, X, *, sample_domain=None):
        X = self._validate_predict_X(X, sample_domain)
        d = -((X[:, None, :] - self.means_[None]) ** 2).sum(-1)
        e = np.exp(d - d.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


def test_scores_protocol_never_passes_target_labels(monkeypatch):
    from tltaxonomy import selection
    from tltaxonomy.datasets import load_task
    from tltaxonomy.protocols import run_protocol

    task = load_task("gaussian_shift", "covariate")
    y_target_before = np.array(task.y_target, copy=True)
    seen = {}
    original = selection.selection_scores

    def spy_scores(strategy, X_val, y_val, sd_val, X_fit_source, X_target, sd_target, **kw):
        seen.update(y_val=np.asarray(y_val), sd_val=np.asarray(sd_val), sd_target=np.asarray(sd_target), kw=kw)
        return original(strategy, X_val, y_val, sd_val, X_fit_source, X_target, sd_target, **kw)

    monkeypatch.setattr(selection, "selection_scores", spy_scores)
    _Spy.calls = []
    config = {"seed": 0, "selection": "scores", "protocol": {"source_val_fraction": 0.2}}
    metrics, info = run_protocol(_Spy(), task, config, {})
    (_, y_fit, sd_fit, n_fit), = [c for c in _Spy.calls if c[0] == "fit"]
    n_s, n_t = task.X_source.shape[0], task.X_target.shape[0]
    assert np.all(y_fit[sd_fit < 0] == -1)  # every target label masked before the strategy sees it
    assert (sd_fit > 0).sum() == n_s - info["selection"]["n_val"] and (sd_fit < 0).sum() == n_t
    assert info["selection"]["n_val"] == pytest.approx(0.2 * n_s, abs=2)
    assert np.all(seen["sd_val"] > 0) and np.all(seen["sd_target"] < 0)  # the scorers get source labels only
    assert set(seen["y_val"]) <= set(np.asarray(task.y_source))
    assert info["selection"]["output"] == "predict_proba"
    assert {"target/acc", "select/source_acc", "select/iwv", "select/dev", "select/entropy", "select/snd"} == set(metrics)
    np.testing.assert_array_equal(task.y_target, y_target_before)


def test_without_scores_the_protocol_is_unchanged():
    from tltaxonomy.datasets import load_task
    from tltaxonomy.protocols import run_protocol

    task = load_task("gaussian_shift", "covariate")
    _Spy.calls = []
    metrics, info = run_protocol(_Spy(), task, {"seed": 0, "selection": None}, {})
    (_, _, sd_fit, n_fit), = _Spy.calls
    assert n_fit == task.X_source.shape[0] + task.X_target.shape[0] and set(metrics) == {"target/acc"}
    assert "selection" not in info


def test_runner_records_scores_and_refuses_them_outside_transduction(tmp_store):
    from tltaxonomy.runner import compose_config, record_key, run_experiment

    base = ["strategy=coral", "strategy.variant=transform", "dataset=gaussian_shift", "task=covariate"]
    rec = run_experiment(compose_config([*base, "selection=scores", "hparams_seed=1"]), store=tmp_store).record
    assert rec["selection"] == "scores" and rec["config"]["protocol"]["source_val_fraction"] == 0.2
    assert {"select/iwv", "select/dev", "select/snd"} <= set(rec["metrics"])
    assert record_key(compose_config(base)) != record_key(compose_config([*base, "selection=scores"]))
    # the old value overrides still work through the selection/ group
    assert compose_config([*base, "selection=source_cv"]).selection == "source_cv"
    with pytest.raises(ConfigError, match="selection=scores scores transductive strategies"):
        run_experiment(compose_config(["strategy=feature_clustering", "dataset=gaussian_shift", "task=covariate",
                                       "strategy.input_shape=null", "selection=scores"]), store=tmp_store)


# --- tables under each protocol ---------------------------------------------------------------------


def _tiny_spec():
    from tltaxonomy.harness.tables import RowSpec, TableSpec

    rows = (RowSpec("CORAL", ("strategy=coral", "strategy.variant=transform")),
            RowSpec("OT", ("strategy=ot_mapping",)))
    return TableSpec(id="tiny_selection", title="Tiny", protocol="gaussian shift", selection="source_cv",
                     dataset="gaussian_shift", metric="target/acc", scale=100.0, digits=1, seeds=(0,), overrides=(),
                     columns={"cov": "covariate"}, rows=rows, paper={"CORAL": [None], "OT": [None]})


def test_selection_tables_one_per_protocol_from_the_same_runs(tmp_store, capsys):
    from tltaxonomy.harness import render
    from tltaxonomy.harness.tables import run_selection_tables

    results = run_selection_tables([_tiny_spec()], "default,iwv,oracle", 3, store=tmp_store, progress=False)
    assert len(results) == 3 and len(tmp_store) == 6  # 2 rows x 1 column x 3 draws, shared by the 3 protocols
    default, iwv, oracle = results
    assert "selection: none" in default.spec.title and "IWCV" in iwv.spec.title
    assert oracle.spec.title.endswith("ORACLE — selected with target test labels; not a valid result")
    assert "TARGET TEST LABELS" in oracle.spec.selection and "no target label used" in iwv.spec.selection
    for row in ("CORAL", "OT"):  # the oracle is an upper bound of every protocol on the same runs
        assert oracle.cell(row, "cov").ours_mean >= max(r.cell(row, "cov").ours_mean for r in results)
    records = list(tmp_store)
    coral0 = next(r for r in records if r["strategy"] == "coral" and r["hparams_seed"] == 0)
    assert default.cell("CORAL", "cov").ours_mean == pytest.approx(100 * coral0["metrics"]["target/acc"])
    md = render(oracle, "md")
    assert "ORACLE" in md and "Chosen hparams_seed" in md
    assert "oracle (target labels)" in render(oracle, "csv")
    # rerun: every run is reused from the store
    again = run_selection_tables([_tiny_spec()], "oracle", 3, store=tmp_store, progress=False)
    assert again[0].n_reused == 6 and again[0].n_computed == 0
    with pytest.raises(UnknownNameError, match="Valid selection protocols"):
        run_selection_tables([_tiny_spec()], "oracel", 2, store=tmp_store)
    with pytest.raises(ConfigError, match="n_hparams=0 must be a positive integer"):
        run_selection_tables([_tiny_spec()], "all", 0, store=tmp_store)


def test_cli_bench_selection_option_names_valid_protocols(capsys):
    from tltaxonomy.cli import main

    assert main(["bench", "coral2016_surf_full", "--selection", "bogus", "--hparams", "2", "-q"]) == 2
    err = capsys.readouterr().err
    assert "Unknown selection protocol 'bogus'" in err and "oracle" in err


def test_every_selection_config_composes():
    from tltaxonomy.runner import CONF_DIR, compose_config

    options = sorted(p.stem for p in (CONF_DIR / "selection").glob("*.yaml"))
    assert options == ["none", "scores", "source_cv", "source_val"]
    for option in options:
        assert compose_config([f"selection={option}"]).selection == option
    assert compose_config([]).selection is None and "source_val_fraction" not in compose_config([]).protocol


@pytest.mark.parametrize("name", ["coral", "sa", "gfk", "source_only", "pca"])
def test_svm_strategies_give_their_final_classifiers_scores_to_the_scorers(name):
    """CORAL, SA, GFK, PCA and SourceOnly wrap an SVM and expose no probabilities: the scorers read
    the SVM's decision scores on what the strategy's predict feeds it, and they agree with predict."""
    from sklearn.datasets import make_blobs

    from tltaxonomy import get_strategy
    from tltaxonomy.selection import class_probabilities

    X, y = make_blobs(n_samples=120, centers=3, n_features=6, random_state=0)
    X[60:] += 0.5  # the second half is the target domain
    sd = np.where(np.arange(120) < 60, 1, -1)
    y_masked = np.where(sd > 0, y, -1)
    params = {"n_components": 3} if name in ("sa", "pca") else {}
    if name == "gfk":
        params = {"n_components": 3}
    strategy = get_strategy(name)(**params).fit(X, y_masked, sample_domain=sd)
    proba, kind = class_probabilities(strategy, X[60:], -np.ones(60, dtype=int))
    assert kind == "final_classifier_decision_function"
    assert proba.shape == (60, 3) and np.allclose(proba.sum(axis=1), 1.0)
    assert np.array_equal(strategy.classes_[proba.argmax(axis=1)], strategy.predict(X[60:], sample_domain=-np.ones(60, dtype=int)))
    assert 0.0 < -np.mean(np.sum(proba * np.log(proba), axis=1)) < np.log(3)  # not one-hot
    assert type(strategy.estimator_).__name__ == "CVSVC"  # the stand-in was put back
