r"""Losses and modules of deep domain adaptation, as plain :class:`torch.nn.Module` objects.

Every object here works on mini-batches of *features* (the output of a backbone, shape ``(B, d)``)
and/or *logits* (the output of a classifier head, shape ``(B, K)``), returns a scalar tensor, and can
be dropped into any training loop — the toolkit's :class:`~tltaxonomy.training.Trainer` (through a
``step(model, batch, state)`` function) or the researcher's own.

==========================================  ===================================================
object                                      method (reference)
==========================================  ===================================================
:class:`GradientReversal`, :func:`grad_reverse`, :func:`dann_schedule`
                                            gradient reversal layer, DANN (Ganin & Lempitsky 2015)
:class:`DomainDiscriminator`,
:class:`DomainAdversarialLoss`              DANN (Ganin & Lempitsky 2015; Ganin et al. 2016)
:class:`ConditionalDomainAdversarialLoss`,
:class:`MultiLinearMap`,
:class:`RandomizedMultiLinearMap`           CDAN / CDAN+E (Long et al. 2018)
:func:`gaussian_kernel_matrix`,
:class:`MultipleKernelMMD`                  DAN, multi-kernel MMD (Long et al. 2015)
:class:`CoralLoss`                          Deep CORAL (Sun & Saenko 2016)
:class:`MinimumClassConfusionLoss`          MCC (Jin et al. 2020)
:func:`entropy`                             entropy minimisation (Grandvalet & Bengio 2005)
==========================================  ===================================================

A typical step (DANN) inside a loop::

    backbone, head = ..., ...
    disc_loss = DomainAdversarialLoss(DomainDiscriminator(backbone.out_features))
    opt = torch.optim.SGD([*backbone.parameters(), *head.parameters(), *disc_loss.parameters()], lr=0.01)
    for p, ((xs, ys), (xt, _)) in zip(progress_values, loader):
        disc_loss.coeff = dann_schedule(p)               # lambda_p, ramped from 0 to 1
        fs, ft = backbone(xs), backbone(xt)
        loss = F.cross_entropy(head(fs), ys) + disc_loss(fs, ft)
        opt.zero_grad(); loss.backward(); opt.step()

With the toolkit's trainer the progress ``p`` is ``state.progress`` (:class:`~tltaxonomy.training.TrainState`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "GradientReversalFunction",
    "grad_reverse",
    "GradientReversal",
    "dann_schedule",
    "DomainDiscriminator",
    "DomainAdversarialLoss",
    "MultiLinearMap",
    "RandomizedMultiLinearMap",
    "ConditionalDomainAdversarialLoss",
    "pairwise_squared_distances",
    "gaussian_kernel_matrix",
    "MultipleKernelMMD",
    "CoralLoss",
    "MinimumClassConfusionLoss",
    "entropy",
]

# --------------------------------------------------------------------------------------------------
# gradient reversal
# --------------------------------------------------------------------------------------------------


class GradientReversalFunction(torch.autograd.Function):
    r"""Autograd function of the gradient reversal layer: :math:`R(x) = x`, :math:`\partial R/\partial x = -\lambda I`.

    Use it through :func:`grad_reverse` or :class:`GradientReversal`.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, coeff: float) -> torch.Tensor:  # noqa: D102
        ctx.coeff = float(coeff)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):  # noqa: D102
        return grad_output.neg() * ctx.coeff, None


def grad_reverse(x: torch.Tensor, coeff: float = 1.0) -> torch.Tensor:
    r"""Gradient reversal: identity in the forward pass, gradient times :math:`-\lambda` in the backward pass.

    .. math:: R_\lambda(x) = x, \qquad \frac{\partial \mathcal{L}}{\partial x} =
              -\lambda \, \frac{\partial \mathcal{L}}{\partial R_\lambda(x)}

    Parameters
    ----------
    x : torch.Tensor
        Any shape.
    coeff : float, default=1.0
        :math:`\lambda \ge 0` (a plain number; it is not differentiated).

    Returns
    -------
    torch.Tensor
        Same values and shape as ``x``.

    References
    ----------
    .. [1] Ganin, Lempitsky. "Unsupervised Domain Adaptation by Backpropagation." ICML 2015.

    Examples
    --------
    >>> import torch
    >>> x = torch.ones(3, requires_grad=True)
    >>> grad_reverse(x, 0.5).sum().backward()
    >>> x.grad
    tensor([-0.5000, -0.5000, -0.5000])
    """
    return GradientReversalFunction.apply(x, coeff)


