"""Fine-tuning regularisers as plain :class:`torch.nn.Module` losses, usable in any training loop.

- :class:`SPRegularization` — L2-SP (Li, Grandvalet, Davoine, ICML 2018): pull the weights towards the
  pretrained starting point instead of towards zero.
- :class:`BatchSpectralShrinkage` — BSS (Chen, Wang, Fu, Long, Wang, NeurIPS 2019): shrink the smallest
  singular values of a batch's feature matrix, the directions that fine-tuning on few labels
  transfers badly.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

__all__ = ["SPRegularization", "BatchSpectralShrinkage"]


class SPRegularization(nn.Module):
    r"""L2-SP: squared distance of a module's weights to a frozen copy of their starting values.

    .. math:: \Omega(\theta) = \frac{\alpha}{2}\,\|\theta_{\mathcal S} - \theta^0_{\mathcal S}\|_2^2
              + \frac{\beta}{2}\,\|\theta_{\bar{\mathcal S}}\|_2^2

    where :math:`\mathcal S` are the parameters shared with the pretrained model (the backbone) and
    :math:`\bar{\mathcal S}` the new ones (the head); :math:`\theta^0` is copied when the module is
    built. Add :math:`\Omega` to the task loss, and do not also apply weight decay to the backbone.

    Parameters
    ----------
    backbone : torch.nn.Module
        The pretrained part; its current parameters are copied as :math:`\theta^0`.
    head : torch.nn.Module or iterable of parameters, optional
        The new part, penalised towards zero with ``beta``.
    alpha : float, default=0.1
        Weight of the distance to the starting point (the paper's :math:`\alpha`).
    beta : float, default=0.01
        Weight of the head's L2 penalty (the paper's :math:`\beta`).

    Shape
    -----
    Output: a scalar tensor.

    References
    ----------
    .. [1] X. Li, Y. Grandvalet, F. Davoine. "Explicit Inductive Bias for Transfer Learning with
       Convolutional Networks". ICML 2018.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(3, 2)
    >>> reg = SPRegularization(net, alpha=1.0)
    >>> float(reg())
    0.0
    >>> with torch.no_grad():
    ...     net.weight.add_(1.0)
    >>> float(reg())  # alpha / 2 * (6 entries moved by 1)
    3.0
    """

    def __init__(self, backbone: nn.Module, head: nn.Module | Iterable[nn.Parameter] | None = None, *, alpha: float = 0.1, beta: float = 0.01):
        super().__init__()
        if alpha < 0 or beta < 0:
            raise ValueError(f"SPRegularization: alpha and beta must be >= 0, got alpha={alpha}, beta={beta}.")
        self.alpha = float(alpha)
        self.beta = float(beta)
        self._shared = [p for p in backbone.parameters()]
        self._new = list(head.parameters()) if isinstance(head, nn.Module) else list(head or [])
        # the starting point is a buffer: it follows .to(device) and is not a trainable parameter
        for i, p in enumerate(self._shared):
            self.register_buffer(f"start_{i}", p.detach().clone())

    def forward(self) -> torch.Tensor:
        """The penalty :math:`\\Omega(\\theta)` of the current weights."""
        device = self._shared[0].device if self._shared else torch.device("cpu")
        total = torch.zeros((), device=device)
        if self.alpha:
            for i, p in enumerate(self._shared):
                total = total + 0.5 * self.alpha * (p - getattr(self, f"start_{i}")).pow(2).sum()
        if self.beta:
            for p in self._new:
                total = total + 0.5 * self.beta * p.pow(2).sum()
        return total


class BatchSpectralShrinkage(nn.Module):
    r"""BSS: the sum of the :math:`k` smallest squared singular values of a batch of features.

    .. math:: L_{bss}(F) = \sum_{i=1}^{k} \sigma_{-i}^2(F)

    where :math:`F \in \mathbb R^{b \times d}` are the features of a batch and :math:`\sigma_{-i}` the
    :math:`i`-th smallest of its :math:`\min(b, d)` singular values. Added to the task loss with a small
    weight (the paper: :math:`\eta = 0.001`, :math:`k = 1`).

    Parameters
    ----------
    k : int, default=1
        Number of smallest singular values penalised.

    Shape
    -----
    Input: features ``(batch, dim)``. Output: a scalar tensor.

    References
    ----------
    .. [1] X. Chen, S. Wang, B. Fu, M. Long, J. Wang. "Catastrophic Forgetting Meets Negative Transfer:
       Batch Spectral Shrinkage for Safe Transfer Learning". NeurIPS 2019.

    Examples
    --------
    >>> import torch
    >>> F = torch.diag(torch.tensor([3.0, 2.0, 0.5]))
    >>> float(BatchSpectralShrinkage(k=2)(F))  # 0.5**2 + 2**2
    4.25
    """

    def __init__(self, k: int = 1):
        super().__init__()
        if int(k) < 1:
            raise ValueError(f"BatchSpectralShrinkage: k must be >= 1, got {k!r}.")
        self.k = int(k)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.ndim != 2:
            raise ValueError(f"BatchSpectralShrinkage: expected features of shape (batch, dim), got {tuple(features.shape)}.")
        s = torch.linalg.svdvals(features)  # descending
        return s[-min(self.k, s.numel()) :].pow(2).sum()
