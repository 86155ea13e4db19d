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
