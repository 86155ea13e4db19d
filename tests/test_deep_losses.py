"""Tests of tltaxonomy.transductive.deep.losses: GRL, DANN, CDAN, MK-MMD, Deep CORAL, MCC, entropy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tltaxonomy.transductive.deep import (
    ConditionalDomainAdversarialLoss,
    CoralLoss,
    DomainAdversarialLoss,
    DomainDiscriminator,
    GradientReversal,
    MinimumClassConfusionLoss,
    MultiLinearMap,
    MultipleKernelMMD,
    RandomizedMultiLinearMap,
    dann_schedule,
    entropy,
    gaussian_kernel_matrix,
    grad_reverse,
)

# ------------------------------------------------------------------ gradient reversal


@pytest.mark.parametrize("coeff", [1.0, 0.3, 2.5])
def test_grad_reverse_flips_and_scales_gradient(coeff):
    torch.manual_seed(0)
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 3, dtype=torch.float64)
    (g_plain,) = torch.autograd.grad((x.sin() * w).sum(), x)
    y = grad_reverse(x, coeff)
    assert torch.equal(y, x)  # identity forward
    (g_rev,) = torch.autograd.grad((y.sin() * w).sum(), x)
    torch.testing.assert_close(g_rev, -coeff * g_plain)


def test_gradient_reversal_module_coeff_is_settable():
    grl = GradientReversal(coeff=1.0)
    grl.coeff = 0.25
    x = torch.ones(3, requires_grad=True)
    grl(x).sum().backward()
    torch.testing.assert_close(x.grad, torch.full((3,), -0.25))
    assert "coeff=0.25" in repr(grl)


def test_dann_schedule_endpoints():
    assert dann_schedule(0.0) == 0.0
    assert dann_schedule(1.0) == pytest.approx(2 / (1 + math.exp(-10)) - 1)
    assert dann_schedule(1.0) == pytest.approx(math.tanh(5.0))
    assert 0.99 < dann_schedule(1.0) < 1.0
    assert dann_schedule(1.0, gamma=2.0) == pytest.approx(2 / (1 + math.exp(-2)) - 1)
    ps = np.linspace(0, 1, 11)
    vals = [dann_schedule(p) for p in ps]
    assert all(b > a for a, b in zip(vals, vals[1:]))  # increasing


# ------------------------------------------------------------------ DANN


def test_domain_discriminator_shapes():
    torch.manual_seed(0)
    assert DomainDiscriminator(6, hidden=8)(torch.randn(5, 6)).shape == (5,)
    d0 = DomainDiscriminator(6, n_hidden_layers=0)
    assert sum(isinstance(m, nn.Linear) for m in d0.modules()) == 1
    with pytest.raises(ValueError, match="n_hidden_layers"):
        DomainDiscriminator(6, n_hidden_layers=-1)


def test_domain_adversarial_loss_value_and_accuracy():
    torch.manual_seed(0)
    disc = DomainDiscriminator(4, hidden=8, batch_norm=False)
    adv = DomainAdversarialLoss(disc)
    fs, ft = torch.randn(6, 4), torch.randn(3, 4)
    loss, acc = adv(fs, ft, return_accuracy=True)
    ds, dt = disc(fs), disc(ft)
    expected = 0.5 * (
        F.binary_cross_entropy_with_logits(ds, torch.ones(6)) + F.binary_cross_entropy_with_logits(dt, torch.zeros(3))
    )
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(acc, ((ds > 0).sum() + (dt <= 0).sum()).float() / 9)
    assert not acc.requires_grad


def test_domain_adversarial_gradient_is_reversed():
    torch.manual_seed(0)
    disc = DomainDiscriminator(4, hidden=8)  # batch-norm in train mode: deterministic given the batch
    fs, ft = torch.randn(5, 4, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64)
    disc = disc.double()
    for coeff in (1.0, 0.5):
        adv = DomainAdversarialLoss(disc, coeff=coeff)
        f = torch.cat([fs, ft]).requires_grad_(True)
        (g_adv,) = torch.autograd.grad(adv(f[:5], f[5:]), f)
        # same loss without the GRL: gradient w.r.t. the discriminator's input
        f2 = torch.cat([fs, ft]).requires_grad_(True)
        d = disc(f2)
        plain = 0.5 * (F.binary_cross_entropy_with_logits(d[:5], torch.ones_like(d[:5]))
                       + F.binary_cross_entropy_with_logits(d[5:], torch.zeros_like(d[5:])))
        (g_plain,) = torch.autograd.grad(plain, f2)
        assert g_plain.abs().sum() > 0
        torch.testing.assert_close(g_adv, -coeff * g_plain)
        assert (torch.sign(g_adv) == -torch.sign(g_plain)).all()


def test_one_step_updates_discriminator_and_features_not_frozen():
    torch.manual_seed(0)
    frozen = nn.Linear(5, 5)
    for p in frozen.parameters():
        p.requires_grad_(False)
    extractor = nn.Linear(5, 4)
    # no batch-norm here: a bias right before batch-norm gets a zero gradient and would not move
    disc = DomainDiscriminator(4, hidden=8, batch_norm=False)
    adv = DomainAdversarialLoss(disc)
    params = [*extractor.parameters(), *adv.parameters()]
    opt = torch.optim.SGD(params, lr=0.1)
    def named():
        return [
            *extractor.named_parameters(prefix="ext"),
            *disc.named_parameters(prefix="disc"),
            *frozen.named_parameters(prefix="frozen"),
        ]

    before = {n: p.detach().clone() for n, p in named()}
    xs, xt = torch.randn(8, 5), torch.randn(8, 5) + 1.0
    loss = adv(extractor(frozen(xs)), extractor(frozen(xt)))
    opt.zero_grad()
    loss.backward()
    assert extractor.weight.grad is not None and extractor.weight.grad.abs().sum() > 0
    opt.step()
    for name, p in named():
        changed = not torch.equal(before[name], p.detach())
        assert changed == (not name.startswith("frozen")), name
    assert frozen.weight.grad is None


def test_dann_step_runs_in_the_toolkit_trainer():
    from tltaxonomy.training import Trainer

    class DANNStep(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.adv = DomainAdversarialLoss(DomainDiscriminator(d, hidden=8))

        def forward(self, model, batch, state):
            (xs, ys), (xt,) = batch["source"], batch["target"]
            self.adv.coeff = dann_schedule(state.progress)
            fs, ft = model[0](xs), model[0](xt)
            loss_d, acc = self.adv(fs, ft, return_accuracy=True)
            return {"loss": F.cross_entropy(model[1](fs), ys) + loss_d, "domain_acc": acc}

    g = torch.Generator().manual_seed(0)
    Xs, ys, Xt = torch.randn(40, 5, generator=g), torch.randint(0, 2, (40,), generator=g), torch.randn(40, 5, generator=g)
    model = nn.Sequential(nn.Linear(5, 6), nn.Linear(6, 2))
    step = DANNStep(6)
    w0 = step.adv.discriminator.net[0].weight.detach().clone()
    trainer = Trainer(max_epochs=2, batch_size=10, device="cpu")
    hist = trainer.fit(model, {"source": (Xs, ys), "target": (Xt,)}, step=step)
    assert hist.n_epochs == 2 and all(np.isfinite(hist.losses))
    assert "domain_acc" in hist.logs[0]
    assert not torch.equal(w0, step.adv.discriminator.net[0].weight.detach().cpu())


# ------------------------------------------------------------------ CDAN


def test_multilinear_map_equals_outer_product():
    torch.manual_seed(0)
    f, g = torch.randn(3, 4), torch.softmax(torch.randn(3, 2), 1)
    h = MultiLinearMap()(f, g)
    assert h.shape == (3, 8)
    for i in range(3):
        np.testing.assert_allclose(h[i].numpy(), np.outer(g[i].numpy(), f[i].numpy()).ravel(), rtol=1e-6)


def test_randomized_map_formula_and_fixed_seed():
    state = torch.random.get_rng_state()
    m1, m2 = RandomizedMultiLinearMap(4, 3, output_dim=16, seed=7), RandomizedMultiLinearMap(4, 3, output_dim=16, seed=7)
    assert torch.equal(torch.random.get_rng_state(), state)  # global RNG untouched
    assert torch.equal(m1.Rf, m2.Rf) and torch.equal(m1.Rg, m2.Rg)
    assert not torch.equal(m1.Rf, RandomizedMultiLinearMap(4, 3, output_dim=16, seed=8).Rf)
    assert "Rf" in m1.state_dict() and len(list(m1.parameters())) == 0
    f, g = torch.randn(5, 4), torch.rand(5, 3)
    torch.testing.assert_close(m1(f, g), (f @ m1.Rf) * (g @ m1.Rg) / 4.0)


def test_cdan_loss_value_entropy_weights_and_gradient():
    torch.manual_seed(0)
    d, K = 3, 2
    disc = DomainDiscriminator(d * K, hidden=8, batch_norm=False)
    fs, ft = torch.randn(4, d, requires_grad=True), torch.randn(3, d, requires_grad=True)
    ls, lt = torch.randn(4, K), torch.randn(3, K)
    mm = MultiLinearMap()
    ds = disc(mm(fs, ls.softmax(1)))
    dt = disc(mm(ft, lt.softmax(1)))
    bs = F.binary_cross_entropy_with_logits(ds, torch.ones(4), reduction="none")
    bt = F.binary_cross_entropy_with_logits(dt, torch.zeros(3), reduction="none")
    # plain CDAN = DANN-style mean per domain
    cdan = ConditionalDomainAdversarialLoss(disc)
    torch.testing.assert_close(cdan(fs, ls, ft, lt), 0.5 * (bs.mean() + bt.mean()))
    # CDAN+E: weights 1 + exp(-H) normalised within each domain (the paper's code)
    ws = 1 + torch.exp(-entropy(ls, reduction="none"))
    wt = 1 + torch.exp(-entropy(lt, reduction="none"))
    cdan_e = ConditionalDomainAdversarialLoss(disc, entropy_conditioning=True)
    expected = ((ws / ws.sum()) * bs).sum() + ((wt / wt.sum()) * bt).sum()
    torch.testing.assert_close(cdan_e(fs, ls, ft, lt), 0.5 * expected)
    # the features receive the reversed gradient
    (g_adv,) = torch.autograd.grad(cdan(fs, ls, ft, lt), fs)
    (g_plain,) = torch.autograd.grad(0.5 * (bs.mean() + bt.mean()), fs)
    torch.testing.assert_close(g_adv, -g_plain)


def test_cdan_randomized_requires_dims_and_runs():
    with pytest.raises(ValueError, match="features_dim"):
        ConditionalDomainAdversarialLoss(DomainDiscriminator(16), randomized=True)
    torch.manual_seed(0)
    cdan = ConditionalDomainAdversarialLoss(DomainDiscriminator(16, hidden=8), randomized=True, features_dim=5,
                                            num_classes=3, randomized_dim=16, entropy_conditioning=True)
    loss, acc = cdan(torch.randn(4, 5), torch.randn(4, 3), torch.randn(4, 5), torch.randn(4, 3), return_accuracy=True)
    assert loss.ndim == 0 and torch.isfinite(loss) and 0 <= float(acc) <= 1


# ------------------------------------------------------------------ MMD


def _k(a, b, sigma2s):
    d = float(((a - b) ** 2).sum())
    return sum(math.exp(-d / (2 * s2)) for s2 in sigma2s)


def test_gaussian_kernel_matrix_matches_definition():
    torch.manual_seed(0)
    x = torch.randn(5, 3, dtype=torch.float64)
    mult = (0.5, 1.0, 2.0)
    K = gaussian_kernel_matrix(x, multipliers=mult)
    n = len(x)
    base = sum(float(((x[i] - x[j]) ** 2).sum()) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    for i in range(n):
        for j in range(n):
            assert float(K[i, j]) == pytest.approx(_k(x[i], x[j], [base * m for m in mult]), rel=1e-9)
    # explicit base and a second set
    y = torch.randn(2, 3, dtype=torch.float64)
    K2 = gaussian_kernel_matrix(x, y, multipliers=(1.0,), base=2.0)
    assert K2.shape == (5, 2)
    assert float(K2[1, 0]) == pytest.approx(_k(x[1], y[0], [2.0]), rel=1e-9)


def test_mmd_of_identical_samples_is_zero():
    torch.manual_seed(0)
    x = torch.randn(16, 4)
    assert abs(float(MultipleKernelMMD()(x, x))) < 1e-5
    # the bandwidth base is detached and the loss is differentiable
    xs = torch.randn(8, 4, requires_grad=True)
    MultipleKernelMMD()(xs, torch.randn(8, 4)).backward()
    assert torch.isfinite(xs.grad).all()


def test_unbiased_mmd_matches_double_loop():
    torch.manual_seed(0)
    xs, xt = torch.randn(4, 2, dtype=torch.float64), torch.randn(3, 2, dtype=torch.float64) + 0.5
    mult = (0.25, 1.0, 4.0)
    z = torch.cat([xs, xt])
    N = len(z)
    base = sum(float(((z[i] - z[j]) ** 2).sum()) for i in range(N) for j in range(N) if i != j) / (N * (N - 1))
    s2 = [base * m for m in mult]
    m, n = len(xs), len(xt)
    ss = sum(_k(xs[i], xs[j], s2) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    tt = sum(_k(xt[i], xt[j], s2) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    st = sum(_k(xs[i], xt[j], s2) for i in range(m) for j in range(n)) / (m * n)
    got = float(MultipleKernelMMD(mult, unbiased=True)(xs, xt))
    assert got == pytest.approx(ss + tt - 2 * st, rel=1e-9)
    # biased: V-statistic, diagonal terms included
    ssb = sum(_k(xs[i], xs[j], s2) for i in range(m) for j in range(m)) / m**2
    ttb = sum(_k(xt[i], xt[j], s2) for i in range(n) for j in range(n)) / n**2
    assert float(MultipleKernelMMD(mult)(xs, xt)) == pytest.approx(ssb + ttb - 2 * st, rel=1e-9)


def test_mmd_grows_with_mean_shift():
    torch.manual_seed(0)
    xs, xt = torch.randn(64, 5), torch.randn(64, 5)
    for unbiased in (False, True):
        mmd = MultipleKernelMMD(unbiased=unbiased, base=10.0)  # fixed bandwidth so that shifts compare
        vals = [float(mmd(xs, xt + s)) for s in (0.0, 0.5, 1.0, 2.0)]
        assert all(b > a for a, b in zip(vals, vals[1:])), vals
        assert vals[0] < 0.1 * vals[-1]  # same distribution: only sampling noise (and the V-statistic's bias)
    # the V-statistic exceeds the U-statistic by its O(1/n) positive bias
    assert float(MultipleKernelMMD()(xs, xt)) > float(MultipleKernelMMD(unbiased=True)(xs, xt))
    with pytest.raises(ValueError, match="at least 2"):
        MultipleKernelMMD(unbiased=True)(torch.randn(1, 2), torch.randn(3, 2))


# ------------------------------------------------------------------ CORAL


def test_coral_equals_numpy_formula():
    rng = np.random.default_rng(0)
    xs, xt = rng.normal(size=(7, 3)), rng.normal(size=(5, 3)) * np.array([1.0, 2.0, 0.5])
    d = 3

    def cov(x):
        n = len(x)
        one = np.ones((1, n))
        return (x.T @ x - (one @ x).T @ (one @ x) / n) / (n - 1)

    expected = np.sum((cov(xs) - cov(xt)) ** 2) / (4 * d * d)
    np.testing.assert_allclose(cov(xs), np.cov(xs, rowvar=False))
    got = float(CoralLoss()(torch.from_numpy(xs), torch.from_numpy(xt)))
    assert got == pytest.approx(expected, rel=1e-10)
    assert float(CoralLoss()(torch.from_numpy(xs), torch.from_numpy(xs + 3.0))) == pytest.approx(0.0, abs=1e-12)


# ------------------------------------------------------------------ MCC and entropy


def test_mcc_equals_hand_computation_3x2():
    logits = np.array([[2.0, 0.0], [0.5, 1.0], [-1.0, 1.5]])
    T = 2.0
    z = logits / T
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    H = -(p * np.log(p)).sum(1)
    w = 1 + np.exp(-H)
    w = 3 * w / w.sum()
    C = p.T @ np.diag(w) @ p
    C = C / C.sum(1, keepdims=True)
    expected = (C.sum() - np.trace(C)) / 2
    got = float(MinimumClassConfusionLoss(temperature=T)(torch.tensor(logits)))
    assert got == pytest.approx(expected, rel=1e-10)


def test_mcc_properties():
    mcc = MinimumClassConfusionLoss(temperature=1.0)
    # confident one-hot predictions: the confusion matrix is diagonal -> loss 0, whatever the class balance
    onehot = 50.0 * torch.eye(3, dtype=torch.float64)[[0, 0, 0, 1, 2, 2]]
    assert float(mcc(onehot)) == pytest.approx(0.0, abs=1e-12)
    # uniform predictions: maximum (K-1)/K
    assert float(mcc(torch.zeros(5, 4))) == pytest.approx(3 / 4)
    # in between and differentiable
    torch.manual_seed(0)
    logits = torch.randn(8, 4, requires_grad=True)
    loss = MinimumClassConfusionLoss()(logits)
    loss.backward()
    assert 0 < float(loss.detach()) < 0.75
    assert torch.isfinite(logits.grad).all()


def test_entropy():
    assert float(entropy(torch.zeros(3, 4))) == pytest.approx(math.log(4))
    logits = torch.tensor([[10.0, 0.0], [0.0, 0.0]])
    p = logits.softmax(1)
    per_row = -(p * p.log()).sum(1)
    torch.testing.assert_close(entropy(logits, reduction="none"), per_row)
    torch.testing.assert_close(entropy(logits), per_row.mean())
    torch.testing.assert_close(entropy(logits, reduction="sum"), per_row.sum())
    with pytest.raises(ValueError):
        entropy(logits, reduction="max")
