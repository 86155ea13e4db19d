"""Tests of tltaxonomy.inductive.multitask.weighting: every combiner's step against a hand computation.

The toy problem: a shared parameter ``w`` (shape (2,)) and one scalar head ``h_i`` per task with

    L_i = 0.5 ||w - a_i||^2 + 0.5 (h_i - t_i)^2,

so at ``w = 0`` the shared task gradients are ``g_i = -a_i`` and the heads' gradients ``h_i - t_i``.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from scipy.optimize import minimize, minimize_scalar

from tltaxonomy._errors import UnknownNameError
from tltaxonomy.inductive.multitask.weighting import (
    COMBINERS,
    DWA,
    MGDA,
    CAGrad,
    EqualWeighting,
    GradientCombiner,
    GradNorm,
    PCGrad,
    UncertaintyWeighting,
    make_combiner,
    min_norm_solver,
)

A_CONFLICT = np.array([[2.0, 1.0], [-1.0, 1.0]])  # g1 . g2 = -1 < 0 at w = 0
A_AGREE = np.array([[2.0, 1.0], [1.0, 1.0]])  # g1 . g2 = 3 > 0 at w = 0
HEADS = np.array([0.5, -0.5])
HEAD_TARGETS = np.array([1.0, 2.0])
HEAD_GRADS = HEADS - HEAD_TARGETS  # d L_i / d h_i
SURGERY = {"pcgrad", "cagrad"}  # heads get the gradient of L_i itself


def _toy(a=A_CONFLICT, w0=(0.0, 0.0)):
    """Shared ``w``, heads ``h`` and the two losses (float64, so that comparisons can be tight)."""
    w = torch.nn.Parameter(torch.tensor(w0, dtype=torch.float64))
    h = [torch.nn.Parameter(torch.tensor(v, dtype=torch.float64)) for v in HEADS]
    losses = [
        0.5 * (w - torch.as_tensor(a_i)).pow(2).sum() + 0.5 * (h_i - t_i) ** 2
        for a_i, h_i, t_i in zip(a, h, HEAD_TARGETS)
    ]
    return w, h, losses


def _shared_grads(a=A_CONFLICT, w0=(0.0, 0.0)):
    return np.asarray(w0)[None, :] - np.asarray(a)


def _grads(params):
    return np.array([p.grad.detach().numpy() for p in params])


# ------------------------------------------------------------------------------------------------
# registry and common contract
# ------------------------------------------------------------------------------------------------
def test_registry_and_factory():
    assert set(COMBINERS) == {"equal", "uncertainty", "gradnorm", "dwa", "pcgrad", "cagrad", "mgda"}
    for name, cls in COMBINERS.items():
        comb = make_combiner(name, n_tasks=2)
        assert type(comb) is cls and isinstance(comb, GradientCombiner) and comb.n_tasks == 2
    inst = PCGrad(random_state=0)
    assert make_combiner(inst) is inst and make_combiner(inst, n_tasks=3) is inst
    assert make_combiner("CAGrad", c=0.2).c == 0.2
    assert [n for n, _ in UncertaintyWeighting(2).named_parameters()] == ["log_vars"]
    assert list(GradNorm(2).parameters()) == []  # GradNorm's weights are never seen by the main optimiser


def test_factory_errors():
    with pytest.raises(UnknownNameError, match=r"Unknown gradient combiner 'pcgard'\. Did you mean 'pcgrad'"):
        make_combiner("pcgard")
    with pytest.raises(UnknownNameError, match=r"Valid gradient combiners: cagrad, dwa, equal"):
        make_combiner("nope")
    with pytest.raises(ValueError, match=r"'dwa' \(DWA\) keeps per-task state; pass n_tasks"):
        make_combiner("dwa")
    with pytest.raises(ValueError, match=r"PCGrad instance and keyword arguments \['c'\]"):
        make_combiner(PCGrad(), c=1.0)
    with pytest.raises(ValueError, match=r"built with n_tasks=2, not 3"):
        make_combiner(DWA(2), n_tasks=3)
    with pytest.raises(TypeError, match=r"expected a combiner name .* got int"):
        make_combiner(3)


@pytest.mark.parametrize("name", sorted(COMBINERS))
def test_input_errors(name):
    comb = make_combiner(name, n_tasks=2)
    w, _, losses = _toy()
    with pytest.raises(ValueError, match=rf"{type(comb).__name__}\.backward: got an empty list of losses"):
        comb.backward([], [w], epoch=0)
    with pytest.raises(ValueError, match=r"got 3 losses but the combiner was built with n_tasks=2"):
        comb.backward(losses + [losses[0]], [w], epoch=0)
    with pytest.raises(ValueError, match=r"the loss of task 1 must be a scalar tensor, got \(2,\)"):
        comb.backward([losses[0], w * 2], [w], epoch=0)
    for bad in (float("nan"), float("inf")):
        with pytest.raises(FloatingPointError, match=rf"the loss of task 1 is {bad}"):
            comb.backward([losses[0], losses[1] * bad], [w], epoch=0)
    assert w.grad is None  # nothing was written by the failed calls


@pytest.mark.parametrize("name", sorted(COMBINERS))
def test_heads_get_their_weighted_gradient_and_grads_accumulate(name):
    w, h, losses = _toy()
    weights = make_combiner(name, n_tasks=2).backward(losses, [w], epoch=0)
    assert weights.shape == (2,) and not weights.requires_grad
    factor = np.ones(2) if name in SURGERY else weights.numpy()
    assert_allclose(_grads(h), factor * HEAD_GRADS, rtol=1e-12)
    first = (w.grad.clone(), [p.grad.clone() for p in h])
    # same step again, on top of existing gradients: everything is added
    w2, h2, losses2 = _toy()
    w2.grad = torch.ones(2, dtype=torch.float64)
    h2[0].grad = torch.ones((), dtype=torch.float64)
    make_combiner(name, n_tasks=2).backward(losses2, [w2], epoch=0)
    assert_allclose(w2.grad.numpy(), first[0].numpy() + 1.0, rtol=1e-12)
    assert_allclose(h2[0].grad.numpy(), first[1][0].numpy() + 1.0, rtol=1e-12)
    assert_allclose(h2[1].grad.numpy(), first[1][1].numpy(), rtol=1e-12)


@pytest.mark.parametrize("name", sorted(COMBINERS))
def test_unused_and_frozen_parameters(name):
    w, _, losses = _toy()
    unused = torch.nn.Parameter(torch.zeros(3, 2, dtype=torch.float64))  # no loss depends on it
    frozen = torch.zeros(2, dtype=torch.float64)  # requires_grad=False
    # task 1 also depends on a shared parameter that task 0 does not use
    extra = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    losses[1] = losses[1] + 0.5 * extra.pow(2).sum()
    make_combiner(name, n_tasks=2).backward(losses, [w, extra, unused, frozen], epoch=0)
    assert unused.grad is None and frozen.grad is None
    assert torch.isfinite(w.grad).all() and torch.isfinite(extra.grad).all()


@pytest.mark.parametrize("name", ["equal", "pcgrad", "cagrad", "mgda"])
def test_a_constant_loss_has_a_zero_gradient(name):
    w, _, losses = _toy()
    weights = make_combiner(name).backward([losses[0], torch.tensor(3.0, dtype=torch.float64)], [w])
    g = _shared_grads()[0]
    expected = {"equal": g, "pcgrad": g, "cagrad": weights[0].item() * g, "mgda": 0 * g}[name]
    assert_allclose(w.grad.numpy(), expected, atol=1e-12)
    if name == "mgda":  # the min-norm point of {g, 0} is 0
        assert_allclose(weights.numpy(), [0.0, 1.0])


@pytest.mark.parametrize("name", ["gradnorm", "pcgrad", "cagrad"])
def test_gradient_methods_need_shared_parameters(name):
    _, _, losses = _toy()
    with pytest.raises(ValueError, match=r"shared_params holds no parameter that requires grad"):
        make_combiner(name, n_tasks=2).backward(losses, [torch.zeros(2)])


def test_mgda_without_representation_needs_shared_parameters():
    _, _, losses = _toy()
    with pytest.raises(ValueError, match=r"MGDA\.backward: shared_params holds no parameter"):
        MGDA().backward(losses, [])


def test_constructor_errors():
    with pytest.raises(ValueError, match=r"DWA: n_tasks must be a positive integer .* got 0"):
        DWA(0)
    with pytest.raises(ValueError, match=r"GradNorm: n_tasks must be a positive integer .* got None"):
        GradNorm(None)
    with pytest.raises(ValueError, match=r"EqualWeighting: weights must be .* >= 0, got \[1.0, -1.0\]"):
        EqualWeighting(weights=[1.0, -1.0])
    with pytest.raises(ValueError, match=r"EqualWeighting: got 2 weights but n_tasks=3"):
        EqualWeighting(weights=[1.0, 2.0], n_tasks=3)
    with pytest.raises(ValueError, match=r"UncertaintyWeighting: task_types must be .* got \['regression'\]"):
        UncertaintyWeighting(2, task_types=["regression"])
    with pytest.raises(ValueError, match=r"UncertaintyWeighting: task_types .* got 'segmentation'"):
        UncertaintyWeighting(2, task_types="segmentation")
    with pytest.raises(ValueError, match=r"GradNorm: alpha must be a finite number >= 0, got -1"):
        GradNorm(2, alpha=-1)
    with pytest.raises(ValueError, match=r"GradNorm: lr must be a finite number > 0, got 0"):
        GradNorm(2, lr=0)
    with pytest.raises(ValueError, match=r"DWA: temperature must be a finite number > 0, got nan"):
        DWA(2, temperature=float("nan"))
    with pytest.raises(ValueError, match=r"PCGrad: reduction must be one of 'sum', 'mean'; got 'max'"):
        PCGrad(reduction="max")
    with pytest.raises(ValueError, match=r"PCGrad: random_state must be an int seed or None, got 0.5"):
        PCGrad(random_state=0.5)
    with pytest.raises(ValueError, match=r"CAGrad: c must be a finite number >= 0, got -0.1"):
        CAGrad(c=-0.1)
    with pytest.raises(ValueError, match=r"MGDA: normalization must be one of 'loss\+', 'l2'.*; got 'L2'"):
        MGDA(normalization="L2")


# ------------------------------------------------------------------------------------------------
# equal weighting
# ------------------------------------------------------------------------------------------------
def test_equal_weighting_is_the_sum_of_gradients():
    w, h, losses = _toy()
    weights = EqualWeighting().backward(losses, [w])
    assert_allclose(weights.numpy(), [1.0, 1.0])
    assert_allclose(w.grad.numpy(), _shared_grads().sum(0), rtol=1e-12)
    w, h, losses = _toy()
    EqualWeighting(weights=[0.25, 2.0]).backward(losses, [w])
    assert_allclose(w.grad.numpy(), 0.25 * _shared_grads()[0] + 2.0 * _shared_grads()[1], rtol=1e-12)
    assert_allclose(_grads(h), [0.25, 2.0] * HEAD_GRADS, rtol=1e-12)


# ------------------------------------------------------------------------------------------------
# uncertainty weighting
# ------------------------------------------------------------------------------------------------
def test_uncertainty_gradients_match_the_closed_form():
    uw = UncertaintyWeighting(2, task_types=["regression", "classification"])
    s = np.array([0.3, -0.2])
    with torch.no_grad():
        uw.log_vars.copy_(torch.as_tensor(s))
    w, _, losses = _toy()
    L = np.array([v.item() for v in losses])
    weights = uw.backward(losses, [w])
    c = np.array([0.5, 1.0])
    assert_allclose(weights.numpy(), c * np.exp(-s), rtol=1e-6)
    # d/ds_i [c_i exp(-s_i) L_i + s_i / 2] = 1/2 - c_i exp(-s_i) L_i
    assert_allclose(uw.log_vars.grad.numpy(), 0.5 - c * np.exp(-s) * L, rtol=1e-5)
    assert_allclose(w.grad.numpy(), (c * np.exp(-s)) @ _shared_grads(), rtol=1e-6)


def test_uncertainty_minimiser_matches_the_closed_form():
    L = np.array([0.3, 2.0])
    c = np.array([0.5, 1.0])
    closed = np.log(2 * c * L)  # sigma^2 = L (regression), 2 L (classification)
    for i in range(2):  # the per-task term, minimised numerically
        res = minimize_scalar(lambda s, i=i: c[i] * math.exp(-s) * L[i] + s / 2, bracket=(-5, 5), tol=1e-12)
        assert_allclose(res.x, closed[i], atol=1e-6)
    # and the module's own gradients drive log_vars there (gradient descent; curvature 1/2 at the optimum)
    uw = UncertaintyWeighting(2, task_types=("regression", "classification"))
    opt = torch.optim.SGD(uw.parameters(), lr=1.0)
    for _ in range(200):
        opt.zero_grad()
        uw.backward([torch.tensor(v) for v in L], [])
        opt.step()
    assert_allclose(uw.log_vars.detach().numpy(), closed, atol=1e-6)
    assert_allclose(np.exp(closed), [L[0], 2 * L[1]], rtol=1e-12)


# ------------------------------------------------------------------------------------------------
# GradNorm
# ------------------------------------------------------------------------------------------------
def _gradnorm_toy(W0, a):
    x = np.array([1.0, 2.0])
    bias = torch.nn.Parameter(torch.tensor([0.1, -0.2], dtype=torch.float64))
    W = torch.nn.Parameter(torch.tensor(W0, dtype=torch.float64))
    z = W @ torch.as_tensor(x) + bias
    losses = [0.5 * (z - torch.as_tensor(a_i)).pow(2).sum() for a_i in a]
    residuals = (np.asarray(W0) @ x + np.array([0.1, -0.2]))[None, :] - np.asarray(a)
    return W, bias, losses, residuals, x


def _gradnorm_hand(weights, L, L0, residuals, x, alpha, lr):
    norms = np.linalg.norm(residuals, axis=1) * np.linalg.norm(x)  # ||grad_W L_i|| = ||z - a_i|| ||x||
    G = weights * norms
    ratio = L / L0
    r = ratio / ratio.mean()
    target = G.mean() * r**alpha
    new = weights - lr * np.sign(G - target) * norms
    assert np.all(new > 0)  # the safeguard clamp is not involved
    return new * len(weights) / new.sum()


def test_gradnorm_weight_update_matches_hand_computation():
    a = np.array([[1.0, 0.0], [0.0, -3.0]])
    gn = GradNorm(2, alpha=1.5, lr=0.025)
    # step 1: W is the matrix (last shared parameter with ndim >= 2), L(0) = L, r = 1
    W, bias, losses, res, x = _gradnorm_toy([[0.5, 0.0], [0.0, 0.5]], a)
    L0 = np.array([v.item() for v in losses])
    weights = gn.backward(losses, [W, bias])
    assert_allclose(weights.numpy(), [1.0, 1.0])
    expected_w = _gradnorm_hand(np.ones(2), L0, L0, res, x, 1.5, 0.025)
    assert_allclose(gn.task_weights.numpy(), expected_w, rtol=1e-6)
    assert_allclose(gn.task_weights.sum().item(), 2.0, rtol=1e-6)
    assert_allclose(W.grad.numpy(), res.sum(0)[:, None] * x[None, :], rtol=1e-12)  # weights before update: 1
    # step 2: a new point; the model gets sum w_i L_i with the updated weights, and r != 1
    W, bias, losses, res, x = _gradnorm_toy([[0.2, -0.3], [0.4, 0.1]], a)
    L = np.array([v.item() for v in losses])
    weights = gn.backward(losses, [W, bias])
    assert_allclose(weights.numpy(), expected_w, rtol=1e-6)
    assert_allclose(W.grad.numpy(), (expected_w @ res)[:, None] * x[None, :], rtol=1e-6)
    assert_allclose(bias.grad.numpy(), expected_w @ res, rtol=1e-6)
    expected_w2 = _gradnorm_hand(expected_w, L, L0, res, x, 1.5, 0.025)
    assert_allclose(gn.task_weights.numpy(), expected_w2, rtol=1e-6)
    assert np.abs(expected_w2 - expected_w).max() > 1e-3


def test_gradnorm_weights_stay_positive_with_a_large_step():
    a = np.array([[1.0, 0.0], [0.0, -3.0]])
    gn = GradNorm(2, lr=10.0)
    for W0 in ([[0.5, 0.0], [0.0, 0.5]], [[0.2, -0.3], [0.4, 0.1]]):
        W, bias, losses, _, _ = _gradnorm_toy(W0, a)
        gn.backward(losses, [W, bias])
        assert torch.all(gn.task_weights > 0)
        assert_allclose(gn.task_weights.sum().item(), 2.0, rtol=1e-6)


# ------------------------------------------------------------------------------------------------
# DWA
# ------------------------------------------------------------------------------------------------
def _leaf_losses(values):
    return [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in values]


def test_dwa_weights_follow_the_formula():
    dwa = DWA(2, temperature=2.0)
    for epoch, values in [(0, (2.0, 4.0)), (0, (4.0, 8.0)), (1, (1.5, 4.5))]:  # means (3, 6), (1.5, 4.5)
        losses = _leaf_losses(values)
        weights = dwa.backward(losses, [], epoch=epoch)
        assert_allclose(weights.numpy(), [1.0, 1.0])  # the first two epochs
        assert_allclose([v.grad.item() for v in losses], [1.0, 1.0])
    r = np.array([1.5 / 3.0, 4.5 / 6.0])
    expected = 2 * np.exp(r / 2.0) / np.exp(r / 2.0).sum()
    losses = _leaf_losses((1.0, 1.0))
    weights = dwa.backward(losses, [], epoch=2)
    assert_allclose(weights.numpy(), expected, rtol=1e-12)
    assert_allclose([v.grad.item() for v in losses], expected, rtol=1e-12)  # d(sum w_i L_i)/dL_i
    # the state is in the state_dict
    twin = DWA(2, temperature=2.0)
    twin.load_state_dict(dwa.state_dict())
    assert_allclose(twin.current_weights().numpy(), expected, rtol=1e-12)
    # epoch 3 uses epochs 1 and 2 (means (1.5, 4.5) and (1, 1))
    r = np.array([1.0 / 1.5, 1.0 / 4.5])
    weights = dwa.backward(_leaf_losses((1.0, 1.0)), [], epoch=3)
    assert_allclose(weights.numpy(), 2 * np.exp(r / 2.0) / np.exp(r / 2.0).sum(), rtol=1e-12)
    dwa.reset()
    assert_allclose(dwa.backward(_leaf_losses((1.0, 2.0)), [], epoch=0).numpy(), [1.0, 1.0])


def test_dwa_epoch_errors():
    dwa = DWA(2)
    with pytest.raises(ValueError, match=r"DWA\.backward: pass epoch=<current epoch index"):
        dwa.backward(_leaf_losses((1.0, 1.0)), [])
    with pytest.raises(ValueError, match=r"DWA\.backward: pass epoch="):
        dwa.backward(_leaf_losses((1.0, 1.0)), [], epoch=-1)
    dwa.backward(_leaf_losses((1.0, 1.0)), [], epoch=4)
    with pytest.raises(ValueError, match=r"epoch went back from 4 to 0; call reset\(\)"):
        dwa.backward(_leaf_losses((1.0, 1.0)), [], epoch=0)


# ------------------------------------------------------------------------------------------------
# PCGrad
# ------------------------------------------------------------------------------------------------
def _pcgrad_hand(g, order):
    """The paper's projection of every g_i against the *original* g_j, in the given order of the others."""
    out = []
    for i, others in enumerate(order):
        gi = g[i].copy()
        for j in others:
            dot = gi @ g[j]
            if dot < 0:
                gi = gi - dot / (g[j] @ g[j]) * g[j]
        out.append(gi)
    return np.array(out)


