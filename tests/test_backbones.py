"""Tests of tltaxonomy.backbones: registry, networks, pretraining and pretrained checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tltaxonomy._errors import UnknownNameError
from tltaxonomy.backbones import (
    MLP,
    FeatureClassifier,
    LeNet,
    build_backbone,
    extract_features,
    feature_dim,
    get_backbone,
    list_backbones,
    load_pretrained,
    pretrain_backbone,
    register_backbone,
)
from tltaxonomy.training import CheckpointError, save_checkpoint, seeded

TRAINER = {"max_epochs": 1, "batch_size": 16, "device": "cpu", "seed": 0}
MLP_KW = {"hidden": [8]}


def _toy(n=48, d=16, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, d)).astype(np.float32)
    return X, np.where(X[:, 0] > 0.5, "hi", "lo")


@pytest.fixture
def mlp_ckpt(tmp_path):
    X, y = _toy()
    return pretrain_backbone(
        "mlp", X, y, input_shape=(16,), trainer=TRAINER, checkpoint_path=tmp_path / "mlp.pt", backbone_kwargs=MLP_KW
    )


def test_registry_lists_and_builds():
    assert {"lenet", "mlp"} <= set(list_backbones())
    net = get_backbone("lenet")
    assert isinstance(net, LeNet) and net.out_features == 500 and net.input_shape == (1, 28, 28)
    assert net(torch.zeros(3, 784)).shape == (3, 500)  # flat rows are reshaped
    assert net(torch.zeros(3, 1, 28, 28)).shape == (3, 500)
    assert sum(p.numel() for p in net.conv.parameters()) == (20 * 25 + 20) + (50 * 20 * 25 + 50)
    assert net.fc[1].in_features == 800
    mlp = get_backbone("mlp", input_shape=(10,), hidden=(7, 5), activation="tanh", dropout=0.1)
    assert isinstance(mlp, MLP) and mlp.out_features == 5 and mlp(torch.zeros(2, 10)).shape == (2, 5)


def test_unknown_backbone_name_suggests_close_names():
    with pytest.raises(UnknownNameError, match=r"Unknown backbone 'lenett'. Did you mean 'lenet'\?"):
        get_backbone("lenett")
    with pytest.raises(UnknownNameError, match="Unknown backbone 'no_such_net'"):
        build_backbone("no_such_net", input_shape=(1, 28, 28))


def test_register_duplicate_name_is_refused():
    @register_backbone("_test_tiny")
    def tiny(input_shape=(4,)):
        return nn.Linear(4, 2)

    register_backbone("_test_tiny")(tiny)  # the same constructor again is fine
    with pytest.raises(ValueError, match="'_test_tiny' is already registered"):
        register_backbone("_test_tiny")(lambda input_shape=(4,): nn.Linear(4, 2))


def test_network_argument_errors():
    with pytest.raises(ValueError, match=r"LeNet: input_shape must be \(channels, height, width\)"):
        LeNet(input_shape=(784,))
    with pytest.raises(ValueError, match="too small"):
        LeNet(input_shape=(1, 8, 8))
    with pytest.raises(ValueError, match="activation='swish' is not supported"):
        MLP(activation="swish")
    with pytest.raises(ValueError, match="hidden must list at least one layer"):
        MLP(hidden=())


def test_feature_dim_from_attribute_or_dry_run():
    assert feature_dim(LeNet(), (1, 28, 28)) == 500
    net = nn.Sequential(nn.Conv2d(1, 3, 3), nn.Flatten())  # no out_features: inferred
    net.train()
    assert feature_dim(net, (1, 6, 6)) == 3 * 4 * 4
    assert net.training  # mode restored
    with pytest.raises(ValueError, match="Cannot infer the feature dimension of Sequential"):
        feature_dim(net, (5,))


def test_extract_features_is_eval_mode_and_batched():
    X = np.random.default_rng(0).random((10, 784)).astype(np.float32)
    with seeded(0):
        net = LeNet()
    a = extract_features(net, X, input_shape=(1, 28, 28), batch_size=3, device="cpu")
    b = extract_features(net, X, input_shape=(1, 28, 28), batch_size=10, device="cpu")
    assert a.shape == (10, 500) and a.dtype == np.float32
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)  # dropout off: deterministic
    assert extract_features(net, X[:0], input_shape=(1, 28, 28), device="cpu").shape == (0, 500)


def test_pretrain_saves_and_reuses(mlp_ckpt):
    ckpt = torch.load(mlp_ckpt, weights_only=True)
    meta = ckpt["meta"]
    assert meta["backbone"] == "mlp" and meta["backbone_kwargs"] == MLP_KW and meta["input_shape"] == [16]
    assert meta["classes"] == ["hi", "lo"] and meta["out_features"] == 8 and len(meta["losses"]) == 1
    net = load_pretrained(None, mlp_ckpt)
    assert net.out_features == 8
    for k, v in net.state_dict().items():
        assert torch.equal(v, ckpt["backbone"][k])
    mtime = mlp_ckpt.stat().st_mtime_ns
    X, y = _toy()
    again = pretrain_backbone("mlp", X, y, input_shape=(16,), trainer=TRAINER, checkpoint_path=mlp_ckpt, backbone_kwargs=MLP_KW)
    assert again == mlp_ckpt and mlp_ckpt.stat().st_mtime_ns == mtime  # not retrained


def test_pretrain_same_seed_same_weights(tmp_path):
    X, y = _toy()
    paths = [
        pretrain_backbone("mlp", X, y, input_shape=(16,), trainer=TRAINER, checkpoint_path=tmp_path / f"{i}.pt")
        for i in range(2)
    ]
    a, b = (torch.load(p, weights_only=True)["backbone"] for p in paths)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_pretrain_custom_module_and_invalid_file_is_redone(tmp_path):
    X, y = _toy()
    custom = nn.Sequential(nn.Linear(16, 4), nn.ReLU())
    before = custom[0].weight.detach().clone()
    path = tmp_path / "custom.pt"
    path.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="pretrained again and overwritten"):
        pretrain_backbone(custom, X, y, input_shape=(16,), trainer=TRAINER, checkpoint_path=path)
    assert torch.equal(custom[0].weight, before)  # the caller's module is not trained
    loaded = load_pretrained(nn.Sequential(nn.Linear(16, 4), nn.ReLU()), path)
    assert not torch.equal(loaded[0].weight, before)
    with pytest.raises(CheckpointError, match="pretrained from a custom module"):
        load_pretrained(None, path)
    with pytest.raises(CheckpointError, match="pretrained from a custom module"):
        build_backbone(None, input_shape=(16,), pretrained=path)


def test_pretrain_argument_errors(tmp_path):
    X, y = _toy()
    with pytest.raises(ValueError, match=r"X has shape \(48, 16\) but input_shape=\(1, 28, 28\)"):
        pretrain_backbone("lenet", X, y, input_shape=(1, 28, 28), trainer=TRAINER, checkpoint_path=tmp_path / "a.pt")
    with pytest.raises(ValueError, match="y has shape"):
        pretrain_backbone("mlp", X, y[:5], input_shape=(16,), trainer=TRAINER, checkpoint_path=tmp_path / "a.pt")
    with pytest.raises(ValueError, match="backbone_kwargs apply to a backbone given by registered name"):
        pretrain_backbone(
            nn.Linear(16, 2), X, y, input_shape=(16,), trainer=TRAINER, checkpoint_path=tmp_path / "a.pt",
            backbone_kwargs={"hidden": [3]},
        )


def test_load_pretrained_errors(tmp_path, mlp_ckpt):
    with pytest.raises(CheckpointError, match="does not exist; check the path"):
        load_pretrained("mlp", tmp_path / "missing.pt")
    other = save_checkpoint({"state": {"w": torch.ones(1)}}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="is not a pretrained-backbone checkpoint"):
        load_pretrained("mlp", other)
    with pytest.raises(CheckpointError, match="holds a pretrained 'mlp' backbone, not 'lenet'"):
        load_pretrained("lenet", mlp_ckpt)
    with pytest.raises(CheckpointError, match=r"do not fit the given MLP.*Pass the same architecture"):
        load_pretrained(MLP(input_shape=(16,), hidden=(9,)), mlp_ckpt)


def test_build_backbone_forms(mlp_ckpt):
    user = MLP(input_shape=(16,), hidden=(8,))
    built = build_backbone(user, input_shape=(16,))
    assert built is not user and torch.equal(built.net[1].weight, user.net[1].weight)
    from_path = build_backbone(str(mlp_ckpt), input_shape=(16,))
    from_meta = build_backbone(None, input_shape=(16,), pretrained=mlp_ckpt)
    assert torch.equal(from_path.net[1].weight, from_meta.net[1].weight)
    fresh = build_backbone(mlp_ckpt, input_shape=(16,), load_weights=False)
    assert not torch.equal(fresh.net[1].weight, from_meta.net[1].weight)
    with pytest.raises(ValueError, match="pass only one of them"):
        build_backbone(mlp_ckpt, input_shape=(16,), pretrained=mlp_ckpt.with_name("x.pt"))
    with pytest.raises(ValueError, match="No backbone given"):
        build_backbone(None, input_shape=(16,))
    with pytest.raises(CheckpointError, match=r"pretrained on inputs of shape \(16,\), but input_shape=\(1, 28, 28\)"):
        build_backbone(None, input_shape=(1, 28, 28), pretrained=mlp_ckpt)


def test_feature_classifier():
    model = FeatureClassifier(LeNet(), 500, 10)
    assert model(torch.zeros(2, 784)).shape == (2, 10)
