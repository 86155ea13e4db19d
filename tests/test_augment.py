"""Tests of tltaxonomy.training.augment and of augmented pretraining."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tltaxonomy.backbones import pretrain_backbone
from tltaxonomy.training.augment import augment_batch, random_affine


def _blob(n=4, side=16):
    x = torch.zeros(n, 1, side, side)
    x[:, :, 6:10, 5:11] = 1.0
    return x


def test_affine_without_motion_is_the_identity():
    x = _blob()
    same = random_affine(x, degrees=0.0, scale=(1.0, 1.0), translate=0.0)
    assert torch.allclose(same, x, atol=1e-5)


def test_affine_moves_the_image_reproducibly_and_keeps_its_mass_roughly():
    x = _blob(8)
    torch.manual_seed(0)
    a = random_affine(x)
    torch.manual_seed(0)
    b = random_affine(x)
    assert torch.equal(a, b) and a.shape == x.shape
    assert not torch.allclose(a, x)
    ratio = a.sum(dim=(1, 2, 3)) / x.sum(dim=(1, 2, 3))
    assert torch.all((ratio > 0.7) & (ratio < 1.35))  # scale in [0.9, 1.1]: area within [0.81, 1.21]


def test_augment_batch_names_and_errors():
    x = _blob()
    assert torch.equal(augment_batch(x, "none"), x)
    assert augment_batch(x, "shift").shape == x.shape and augment_batch(x, "affine").shape == x.shape
    with pytest.raises(ValueError, match="Unknown augmentation 'flip'"):
        augment_batch(x, "flip")
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        random_affine(torch.zeros(3, 16))


def test_pretraining_with_augmentation_is_recorded_and_checked(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.random((32, 64)).astype(np.float32)
    y = np.arange(32) % 2
    common = {"input_shape": (1, 8, 8), "trainer": {"max_epochs": 1, "device": "cpu", "seed": 0}}
    path = pretrain_backbone("mlp", X, y, checkpoint_path=tmp_path / "a.pt", augment="affine", **common)
    plain = pretrain_backbone("mlp", X, y, checkpoint_path=tmp_path / "p.pt", **common)
    meta_a = torch.load(path, weights_only=True)["meta"]
    assert meta_a["augment"] == "affine" and torch.load(plain, weights_only=True)["meta"]["augment"] == "none"
    assert meta_a["losses"] != torch.load(plain, weights_only=True)["meta"]["losses"]  # other batches were seen
    with pytest.raises(ValueError, match="unknown augment='blur'"):
        pretrain_backbone("mlp", X, y, checkpoint_path=tmp_path / "b.pt", augment="blur", **common)
    with pytest.raises(ValueError, match="not .*channels, height, width"):
        pretrain_backbone("mlp", X, y, checkpoint_path=tmp_path / "c.pt", augment="shift",
                          input_shape=(64,), trainer=common["trainer"])