def test_pcgrad_projects_conflicting_gradients():
    g = _shared_grads()
    w, h, losses = _toy()
    PCGrad().backward(losses, [w])
    projected = _pcgrad_hand(g, [[1], [0]])
    # g1 loses its component along g2, and g2 its component along g1
    assert_allclose(projected[0] @ g[1], 0.0, atol=1e-12)
    assert_allclose(projected[1] @ g[0], 0.0, atol=1e-12)
    assert_allclose(projected, [[-1.5, -1.5], [0.6, -1.2]], rtol=1e-12)
    assert_allclose(w.grad.numpy(), projected.sum(0), rtol=1e-12)
    assert_allclose(_grads(h), HEAD_GRADS, rtol=1e-12)
    w, h, losses = _toy()
    PCGrad(reduction="mean").backward(losses, [w])
    assert_allclose(w.grad.numpy(), projected.mean(0), rtol=1e-12)


def test_pcgrad_without_conflict_is_the_plain_sum():
    w, _, losses = _toy(a=A_AGREE)
    PCGrad().backward(losses, [w])
    assert_allclose(w.grad.numpy(), _shared_grads(a=A_AGREE).sum(0), rtol=1e-12)


def test_pcgrad_three_tasks_random_order_is_seeded():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 4))
    results = []
    for seed in (0, 0, 1):
        w = torch.nn.Parameter(torch.zeros(4, dtype=torch.float64))
        losses = [0.5 * (w - torch.as_tensor(a_i)).pow(2).sum() for a_i in a]
        PCGrad(random_state=seed).backward(losses, [w])
        results.append(w.grad.numpy().copy())
    assert_allclose(results[0], results[1], rtol=0)
    g = -a
    candidates = [
        _pcgrad_hand(g, [o0, o1, o2]).sum(0)
        for o0 in itertools.permutations([1, 2])
        for o1 in itertools.permutations([0, 2])
        for o2 in itertools.permutations([0, 1])
    ]
    for res in results:
        assert min(np.abs(c - res).max() for c in candidates) < 1e-12


