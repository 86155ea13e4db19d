"""Tests of Deep Embedded Clustering (tltaxonomy.unsupervised.dec) and its autoencoder."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks

from tltaxonomy import get_strategy, list_strategies
from tltaxonomy.backbones import pretrain_backbone
from tltaxonomy.metrics import clustering_accuracy
from tltaxonomy.protocols import run_protocol
from tltaxonomy.unsupervised.autoencoder import Autoencoder
from tltaxonomy.unsupervised.dec import DEC, dec_loss, soft_assignment, target_distribution

@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """The networks here are tiny: on one thread they train several times faster than on two (no
    synchronisation per operation, no waiting for a busy core)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


#: a small autoencoder for the synthetic problems (the defaults are the paper's d-500-500-2000-10)
SMALL_AE = {"hidden_dims": (32,), "n_components": 3, "max_epochs": 40, "batch_size": 32, "lr": 3e-3}


def _blobs(n_per=60, d=20, sep=5.0, scale=1.0, seed=0):
    """Three Gaussian blobs in ``d`` dimensions, centres ``sep`` apart on orthogonal axes."""
    rng = np.random.default_rng(seed)
    centres = sep * np.eye(3, d)
    X = np.vstack([rng.normal(c, scale, (n_per, d)) for c in centres]).astype(np.float32)
    return X, np.repeat([0, 1, 2], n_per)


# ---------------------------------------------------------------------------------------------
# (a) the formulas on a hand-computed case
# ---------------------------------------------------------------------------------------------
Z = torch.tensor([[0.0, 0.0], [2.0, 0.0]], dtype=torch.float64)
MU = torch.tensor([[0.0, 0.0], [1.0, 0.0]], dtype=torch.float64)
# squared distances: point 1 -> (0, 1), point 2 -> (4, 1); alpha = 1 kernels 1 / (1 + d^2):
#   point 1: (1, 1/2) -> q = (2/3, 1/3);  point 2: (1/5, 1/2) -> q = (2/7, 5/7)
Q_HAND = np.array([[2 / 3, 1 / 3], [2 / 7, 5 / 7]])
# f = column sums = (20/21, 22/21); q^2 / f: row 1 (7/15, 7/66) -> p = (22/27, 5/27),
#                                           row 2 (3/35, 75/154) -> p = (22/147, 125/147)
P_HAND = np.array([[22 / 27, 5 / 27], [22 / 147, 125 / 147]])
# KL(P || Q) summed over rows: p / q = (11/9, 5/9) and (11/21, 25/21)
KL_SUM_HAND = (
    22 / 27 * math.log(11 / 9) + 5 / 27 * math.log(5 / 9) + 22 / 147 * math.log(11 / 21) + 125 / 147 * math.log(25 / 21)
)


def test_soft_assignment_matches_the_hand_computed_case():
    np.testing.assert_allclose(soft_assignment(Z, MU).numpy(), Q_HAND, rtol=1e-12)
    # alpha = 2: kernel (1 + d^2 / 2)^(-3/2)
    k1 = np.array([1.0, 1.5**-1.5])
    k2 = np.array([3.0**-1.5, 1.5**-1.5])
    expected = np.vstack([k1 / k1.sum(), k2 / k2.sum()])
    np.testing.assert_allclose(soft_assignment(Z, MU, alpha=2.0).numpy(), expected, rtol=1e-12)


def test_target_distribution_and_loss_match_the_hand_computed_case():
    q = torch.tensor(Q_HAND)
    p = target_distribution(q)
    np.testing.assert_allclose(p.numpy(), P_HAND, rtol=1e-12)
    np.testing.assert_allclose(float(dec_loss(q, p, reduction="sum")), KL_SUM_HAND, rtol=1e-12)
    np.testing.assert_allclose(float(dec_loss(q, p)), KL_SUM_HAND / 2, rtol=1e-12)  # mean over the 2 rows
    assert float(dec_loss(q, q)) == 0.0
    # 0 log 0 = 0: a one-hot target gives -log q of its class
    np.testing.assert_allclose(float(dec_loss(q[:1], torch.tensor([[1.0, 0.0]], dtype=torch.float64))), -math.log(2 / 3))


