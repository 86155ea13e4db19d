"""Deep domain-adaptation strategies: what one step trains, selection, AdaBN, augmentations, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tltaxonomy.datasets.synthetic import make_rotated_moons
from tltaxonomy.training import Trainer, seeded
from tltaxonomy.transductive.deep import (
    CDAN,
    CDANE,
    DAN,
    DANN,
    MCC,
    MDD,
    AdaBN,
    DeepCORAL,
    DeepSelfTraining,
    DeepSourceOnly,
    adapt_batch_norm,
    cutout,
    entropy,
    random_shift,
)

SMALL = {"backbone_kwargs": {"hidden": [8]}, "device": "cpu", "random_state": 0}


def _moons(n=60, angle=30):
    return make_rotated_moons(n_samples=n, angle=angle)


def _one_step(clf, Xs, ys, Xt, *, n_classes=2):
    """Build ``clf``'s network and step as ``fit`` does, run exactly one optimiser step on one source
    batch and one target batch, and return (network, step, parameters before, parameters after)."""
    clf.input_shape_ = (Xs.shape[1],)
    with seeded(0):
        net = clf._build_network(n_classes)
        step = clf._make_step(net, n_classes)
    before = {**{f"net.{k}": v.clone() for k, v in net.state_dict().items()},
              **{f"step.{k}": v.clone() for k, v in step.state_dict().items()}}
    data = {"source": (torch.as_tensor(Xs, dtype=torch.float32), torch.as_tensor(ys)),
            "target": (torch.as_tensor(Xt, dtype=torch.float32),)}
    Trainer(max_epochs=1, batch_size=len(Xs), optimizer="sgd", lr=0.1, device="cpu").fit(net, data, step)
    after = {**{f"net.{k}": v for k, v in net.state_dict().items()},
             **{f"step.{k}": v for k, v in step.state_dict().items()}}
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    return net, step, changed


def _prefixes(names):
    return {n.rsplit(".", 1)[0] for n in names}


@pytest.mark.parametrize(
    "cls, params, expected",
    [
        (DeepSourceOnly, {}, {"net.backbone.net.1", "net.head"}),
        (DANN, {"discriminator_hidden": 4, "discriminator_layers": 0},
         {"net.backbone.net.1", "net.head", "step.adversarial.discriminator.net.0"}),
        (CDAN, {"discriminator_hidden": 4, "discriminator_layers": 0},
         {"net.backbone.net.1", "net.head", "step.adversarial.discriminator.net.0"}),
        (CDAN, {"discriminator_hidden": 4, "discriminator_layers": 0, "randomized": True, "randomized_dim": 16},
         {"net.backbone.net.1", "net.head", "step.adversarial.discriminator.net.0"}),
        (DAN, {}, {"net.backbone.net.1", "net.head"}),
        (DeepCORAL, {}, {"net.backbone.net.1", "net.head"}),
        (MCC, {}, {"net.backbone.net.1", "net.head"}),
        (MDD, {}, {"net.backbone.net.1", "net.head", "step.adv_head"}),
        (DeepSelfTraining, {"threshold": 0.0}, {"net.backbone.net.1", "net.head"}),
    ],
    ids=["source_only", "dann", "cdan", "cdan_randomized", "dan", "deep_coral", "mcc", "mdd", "self_training"],
)
def test_one_step_changes_exactly_the_parameters_of_the_method(cls, params, expected):
    Xs, ys, Xt, _ = _moons()
    clf = cls(**SMALL, schedule="constant", **params)
    _, step, changed = _one_step(clf, Xs, ys, Xt)
    assert _prefixes(changed) == expected
    # the randomized multilinear map's projections are fixed buffers: never trained
    if params.get("randomized"):
        assert not any("map" in name for name in changed)


def test_dann_domain_loss_reaches_the_features_but_not_the_head():
    """The head's update of DANN equals the source-only update (the domain loss does not flow through the
    head), while the backbone's update differs (the reversed domain gradient reaches it)."""
    Xs, ys, Xt, _ = _moons()
    net_d, _, _ = _one_step(DANN(**SMALL, schedule="constant", discriminator_layers=0), Xs, ys, Xt)
    net_s, _, _ = _one_step(DeepSourceOnly(**SMALL), Xs, ys, Xt)
    assert torch.allclose(net_d.head.weight, net_s.head.weight)
    assert not torch.allclose(net_d.backbone.net[1].weight, net_s.backbone.net[1].weight)