# ------------------------------------------------------------------------------------------------
# CAGrad
# ------------------------------------------------------------------------------------------------
def _cagrad_hand(g, c):
    """The authors' formula, with the simplex problem solved on a fine grid (two tasks)."""
    g0 = g.mean(0)
    sqrt_phi = c * np.linalg.norm(g0)
    w1 = np.linspace(0.0, 1.0, 200_001)
    gw = w1[:, None] * g[0] + (1 - w1[:, None]) * g[1]
    objective = gw @ g0 + sqrt_phi * np.linalg.norm(gw, axis=1)
    gw = gw[np.argmin(objective)]
    d = g0 + sqrt_phi / np.linalg.norm(gw) * gw
    return d / (1 + c**2)


@pytest.mark.parametrize("a", [A_CONFLICT, A_AGREE, np.array([[3.0, 0.5], [-2.0, 0.2]])], ids=["conflict", "agree", "strong"])
@pytest.mark.parametrize("c", [0.4, 0.9])
def test_cagrad_matches_the_authors_formula(a, c):
    w, h, losses = _toy(a=a)
    weights = CAGrad(c=c).backward(losses, [w])
    g = _shared_grads(a=a)
    expected = _cagrad_hand(g, c)
    assert_allclose(w.grad.numpy(), expected, rtol=1e-4, atol=1e-5)
    assert_allclose(weights.numpy() @ g, w.grad.numpy(), rtol=1e-10)  # the returned effective weights
    assert_allclose(_grads(h), HEAD_GRADS, rtol=1e-12)