class GradientReversal(nn.Module):
    r"""Gradient reversal layer (GRL) as a module; see :func:`grad_reverse`.

    Parameters
    ----------
    coeff : float, default=1.0
        :math:`\lambda`. The attribute may be changed between steps, e.g.
        ``grl.coeff = dann_schedule(p)``.

    Shapes
    ------
    Input: any ``(*)``. Output: ``(*)``, the same tensor values.

    References
    ----------
    .. [1] Ganin, Lempitsky. "Unsupervised Domain Adaptation by Backpropagation." ICML 2015.

    Examples
    --------
    >>> import torch
    >>> grl = GradientReversal(coeff=2.0)
    >>> x = torch.ones(2, requires_grad=True)
    >>> grl(x).sum().backward()
    >>> x.grad
    tensor([-2., -2.])
    """

    def __init__(self, coeff: float = 1.0):
        super().__init__()
        self.coeff = float(coeff)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return grad_reverse(x, self.coeff)

    def extra_repr(self) -> str:
        return f"coeff={self.coeff}"


def dann_schedule(progress: float, gamma: float = 10.0) -> float:
    r"""DANN's ramp of the adversarial weight, from 0 at the start of training to ~1 at the end.

    .. math:: \lambda_p = \frac{2}{1 + \exp(-\gamma p)} - 1, \qquad p \in [0, 1]

    Parameters
    ----------
    progress : float
        Training progress :math:`p` (e.g. :attr:`TrainState.progress <tltaxonomy.training.TrainState.progress>`).
    gamma : float, default=10.0
        Steepness :math:`\gamma` (10 in the paper).

    Returns
    -------
    float
        :math:`\lambda_p` (0 at :math:`p = 0`, :math:`\tanh(\gamma/2) \approx 0.99991` at :math:`p = 1`).

    References
    ----------
    .. [1] Ganin, Lempitsky. "Unsupervised Domain Adaptation by Backpropagation." ICML 2015, §5.

    Examples
    --------
    >>> dann_schedule(0.0)
    0.0
    >>> round(dann_schedule(1.0), 4)
    0.9999
    """
    return 2.0 / (1.0 + math.exp(-float(gamma) * float(progress))) - 1.0


# --------------------------------------------------------------------------------------------------
# DANN
# --------------------------------------------------------------------------------------------------


class DomainDiscriminator(nn.Module):
    r"""MLP domain classifier :math:`D: \mathbb{R}^d \to \mathbb{R}` that outputs one logit (source = 1).

    ``n_hidden_layers`` × [linear(→hidden) → (batch-norm) → ReLU → (dropout)] → linear(→1).
    With ``n_hidden_layers=0`` it is a logistic regression on the features.

    Parameters
    ----------
    in_features : int
        Dimension :math:`d` of its inputs (features, or the multilinear map for CDAN).
    hidden : int, default=1024
        Width of the hidden layers (1024 in DANN / CDAN's ResNet experiments).
    n_hidden_layers : int, default=2
        Number of hidden layers.
    batch_norm : bool, default=True
        Batch-normalise the hidden layers (as in TLlib's discriminator).
    dropout : float, default=0.0
        Dropout after each hidden ReLU (the original DANN / CDAN code uses 0.5 without batch-norm).

    Shapes
    ------
    Input ``(B, in_features)``; output ``(B,)`` logits.

    References
    ----------
    .. [1] Ganin, Ustinova, Ajakan, Germain, Larochelle, Laviolette, Marchand, Lempitsky.
       "Domain-Adversarial Training of Neural Networks." JMLR 17(59), 2016.

    Examples
    --------
    >>> import torch
    >>> DomainDiscriminator(8, hidden=16)(torch.randn(4, 8)).shape
    torch.Size([4])
    """

    def __init__(
        self,
        in_features: int,
        hidden: int = 1024,
        n_hidden_layers: int = 2,
        *,
        batch_norm: bool = True,
        dropout: float = 0.0,
    ):
        super().__init__()
        if int(in_features) < 1 or int(hidden) < 1 or int(n_hidden_layers) < 0:
            raise ValueError(
                "DomainDiscriminator: in_features and hidden must be >= 1 and n_hidden_layers >= 0, got "
                f"in_features={in_features!r}, hidden={hidden!r}, n_hidden_layers={n_hidden_layers!r}."
            )
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"DomainDiscriminator: dropout must be in [0, 1), got {dropout!r}.")
        self.in_features = int(in_features)
        layers: list[nn.Module] = []
        width = self.in_features
        for _ in range(int(n_hidden_layers)):
            layers.append(nn.Linear(width, int(hidden)))
            if batch_norm:
                layers.append(nn.BatchNorm1d(int(hidden)))
            layers.append(nn.ReLU())
            if dropout > 0:
                layers.append(nn.Dropout(float(dropout)))
            width = int(hidden)
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