def test_dann_with_zero_trade_off_trains_like_source_only_but_still_trains_its_discriminator():
    Xs, ys, Xt, _ = _moons()
    net_d, step, changed = _one_step(DANN(**SMALL, trade_off=0.0, schedule="constant", discriminator_layers=0), Xs, ys, Xt)
    net_s, _, _ = _one_step(DeepSourceOnly(**SMALL), Xs, ys, Xt)
    for (k, a), b in zip(net_d.state_dict().items(), net_s.state_dict().values()):
        assert torch.equal(a, b), k
    assert any(k.startswith("step.adversarial") for k in changed) is False  # trade_off 0: no gradient at all


def test_source_only_step_ignores_the_target_batch():
    Xs, ys, Xt, _ = _moons()
    a, _, _ = _one_step(DeepSourceOnly(**SMALL), Xs, ys, Xt)
    b, _, _ = _one_step(DeepSourceOnly(**SMALL), Xs, ys, Xt + 5.0)
    for x, y in zip(a.parameters(), b.parameters()):
        assert torch.equal(x, y)


def test_adabn_changes_only_batch_norm_statistics_and_they_equal_the_target_moments():
    Xs, ys, Xt, _ = _moons()
    clf = AdaBN(**SMALL, bottleneck_dim=4, max_epochs=2, selection="last").fit_domains(Xs, ys, Xt)
    net = clf.network_
    bn = net.bottleneck[1]
    with torch.no_grad():
        z = net.bottleneck[0](net.backbone(torch.as_tensor(Xt, dtype=torch.float32)))
    assert torch.allclose(bn.running_mean, z.mean(0), atol=1e-5)
    assert torch.allclose(bn.running_var, z.var(0, unbiased=True), atol=1e-4)
    # and adapting again changes buffers only
    params = [p.clone() for p in net.parameters()]
    assert adapt_batch_norm(net, torch.as_tensor(Xs, dtype=torch.float32)) == 1
    assert all(torch.equal(a, b) for a, b in zip(params, net.parameters()))
    assert not torch.allclose(bn.running_mean, z.mean(0))
    assert clf.n_adapted_layers_ == 1


def test_adabn_without_batch_norm_says_how_to_fix_it():
    Xs, ys, Xt, _ = _moons()
    with pytest.raises(ValueError, match="no batch-norm layer.*bottleneck_dim"):
        AdaBN(**SMALL, bottleneck_dim=None).fit_domains(Xs, ys, Xt)


def test_cdan_e_is_cdan_with_entropy_conditioning():
    assert CDANE().entropy_conditioning is True and CDAN().entropy_conditioning is False
    assert set(CDANE().get_params()) == set(CDAN().get_params())


@pytest.mark.parametrize("cls", [DANN, DAN, MCC, DeepSourceOnly])
def test_same_seed_same_predictions_and_clone(cls):
    from sklearn.base import clone

    Xs, ys, Xt, _ = _moons()
    a = cls(**SMALL, max_epochs=3).fit_domains(Xs, ys, Xt)
    b = clone(a).fit_domains(Xs, ys, Xt)
    np.testing.assert_array_equal(a.predict_proba(Xt), b.predict_proba(Xt))