def test_cagrad_with_c_zero_is_the_mean_gradient():
    w, _, losses = _toy()
    weights = CAGrad(c=0.0).backward(losses, [w])
    assert_allclose(weights.numpy(), [0.5, 0.5], rtol=1e-12)
    assert_allclose(w.grad.numpy(), _shared_grads().mean(0), rtol=1e-12)


# ------------------------------------------------------------------------------------------------
# MGDA and its min-norm solver
# ------------------------------------------------------------------------------------------------
def _two_task_alpha(g1, g2):
    a1 = np.clip((g2 - g1) @ g2 / ((g1 - g2) @ (g1 - g2)), 0.0, 1.0)
    return np.array([a1, 1 - a1])


def _slsqp_min_norm(gram):
    T = gram.shape[0]
    res = minimize(
        lambda x: x @ gram @ x,
        np.full(T, 1.0 / T),
        jac=lambda x: 2 * gram @ x,
        method="SLSQP",
        bounds=[(0, 1)] * T,
        constraints={"type": "eq", "fun": lambda x: x.sum() - 1, "jac": lambda x: np.ones(T)},
        options={"ftol": 1e-15, "maxiter": 1000},
    )
    return res.x


def test_min_norm_two_tasks_closed_form():
    rng = np.random.default_rng(1)
    grid = np.linspace(0, 1, 100_001)
    for _ in range(20):
        g = rng.normal(size=(2, 5))
        expected = _two_task_alpha(g[0], g[1])
        assert_allclose(min_norm_solver(g), expected, rtol=1e-10, atol=1e-12)
        assert_allclose(min_norm_solver(g @ g.T), expected, rtol=1e-10, atol=1e-12)
        norms = np.linalg.norm(grid[:, None] * g[0] + (1 - grid[:, None]) * g[1], axis=1) ** 2
        assert expected @ (g @ g.T) @ expected <= norms.min() + 1e-12
    assert_allclose(min_norm_solver(torch.tensor([[1.0, 0.0], [1.0, 0.0]]), gram=False), [0.5, 0.5])
    assert_allclose(min_norm_solver(np.array([[4.0]])), [1.0])