def test_rows_sum_to_one_and_the_target_is_sharper():
    g = torch.Generator().manual_seed(0)
    z, mu = torch.randn(50, 4, generator=g, dtype=torch.float64), torch.randn(5, 4, generator=g, dtype=torch.float64)
    q = soft_assignment(z, mu)
    p = target_distribution(q)
    np.testing.assert_allclose(q.sum(1).numpy(), 1.0, rtol=1e-12)
    np.testing.assert_allclose(p.sum(1).numpy(), 1.0, rtol=1e-12)
    assert (q > 0).all() and (p > 0).all()
    # squaring sharpens: higher maximum in (almost) every row; here in every row
    assert (p.max(1).values > q.max(1).values).all()
    assert float(dec_loss(q, p)) > 0


def test_gradients_are_the_papers():
    """Autograd of KL(P || Q) (summed, P fixed) equals Xie et al.'s eq. 4 for z and mu."""
    alpha = 1.5
    g = torch.Generator().manual_seed(1)
    z = torch.randn(6, 3, generator=g, dtype=torch.float64, requires_grad=True)
    mu = torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    q = soft_assignment(z, mu, alpha)
    p = target_distribution(q).detach()
    dec_loss(q, p, reduction="sum").backward()
    with torch.no_grad():
        diff = z[:, None, :] - mu[None, :, :]  # (n, k, d)
        w = (1 + diff.pow(2).sum(2) / alpha).pow(-1) * (p - q)  # (n, k)
        grad_z = (alpha + 1) / alpha * (w[:, :, None] * diff).sum(1)
        grad_mu = -(alpha + 1) / alpha * (w[:, :, None] * diff).sum(0)
    np.testing.assert_allclose(z.grad.numpy(), grad_z.numpy(), rtol=1e-10)
    np.testing.assert_allclose(mu.grad.numpy(), grad_mu.numpy(), rtol=1e-10)


def test_function_errors():
    with pytest.raises(ValueError, match="same d"):
        soft_assignment(torch.zeros(3, 2), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="alpha=0 must be > 0"):
        soft_assignment(torch.zeros(3, 2), torch.zeros(2, 2), alpha=0)
    with pytest.raises(ValueError, match=r"q must be \(n, k\)"):
        target_distribution(torch.ones(3))
    with pytest.raises(ValueError, match="same shape"):
        dec_loss(torch.ones(2, 2) / 2, torch.ones(2, 3) / 3)
    with pytest.raises(ValueError, match="reduction='none' is not supported"):
        dec_loss(torch.ones(2, 2) / 2, torch.ones(2, 2) / 2, reduction="none")


# ---------------------------------------------------------------------------------------------
# (b) the autoencoder
# ---------------------------------------------------------------------------------------------
def test_autoencoder_learns_and_is_deterministic():
    X, _ = _blobs(n_per=40)
    ae = Autoencoder(**SMALL_AE, device="cpu", random_state=0).fit(X)
    codes = ae.transform(X)
    assert codes.shape == (120, 3) and codes.dtype == np.float32
    assert len(ae.loss_curve_) == ae.n_iter_ == 40
    assert ae.loss_curve_[-1] < 0.5 * ae.loss_curve_[0]
    mse = float(np.mean((ae.reconstruct(X) - X) ** 2))
    assert mse < 0.5 * float(np.mean((X - X.mean(0)) ** 2))  # better than the mean
    assert isinstance(ae.encoder_, torch.nn.Module) and ae.encoder_(torch.from_numpy(X)).shape == (120, 3)
    np.testing.assert_array_equal(Autoencoder(**SMALL_AE, device="cpu", random_state=0).fit(X).transform(X), codes)
    assert not np.array_equal(Autoencoder(**SMALL_AE, device="cpu", random_state=1).fit(X).transform(X), codes)
    assert list(ae.get_feature_names_out()) == ["autoencoder0", "autoencoder1", "autoencoder2"]