def test_selection_source_val_keeps_the_best_validation_epoch_and_staged_predict_follows_epochs():
    Xs, ys, Xt, yt = _moons(n=100)
    clf = DANN(**SMALL, max_epochs=6, lr=0.01, keep_epoch_weights=True, val_rows="last").fit_domains(Xs, ys, Xt)
    scores = clf.history_.val_scores
    assert clf.best_epoch_ == len(scores) - int(np.argmax(scores[::-1]))  # ties go to the later epoch
    staged = list(clf.staged_predict(Xt))
    assert len(staged) == clf.n_epochs_ == 6
    np.testing.assert_array_equal(staged[clf.best_epoch_ - 1], clf.predict(Xt))
    assert clf.selection_protocol() == "source_val"


def test_selection_target_entropy_uses_unlabelled_target_rows_only():
    Xs, ys, Xt, _ = _moons(n=100)
    clf = MCC(**SMALL, max_epochs=5, lr=0.01, selection="target_entropy", keep_epoch_weights=True).fit_domains(Xs, ys, Xt)
    ents = []
    for state in clf.epoch_weights_:
        net = clf.network_
        net.load_state_dict(state)
        with torch.no_grad():
            ents.append(float(entropy(net(torch.as_tensor(Xt, dtype=torch.float32)))))
    assert clf.best_epoch_ == int(np.argmin(ents)) + 1
    assert clf.selection_protocol() == "target_entropy"


def test_selection_last_and_staged_predict_needs_weights():
    Xs, ys, Xt, _ = _moons()
    clf = DAN(**SMALL, max_epochs=2, selection="last").fit_domains(Xs, ys, Xt)
    assert clf.best_epoch_ == 2 and clf.selection_protocol() == "none"
    with pytest.raises(ValueError, match="keep_epoch_weights=True"):
        next(clf.staged_predict(Xt))


def test_the_protocol_records_the_oracle_beside_the_honest_choice(tmp_path, monkeypatch):
    from tltaxonomy.runner import compose_config, run_experiment
    from tltaxonomy.store import ResultStore

    cfg = compose_config([
        "strategy=dann", "dataset=moons", "task=rotated_30", "strategy.max_epochs=4", "strategy.keep_epoch_weights=true",
        "strategy.backbone_kwargs={hidden:[8]}", "strategy.device=cpu",
    ])
    rec = run_experiment(cfg, store=ResultStore(tmp_path)).record
    m = rec["metrics"]
    assert m["target/acc_oracle"] >= max(m["target/acc"], m["target/acc_last"])
    assert 1 <= rec["protocol_info"]["oracle_epoch"] <= 4
    assert rec["selection"] == "source_val"


def test_errors_name_the_problem():
    Xs, ys, Xt, _ = _moons()
    with pytest.raises(ValueError, match="input_shape"):
        DANN(**SMALL, input_shape=(3,)).fit_domains(Xs, ys, Xt)
    with pytest.raises(ValueError, match="augment='shift'.*input_shape"):
        DeepSelfTraining(**SMALL, augment="shift").fit_domains(Xs, ys, Xt)
    with pytest.raises(ValueError, match="target_entropy.*no negative"):
        MCC(**SMALL, selection="target_entropy").fit(Xs, ys)
    with pytest.raises(ValueError, match="NaN"):
        DANN(**SMALL).fit_domains(Xs, ys, np.full_like(Xt, np.nan))
    with pytest.raises(ValueError, match="pretrained"):
        DANN(**SMALL, init="xavier_uniform", pretrained="x.pt").fit_domains(Xs, ys, Xt)
    with pytest.raises(TypeError):
        DANN(not_a_parameter=1)


def test_without_target_rows_a_deep_method_is_its_source_only_network():
    Xs, ys, _, _ = _moons()
    a = DANN(**SMALL, max_epochs=2).fit(Xs, ys)
    b = DeepSourceOnly(**SMALL, max_epochs=2).fit(Xs, ys)
    np.testing.assert_allclose(a.predict_proba(Xs), b.predict_proba(Xs), atol=1e-6)