@pytest.mark.parametrize("T", [3, 4])
def test_min_norm_frank_wolfe_matches_scipy(T):
    rng = np.random.default_rng(T)
    for trial in range(40):
        D = int(rng.integers(1, 8))  # D < T: singular Gram matrices too
        g = rng.normal(size=(T, D)) * rng.uniform(0.1, 10.0, size=(T, 1))
        gram = g @ g.T
        alpha = min_norm_solver(gram)
        assert alpha.shape == (T,) and np.all(alpha >= 0)
        assert_allclose(alpha.sum(), 1.0, rtol=1e-12)
        reference = _slsqp_min_norm(gram)
        assert alpha @ gram @ alpha <= reference @ gram @ reference + 1e-6
        assert_allclose(min_norm_solver(torch.as_tensor(g), gram=False), alpha, atol=1e-8)
    # brute force over a grid on the 3-simplex
    g = rng.normal(size=(3, 2))
    gram = g @ g.T
    n = 400
    pts = np.array([(i, j, n - i - j) for i in range(n + 1) for j in range(n + 1 - i)]) / n
    grid_best = np.einsum("ki,ij,kj->k", pts, gram, pts).min()
    alpha = min_norm_solver(gram)
    assert alpha @ gram @ alpha <= grid_best + 1e-12


