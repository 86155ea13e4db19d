"""Tests of tltaxonomy.training: the one training loop, seeding, checkpoints and resume."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from sklearn.utils._param_validation import InvalidParameterError
from torch import nn

from tltaxonomy.training import (
    CheckpointError,
    Trainer,
    TrainState,
    load_checkpoint,
    resolve_device,
    save_checkpoint,
    seeded,
    trainer_from,
)


def _data(n=120, d=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).long()
    return X, y


def _model(seed=0, d=6):
    with seeded(seed):
        return nn.Sequential(nn.Linear(d, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 2))


def _same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


FAST = dict(batch_size=16, device="cpu", seed=3)


def test_same_seed_gives_identical_weights():
    X, y = _data()
    m1, m2 = _model(), _model()
    h1 = Trainer(max_epochs=3, **FAST).fit(m1, (X, y))
    h2 = Trainer(max_epochs=3, **FAST).fit(m2, (X, y))
    assert _same_weights(m1, m2)
    assert h1.losses == h2.losses and h1.n_epochs == 3
    m3 = _model()
    Trainer(max_epochs=3, **{**FAST, "seed": 4}).fit(m3, (X, y))
    assert not _same_weights(m1, m3)


def test_fit_leaves_callers_rng_untouched_and_sets_nothing_global():
    X, y = _data()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    Trainer(max_epochs=1, **FAST).fit(_model(), (X, y))
    np.testing.assert_array_equal(torch.rand(3).numpy(), expected.numpy())
    assert not torch.are_deterministic_algorithms_enabled()


@pytest.mark.parametrize("val_fraction", [0.0, 0.2])
def test_resume_after_interruption_equals_uninterrupted_run(tmp_path, val_fraction):
    X, y = _data()
    full = _model()
    h_full = Trainer(max_epochs=4, val_fraction=val_fraction, **FAST).fit(full, (X, y))

    ckpt_dir = tmp_path / "run"
    first = _model()
    h_first = Trainer(max_epochs=2, val_fraction=val_fraction, checkpoint_dir=ckpt_dir, **FAST).fit(first, (X, y))
    assert h_first.resumed_from is None and (ckpt_dir / "last.pt").is_file()
    resumed = _model()  # a fresh process would rebuild the model from scratch
    h_resumed = Trainer(max_epochs=4, val_fraction=val_fraction, checkpoint_dir=ckpt_dir, **FAST).fit(resumed, (X, y))
    assert h_resumed.resumed_from == 2
    assert h_resumed.losses == h_full.losses
    assert h_resumed.val_scores == h_full.val_scores
    assert h_resumed.best_epoch == h_full.best_epoch
    assert _same_weights(resumed, full)
    assert not [p for p in os.listdir(ckpt_dir) if p.endswith(".tmp")]  # atomic writes leave no temp file


def test_resume_with_named_sets_and_step_module(tmp_path):
    """Several training sets (source + target) and a loss with parameters resume exactly too."""
    X, y = _data()
    Xt, _ = _data(n=50, seed=1)

    class Step(nn.Module):  # a loss with a learnable parameter, like a domain discriminator
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(()))

        def forward(self, model, batch, state):
            src, tgt = batch["source"], batch["target"]
            ce = nn.functional.cross_entropy(model(src[0]), src[1])
            reg = self.scale * model(tgt[0]).pow(2).mean() * 1e-2 + (self.scale - 2).pow(2)
            return {"loss": ce + reg, "progress": state.progress}

    def run(epochs, ckpt=None):
        model, step = _model(), Step()
        h = Trainer(max_epochs=epochs, checkpoint_dir=ckpt, **FAST).fit(model, {"source": (X, y), "target": (Xt,)}, step)
        return model, step, h

    full_model, full_step, h_full = run(3)
    assert full_step.scale.item() != 1.0  # the step's parameter was optimised
    assert h_full.logs[0]["progress"] < h_full.logs[1]["progress"] < 1
    run(1, tmp_path)
    model, step, h = run(3, tmp_path)
    assert h.resumed_from == 1
    assert _same_weights(model, full_model) and torch.equal(step.scale, full_step.scale)


def test_finished_checkpoint_is_not_retrained(tmp_path):
    X, y = _data()
    m1 = _model()
    Trainer(max_epochs=2, checkpoint_dir=tmp_path, **FAST).fit(m1, (X, y))
    m2 = _model(seed=9)
    h = Trainer(max_epochs=2, checkpoint_dir=tmp_path, **FAST).fit(m2, (X, y))
    assert h.resumed_from == 2 and h.n_epochs == 2
    assert _same_weights(m1, m2)
    m3 = _model(seed=9)
    h3 = Trainer(max_epochs=1, checkpoint_dir=tmp_path, resume=False, **FAST).fit(m3, (X, y))
    assert h3.resumed_from is None and h3.n_epochs == 1


def test_resume_with_other_settings_is_refused(tmp_path):
    X, y = _data()
    Trainer(max_epochs=1, checkpoint_dir=tmp_path, **FAST).fit(_model(), (X, y))
    with pytest.raises(CheckpointError, match=r"other settings \(lr: checkpoint 0.001 vs now 0.01\)"):
        Trainer(max_epochs=2, checkpoint_dir=tmp_path, **{**FAST, "lr": 0.01}).fit(_model(), (X, y))
    with pytest.raises(CheckpointError, match="n_rows"):
        Trainer(max_epochs=2, checkpoint_dir=tmp_path, **FAST).fit(_model(), (X[:50], y[:50]))
    save_checkpoint({"something": 1}, tmp_path / "last.pt")
    with pytest.raises(CheckpointError, match="not a Trainer checkpoint"):
        Trainer(max_epochs=2, checkpoint_dir=tmp_path, **FAST).fit(_model(), (X, y))


def test_early_stopping_restores_the_best_epoch():
    X, y = _data(n=200)
    model = _model()
    h = Trainer(max_epochs=60, lr=0.05, val_fraction=0.25, patience=2, val_metric="loss", **FAST).fit(model, (X, y))
    assert h.stopped_early and h.n_epochs < 60
    assert h.best_epoch == int(np.argmin(h.val_scores)) + 1
    assert h.n_epochs == h.best_epoch + 2


def test_accuracy_validation_and_explicit_val_data():
    X, y = _data(n=200)
    h = Trainer(max_epochs=3, **FAST).fit(_model(), (X[:150], y[:150]), val_data=(X[150:], y[150:]))
    assert len(h.val_scores) == 3 and all(0 <= s <= 1 for s in h.val_scores)
    assert h.best_epoch == int(np.argmax(h.val_scores)) + 1


def test_checkpoints_load_weights_only_and_refuse_pickled_objects(tmp_path):
    path = save_checkpoint({"w": torch.ones(2), "meta": {"a": [1, 2.0, "x", None]}}, tmp_path / "ok.pt")
    assert torch.equal(load_checkpoint(path)["w"], torch.ones(2))

    evil = tmp_path / "evil.pt"
    torch.save({"w": torch.ones(2), "obj": TrainState(0, 0, 1, 1)}, evil)  # an arbitrary pickled object
    with pytest.raises(CheckpointError, match="Refused to load.*weights_only=True.*Refused object: tltaxonomy.training.trainer.TrainState"):
        load_checkpoint(evil)


def test_load_checkpoint_errors(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match="corrupt or not a torch checkpoint"):
        load_checkpoint(bad)
    lst = tmp_path / "list.pt"
    torch.save([torch.ones(1)], lst)
    with pytest.raises(CheckpointError, match="holds a list, not a dict"):
        load_checkpoint(lst)


def test_save_checkpoint_cleans_up_on_failure(tmp_path):
    with pytest.raises(Exception):
        save_checkpoint({"f": lambda: 0}, tmp_path / "x.pt")  # lambdas cannot be pickled
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "params, match",
    [
        ({"lr": -1.0}, "'lr' parameter of Trainer"),
        ({"optimizer": "rmsprop"}, "'optimizer' parameter of Trainer"),
        ({"max_epochs": 0}, "'max_epochs' parameter of Trainer"),
        ({"val_fraction": 1.0}, "'val_fraction' parameter of Trainer"),
    ],
)
def test_invalid_trainer_settings(params, match):
    X, y = _data()
    with pytest.raises(InvalidParameterError, match=match):
        Trainer(**{**FAST, **params}).fit(_model(), (X, y))


def test_trainer_data_and_config_errors():
    X, y = _data()
    with pytest.raises(ValueError, match="patience=2 needs validation rows"):
        Trainer(patience=2, **FAST).fit(_model(), (X, y))
    with pytest.raises(ValueError, match="leaves 0 validation rows"):
        Trainer(val_fraction=0.001, **FAST).fit(_model(), (X, y))
    with pytest.raises(ValueError, match="dict of training sets is empty"):
        Trainer(**FAST).fit(_model(), {})
    with pytest.raises(ValueError, match="has no rows"):
        Trainer(**FAST).fit(_model(), (X[:0], y[:0]))
    with pytest.raises(TypeError, match="must be a torch Dataset"):
        Trainer(**FAST).fit(_model(), X)


def test_non_finite_loss_raises():
    X, y = _data()
    X[0, 0] = float("nan")
    with pytest.raises(FloatingPointError, match="training loss is nan at epoch 1; lower the learning rate"):
        Trainer(max_epochs=1, **FAST).fit(_model(), (X, y))


def test_resolve_device():
    expected = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    assert resolve_device("auto").type == expected
    assert resolve_device(torch.device("cpu")).type == "cpu"
    with pytest.raises(ValueError, match="is not a device name"):
        resolve_device("gpu0")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_resolve_device_unavailable_cuda():
    with pytest.raises(ValueError, match="CUDA is not available here"):
        resolve_device("cuda")


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="MPS is available here")
def test_resolve_device_unavailable_mps():
    with pytest.raises(ValueError, match="MPS is not available here"):
        resolve_device("mps")


def test_trainer_from():
    t = Trainer(max_epochs=3)
    assert trainer_from(t, lr=0.1) == Trainer(max_epochs=3, lr=0.1)
    assert trainer_from({"max_epochs": 2}).max_epochs == 2
    assert trainer_from(None) == Trainer()
    with pytest.raises(ValueError, match=r"Trainer has no setting\(s\) \['epochs'\]"):
        trainer_from({"epochs": 2})
    with pytest.raises(TypeError, match="trainer must be a Trainer, a dict"):
        trainer_from(3)


def test_train_state_progress():
    assert TrainState(epoch=1, iteration=2, max_epochs=2, iters_per_epoch=4).progress == pytest.approx(6 / 8)