def _check_pair(name: str, a: torch.Tensor, b: torch.Tensor, *, min_rows: int = 1) -> None:
    if a.dim() != 2 or b.dim() != 2:
        raise ValueError(f"{name}: expected 2-D (batch, features) tensors, got shapes {tuple(a.shape)} and {tuple(b.shape)}.")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"{name}: source and target feature dimensions differ ({a.shape[1]} vs {b.shape[1]}).")
    if a.shape[0] < min_rows or b.shape[0] < min_rows:
        raise ValueError(
            f"{name}: needs at least {min_rows} rows per domain, got {a.shape[0]} source and {b.shape[0]} target rows."
        )


def _binary_accuracy(d_s: torch.Tensor, d_t: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        correct = (d_s > 0).sum() + (d_t <= 0).sum()
        return correct.float() / (d_s.numel() + d_t.numel())


class DomainAdversarialLoss(nn.Module):
    r"""DANN's domain-adversarial loss: a discriminator on gradient-reversed features.

    .. math::
        \mathcal{L}_d = \tfrac12 \Big[ \tfrac{1}{n_s} \sum_{i} \ell\big(D(R_\lambda(f^s_i)), 1\big)
                       + \tfrac{1}{n_t} \sum_{j} \ell\big(D(R_\lambda(f^t_j)), 0\big) \Big]

    with :math:`\ell` the binary cross-entropy with logits and :math:`R_\lambda` the gradient reversal
    layer. Minimising :math:`\mathcal{L}_d` over all parameters trains the discriminator to separate
    the domains and — through the reversed gradient — the feature extractor to confuse it (the
    min-max game of DANN), in one backward pass.

    Parameters
    ----------
    discriminator : nn.Module
        Maps ``(B, d)`` features to ``(B,)`` or ``(B, 1)`` logits, e.g. :class:`DomainDiscriminator`.
    coeff : float, default=1.0
        :math:`\lambda` of the GRL; set ``loss.coeff = dann_schedule(p)`` each step for DANN's ramp.

    Shapes
    ------
    ``forward(f_s, f_t)``: ``f_s`` ``(n_s, d)``, ``f_t`` ``(n_t, d)`` → scalar loss, or
    ``(loss, accuracy)`` with ``return_accuracy=True`` (accuracy: a detached scalar tensor, the
    discriminator's domain accuracy at threshold 0 on the logits; 0.5 = fully confused).

    References
    ----------
    .. [1] Ganin, Lempitsky. "Unsupervised Domain Adaptation by Backpropagation." ICML 2015.
    .. [2] Ganin et al. "Domain-Adversarial Training of Neural Networks." JMLR 17(59), 2016.

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> backbone = torch.nn.Linear(5, 8)
    >>> adv = DomainAdversarialLoss(DomainDiscriminator(8, hidden=16), coeff=0.3)
    >>> loss, acc = adv(backbone(torch.randn(6, 5)), backbone(torch.randn(4, 5)), return_accuracy=True)
    >>> loss.backward()   # discriminator descends, backbone ascends (scaled by 0.3)
    """

    def __init__(self, discriminator: nn.Module, coeff: float = 1.0):
        super().__init__()
        self.discriminator = discriminator
        self.grl = GradientReversal(coeff)

    @property
    def coeff(self) -> float:
        """:math:`\\lambda` of the gradient reversal layer."""
        return self.grl.coeff

    @coeff.setter
    def coeff(self, value: float) -> None:
        self.grl.coeff = float(value)

    def forward(self, f_s: torch.Tensor, f_t: torch.Tensor, *, return_accuracy: bool = False):
        _check_pair("DomainAdversarialLoss", f_s, f_t)
        d = self.discriminator(self.grl(torch.cat([f_s, f_t], dim=0))).reshape(-1)
        d_s, d_t = d[: f_s.shape[0]], d[f_s.shape[0] :]
        loss = 0.5 * (
            F.binary_cross_entropy_with_logits(d_s, torch.ones_like(d_s))
            + F.binary_cross_entropy_with_logits(d_t, torch.zeros_like(d_t))
        )
        if return_accuracy:
            return loss, _binary_accuracy(d_s, d_t)
        return loss


# --------------------------------------------------------------------------------------------------
# CDAN
# --------------------------------------------------------------------------------------------------


class MultiLinearMap(nn.Module):
    r"""CDAN's multilinear map: the flattened outer product :math:`f \otimes g`.

    .. math:: T_\otimes(f, g)_{i,\; c d + j} = g_{i c}\, f_{i j}, \qquad c < K,\ j < d

    (the layout of the original CDAN code: ``bmm(g.unsqueeze(2), f.unsqueeze(1)).view(B, -1)``).

    Shapes
    ------
    ``forward(f, g)``: ``f`` ``(B, d)``, ``g`` ``(B, K)`` → ``(B, K * d)``.

    Examples
    --------
    >>> import torch
    >>> MultiLinearMap()(torch.randn(3, 4), torch.softmax(torch.randn(3, 2), 1)).shape
    torch.Size([3, 8])
    """

    def forward(self, f: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return torch.bmm(g.unsqueeze(2), f.unsqueeze(1)).reshape(f.shape[0], -1)


class RandomizedMultiLinearMap(nn.Module):
    r"""CDAN's randomized multilinear map, for when :math:`K d` is too large.

    .. math:: T_\odot(f, g) = \frac{1}{\sqrt{m}} (f R_f) \odot (g R_g), \qquad
              R_f \in \mathbb{R}^{d \times m},\ R_g \in \mathbb{R}^{K \times m},\ \text{entries} \sim \mathcal{N}(0, 1)

    :math:`R_f, R_g` are drawn once from a generator seeded with ``seed`` (the caller's global RNG is
    not touched) and stored as buffers (never trained; saved in the ``state_dict``; moved by ``.to``).
    :math:`\mathbb{E}[\langle T_\odot(f,g), T_\odot(f',g')\rangle] = \langle f,f'\rangle \langle g,g'\rangle`.

    Parameters
    ----------
    features_dim : int
        :math:`d`.
    num_classes : int
        :math:`K`.
    output_dim : int, default=1024
        :math:`m` (1024 in the paper).
    seed : int, default=0
        Seed of the projections.

    Shapes
    ------
    ``forward(f, g)``: ``f`` ``(B, d)``, ``g`` ``(B, K)`` → ``(B, output_dim)``.

    Examples
    --------
    >>> import torch
    >>> RandomizedMultiLinearMap(4, 2, output_dim=16)(torch.randn(3, 4), torch.rand(3, 2)).shape
    torch.Size([3, 16])
    """

    def __init__(self, features_dim: int, num_classes: int, output_dim: int = 1024, seed: int = 0):
        super().__init__()
        gen = torch.Generator().manual_seed(int(seed))
        self.output_dim = int(output_dim)
        self.register_buffer("Rf", torch.randn(int(features_dim), self.output_dim, generator=gen))
        self.register_buffer("Rg", torch.randn(int(num_classes), self.output_dim, generator=gen))

    def forward(self, f: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return (f @ self.Rf) * (g @ self.Rg) / math.sqrt(self.output_dim)

    def extra_repr(self) -> str:
        return f"features_dim={self.Rf.shape[0]}, num_classes={self.Rg.shape[0]}, output_dim={self.output_dim}"


class ConditionalDomainAdversarialLoss(nn.Module):
    r"""CDAN / CDAN+E: a domain discriminator conditioned on the classifier's predictions.

    With :math:`g = \operatorname{softmax}(\text{logits})` (detached, as in the reference code) and
    :math:`h = T(f, g)` the multilinear map (:class:`MultiLinearMap`, or :class:`RandomizedMultiLinearMap`),

    .. math::
        \mathcal{L} = \tfrac12 \Big[ \sum_i w^s_i\, \ell\big(D(R_\lambda(h^s_i)), 1\big)
                    + \sum_j w^t_j\, \ell\big(D(R_\lambda(h^t_j)), 0\big) \Big]

    where :math:`\ell` is the binary cross-entropy with logits. Without entropy conditioning
    :math:`w^s_i = 1/n_s`, :math:`w^t_j = 1/n_t`. With it (CDAN+E),
    :math:`w_i \propto 1 + e^{-H(g_i)}` normalised to sum to 1 *within each domain*, as in the
    paper's code (``source_weight / sum(source_weight) + target_weight / sum(target_weight)``, then
    divided by the total weight 2) — confident (low-entropy) examples count more. The weights are
    detached (the original code also back-propagates a reversed gradient through :math:`H`; TLlib
    does not).

    Parameters
    ----------
    discriminator : nn.Module
        Maps ``(B, D_in)`` to ``(B,)``/``(B, 1)`` logits; ``D_in = K * d`` (plain map) or
        ``randomized_dim`` (randomized map).
    entropy_conditioning : bool, default=False
        CDAN+E.
    randomized : bool, default=False
        Use the randomized multilinear map (needs ``features_dim`` and ``num_classes``). The paper
        uses it when :math:`K d > 4096`.
    features_dim, num_classes : int or None
        :math:`d` and :math:`K`, needed when ``randomized``.
    randomized_dim : int, default=1024
        Output dimension of the randomized map.
    seed : int, default=0
        Seed of the randomized map's fixed projections.
    coeff : float, default=1.0
        :math:`\lambda` of the GRL (settable attribute, e.g. from :func:`dann_schedule`).

    Shapes
    ------
    ``forward(f_s, logits_s, f_t, logits_t)``: ``f_*`` ``(n_*, d)``, ``logits_*`` ``(n_*, K)`` →
    scalar, or ``(loss, accuracy)`` with ``return_accuracy=True``.

    References
    ----------
    .. [1] Long, Cao, Wang, Jordan. "Conditional Adversarial Domain Adaptation." NeurIPS 2018.

    Examples
    --------
    >>> import torch
    >>> d, K = 8, 3
    >>> cdan = ConditionalDomainAdversarialLoss(DomainDiscriminator(d * K, hidden=16), entropy_conditioning=True)
    >>> f_s, f_t = torch.randn(4, d, requires_grad=True), torch.randn(4, d, requires_grad=True)
    >>> loss = cdan(f_s, torch.randn(4, K), f_t, torch.randn(4, K))
    >>> loss.backward()
    """

    def __init__(
        self,
        discriminator: nn.Module,
        *,
        entropy_conditioning: bool = False,
        randomized: bool = False,
        features_dim: int | None = None,
        num_classes: int | None = None,
        randomized_dim: int = 1024,
        seed: int = 0,
        coeff: float = 1.0,
    ):
        super().__init__()
        self.discriminator = discriminator
        self.entropy_conditioning = bool(entropy_conditioning)
        self.grl = GradientReversal(coeff)
        if randomized:
            if features_dim is None or num_classes is None:
                raise ValueError(
                    "ConditionalDomainAdversarialLoss: randomized=True needs features_dim and num_classes "
                    "(to draw the fixed projections)."
                )
            self.map: nn.Module = RandomizedMultiLinearMap(features_dim, num_classes, randomized_dim, seed)
        else:
            self.map = MultiLinearMap()

    @property
    def coeff(self) -> float:
        """:math:`\\lambda` of the gradient reversal layer."""
        return self.grl.coeff

    @coeff.setter
    def coeff(self, value: float) -> None:
        self.grl.coeff = float(value)

    def forward(
        self,
        f_s: torch.Tensor,
        logits_s: torch.Tensor,
        f_t: torch.Tensor,
        logits_t: torch.Tensor,
        *,
        return_accuracy: bool = False,
    ):
        _check_pair("ConditionalDomainAdversarialLoss", f_s, f_t)
        _check_pair("ConditionalDomainAdversarialLoss", logits_s, logits_t)
        if f_s.shape[0] != logits_s.shape[0] or f_t.shape[0] != logits_t.shape[0]:
            raise ValueError("ConditionalDomainAdversarialLoss: features and logits must have the same number of rows.")
        n_s = f_s.shape[0]
        f = torch.cat([f_s, f_t], dim=0)
        g = F.softmax(torch.cat([logits_s, logits_t], dim=0), dim=1).detach()
        d = self.discriminator(self.grl(self.map(f, g))).reshape(-1)
        target = torch.cat([torch.ones(n_s, device=d.device), torch.zeros(f_t.shape[0], device=d.device)]).to(d.dtype)
        bce = F.binary_cross_entropy_with_logits(d, target, reduction="none")
        if self.entropy_conditioning:
            w = 1.0 + torch.exp(-entropy(torch.cat([logits_s, logits_t], dim=0).detach(), reduction="none"))
            w_s, w_t = w[:n_s], w[n_s:]
            w = torch.cat([w_s / w_s.sum(), w_t / w_t.sum()])
        else:
            w = torch.cat([torch.full((n_s,), 1.0 / n_s), torch.full((f_t.shape[0],), 1.0 / f_t.shape[0])]).to(d)
        loss = 0.5 * (w.to(d.dtype) * bce).sum()
        if return_accuracy:
            return loss, _binary_accuracy(d[:n_s], d[n_s:])
        return loss


# --------------------------------------------------------------------------------------------------
# MMD (DAN)
# --------------------------------------------------------------------------------------------------

_DAN_MULTIPLIERS = (0.125, 0.25, 0.5, 1.0, 2.0)


def pairwise_squared_distances(x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    r"""Squared Euclidean distances :math:`D_{ij} = \lVert x_i - y_j \rVert^2`, shape ``(n, m)``.

    Computed as :math:`\lVert x_i\rVert^2 + \lVert y_j\rVert^2 - 2 x_i^\top y_j` (memory :math:`O(nm)`),
    clamped at 0; with ``y=None`` (:math:`y = x`) the diagonal is exactly 0.
    """
    same = y is None
    y = x if y is None else y
    d = (x * x).sum(1, keepdim=True) + (y * y).sum(1).unsqueeze(0) - 2.0 * (x @ y.T)
    d = d.clamp_min(0.0)
    if same:
        d = d - torch.diag_embed(torch.diagonal(d))
    return d


def gaussian_kernel_matrix(
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    *,
    multipliers: Sequence[float] = _DAN_MULTIPLIERS,
    base: float | torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Multi-kernel Gaussian Gram matrix: a sum of Gaussian kernels with bandwidths around a base.

    .. math:: K_{ij} = \sum_{m=1}^{M} \exp\Big(-\frac{\lVert x_i - y_j\rVert^2}{2\,\sigma_m^2}\Big),
              \qquad \sigma_m^2 = \beta \cdot \alpha_m

    with :math:`\alpha_m` the ``multipliers`` and :math:`\beta` the ``base`` — by default the mean
    pairwise squared distance (the "median/mean heuristic" of DAN and TLlib), taken over
    :math:`i \ne j` when ``y is None`` and over all pairs otherwise, and **detached** (the bandwidth
    is not optimised).

    Parameters
    ----------
    x : torch.Tensor
        ``(n, d)``.
    y : torch.Tensor or None, default=None
        ``(m, d)``; ``None`` = ``x``.
    multipliers : sequence of float, default=(1/8, 1/4, 1/2, 1, 2)
        :math:`\alpha_m` (TLlib's DAN default).
    base : float, tensor or None, default=None
        :math:`\beta`; ``None`` = the heuristic above.

    Returns
    -------
    torch.Tensor
        ``(n, m)`` (``(n, n)`` when ``y is None``).

    References
    ----------
    .. [1] Long, Cao, Wang, Jordan. "Learning Transferable Features with Deep Adaptation Networks." ICML 2015.
    .. [2] Gretton et al. "Optimal kernel choice for large-scale two-sample tests." NeurIPS 2012.

    Examples
    --------
    >>> import torch
    >>> K = gaussian_kernel_matrix(torch.randn(5, 3))
    >>> K.shape, float(K[0, 0])
    (torch.Size([5, 5]), 5.0)
    """
    if len(multipliers) == 0 or any(float(a) <= 0 for a in multipliers):
        raise ValueError(f"gaussian_kernel_matrix: multipliers must be a non-empty list of positive numbers, got {multipliers!r}.")
    d2 = pairwise_squared_distances(x, y)
    if base is None:
        n, m = d2.shape
        if y is None:
            base = d2.detach().sum() / max(1, n * (n - 1))
        else:
            base = d2.detach().mean()
        base = base.clamp_min(torch.finfo(d2.dtype).tiny)
    alphas = torch.as_tensor([float(a) for a in multipliers], dtype=d2.dtype, device=d2.device)
    sigma2 = base * alphas  # (M,)
    return torch.exp(-d2.unsqueeze(0) / (2.0 * sigma2.view(-1, 1, 1))).sum(0)


class MultipleKernelMMD(nn.Module):
    r"""Multi-kernel maximum mean discrepancy :math:`\mathrm{MMD}^2_k(P_s, P_t)` (DAN's loss).

    With :math:`k` the sum of Gaussian kernels of :func:`gaussian_kernel_matrix`, computed on the
    pooled batch :math:`z = [x^s; x^t]` (one shared bandwidth base) and split into blocks
    :math:`K^{ss}, K^{tt}, K^{st}`:

    biased (V-statistic, ``unbiased=False``)

    .. math:: \widehat{\mathrm{MMD}}^2_b = \frac{1}{n_s^2}\sum_{i,j} K^{ss}_{ij} + \frac{1}{n_t^2}\sum_{i,j} K^{tt}_{ij}
              - \frac{2}{n_s n_t}\sum_{i,j} K^{st}_{ij} \;\ge 0

    unbiased (U-statistic, ``unbiased=True``; may be slightly negative)

    .. math:: \widehat{\mathrm{MMD}}^2_u = \frac{1}{n_s(n_s-1)}\sum_{i\ne j} K^{ss}_{ij}
              + \frac{1}{n_t(n_t-1)}\sum_{i\ne j} K^{tt}_{ij} - \frac{2}{n_s n_t}\sum_{i,j} K^{st}_{ij}

    All sums are vectorised; memory is :math:`O((n_s+n_t)^2 M)`. (DAN's linear-time estimator is not
    implemented; for the usual batch sizes the quadratic one is cheap.)

    Parameters
    ----------
    multipliers : sequence of float, default=(1/8, 1/4, 1/2, 1, 2)
        Bandwidth multipliers :math:`\alpha_m`.
    unbiased : bool, default=False
        Which estimator.
    base : float or None, default=None
        Fixed bandwidth base :math:`\beta`; ``None`` = mean pairwise squared distance of the pooled batch
        (detached).

    Shapes
    ------
    ``forward(x_s, x_t)``: ``(n_s, d)``, ``(n_t, d)`` → scalar. The unbiased estimator needs
    :math:`n_s, n_t \ge 2`.

    References
    ----------
    .. [1] Long, Cao, Wang, Jordan. "Learning Transferable Features with Deep Adaptation Networks." ICML 2015.
    .. [2] Gretton, Borgwardt, Rasch, Schölkopf, Smola. "A Kernel Two-Sample Test." JMLR 13, 2012.

    Examples
    --------
    >>> import torch
    >>> mmd = MultipleKernelMMD()
    >>> x = torch.randn(16, 4)
    >>> float(mmd(x, x)) < 1e-5
    True
    >>> bool(mmd(x, x + 3.0) > 0.1)
    True

    In a loop: ``loss = F.cross_entropy(head(fs), ys) + trade_off * mmd(fs, ft)``.
    """

    def __init__(self, multipliers: Sequence[float] = _DAN_MULTIPLIERS, *, unbiased: bool = False, base: float | None = None):
        super().__init__()
        self.multipliers = tuple(float(a) for a in multipliers)
        self.unbiased = bool(unbiased)
        self.base = base

    def forward(self, x_s: torch.Tensor, x_t: torch.Tensor) -> torch.Tensor:
        _check_pair("MultipleKernelMMD", x_s, x_t, min_rows=2 if self.unbiased else 1)
        n_s, n_t = x_s.shape[0], x_t.shape[0]
        K = gaussian_kernel_matrix(torch.cat([x_s, x_t], dim=0), multipliers=self.multipliers, base=self.base)
        k_ss, k_tt, k_st = K[:n_s, :n_s], K[n_s:, n_s:], K[:n_s, n_s:]
        if self.unbiased:
            ss = (k_ss.sum() - torch.diagonal(k_ss).sum()) / (n_s * (n_s - 1))
            tt = (k_tt.sum() - torch.diagonal(k_tt).sum()) / (n_t * (n_t - 1))
        else:
            ss, tt = k_ss.mean(), k_tt.mean()
        return ss + tt - 2.0 * k_st.mean()

    def extra_repr(self) -> str:
        return f"multipliers={self.multipliers}, unbiased={self.unbiased}, base={self.base}"


# --------------------------------------------------------------------------------------------------
# Deep CORAL
# --------------------------------------------------------------------------------------------------


def _covariance(x: torch.Tensor) -> torch.Tensor:
    xc = x - x.mean(0, keepdim=True)
    return xc.T @ xc / (x.shape[0] - 1)


class CoralLoss(nn.Module):
    r"""Deep CORAL: distance between the source and target feature covariances.

    .. math:: \mathcal{L}_{\mathrm{CORAL}} = \frac{1}{4 d^2} \lVert C_s - C_t \rVert_F^2, \qquad
              C = \frac{1}{n-1} \big(X^\top X - \tfrac{1}{n} (\mathbf{1}^\top X)^\top (\mathbf{1}^\top X)\big)

    (unbiased covariances of the ``(n, d)`` feature batches).

    Shapes
    ------
    ``forward(x_s, x_t)``: ``(n_s, d)``, ``(n_t, d)`` with :math:`n_s, n_t \ge 2` → scalar.

    References
    ----------
    .. [1] Sun, Saenko. "Deep CORAL: Correlation Alignment for Deep Domain Adaptation." ECCV 2016 Workshops.

    Examples
    --------
    >>> import torch
    >>> coral = CoralLoss()
    >>> x = torch.randn(32, 4)
    >>> float(coral(x, x + 1.0)) < 1e-10   # a shift leaves the covariance unchanged
    True

    In a loop: ``loss = F.cross_entropy(head(fs), ys) + trade_off * coral(head(fs), head(ft))``
    (the paper aligns the last layer's activations).
    """

    def forward(self, x_s: torch.Tensor, x_t: torch.Tensor) -> torch.Tensor:
        _check_pair("CoralLoss", x_s, x_t, min_rows=2)
        d = x_s.shape[1]
        return (_covariance(x_s) - _covariance(x_t)).pow(2).sum() / (4.0 * d * d)


# --------------------------------------------------------------------------------------------------
# MCC and entropy
# --------------------------------------------------------------------------------------------------


def entropy(logits: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    r"""Shannon entropy of the softmax predictions, :math:`H(p) = -\sum_k p_k \log p_k` (nats).

    Computed from the logits with ``log_softmax`` (stable, finite gradients for confident predictions).
    Minimising it on target data is entropy minimisation (Grandvalet & Bengio 2005), used as an extra
    term by many DA methods.

    Parameters
    ----------
    logits : torch.Tensor
        ``(B, K)`` unnormalised scores.
    reduction : {"mean", "sum", "none"}, default="mean"
        ``"none"`` returns the ``(B,)`` per-row entropies.

    References
    ----------
    .. [1] Grandvalet, Bengio. "Semi-supervised Learning by Entropy Minimization." NeurIPS 2004.

    Examples
    --------
    >>> import torch, math
    >>> round(float(entropy(torch.zeros(2, 4))), 4) == round(math.log(4), 4)
    True
    """
    logp = F.log_softmax(logits, dim=1)
    h = -(logp.exp() * logp).sum(1)
    if reduction == "mean":
        return h.mean()
    if reduction == "sum":
        return h.sum()
    if reduction == "none":
        return h
    raise ValueError(f"entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}.")


class MinimumClassConfusionLoss(nn.Module):
    r"""Minimum Class Confusion (MCC) on unlabelled target logits.

    With :math:`\hat Y = \operatorname{softmax}(Z / T)` (``(B, K)``, temperature :math:`T`), entropy weights

    .. math:: W_{ii} = \frac{B\,(1 + e^{-H(\hat y_i)})}{\sum_{i'} (1 + e^{-H(\hat y_{i'})})} \quad(\text{detached}),

    class confusion :math:`C = \hat Y^\top W \hat Y` (``(K, K)``), row-normalised
    :math:`\tilde C_{jj'} = C_{jj'} / \sum_{j''} C_{jj''}`, the loss is

    .. math:: \mathcal{L}_{\mathrm{MCC}} = \frac{1}{K} \sum_{j \ne j'} \tilde C_{jj'}
              = 1 - \frac{1}{K}\operatorname{tr}\tilde C \in \Big[0, \frac{K-1}{K}\Big].

    It is 0 exactly when :math:`C` is diagonal (no example puts probability on two classes — e.g.
    one-hot predictions, whatever the class balance), and reaches its maximum :math:`(K-1)/K` for
    uniform predictions. (:math:`C` is symmetric, so the reference code's
    ``C / C.sum(dim=1)`` — which broadcasts over columns — has the same trace and total and gives the
    same value.)

    Parameters
    ----------
    temperature : float, default=2.5
        :math:`T` (2.5 in the paper for most tasks).

    Shapes
    ------
    ``forward(logits)``: ``(B, K)`` → scalar.

    References
    ----------
    .. [1] Jin, Wang, Long, Wang. "Minimum Class Confusion for Versatile Domain Adaptation." ECCV 2020.

    Examples
    --------
    >>> import torch
    >>> mcc = MinimumClassConfusionLoss(temperature=1.0)
    >>> round(float(mcc(torch.zeros(4, 3))), 4)   # uniform predictions: (K-1)/K
    0.6667

    In a loop: ``loss = F.cross_entropy(head(fs), ys) + trade_off * mcc(head(ft))``.
    """

    def __init__(self, temperature: float = 2.5):
        super().__init__()
        if not float(temperature) > 0:
            raise ValueError(f"MinimumClassConfusionLoss: temperature must be > 0, got {temperature!r}.")
        self.temperature = float(temperature)

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        if logits.dim() != 2:
            raise ValueError(f"MinimumClassConfusionLoss: expected (batch, classes) logits, got shape {tuple(logits.shape)}.")
        b, k = logits.shape
        scaled = logits / self.temperature
        p = F.softmax(scaled, dim=1)
        w = 1.0 + torch.exp(-entropy(scaled.detach(), reduction="none"))
        w = (b * w / w.sum()).unsqueeze(1)
        c = (p * w).T @ p
        c = c / c.sum(dim=1, keepdim=True).clamp_min(torch.finfo(c.dtype).tiny)
        return (c.sum() - torch.trace(c)) / k

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"