def test_dann_beats_source_only_on_the_rotated_moons():
    """The toy problem DANN was made for (a smaller, faster version of the dann2016_moons table)."""
    Xs, ys, Xt, yt = make_rotated_moons(n_samples=150, angle=35)
    common = dict(backbone_kwargs={"hidden": [50], "activation": "relu"}, device="cpu", random_state=0,
                  selection="last", max_epochs=100, lr=0.01, batch_size=16)
    nn_acc = DeepSourceOnly(**common).fit_domains(Xs, ys, Xt).score(Xt, yt)
    dann_acc = DANN(**common, discriminator_layers=1, discriminator_hidden=32).fit_domains(Xs, ys, Xt).score(Xt, yt)
    assert dann_acc > nn_acc + 0.10, (nn_acc, dann_acc)  # measured: .767 -> .927


def test_random_shift_and_cutout():
    torch.manual_seed(0)
    x = torch.zeros(5, 1, 10, 10)
    x[:, :, 4:6, 4:6] = 1.0
    shifted = random_shift(x, 2)
    assert shifted.shape == x.shape
    assert torch.allclose(shifted.sum(dim=(1, 2, 3)), torch.full((5,), 4.0))  # the blob stays inside
    assert torch.equal(random_shift(x, 0), x)
    cut = cutout(torch.ones(4, 1, 8, 8), 2)
    lost = (cut == 0).sum(dim=(1, 2, 3))
    assert torch.all(lost >= 1) and torch.all(lost <= 4)


def test_resnet_small_and_backbone_kwargs():
    from tltaxonomy.backbones import build_backbone

    net = build_backbone("resnet_small", input_shape=(1, 28, 28), backbone_kwargs={"width": 8})
    assert net(torch.zeros(2, 784)).shape == (2, 32)
    mlp = build_backbone("mlp", input_shape=(5,), backbone_kwargs={"hidden": [3], "activation": "sigmoid"})
    assert isinstance(mlp.net[2], nn.Sigmoid) and mlp.out_features == 3
    with pytest.raises(ValueError, match="backbone_kwargs"):
        build_backbone(nn.Linear(5, 3), input_shape=(5,), backbone_kwargs={"hidden": [3]})


def test_self_training_distribution_alignment_is_the_remixmatch_rescaling():
    """p <- normalize(p * prior / running mean of p); it removes a class the model over-predicts."""
    from tltaxonomy.transductive.deep.methods import _SelfTrainingStep

    prior = torch.tensor([0.5, 0.5])
    step = _SelfTrainingStep(1.0, "constant", 0.9, "none", (2,), prior=prior, momentum=0.0)
    p = torch.tensor([[0.9, 0.1], [0.7, 0.3], [0.6, 0.4]])  # the model leans to class 0 on the target
    q = step._align(p)
    mean = p.mean(dim=0)
    expected = p * prior / mean
    torch.testing.assert_close(q, expected / expected.sum(dim=1, keepdim=True))
    assert (q.argmax(dim=1) == torch.tensor([0, 1, 1])).all()  # 0.7/0.3 and 0.6/0.4 flip after rescaling
    # the running mean moves by (1 - momentum) per batch
    step = _SelfTrainingStep(1.0, "constant", 0.9, "none", (2,), prior=prior, momentum=0.9)
    step._align(p)
    step._align(torch.tensor([[0.5, 0.5]]))
    torch.testing.assert_close(step.p_model, 0.9 * mean + 0.1 * torch.tensor([0.5, 0.5]))
    # the estimator passes the source class frequencies
    X = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    y = np.r_[np.zeros(30, int), np.ones(10, int)]
    st = DeepSelfTraining(max_epochs=1, device="cpu", selection="last").fit_domains(X, y, X)
    np.testing.assert_allclose(st.source_prior_, [0.75, 0.25])
