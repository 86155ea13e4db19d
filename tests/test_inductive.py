"""Tests of tltaxonomy.inductive: linear probe, fine-tuning and the from-scratch baseline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

from tltaxonomy import get_strategy
from tltaxonomy.backbones import MLP, pretrain_backbone
from tltaxonomy.inductive import FineTune, FromScratch, LinearProbe

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FAST = dict(device="cpu", random_state=0)
TINY = dict(backbone="mlp", input_shape=(16,))


def _toy(n=40, d=16, seed=0, labels=("cat", "dog")):
    rng = np.random.default_rng(seed)
    y = np.array(labels)[np.arange(n) % len(labels)]
    X = rng.normal(0, 1, (n, d)).astype(np.float32)
    X[:, 0] += 3 * (y == labels[0])
    return X, y


@pytest.mark.parametrize(
    "name, cls",
    [("linear_probe", LinearProbe), ("finetune", FineTune), ("scratch", FromScratch)],
)
def test_registered_and_clonable(name, cls):
    assert get_strategy(name) is cls
    est = cls(backbone="mlp", input_shape=(16,), random_state=3, device="cpu")
    params = est.get_params()
    assert params["random_state"] == 3 and params["input_shape"] == (16,)
    twin = clone(est)
    assert twin.get_params() == params
    assert not [k for k in vars(cls()) if k.endswith("_")]  # nothing fitted is set in __init__
    assert "pretrained" in params if cls is not FromScratch else "pretrained" not in params


@pytest.mark.parametrize(
    "est",
    [
        LinearProbe(**TINY, **FAST),
        FineTune(**TINY, max_epochs=2, batch_size=8, **FAST),
        FromScratch(**TINY, max_epochs=2, batch_size=8, **FAST),
    ],
    ids=["linear_probe", "finetune", "scratch"],
)
def test_string_labels_round_trip(est):
    X, y = _toy(labels=("cat", "dog", "eel"))
    est = clone(est).fit(X, y)
    assert list(est.classes_) == ["cat", "dog", "eel"]
    pred = est.predict(X)
    assert set(pred) <= {"cat", "dog", "eel"}
    proba = est.predict_proba(X)
    assert proba.shape == (40, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(pred, est.classes_[proba.argmax(axis=1)])
    assert 0 <= est.score(X, y) <= 1


def test_finetune_is_deterministic_and_uses_the_pretrained_weights(tmp_path):
    X, y = _toy()
    ckpt = pretrain_backbone(
        "mlp", X, y, input_shape=(16,), trainer={"max_epochs": 1, "device": "cpu"}, checkpoint_path=tmp_path / "m.pt"
    )
    pretrained = torch.load(ckpt, weights_only=True)["backbone"]
    ft0 = FineTune(backbone="mlp", pretrained=ckpt, input_shape=(16,), max_epochs=0 + 1, lr=1e-12, **FAST).fit(X, y)
    w = ft0.model_.backbone.state_dict()
    np.testing.assert_allclose(w["net.1.weight"].numpy(), pretrained["net.1.weight"].numpy(), atol=1e-6)
    a = FineTune(backbone="mlp", pretrained=ckpt, input_shape=(16,), max_epochs=2, **FAST).fit(X, y)
    b = FineTune(backbone="mlp", pretrained=ckpt, input_shape=(16,), max_epochs=2, **FAST).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert a.history_.n_epochs == 2
    probe = LinearProbe(backbone=ckpt, input_shape=(16,), **FAST).fit(X, y)  # a checkpoint path as the backbone
    np.testing.assert_allclose(probe.backbone_.state_dict()["net.1.weight"].numpy(), pretrained["net.1.weight"].numpy())


def test_scratch_reinitialises_a_given_module():
    X, y = _toy()
    user = MLP(input_shape=(16,), hidden=(8,))
    before = user.net[1].weight.detach().clone()
    est = FromScratch(backbone=user, input_shape=(16,), max_epochs=1, lr=1e-12, **FAST).fit(X, y)
    assert torch.equal(user.net[1].weight, before)  # the caller's module is untouched
    assert not torch.allclose(est.model_.backbone.net[1].weight, before)


def test_checkpoint_dir_resumes(tmp_path):
    X, y = _toy()
    full = FineTune(**TINY, max_epochs=3, **FAST).fit(X, y)
    FineTune(**TINY, max_epochs=1, checkpoint_dir=tmp_path, **FAST).fit(X, y)
    resumed = FineTune(**TINY, max_epochs=3, checkpoint_dir=tmp_path, **FAST).fit(X, y)
    assert resumed.history_.resumed_from == 1
    np.testing.assert_array_equal(resumed.predict_proba(X), full.predict_proba(X))


@pytest.mark.parametrize("cls", [LinearProbe, FineTune, FromScratch])
def test_input_errors(cls):
    X, y = _toy()
    est = cls(**TINY, **FAST)
    with pytest.raises(NotFittedError):
        est.predict(X)
    with pytest.raises(ValueError, match=rf"{cls.__name__}: X has 16 features but input_shape=\(1, 28, 28\) needs 784"):
        cls(**FAST).fit(X, y)
    with pytest.raises(InvalidParameterError, match=f"'batch_size' parameter of {cls.__name__}"):
        cls(**TINY, batch_size=0, **FAST).fit(X, y)
    with pytest.raises(ValueError, match="sample_domain has shape"):
        est.fit(X, y, sample_domain=np.ones(3, dtype=int))


def test_invalid_training_parameter():
    X, y = _toy()
    with pytest.raises(InvalidParameterError, match="'lr' parameter of FineTune"):
        FineTune(**TINY, lr=-1.0).fit(X, y)
    with pytest.raises(InvalidParameterError, match="'C' parameter of LinearProbe"):
        LinearProbe(**TINY, C=0.0).fit(X, y)


def test_pretrained_finetune_beats_scratch_on_usps(digits, lenet_ckpt):
    """MNIST-pretrained LeNet fine-tuned on 10 USPS digits per class beats the same network from scratch."""
    rng = np.random.default_rng(0)
    idx = np.concatenate([rng.choice(np.flatnonzero(digits.y_target == c), 10, replace=False) for c in range(10)])
    X, y = digits.X_target[idx], digits.y_target[idx]
    test = rng.choice(len(digits.y_test), 1000, replace=False)
    Xte, yte = digits.X_test[test], digits.y_test[test]
    budget = dict(max_epochs=10, batch_size=32, lr=1e-3, device="cpu", random_state=0)
    ft = FineTune(pretrained=lenet_ckpt, **budget).fit(X, y).score(Xte, yte)
    scratch = FromScratch(**budget).fit(X, y).score(Xte, yte)
    probe = LinearProbe(pretrained=lenet_ckpt, device="cpu", random_state=0).fit(X, y).score(Xte, yte)
    # measured on neighbouring draws (random_state 0..2): fine-tune +5.8..+6.7 points, probe +3.5..+5
    assert ft > scratch + 0.03, (ft, scratch)
    assert probe > scratch + 0.02, (probe, scratch)


# ----------------------------------------------------------------------------------------------------
# fine-tuning variants: partial / gradual unfreezing / discriminative lr / L2-SP / LP-FT / BSS
# ----------------------------------------------------------------------------------------------------
from tltaxonomy.backbones import LeNet, SmallResNet, backbone_blocks  # noqa: E402
from tltaxonomy.inductive import (  # noqa: E402
    BSS,
    L2SP,
    LPFT,
    BatchSpectralShrinkage,
    DiscriminativeFineTune,
    GradualUnfreezing,
    PartialFineTune,
    SPRegularization,
)
from tltaxonomy.training import Trainer  # noqa: E402


def _images(n=48, seed=0, n_classes=3):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    X = rng.random((n, 1, 28, 28)).astype(np.float32) * 0.3
    for c in range(n_classes):  # a bright bar whose row says the class
        X[y == c, 0, 4 + 8 * c : 8 + 8 * c, 4:24] += 0.7
    return X.reshape(n, -1), y


def _state(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@pytest.mark.parametrize(
    "name, cls, key, value",
    [
        ("partial_finetune", PartialFineTune, "freeze_blocks", 1),
        ("gradual_unfreezing", GradualUnfreezing, "unfreeze_every", 1),
        ("discriminative_lr", DiscriminativeFineTune, "backbone_lr_mult", 0.1),
        ("l2sp", L2SP, "l2sp_alpha", 0.1),
        ("lp_ft", LPFT, "head_init", "linear_probe"),
        ("bss", BSS, "bss_eta", 0.001),
    ],
)
def test_variants_are_registered_finetunes_with_their_defaults(name, cls, key, value):
    assert get_strategy(name) is cls and issubclass(cls, FineTune)
    est = cls(lr=0.01)
    params = est.get_params()
    assert params[key] == value and params["lr"] == 0.01
    assert set(params) == set(FineTune().get_params())  # the same parameters, other defaults
    assert clone(est).get_params() == params
    assert cls(**{key: FineTune().get_params()[key]}).get_params() == {**params, key: FineTune().get_params()[key], "lr": 1e-3}


def test_sp_regularization_equals_its_closed_form():
    torch.manual_seed(0)
    backbone, head = torch.nn.Linear(5, 4), torch.nn.Linear(4, 3)
    start = [p.detach().clone() for p in backbone.parameters()]
    reg = SPRegularization(backbone, head, alpha=0.3, beta=0.05)
    with torch.no_grad():
        for p in backbone.parameters():
            p.add_(torch.randn_like(p))
    expected = 0.15 * sum(float(((p.detach() - s) ** 2).sum()) for p, s in zip(backbone.parameters(), start))
    expected += 0.025 * sum(float((p.detach() ** 2).sum()) for p in head.parameters())
    assert float(reg()) == pytest.approx(expected, rel=1e-5)
    reg().backward()  # gradients flow to the weights, not to the stored starting point
    assert backbone.weight.grad is not None and not any(b.requires_grad for b in reg.buffers())


def test_batch_spectral_shrinkage_equals_the_smallest_squared_singular_values():
    rng = np.random.default_rng(0)
    F = rng.normal(size=(12, 7))
    s = np.linalg.svd(F, compute_uv=False)
    out = BatchSpectralShrinkage(k=2)(torch.tensor(F))
    assert float(out) == pytest.approx(float(np.sort(s)[:2] @ np.sort(s)[:2]), rel=1e-8)
    with pytest.raises(ValueError, match="batch, dim"):
        BatchSpectralShrinkage()(torch.zeros(3))


def test_backbone_blocks_cover_every_parameter_in_forward_order():
    assert [type(b).__name__ for b in backbone_blocks(LeNet())] == ["Conv2d", "Conv2d", "Linear"]
    blocks = backbone_blocks(SmallResNet())
    assert sum(p.numel() for b in blocks for p in b.parameters()) == sum(p.numel() for p in SmallResNet().parameters())

    class Odd(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.ones(1))
            self.fc = torch.nn.Linear(2, 2)

    with pytest.raises(ValueError, match="blocks\\(\\) method"):
        backbone_blocks(Odd())


def test_partial_finetune_keeps_the_frozen_blocks_and_their_batch_norm_statistics():
    X, y = _images()
    net = SmallResNet(width=4)
    est = PartialFineTune(backbone=net, freeze_blocks=2, max_epochs=2, batch_size=16, **FAST)
    start = _state(est.backbone)
    est.fit(X, y)
    after = est.model_.backbone.state_dict()
    stem = ["net.0.weight", "net.1.weight", "net.1.bias", "net.1.running_mean", "net.1.running_var"]
    assert all(torch.equal(after[k], start[k]) for k in stem)  # conv + batch-norm: weights and statistics
    assert not torch.equal(after["net.3.conv1.weight"], start["net.3.conv1.weight"])
    with pytest.raises(ValueError, match="has 5 blocks"):
        PartialFineTune(backbone=SmallResNet(width=4), freeze_blocks=6, max_epochs=1, **FAST).fit(X, y)


def test_freeze_bn_keeps_the_pretrained_statistics_while_the_weights_train():
    X, y = _images()
    net = SmallResNet(width=4)
    start = _state(net)
    stats = [k for k in start if k.endswith(("running_mean", "running_var"))]
    frozen = FineTune(backbone=net, freeze_bn=True, max_epochs=2, batch_size=16, **FAST).fit(X, y)
    after = frozen.model_.backbone.state_dict()
    assert stats and all(torch.equal(after[k], start[k]) for k in stats)  # every batch-norm statistic kept
    assert not torch.equal(after["net.1.weight"], start["net.1.weight"])  # the affine weights still train
    assert not torch.equal(after["net.0.weight"], start["net.0.weight"])
    trained = FineTune(backbone=net, max_epochs=2, batch_size=16, **FAST).fit(X, y).model_.backbone.state_dict()
    assert not all(torch.equal(trained[k], start[k]) for k in stats)  # the default updates them


def test_gradual_unfreezing_releases_one_block_per_epoch_from_the_top():
    X, y = _images()

    def moved(max_epochs):
        est = GradualUnfreezing(max_epochs=max_epochs, batch_size=16, **FAST)
        backbone = LeNet()
        start = _state(backbone)
        est.set_params(backbone=backbone).fit(X, y)
        after = est.model_.backbone.state_dict()
        return [not torch.equal(after[k], start[k]) for k in ("conv.0.weight", "conv.3.weight", "fc.1.weight")]

    assert moved(1) == [False, False, False]  # epoch 1: only the head
    assert moved(2) == [False, False, True]  # epoch 2: + fc
    assert moved(4) == [True, True, True]  # epochs 3, 4: + conv2, + conv1
    est = GradualUnfreezing(max_epochs=1, batch_size=16, **FAST).fit(X, y)
    assert all(p.requires_grad for p in est.model_.parameters())  # the fitted model is left trainable


def test_discriminative_learning_rates_reach_the_optimizer_and_a_zero_rate_freezes_the_backbone():
    X, y = _images()
    est = DiscriminativeFineTune(backbone_lr_mult=0.0, optimizer="sgd", momentum=0.0, max_epochs=2, batch_size=16, **FAST)
    backbone = LeNet(dropout=0.0)
    start = _state(backbone)
    est.set_params(backbone=backbone).fit(X, y)
    after = est.model_.backbone.state_dict()
    assert all(torch.equal(after[k], start[k]) for k in start)
    # the trainer's groups: lr x lr_mult, also under the inv schedule
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    seen = []

    def step(m, batch, state):
        seen.append([g["lr"] for g in opt_groups()])
        return torch.nn.functional.cross_entropy(m(batch[0]), batch[1])

    trainer = Trainer(max_epochs=2, batch_size=4, lr=0.1, optimizer="sgd", lr_schedule="inv", device="cpu")
    captured = {}
    original = trainer._make_optimizer

    def spy(groups):
        captured["opt"] = original(groups)
        return captured["opt"]

    trainer._make_optimizer = spy

    def opt_groups():
        return captured["opt"].param_groups

    data = (torch.randn(8, 4), torch.arange(8) % 2)
    trainer.fit(model, data, step, param_groups=[{"params": model[0].parameters(), "lr_mult": 0.1},
                                                  {"params": model[1].parameters()}])
    first, last = seen[0], seen[-1]
    assert first == pytest.approx([0.01, 0.1])
    assert last[0] / last[1] == pytest.approx(0.1) and last[1] < 0.1
    with pytest.raises(ValueError, match="in no param_groups entry"):
        Trainer(max_epochs=1, device="cpu").fit(model, data, param_groups=[{"params": model[0].parameters()}])
    with pytest.raises(ValueError, match="more than one"):
        Trainer(max_epochs=1, device="cpu").fit(model, data, param_groups=[{"params": model.parameters()},
                                                                            {"params": model[1].parameters()}])


def test_l2sp_stays_closer_to_the_pretrained_weights_than_finetune():
    X, y = _images()

    def distance(cls, **kw):
        backbone = LeNet()
        start = _state(backbone)
        est = cls(backbone=backbone, max_epochs=3, batch_size=16, lr=0.01, **kw, **FAST).fit(X, y)
        after = est.model_.backbone.state_dict()
        return sum(float(((after[k] - start[k]) ** 2).sum()) for k in start)

    assert distance(L2SP, l2sp_alpha=10.0) < 0.5 * distance(FineTune)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_lp_ft_starts_from_the_linear_probe(n_classes):
    X, y = _images(n_classes=n_classes)
    labels = np.array(["a", "b", "c"])[y]
    est = LPFT(max_epochs=1, batch_size=16, lr=1e-12, **FAST).fit(X, labels)  # a step too small to move
    feats = est.model_.backbone.eval()(torch.from_numpy(X.reshape(-1, 1, 28, 28))).detach().numpy()
    np.testing.assert_allclose(est.predict_proba(X), est.probe_.predict_proba(feats), atol=1e-4)
    assert est.score(X, labels) == pytest.approx(est.probe_.score(feats, y))


def test_finetune_variants_logs_and_determinism():
    X, y = _images()
    a = BSS(max_epochs=2, batch_size=16, l2sp_alpha=0.01, **FAST).fit(X, y)
    b = BSS(max_epochs=2, batch_size=16, l2sp_alpha=0.01, **FAST).fit(X, y)
    assert {"ce", "bss", "l2sp"} <= set(a.history_.logs[-1])
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_linear_probe_feature_cache_extracts_once_per_rows_and_weights(tmp_path, monkeypatch):
    import tltaxonomy.backbones.inputs as inputs

    X, y = _images()
    calls = []
    real = inputs.extract_features
    monkeypatch.setattr(inputs, "extract_features", lambda *a, **k: calls.append(1) or real(*a, **k))
    plain = LinearProbe(C=0.1, **FAST).fit(X, y)
    n_plain = len(calls)
    a = LinearProbe(C=0.1, memory=str(tmp_path), **FAST).fit(X, y)
    b = LinearProbe(C=10.0, memory=str(tmp_path), **FAST).fit(X, y)  # another C: the same features
    assert len(calls) == 2 * n_plain  # the uncached fit, then one extraction shared by a and b
    np.testing.assert_array_equal(a.predict_proba(X), plain.predict_proba(X))
    assert not np.array_equal(a.predict_proba(X), b.predict_proba(X))
    before = len(calls)
    a.predict_proba(X)  # rows already seen: from the cache
    assert len(calls) == before
    LinearProbe(C=0.1, memory=str(tmp_path), **{**FAST, "random_state": 1}).fit(X, y)  # other weights: extract again
    assert len(calls) == before + 1