def test_min_norm_solver_errors():
    with pytest.raises(ValueError, match=r"min_norm_solver: G must be a finite 2-D array.*got shape \(3,\)"):
        min_norm_solver(np.ones(3))
    with pytest.raises(ValueError, match=r"got shape \(2, 2\) with NaN or inf"):
        min_norm_solver(np.array([[1.0, np.nan], [np.nan, 1.0]]))
    with pytest.raises(ValueError, match=r"a Gram matrix must be square and symmetric, got shape \(2, 2\) \(not symmetric\)"):
        min_norm_solver(np.array([[1.0, 2.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match=r"a Gram matrix must be square and symmetric, got shape \(2, 3\)"):
        min_norm_solver(np.ones((2, 3)), gram=True)
    with pytest.raises(ValueError, match=r"max_iter must be a positive integer, got 0"):
        min_norm_solver(np.eye(3), max_iter=0)
    with pytest.raises(ValueError, match=r"min_norm_solver: tol must be a finite number > 0, got -1"):
        min_norm_solver(np.eye(3), tol=-1)


@pytest.mark.parametrize("normalization", ["none", "l2", "loss", "loss+"])
@pytest.mark.parametrize("a", [A_CONFLICT, A_AGREE], ids=["conflict", "agree"])
def test_mgda_two_tasks_matches_hand_computation(normalization, a):
    w, h, losses = _toy(a=a)
    L = np.array([v.item() for v in losses])
    weights = MGDA(normalization=normalization).backward(losses, [w])
    g = _shared_grads(a=a)
    n = np.linalg.norm(g, axis=1)
    scale = {"none": np.ones(2), "l2": n, "loss": L, "loss+": L * n}[normalization]
    gn = g / scale[:, None]
    alpha = _two_task_alpha(gn[0], gn[1])
    assert_allclose(weights.numpy(), alpha, rtol=1e-10, atol=1e-12)
    assert_allclose(w.grad.numpy(), alpha @ g, rtol=1e-10, atol=1e-12)  # alpha weights the raw losses
    assert_allclose(_grads(h), alpha * HEAD_GRADS, rtol=1e-10, atol=1e-12)
    if normalization == "none" and a is A_CONFLICT:  # alpha = (1/3, 2/3): min-norm point (0, -1)
        assert_allclose(w.grad.numpy(), [0.0, -1.0], atol=1e-12)


def test_mgda_upper_bound_uses_the_representation():
    x = np.array([1.0, -2.0, 0.5])
    W0 = np.array([[0.3, 0.1, -0.2], [0.0, 0.4, 0.2]])
    a = np.array([[1.0, 0.5], [-1.0, 1.0]])

    def run(use_rep):
        W = torch.nn.Parameter(torch.tensor(W0))
        z = W @ torch.as_tensor(x)
        losses = [0.5 * (z - torch.as_tensor(a_i)).pow(2).sum() for a_i in a]
        weights = MGDA(normalization="none", use_representation=use_rep).backward(losses, [W], representation=z)
        return weights.numpy(), W.grad.numpy()

    residual = (W0 @ x)[None, :] - a  # dL_i/dz
    alpha = _two_task_alpha(residual[0], residual[1])
    weights, grad = run(True)
    assert_allclose(weights, alpha, rtol=1e-10)
    assert_allclose(grad, (alpha @ residual)[:, None] * x[None, :], rtol=1e-10)
    # on the parameters, the per-task gradients are residual_i x^T: same alpha here (a rank-1 map)
    weights_p, _ = run(False)
    assert_allclose(weights_p, alpha, rtol=1e-10)
    with pytest.raises(ValueError, match=r"MGDA\.backward: representation must be the trunk's output tensor"):
        W = torch.nn.Parameter(torch.tensor(W0))
        z = W @ torch.as_tensor(x)
        MGDA().backward([z.sum(), z.pow(2).sum()], [W], representation=z.detach())


# ------------------------------------------------------------------------------------------------
# integration: a shared trunk and two heads, 100 Adam steps with every combiner
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(COMBINERS))
def test_training_reduces_both_losses(name):
    torch.manual_seed(0)
    X = torch.randn(64, 8)
    y1 = X @ torch.randn(8, 1) + 0.05 * torch.randn(64, 1)
    y2 = torch.tanh(X @ torch.randn(8, 1)) * 3 + 0.05 * torch.randn(64, 1)
    trunk = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU())
    heads = torch.nn.ModuleList([torch.nn.Linear(16, 1), torch.nn.Linear(16, 1)])
    combiner = make_combiner(name, n_tasks=2)
    params = [*trunk.parameters(), *heads.parameters(), *combiner.parameters()]
    opt = torch.optim.Adam(params, lr=1e-2)

    def task_losses():
        z = trunk(X)
        return z, [torch.nn.functional.mse_loss(heads[0](z), y1), torch.nn.functional.mse_loss(heads[1](z), y2)]

    with torch.no_grad():
        start = [float(v) for v in task_losses()[1]]
    for step in range(100):
        opt.zero_grad()
        z, losses = task_losses()
        combiner.backward(losses, trunk.parameters(), representation=z, epoch=step // 10)
        opt.step()
    with torch.no_grad():
        end = [float(v) for v in task_losses()[1]]
    for s, e in zip(start, end):
        assert e < 0.5 * s, (name, start, end)