@parametrize_with_checks([Autoencoder(hidden_dims=(8,), n_components=2, max_epochs=3, device="cpu", random_state=0)])
def test_autoencoder_sklearn_checks(estimator, check):
    """The autoencoder is not a registered strategy (the common test covers those): its own sklearn checks."""
    check(estimator)


def test_denoising_autoencoder_and_default_architecture():
    X, _ = _blobs(n_per=10)
    ae = Autoencoder(hidden_dims=(16, 8), n_components=2, noise=0.2, max_epochs=3, device="cpu", random_state=0).fit(X)
    assert ae.transform(X).shape == (30, 2)
    widths = [m.out_features for m in Autoencoder(max_epochs=1, device="cpu").fit(X).encoder_ if isinstance(m, torch.nn.Linear)]
    assert widths == [500, 500, 2000, 10]


def test_autoencoder_errors():
    X, _ = _blobs(n_per=10)
    with pytest.raises(NotFittedError):
        Autoencoder().transform(X)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        Autoencoder(max_epochs=1).fit(bad)
    with pytest.raises(ValueError, match="Found array with 0 sample"):
        Autoencoder(max_epochs=1).fit(X[:0])
    with pytest.raises(ValueError, match=r"hidden_dims=\(16, 0\) must list positive integer widths"):
        Autoencoder(hidden_dims=(16, 0), max_epochs=1).fit(X)
    with pytest.raises(InvalidParameterError, match="'noise' parameter of Autoencoder"):
        Autoencoder(noise=1.0).fit(X)
    ae = Autoencoder(hidden_dims=(), n_components=2, max_epochs=1, device="cpu").fit(X)
    with pytest.raises(ValueError, match="X has 5 features, but Autoencoder is expecting 20"):
        ae.transform(X[:, :5])


# ---------------------------------------------------------------------------------------------
# (c) DEC on synthetic problems
# ---------------------------------------------------------------------------------------------
def _dec(**kw):
    params = {"n_clusters": 3, "autoencoder_kwargs": SMALL_AE, "n_init": 5, "max_iter": 200, "batch_size": 32,
              "device": "cpu", "random_state": 0}
    return DEC(**{**params, **kw})


def test_dec_clusters_separated_blobs():
    X, y = _blobs()
    dec = _dec().fit(X)
    assert clustering_accuracy(y, dec.labels_) > 0.95
    assert clustering_accuracy(y, dec.labels_) >= clustering_accuracy(y, dec.init_labels_)
    assert dec.cluster_centers_.shape == (3, 3) and dec.encoder_ is not None
    assert dec.labels_.dtype == np.int64 and set(dec.labels_) == {0, 1, 2}
    np.testing.assert_array_equal(dec.predict(X), dec.labels_)
    q = dec.transform(X)
    assert q.shape == (180, 3) and q.dtype == np.float32
    np.testing.assert_allclose(q.sum(1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(q.argmax(1), dec.labels_)
    assert dec.embed(X).shape == (180, 3)
    assert dec.n_iter_ >= 1 and len(dec.delta_label_) == len(dec.loss_curve_) >= 1
    # the autoencoder it started from is not changed by DEC's training
    np.testing.assert_array_equal(
        dec.autoencoder_.transform(X), Autoencoder(**SMALL_AE, device="cpu", random_state=0).fit(X).transform(X)
    )
    again = _dec().fit(X)  # same seed, same clusters
    np.testing.assert_array_equal(again.labels_, dec.labels_)
    np.testing.assert_array_equal(again.cluster_centers_, dec.cluster_centers_)


def test_dec_improves_on_its_kmeans_initialisation():
    """Overlapping blobs of unequal spread: k-means on the codes misplaces the boundary (accuracy
    0.93-0.95 over seeds 0-3); DEC's self-training on its confident assignments moves it (0.98-0.99)."""
    rng = np.random.default_rng(3)
    d = 10
    X = np.vstack([rng.normal(0, 1.0, (150, d)), rng.normal(0, 0.35, (150, d)) + 3.0 * np.eye(1, d)]).astype(np.float32)
    y = np.repeat([0, 1], 150)
    dec = _dec(n_clusters=2, autoencoder_kwargs={**SMALL_AE, "n_components": 2}, tol=0.0, max_iter=300).fit(X)
    before, after = clustering_accuracy(y, dec.init_labels_), clustering_accuracy(y, dec.labels_)
    assert after >= before + 0.02, (before, after)
    assert after > 0.97, (before, after)


def test_tol_and_max_iter():
    X, _ = _blobs(n_per=20)
    # tol=1: the first update stops training (fewer than all labels changed)
    dec = _dec(tol=1.0, update_interval=3).fit(X)
    assert dec.converged_ and dec.n_iter_ == 3 and len(dec.delta_label_) == 1
    # tol=0 never stops early: max_iter rounded up to whole update intervals
    dec = _dec(tol=0.0, update_interval=4, max_iter=10).fit(X)
    assert not dec.converged_ and dec.n_iter_ == 12 and len(dec.delta_label_) == 3
    # update_interval=None: one pass over the 60 rows in batches of 32 = 2 iterations
    dec = _dec(tol=0.0, max_iter=5).fit(X)
    assert dec.n_iter_ == 6 and len(dec.delta_label_) == 3


# ---------------------------------------------------------------------------------------------
# (d) errors
# ---------------------------------------------------------------------------------------------
def test_dec_errors():
    X, _ = _blobs(n_per=10)
    with pytest.raises(NotFittedError):
        DEC().predict(X)
    with pytest.raises(ValueError, match="autoencoder_data='auxiliary' trains the autoencoder on X_auxiliary, but none"):
        _dec(autoencoder_data="auxiliary").fit(X)
    with pytest.raises(ValueError, match="init='pretrained' needs an encoder"):
        _dec(init="pretrained", autoencoder_kwargs=None).fit(X)
    with pytest.raises(ValueError, match=r"X has 20 features but input_shape=\(1, 28, 28\) needs 784"):
        _dec(input_shape=(1, 28, 28)).fit(X)
    with pytest.raises(ValueError, match="n_clusters=31 is larger than the 30 rows of X"):
        _dec(n_clusters=31).fit(X)
    with pytest.raises(ValueError, match=r"autoencoder_kwargs has unknown keys \['epochs'\]"):
        _dec(autoencoder_kwargs={"epochs": 3}).fit(X)
    with pytest.raises(InvalidParameterError, match="'init' parameter of DEC"):
        _dec(init="random").fit(X)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        _dec().fit(np.where(np.eye(30, 20) > 0, np.nan, X))
    dec = _dec(max_iter=1, tol=1.0).fit(X)
    with pytest.raises(ValueError, match="X has 5 features, but DEC is expecting 20"):
        dec.predict(X[:, :5])


@pytest.mark.parametrize(
    "params, message",
    [
        ({"backbone": "mlp"},
         r"init='autoencoder' does not use backbone='mlp'; leave backbone=None \(the defaults\), or set init='pretrained'"),
        ({"pretrained": "x.pt", "backbone_kwargs": {"hidden": [4]}},
         r"does not use pretrained='x.pt', backbone_kwargs=\{'hidden': \[4\]\}; leave pretrained=None, backbone_kwargs=None"),
        ({"init": "pretrained", "backbone": "mlp", "autoencoder_data": "auxiliary", "autoencoder_kwargs": None},
         r"init='pretrained' does not use autoencoder_data='auxiliary'; leave autoencoder_data='target' "
         r"\(the defaults\), or set init='autoencoder'"),
        ({"init": "pretrained", "backbone": "mlp"}, r"does not use autoencoder_kwargs=\{"),
    ],
)
def test_parameters_of_the_other_init_are_refused(params, message):
    X, _ = _blobs(n_per=10)
    with pytest.raises(ValueError, match=message):
        _dec(**params).fit(X)


# ---------------------------------------------------------------------------------------------
# (e) auxiliary rows: used only by the autoencoder on auxiliary data, passed by the protocol
# ---------------------------------------------------------------------------------------------
def test_uses_unlabelled_only_with_an_autoencoder_on_auxiliary_rows():
    assert not DEC()._uses_unlabelled
    assert DEC(autoencoder_data="auxiliary")._uses_unlabelled
    assert not DEC(init="pretrained", backbone="lenet")._uses_unlabelled
    assert not DEC(init="pretrained", autoencoder_data="auxiliary")._uses_unlabelled
    assert clone(DEC(autoencoder_data="auxiliary"))._uses_unlabelled


def test_protocol_passes_the_source_rows_to_the_autoencoder():
    X_target, y_target = _blobs(n_per=20, seed=1)
    X_source, _ = _blobs(n_per=30, sep=6.0, seed=2)
    task = SimpleNamespace(X_source=X_source, y_source=None, X_target=X_target, y_target=y_target, meta={})
    dec = _dec(autoencoder_data="auxiliary", max_iter=20)
    metrics, info = run_protocol(dec, task, {}, {})
    assert info["n_auxiliary"] == 90 and info["n_target"] == 60 and metrics["target/acc"] > 0.9
    # the autoencoder is the one trained on the source rows alone
    on_source = Autoencoder(**SMALL_AE, device="cpu", random_state=0).fit(X_source)
    np.testing.assert_array_equal(dec.autoencoder_.transform(X_target), on_source.transform(X_target))
    target_only = _dec(max_iter=20)
    run_protocol(target_only, task, {}, {})  # no auxiliary rows passed: it trains on the target
    np.testing.assert_array_equal(
        target_only.autoencoder_.transform(X_target),
        Autoencoder(**SMALL_AE, device="cpu", random_state=0).fit(X_target).transform(X_target),
    )
    with pytest.raises(ValueError, match="X has 5 features, but DEC is expecting 20"):
        _dec(autoencoder_data="auxiliary").fit(X_target, X_auxiliary=X_source[:, :5])


# ---------------------------------------------------------------------------------------------
# (f) a pretrained backbone as the encoder
# ---------------------------------------------------------------------------------------------
def test_pretrained_backbone_encoder(tmp_path):
    X_source, y_source = _blobs(n_per=40, seed=4)
    X, y = _blobs(n_per=40, seed=5)
    X = X + 0.5  # a shifted target
    ckpt = pretrain_backbone(
        "mlp", X_source, y_source, input_shape=(20,), trainer={"max_epochs": 10, "device": "cpu", "lr": 1e-2},
        checkpoint_path=tmp_path / "mlp.pt", backbone_kwargs={"hidden": [16, 8]},
    )
    before = ckpt.read_bytes()
    dec = DEC(n_clusters=3, init="pretrained", pretrained=ckpt, n_init=5, max_iter=50, batch_size=32, device="cpu",
              random_state=0).fit(X)
    assert dec.autoencoder_ is None and dec.cluster_centers_.shape == (3, 8) and dec.embed(X).shape == (120, 8)
    assert clustering_accuracy(y, dec.labels_) > 0.95
    assert ckpt.read_bytes() == before  # the checkpoint is read, never written
    # a module given as backbone is copied, not trained in place
    from tltaxonomy.backbones import MLP

    module = MLP(input_shape=(20,), hidden=(8,))
    weights = [p.detach().clone() for p in module.parameters()]
    DEC(n_clusters=3, init="pretrained", backbone=module, n_init=2, max_iter=20, tol=0.0, batch_size=32, device="cpu",
        random_state=0).fit(X)
    assert all(torch.equal(a, b) for a, b in zip(weights, module.parameters()))
    # a named backbone with its constructor arguments
    named = DEC(n_clusters=3, init="pretrained", backbone="mlp", backbone_kwargs={"hidden": [6]}, n_init=2, max_iter=5,
                device="cpu", random_state=0).fit(X)
    assert named.embed(X).shape == (120, 6)


def test_registered():
    assert get_strategy("dec") is DEC
    assert [s.name for s in list_strategies(setting="unsupervised", family="deep_clustering")] == ["dec"]
    est = _dec(init="pretrained", backbone="mlp", autoencoder_kwargs=None)
    assert clone(est).get_params() == est.get_params()
    assert not [k for k in vars(DEC()) if k.endswith("_")]
