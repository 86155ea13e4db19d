r"""Multi-task loss weighting and gradient combination, as plain :class:`torch.nn.Module` objects.

A hard-parameter-sharing network has shared parameters :math:`\theta_{sh}` (the trunk) and one head
:math:`\theta_i` per task; each step produces :math:`T` task losses :math:`L_1, \dots, L_T`. A
:class:`GradientCombiner` turns them into the gradients of one optimiser step:

- loss weighting — the gradient of :math:`\sum_i w_i L_i` with weights chosen by the method:
  :class:`EqualWeighting`, :class:`UncertaintyWeighting` (Kendall et al. 2018), :class:`GradNorm`
  (Chen et al. 2018), :class:`DWA` (Liu et al. 2019) and :class:`MGDA` (Sener & Koltun 2018);
- gradient surgery — the per-task gradients :math:`g_i = \nabla_{\theta_{sh}} L_i` on the shared
  parameters are combined into one direction: :class:`PCGrad` (Yu et al. 2020), :class:`CAGrad`
  (Liu et al. 2021).

Every combiner has the same call, :meth:`GradientCombiner.backward`, used in place of
``loss.backward()``::

    optimizer.zero_grad()
    weights = combiner.backward([loss_1, loss_2], trunk.parameters())
    optimizer.step()

The combiner is a module: put it in the training module so that its own learnable parameters (the
log-variances of :class:`UncertaintyWeighting`) are in the optimiser and its state (GradNorm's
weights, DWA's epoch losses) is in the ``state_dict``. :func:`make_combiner` builds one by name from
:data:`COMBINERS`; :func:`min_norm_solver` is MGDA's min-norm solver on its own.

The implementations are ours, written from the papers and checked against the authors' released code
where the paper leaves a choice (CAGrad's rescaling, MGDA's gradient normalisations); LibMTL [1]_
gathers the same methods behind one interface.

References
----------
.. [1] B. Lin, Y. Zhang. "LibMTL: A Python Library for Multi-Task Learning". JMLR 24(209), 2023.
"""

from __future__ import annotations

import inspect

import math
import operator
from collections.abc import Iterable, Sequence

import numpy as np
import torch
from scipy.optimize import minimize
from torch import nn

from ..._errors import unknown_name_error

__all__ = [
    "COMBINERS",
    "DWA",
    "MGDA",
    "CAGrad",
    "EqualWeighting",
    "GradNorm",
    "GradientCombiner",
    "PCGrad",
    "UncertaintyWeighting",
    "make_combiner",
    "min_norm_solver",
]

#: guard against dividing by a zero loss / norm (a zero gradient stays zero)
_TINY = 1e-12


# --------------------------------------------------------------------------------------------------
# flattening / unflattening the gradients of a list of tensors
# --------------------------------------------------------------------------------------------------
def _flatten(tensors: Sequence[torch.Tensor | None], like: Sequence[torch.Tensor]) -> torch.Tensor:
    """Concatenate ``tensors`` (``None`` read as zeros shaped like ``like``) into one 1-D tensor."""
    return torch.cat([(torch.zeros_like(p) if t is None else t).reshape(-1) for t, p in zip(tensors, like)])


def _unflatten(vec: torch.Tensor, like: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Split a 1-D tensor into pieces shaped like ``like`` (the inverse of :func:`_flatten`)."""
    pieces, start = [], 0
    for p in like:
        pieces.append(vec[start : start + p.numel()].view_as(p))
        start += p.numel()
    return pieces


def _task_gradients(losses: Sequence[torch.Tensor], inputs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, list[bool]]:
    """Per-task gradients, flattened: a ``(T, D)`` tensor, and for each input whether any loss uses it.

    The graph is retained (the caller's final ``backward`` still needs it). An input that a loss does
    not depend on gets a zero gradient for that task instead of an error.
    """
    rows, used = [], [False] * len(inputs)
    for loss in losses:
        if loss.requires_grad:
            grads = torch.autograd.grad(loss, inputs, retain_graph=True, allow_unused=True)
        else:
            grads = (None,) * len(inputs)
        used = [u or g is not None for u, g in zip(used, grads)]
        rows.append(_flatten(grads, inputs))
    return torch.stack(rows), used


def _accumulate_after_backward(
    total: torch.Tensor, params: Sequence[torch.Tensor], used: Sequence[bool], combined: torch.Tensor
) -> None:
    """``total.backward()`` for every parameter, then give ``params`` the ``combined`` gradient instead.

    The task-specific parameters (heads) keep the ordinary gradient of ``total``; on the shared
    ``params`` the contribution of ``total`` is replaced by ``combined`` (flattened) and added to what
    their ``.grad`` held before the call. Parameters no loss depends on are left untouched.
    """
    saved = [p.grad.detach().clone() if (u and p.grad is not None) else None for p, u in zip(params, used)]
    if total.requires_grad:
        total.backward()
    for p, u, old, new in zip(params, used, saved, _unflatten(combined.detach(), params)):
        if u:
            p.grad = new.to(p.dtype).clone() if old is None else old + new.to(p.dtype)


def _last_matrix(params: Sequence[torch.Tensor]) -> torch.Tensor:
    """GradNorm's :math:`W`: the last parameter with ``ndim >= 2``, else the last parameter."""
    for p in reversed(params):
        if p.ndim >= 2:
            return p
    return params[-1]


# --------------------------------------------------------------------------------------------------
# validation helpers (one place for each message)
# --------------------------------------------------------------------------------------------------
def _check_n_tasks(owner: str, n_tasks: object, *, required: bool) -> int | None:
    if n_tasks is None and not required:
        return None
    if isinstance(n_tasks, bool) or not isinstance(n_tasks, (int, np.integer)) or n_tasks < 1:
        raise ValueError(f"{owner}: n_tasks must be a positive integer (the number of task losses), got {n_tasks!r}.")
    return int(n_tasks)


def _check_positive(owner: str, name: str, value: object, *, allow_zero: bool = False) -> float:
    ok = isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool)
    ok = ok and math.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{owner}: {name} must be a finite number {bound}, got {value!r}.")
    return float(value)


def _check_choice(owner: str, name: str, value: object, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(f"{owner}: {name} must be one of {', '.join(map(repr, choices))}; got {value!r}.")
    return str(value)


# --------------------------------------------------------------------------------------------------
# the base class
# --------------------------------------------------------------------------------------------------
class GradientCombiner(nn.Module):
    r"""Base class: turns :math:`T` task losses into the gradients of one optimiser step.

    Subclasses implement ``_combine``; :meth:`backward` validates the inputs and calls it.

    Parameters
    ----------
    n_tasks : int, optional
        Number of tasks :math:`T`. Methods with per-task state (:class:`UncertaintyWeighting`,
        :class:`GradNorm`, :class:`DWA`) require it; for the others it is optional and, when given,
        :meth:`backward` checks the number of losses against it.

    Notes
    -----
    The gradients are *accumulated* into ``.grad``, like ``loss.backward()``: zero them before the
    call. Shared parameters with ``requires_grad=False`` are ignored; a parameter that no loss
    depends on keeps its ``.grad`` unchanged (a per-task gradient it does not receive is read as
    zero).
    """

    #: whether the method keeps per-task state and so needs ``n_tasks`` at construction
    requires_n_tasks: bool = False

    def __init__(self, *, n_tasks: int | None = None):
        super().__init__()
        self.n_tasks = _check_n_tasks(type(self).__name__, n_tasks, required=self.requires_n_tasks)

    def backward(
        self,
        losses: Sequence[torch.Tensor],
        shared_params: Iterable[torch.nn.Parameter],
        *,
        representation: torch.Tensor | None = None,
        epoch: int | None = None,
    ) -> torch.Tensor:
        """Compute the gradients of one step and accumulate them into ``.grad``.

        Shared parameters get the combined gradient; a task-specific parameter (head :math:`i`) gets
        the gradient of :math:`w_i L_i`, with :math:`w_i` the method's weight for task :math:`i` (of
        :math:`L_i` itself for the gradient-surgery methods :class:`PCGrad` and :class:`CAGrad`). The
        combiner's own learnable parameters (uncertainty log-variances) get their gradient too.

        Parameters
        ----------
        losses : sequence of T scalar tensors
            One loss per task, in a fixed task order.
        shared_params : iterable of torch.nn.Parameter
            The parameters shared by all tasks (the trunk), e.g. ``trunk.parameters()``.
        representation : torch.Tensor, optional
            The shared trunk's output :math:`Z` (part of the graph); used by :class:`MGDA` for its
            upper-bound approximation, ignored by the other methods.
        epoch : int, optional
            The current epoch index (0-based); required by :class:`DWA`, ignored by the others.

        Returns
        -------
        torch.Tensor
            The detached weight vector ``(T,)`` that was applied (for the gradient-surgery methods,
            the effective weights where meaningful, else ones).

        Raises
        ------
        ValueError
            ``losses`` is empty, a loss is not a scalar, or their number is not ``n_tasks``.
        FloatingPointError
            A loss is NaN or infinite (the message names the task index).
        """
        losses = self._check_losses(losses)
        params = [p for p in shared_params if p.requires_grad]
        return self._combine(losses, params, representation=representation, epoch=epoch)

    def _combine(self, losses, params, *, representation, epoch) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    # -- helpers shared by the subclasses --------------------------------------------------------
    def _check_losses(self, losses: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        name = type(self).__name__
        losses = list(losses)
        if not losses:
            raise ValueError(f"{name}.backward: got an empty list of losses; pass one scalar loss per task.")
        if self.n_tasks is not None and len(losses) != self.n_tasks:
            raise ValueError(
                f"{name}.backward: got {len(losses)} losses but the combiner was built with n_tasks={self.n_tasks}; "
                f"pass one loss per task, or build it with n_tasks={len(losses)}."
            )
        for i, loss in enumerate(losses):
            if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
                shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
                raise ValueError(
                    f"{name}.backward: the loss of task {i} must be a scalar tensor, got {shape}; "
                    "reduce it first (e.g. .mean())."
                )
            if not bool(torch.isfinite(loss.detach()).all()):
                raise FloatingPointError(
                    f"{name}.backward: the loss of task {i} is {float(loss.detach()):g}; "
                    "check that task's inputs and targets, or lower the learning rate."
                )
        return [loss.reshape(()) for loss in losses]

    def _require_params(self, params: Sequence[torch.Tensor]) -> None:
        if not params:
            raise ValueError(
                f"{type(self).__name__}.backward: shared_params holds no parameter that requires grad; "
                "pass the trunk's parameters (e.g. trunk.parameters())."
            )

    def extra_repr(self) -> str:
        return f"n_tasks={self.n_tasks}" if self.n_tasks is not None else ""


def _weighted_backward(losses: Sequence[torch.Tensor], weights: torch.Tensor) -> None:
    """``backward`` of :math:`\\sum_i w_i L_i` (the weights are constants)."""
    total = (weights.detach() * torch.stack(losses)).sum()
    if total.requires_grad:
        total.backward()


# --------------------------------------------------------------------------------------------------
# loss weighting
# --------------------------------------------------------------------------------------------------
class EqualWeighting(GradientCombiner):
    r"""The gradient of the (fixed-)weighted sum of the task losses.

    .. math:: L = \sum_{i=1}^{T} w_i L_i, \qquad w_i = 1 \text{ by default.}

    Parameters
    ----------
    weights : sequence of float, optional
        Fixed non-negative task weights :math:`w_i`; ones when omitted (the plain sum).
    n_tasks : int, optional
        Number of tasks; defaults to ``len(weights)`` when weights are given.

    Examples
    --------
    >>> import torch
    >>> w = torch.nn.Parameter(torch.zeros(2))
    >>> losses = [(w - 1).pow(2).sum(), (w + 1).pow(2).sum()]
    >>> EqualWeighting(weights=[1.0, 3.0]).backward(losses, [w])
    tensor([1., 3.])
    >>> w.grad  # 1 * 2(w - 1) + 3 * 2(w + 1)
    tensor([4., 4.])
    """

    def __init__(self, *, weights: Sequence[float] | None = None, n_tasks: int | None = None):
        if weights is not None:
            arr = np.asarray(weights, dtype=float)
            if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr < 0):
                raise ValueError(
                    f"EqualWeighting: weights must be a non-empty 1-D sequence of finite numbers >= 0, got {weights!r}."
                )
            if n_tasks is not None and arr.size != n_tasks:
                raise ValueError(
                    f"EqualWeighting: got {arr.size} weights but n_tasks={n_tasks}; give one weight per task."
                )
            n_tasks = arr.size if n_tasks is None else n_tasks
            weights = tuple(float(v) for v in arr)
        super().__init__(n_tasks=n_tasks)
        self.weights = weights

    def _combine(self, losses, params, *, representation, epoch):
        ref = losses[0]
        if self.weights is None:
            w = torch.ones(len(losses), dtype=ref.dtype, device=ref.device)
        else:
            w = torch.tensor(self.weights, dtype=ref.dtype, device=ref.device)
        _weighted_backward(losses, w)
        return w


class UncertaintyWeighting(GradientCombiner):
    r"""Homoscedastic-uncertainty weighting (Kendall, Gal & Cipolla 2018).

    Each task has a learnable log-variance :math:`s_i = \log\sigma_i^2` (initialised at 0) and

    .. math:: L = \sum_{i=1}^{T} c_i\, e^{-s_i} L_i + \frac{s_i}{2},

    with :math:`c_i = 1/2` for a regression task and :math:`c_i = 1` for a classification task: the
    paper's :math:`\frac{1}{2\sigma^2} L + \log\sigma` and :math:`\frac{1}{\sigma^2} L + \log\sigma`
    (:math:`\log\sigma = s/2`). The model's parameters get the gradient of
    :math:`\sum_i w_i L_i` with :math:`w_i = c_i e^{-s_i}` (the returned weights), and ``log_vars``
    get

    .. math:: \frac{\partial L}{\partial s_i} = \frac12 - c_i\, e^{-s_i} L_i .

    For a fixed :math:`L_i > 0` the per-task term is strictly convex in :math:`s_i` (second derivative
    :math:`c_i e^{-s_i} L_i > 0`); setting the derivative to zero gives its minimiser

    .. math:: s_i^\star = \log(2 c_i L_i), \quad\text{i.e.}\quad \sigma_i^{2\star} = L_i
              \text{ (regression)}, \qquad \sigma_i^{2\star} = 2 L_i \text{ (classification)},

    at which the task's weight is :math:`w_i^\star = 1 / (2 L_i)`: the learnt weights divide each loss
    by (twice) its typical size. The log-variances are trained by the main optimiser (the combiner is a
    module; put it in the training module).

    Parameters
    ----------
    n_tasks : int
        Number of tasks :math:`T`.
    task_types : str or sequence of str, optional
        ``"regression"`` or ``"classification"`` per task (a single string applies to all tasks);
        default all ``"regression"`` (the :math:`\frac{1}{2\sigma^2}` form, as in LibMTL).

    Attributes
    ----------
    log_vars : torch.nn.Parameter of shape (T,)
        The log-variances :math:`s_i`.

    References
    ----------
    .. [1] A. Kendall, Y. Gal, R. Cipolla. "Multi-Task Learning Using Uncertainty to Weigh Losses for
       Scene Geometry and Semantics". CVPR 2018.

    Examples
    --------
    >>> import torch
    >>> uw = UncertaintyWeighting(2, task_types=["regression", "classification"])
    >>> w = torch.nn.Parameter(torch.zeros(1))
    >>> uw.backward([(w - 1).pow(2).sum(), (w + 1).pow(2).sum()], [w])
    tensor([0.5000, 1.0000])
    >>> uw.log_vars.grad  # 1/2 - c_i * L_i at s = 0, L = (1, 1)
    tensor([ 0.0000, -0.5000])
    """

    requires_n_tasks = True
    _TYPES = ("regression", "classification")

    def __init__(self, n_tasks: int, *, task_types: str | Sequence[str] | None = None):
        super().__init__(n_tasks=n_tasks)
        types = task_types
        if types is None:
            types = "regression"
        if isinstance(types, str):
            types = [types] * self.n_tasks
        types = list(types)
        if len(types) != self.n_tasks or any(t not in self._TYPES for t in types):
            raise ValueError(
                f"UncertaintyWeighting: task_types must be 'regression' or 'classification', or a sequence of "
                f"{self.n_tasks} of them (one per task), got {task_types!r}."
            )
        self.task_types = task_types
        self.log_vars = nn.Parameter(torch.zeros(self.n_tasks))
        self.register_buffer(
            "task_factors", torch.tensor([0.5 if t == "regression" else 1.0 for t in types]), persistent=False
        )

    def _combine(self, losses, params, *, representation, epoch):
        s = self.log_vars
        stacked = torch.stack(losses).to(s.dtype)
        weights = self.task_factors * torch.exp(-s)
        total = (weights * stacked + 0.5 * s).sum()
        total.backward()
        return weights.detach().to(losses[0].dtype)


class GradNorm(GradientCombiner):
    r"""GradNorm: learn task weights that balance the tasks' gradient norms (Chen et al. 2018).

    With task weights :math:`w_i` (initialised at 1) and :math:`W` the last shared weight tensor,

    .. math::
        G_i = \|\nabla_W\, w_i L_i\|_2, \quad \tilde L_i = \frac{L_i}{L_i(0)}, \quad
        r_i = \frac{\tilde L_i}{\frac1T \sum_j \tilde L_j}, \quad
        G_i^\star = \Big(\frac1T \sum_j G_j\Big)\, r_i^{\alpha},

    and the GradNorm loss :math:`L_{grad} = \sum_i |G_i - G_i^\star|`, where the targets
    :math:`G_i^\star` are constants. Each :meth:`backward`

    1. gives the model's parameters the gradient of :math:`\sum_i w_i L_i` with the current weights
       (the returned weights);
    2. updates the weights by one gradient step of their own,
       :math:`w_i \leftarrow w_i - \eta\, \partial L_{grad}/\partial w_i` with
       :math:`\partial L_{grad}/\partial w_i = \operatorname{sign}(G_i - G_i^\star)\,
       \|\nabla_W L_i\|_2`, and renormalises them so that :math:`\sum_i w_i = T`.

    The weights are a buffer (``task_weights``), not a parameter: they are updated inside
    :meth:`backward` with the learning rate ``lr``, never by the main optimiser. :math:`L_i(0)` are
    the losses of the first call (buffer ``initial_losses``, NaN until then).

    Parameters
    ----------
    n_tasks : int
        Number of tasks :math:`T`.
    alpha : float, default=1.5
        The asymmetry :math:`\alpha` (restoring force towards equal training rates).
    lr : float, default=0.025
        Learning rate :math:`\eta` of the weights' own gradient step (the paper's setting).

    Notes
    -----
    :math:`W` is the last element of ``shared_params`` with ``ndim >= 2`` (the last weight matrix of
    the trunk when its parameters are passed in definition order, as ``trunk.parameters()`` does);
    when no shared parameter has two dimensions, the last shared parameter. A task whose loss does not
    depend on :math:`W` has :math:`G_i = 0`. As a safeguard the updated weights are clamped at
    ``1e-8`` before renormalising (a large ``lr`` could otherwise make one negative).

    References
    ----------
    .. [1] Z. Chen, V. Badrinarayanan, C.-Y. Lee, A. Rabinovich. "GradNorm: Gradient Normalization for
       Adaptive Loss Balancing in Deep Multitask Networks". ICML 2018.
    """

    requires_n_tasks = True

    def __init__(self, n_tasks: int, *, alpha: float = 1.5, lr: float = 0.025):
        super().__init__(n_tasks=n_tasks)
        self.alpha = _check_positive("GradNorm", "alpha", alpha, allow_zero=True)
        self.lr = _check_positive("GradNorm", "lr", lr)
        self.register_buffer("task_weights", torch.ones(self.n_tasks))
        self.register_buffer("initial_losses", torch.full((self.n_tasks,), float("nan")))

    def _combine(self, losses, params, *, representation, epoch):
        self._require_params(params)
        W = _last_matrix(params)
        values = torch.stack([loss.detach() for loss in losses]).to(self.task_weights)
        if torch.isnan(self.initial_losses).any():
            self.initial_losses.copy_(values)
        weights = self.task_weights.clone()
        # ||grad_W L_i|| (one row per task); G_i = w_i * that
        norms = _task_gradients(losses, [W])[0].to(weights).norm(dim=1)
        G = weights * norms
        ratio = values / self.initial_losses.clamp_min(_TINY)
        rate = ratio / ratio.mean().clamp_min(_TINY)
        target = G.mean() * rate.pow(self.alpha)
        grad_w = torch.sign(G - target) * norms
        new = (weights - self.lr * grad_w).clamp_min(1e-8)
        self.task_weights.copy_(new * self.n_tasks / new.sum())
        w = weights.to(losses[0].dtype)
        _weighted_backward(losses, w)
        return w


class DWA(GradientCombiner):
    r"""Dynamic Weight Average (Liu, Johns & Davison 2019).

    .. math::
        w_i(t) = \frac{T \exp(r_i(t-1) / \tau)}{\sum_j \exp(r_j(t-1) / \tau)}, \qquad
        r_i(t-1) = \frac{\bar L_i(t-1)}{\bar L_i(t-2)},

    where :math:`\bar L_i(e)` is the mean loss of task :math:`i` over the steps of epoch :math:`e`
    and :math:`\tau` the temperature; :math:`w_i = 1` in the first two epochs. The combiner
    accumulates the epoch means itself from the losses passed to :meth:`backward` and detects a new
    epoch when ``epoch`` changes: the weights of epoch :math:`t` use the last two *completed* epochs
    (consecutive calls with epochs 0, 1, 2, ... as in a training loop). The state is kept in buffers
    (``state_dict``); :meth:`reset` clears it.

    Parameters
    ----------
    n_tasks : int
        Number of tasks :math:`T`.
    temperature : float, default=2.0
        The temperature :math:`\tau` (the paper's setting); larger is closer to equal weights.

    References
    ----------
    .. [1] S. Liu, E. Johns, A. J. Davison. "End-to-End Multi-Task Learning with Attention".
       CVPR 2019.
    """

    requires_n_tasks = True

    def __init__(self, n_tasks: int, *, temperature: float = 2.0):
        super().__init__(n_tasks=n_tasks)
        self.temperature = _check_positive("DWA", "temperature", temperature)
        self.register_buffer("epoch_means", torch.zeros(2, self.n_tasks, dtype=torch.float64))
        self.register_buffer("n_completed", torch.zeros((), dtype=torch.long))
        self.register_buffer("current_epoch", torch.full((), -1, dtype=torch.long))
        self.register_buffer("loss_sum", torch.zeros(self.n_tasks, dtype=torch.float64))
        self.register_buffer("loss_count", torch.zeros((), dtype=torch.long))

    def reset(self) -> None:
        """Forget the accumulated epoch losses (e.g. before training again from scratch)."""
        for name in ("epoch_means", "n_completed", "loss_sum", "loss_count"):
            getattr(self, name).zero_()
        self.current_epoch.fill_(-1)

    def current_weights(self) -> torch.Tensor:
        """The weights :math:`w(t)` of the current epoch, from the last two completed epochs."""
        if int(self.n_completed) < 2:
            return torch.ones(self.n_tasks, dtype=torch.float64, device=self.epoch_means.device)
        rate = self.epoch_means[1] / self.epoch_means[0].clamp_min(_TINY)
        return self.n_tasks * torch.softmax(rate / self.temperature, dim=0)

    def _combine(self, losses, params, *, representation, epoch):
        try:
            epoch = operator.index(epoch)
        except TypeError:
            epoch = None
        if epoch is None or epoch < 0:
            raise ValueError("DWA.backward: pass epoch=<current epoch index, 0-based int>; DWA weights tasks by "
                             "their loss ratios between the last two epochs.")
        current = int(self.current_epoch)
        if epoch < current:
            raise ValueError(
                f"DWA.backward: epoch went back from {current} to {epoch}; call reset() (or build a new DWA) "
                "before training again from the start."
            )
        if epoch > current >= 0:  # the previous epoch is complete
            means = self.loss_sum / self.loss_count.clamp_min(1)
            self.epoch_means.copy_(torch.stack([self.epoch_means[1], means]))
            self.n_completed += 1
            self.loss_sum.zero_()
            self.loss_count.zero_()
        self.current_epoch.fill_(epoch)
        values = torch.stack([loss.detach() for loss in losses]).to(self.loss_sum)
        self.loss_sum += values
        self.loss_count += 1
        w = self.current_weights().to(dtype=losses[0].dtype, device=losses[0].device)
        _weighted_backward(losses, w)
        return w


# --------------------------------------------------------------------------------------------------
# gradient surgery
# --------------------------------------------------------------------------------------------------
class PCGrad(GradientCombiner):
    r"""Projecting Conflicting Gradients (Yu et al. 2020).

    With :math:`g_i = \nabla_{\theta_{sh}} L_i` the per-task gradients on the shared parameters, each
    task's gradient is projected onto the normal plane of every other task's gradient it conflicts
    with, the others taken in random order:

    .. math::
        g_i^{PC} \leftarrow g_i^{PC} - \frac{g_i^{PC} \cdot g_j}{\|g_j\|^2}\, g_j
        \quad \text{if } g_i^{PC} \cdot g_j < 0, \qquad j \neq i,

    starting from :math:`g_i^{PC} = g_i`; the projections use the *original* :math:`g_j` (the paper's
    Algorithm 1). The shared parameters get :math:`\sum_i g_i^{PC}` (or the mean); the task-specific
    parameters get the ordinary gradient of :math:`\sum_i L_i`. Returns ones. ``n_conflicts_`` /
    ``n_steps_`` count the conflicting task pairs seen (a diagnostic: with no conflict PCGrad is the sum).

    Parameters
    ----------
    reduction : {"sum", "mean"}, default="sum"
        How the projected gradients are combined on the shared parameters.
    random_state : int, optional
        Seed of the :class:`torch.Generator` that draws the projection order (only matters for
        :math:`T > 2`); unseeded when omitted.
    n_tasks : int, optional
        Number of tasks, checked when given.

    References
    ----------
    .. [1] T. Yu, S. Kumar, A. Gupta, S. Levine, K. Hausman, C. Finn. "Gradient Surgery for
       Multi-Task Learning". NeurIPS 2020.

    Examples
    --------
    >>> import torch
    >>> w = torch.nn.Parameter(torch.zeros(2))
    >>> g1, g2 = torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 1.0])  # conflicting: g1 . g2 = -1
    >>> PCGrad().backward([w @ g1, w @ g2], [w])
    tensor([1., 1.])
    >>> w.grad  # (g1 + g2/2) + (g2 + g1)
    tensor([0.5000, 1.5000])
    """

    def __init__(self, *, reduction: str = "sum", random_state: int | None = None, n_tasks: int | None = None):
        super().__init__(n_tasks=n_tasks)
        self.reduction = _check_choice("PCGrad", "reduction", reduction, ("sum", "mean"))
        if random_state is not None and (
            isinstance(random_state, bool) or not isinstance(random_state, (int, np.integer))
        ):
            raise ValueError(f"PCGrad: random_state must be an int seed or None, got {random_state!r}.")
        self.random_state = random_state
        self._generator: torch.Generator | None = None
        #: diagnostics: steps seen, and pairs (i, j) whose gradients conflicted (g_i . g_j < 0) over all steps
        self.n_steps_ = 0
        self.n_conflicts_ = 0

    def _rng(self) -> torch.Generator:
        if self._generator is None:
            self._generator = torch.Generator()
            if self.random_state is None:
                self._generator.seed()
            else:
                self._generator.manual_seed(int(self.random_state))
        return self._generator

    def _combine(self, losses, params, *, representation, epoch):
        self._require_params(params)
        grads, used = _task_gradients(losses, params)
        T = len(losses)
        projected = grads.clone()
        sq_norms = (grads * grads).sum(dim=1)
        self.n_steps_ += 1
        self.n_conflicts_ += int(((grads @ grads.T) < 0).triu(diagonal=1).sum())
        for i in range(T):
            others = [j for j in torch.randperm(T, generator=self._rng()).tolist() if j != i]
            for j in others:
                dot = projected[i] @ grads[j]
                if dot < 0:
                    projected[i] = projected[i] - dot / sq_norms[j] * grads[j]
        combined = projected.sum(0) if self.reduction == "sum" else projected.mean(0)
        _accumulate_after_backward(torch.stack(losses).sum(), params, used, combined)
        return torch.ones(T, dtype=losses[0].dtype, device=losses[0].device)


def _cagrad_simplex_weights(gram: np.ndarray, c: float) -> np.ndarray:
    """CAGrad's inner problem on the Gram matrix: :math:`\\min_{w \\in \\Delta} w^\\top G b + \\sqrt{\\phi}
    \\sqrt{w^\\top G w}` with :math:`b = 1/T` and :math:`\\sqrt\\phi = c \\|g_0\\|`, by SLSQP.

    The Gram matrix is divided by its mean diagonal first (the minimiser does not change: both terms
    scale alike), so that SLSQP's absolute tolerance is a relative one.
    """
    T = gram.shape[0]
    scale = float(np.mean(np.diag(gram)))
    if scale <= 0:
        return np.full(T, 1.0 / T)
    A = gram / scale
    b = np.full(T, 1.0 / T)
    Ab = A @ b
    sqrt_phi = c * math.sqrt(max(float(b @ Ab), 0.0))
    eps = 1e-12

    def fun(x):
        return float(x @ Ab + sqrt_phi * math.sqrt(max(float(x @ A @ x), 0.0) + eps))

    def jac(x):
        return Ab + sqrt_phi * (A @ x) / math.sqrt(max(float(x @ A @ x), 0.0) + eps)

    res = minimize(
        fun,
        b.copy(),
        jac=jac,
        method="SLSQP",
        bounds=[(0.0, 1.0)] * T,
        constraints={"type": "eq", "fun": lambda x: x.sum() - 1.0, "jac": lambda x: np.ones_like(x)},
        options={"ftol": 1e-12, "maxiter": 500},
    )
    w = np.clip(res.x, 0.0, None)
    return w / w.sum()


class CAGrad(GradientCombiner):
    r"""Conflict-Averse Gradient descent (Liu et al. 2021).

    With :math:`g_i` the per-task gradients on the shared parameters, :math:`g_0 = \frac1T\sum_i g_i`
    the average gradient, :math:`\phi = c^2 \|g_0\|^2` and :math:`g_w = \sum_i w_i g_i`, the dual
    problem

    .. math:: \min_{w \in \Delta_T}\; g_w \cdot g_0 + \sqrt{\phi}\, \|g_w\|

    is solved on the Gram matrix :math:`G_{ij} = g_i \cdot g_j` (``scipy.optimize.minimize`` with
    SLSQP from the uniform weights, as in the authors' code, but with an analytic Jacobian and a tight
    tolerance on the Gram matrix divided by its mean diagonal), and the update direction is

    .. math:: d = g_0 + \frac{\sqrt{\phi}}{\|g_w\|}\, g_w, \qquad
              \text{shared gradient} = \frac{d}{1 + c^2} .

    The division by :math:`1 + c^2` is the authors' rescaling (``rescale=1``, the default of their
    released code [2]_), which keeps the step size comparable to plain gradient descent. The shared
    gradient equals :math:`\sum_i \omega_i g_i` with the effective weights
    :math:`\omega_i = (1/T + \sqrt{\phi} w_i / \|g_w\|) / (1 + c^2)`, which are returned. The
    task-specific parameters get the ordinary gradient of :math:`\sum_i L_i`.

    Parameters
    ----------
    c : float, default=0.4
        The radius :math:`c \ge 0` of the ball around :math:`g_0` (the authors' ``alpha``); ``c=0``
        is gradient descent on the mean loss.
    n_tasks : int, optional
        Number of tasks, checked when given.

    References
    ----------
    .. [1] B. Liu, X. Liu, X. Jin, P. Stone, Q. Liu. "Conflict-Averse Gradient Descent for
       Multi-task Learning". NeurIPS 2021.
    .. [2] https://github.com/Cranial-XIX/CAGrad (function ``cagrad``).
    """

    def __init__(self, *, c: float = 0.4, n_tasks: int | None = None):
        super().__init__(n_tasks=n_tasks)
        self.c = _check_positive("CAGrad", "c", c, allow_zero=True)

    def _combine(self, losses, params, *, representation, epoch):
        self._require_params(params)
        grads, used = _task_gradients(losses, params)
        T = len(losses)
        g64 = grads.detach().double()
        gram = (g64 @ g64.T).cpu().numpy()
        w = torch.as_tensor(_cagrad_simplex_weights(gram, self.c), dtype=torch.float64, device=grads.device)
        g0_norm = g64.mean(0).norm()
        gw_norm = (w @ g64).norm()
        lam = self.c * g0_norm / gw_norm if gw_norm > 0 else torch.zeros((), dtype=torch.float64)
        effective = (1.0 / T + lam * w) / (1.0 + self.c**2)
        combined = (effective @ g64).to(grads.dtype)
        _accumulate_after_backward(torch.stack(losses).sum(), params, used, combined)
        return effective.to(dtype=losses[0].dtype, device=losses[0].device)


# --------------------------------------------------------------------------------------------------
# MGDA
# --------------------------------------------------------------------------------------------------
def _min_norm_2(v11: float, v12: float, v22: float) -> float:
    """Weight :math:`\\gamma` of the first point in :math:`\\min_\\gamma \\|\\gamma u + (1-\\gamma) v\\|^2`."""
    denom = v11 + v22 - 2.0 * v12
    if denom <= _TINY * max(v11, v22, _TINY):  # u == v: every gamma is optimal
        return 0.5
    return float(np.clip((v22 - v12) / denom, 0.0, 1.0))


def _affine_min_norm(gram: np.ndarray, support: list[int]) -> np.ndarray:
    """Coefficients of the min-norm point of the affine hull of ``support`` (KKT system, least squares)."""
    k = len(support)
    kkt = np.zeros((k + 1, k + 1))
    kkt[:k, :k] = gram[np.ix_(support, support)]
    kkt[:k, k] = kkt[k, :k] = 1.0
    rhs = np.zeros(k + 1)
    rhs[k] = 1.0
    return np.linalg.lstsq(kkt, rhs, rcond=None)[0][:k]


def min_norm_solver(
    G: np.ndarray | torch.Tensor, *, gram: bool | None = None, max_iter: int = 250, tol: float = 1e-5
) -> np.ndarray:
    r"""The minimum-norm point of the convex hull of :math:`T` vectors (MGDA's subproblem).

    .. math:: \min_{\alpha \in \Delta_T} \Big\|\sum_{i=1}^{T} \alpha_i g_i\Big\|^2
              = \min_{\alpha \in \Delta_T} \alpha^\top G \alpha, \qquad G_{ij} = g_i \cdot g_j .

    - :math:`T = 1`: :math:`\alpha = (1)`.
    - :math:`T = 2`: the exact closed form
      :math:`\alpha_1 = \operatorname{clip}\big(\frac{(g_2 - g_1)\cdot g_2}{\|g_1 - g_2\|^2}, 0, 1\big)`,
      :math:`\alpha_2 = 1 - \alpha_1` (:math:`\alpha = (1/2, 1/2)` when :math:`g_1 = g_2`).
    - :math:`T > 2`: the Frank-Wolfe algorithm of Sener & Koltun (Algorithm 2), started, as in the
      authors' code, from the best two-task solution: at each step the vertex
      :math:`t = \arg\min_t (G\alpha)_t` and the exact two-point line search between
      :math:`\sum_i \alpha_i g_i` and :math:`g_t` (the closed form above), stopping after ``max_iter``
      steps or when :math:`\|\Delta\alpha\|_1 <` ``tol``. Then an exact finish: Wolfe's (1976)
      active-set minor and major cycles from the Frank-Wolfe iterate, which stop at a point satisfying
      the optimality conditions :math:`(G\alpha)_t \ge \alpha^\top G \alpha` for every :math:`t` (to
      :math:`10^{-12}` relative).

    Parameters
    ----------
    G : array-like of shape (T, T) or (T, D)
        The Gram matrix of the task gradients, or the gradients themselves (one row per task).
    gram : bool, optional
        Whether ``G`` is a Gram matrix. By default a square ``G`` is read as a Gram matrix and any
        other shape as gradients; pass ``gram=False`` for ``D == T`` gradients.
    max_iter : int, default=250
        Maximum number of Frank-Wolfe steps (the authors' value).
    tol : float, default=1e-5
        Frank-Wolfe stops when the L1 change of :math:`\alpha` is below ``tol`` (the authors' value).

    Returns
    -------
    numpy.ndarray of shape (T,)
        The weights :math:`\alpha` (non-negative, summing to 1), float64.

    Notes
    -----
    Frank-Wolfe alone converges only sublinearly (:math:`O(1/k)`) when the minimiser lies inside a
    face of the simplex: on random 4-task Gram matrices its objective after 250 steps can still exceed
    the optimum by :math:`10^{-2}`. The active-set finish makes the solver exact; it usually needs a
    single cycle, since Frank-Wolfe has found the right face.

    References
    ----------
    .. [1] O. Sener, V. Koltun. "Multi-Task Learning as Multi-Objective Optimization". NeurIPS 2018.
    .. [2] P. Wolfe. "Finding the nearest point in a polytope". Mathematical Programming 11, 1976.

    Examples
    --------
    >>> import numpy as np
    >>> min_norm_solver(np.array([[1.0, 0.0], [0.0, 1.0]]))  # two orthogonal unit vectors
    array([0.5, 0.5])
    >>> min_norm_solver(np.array([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])).round(6)  # as (T, D) grads
    array([0.2, 0.8, 0. ])
    """
    if isinstance(G, torch.Tensor):
        G = G.detach().cpu().double().numpy()
    G = np.asarray(G, dtype=np.float64)
    if G.ndim != 2 or G.shape[0] == 0 or not np.all(np.isfinite(G)):
        raise ValueError(
            "min_norm_solver: G must be a finite 2-D array, a (T, T) Gram matrix or (T, D) gradients, "
            f"got shape {G.shape}" + ("" if np.all(np.isfinite(G)) else " with NaN or inf") + "."
        )
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"min_norm_solver: max_iter must be a positive integer, got {max_iter!r}.")
    _check_positive("min_norm_solver", "tol", tol)
    if gram is None:
        gram = G.shape[0] == G.shape[1]
    if gram:
        if G.shape[0] != G.shape[1] or not np.allclose(G, G.T, rtol=1e-8, atol=1e-12 * max(np.abs(G).max(), 1.0)):
            raise ValueError(
                f"min_norm_solver: a Gram matrix must be square and symmetric, got shape {G.shape}"
                + (" (not symmetric)" if G.shape[0] == G.shape[1] else "")
                + "; pass gradients with gram=False, or their Gram matrix grads @ grads.T."
            )
        A = 0.5 * (G + G.T)
    else:
        A = G @ G.T
    T = A.shape[0]
    if T == 1:
        return np.ones(1)
    # best pair (exact for T == 2; the authors' Frank-Wolfe start otherwise)
    best, alpha = np.inf, None
    for i in range(T):
        for j in range(i + 1, T):
            gamma = _min_norm_2(A[i, i], A[i, j], A[j, j])
            cand = np.zeros(T)
            cand[i], cand[j] = gamma, 1.0 - gamma
            value = cand @ A @ cand
            if value < best:
                best, alpha = value, cand
    if T == 2:
        return alpha
    # Frank-Wolfe with the exact line search
    for _ in range(int(max_iter)):
        Ga = A @ alpha
        t = int(np.argmin(Ga))
        gamma = _min_norm_2(float(alpha @ Ga), float(Ga[t]), float(A[t, t]))
        new = gamma * alpha
        new[t] += 1.0 - gamma
        change = np.abs(new - alpha).sum()
        alpha = new
        if change < tol:
            break
    # exact finish: Wolfe's minor / major cycles from the Frank-Wolfe iterate
    eps = 1e-12 * max(float(np.max(np.diag(A))), _TINY)
    support = [int(i) for i in np.flatnonzero(alpha > 0)]
    for _ in range(10 * T + 50):
        while True:  # minor cycles: move to the affine minimiser, dropping points that leave the hull
            beta = _affine_min_norm(A, support)
            cur = alpha[support]
            if np.all(beta >= 0):
                alpha = np.zeros(T)
                alpha[support] = beta
                break
            neg = beta < 0
            theta = float(np.min(cur[neg] / (cur[neg] - beta[neg])))
            cur = cur + theta * (beta - cur)
            cur[cur < 1e-15] = 0.0
            alpha = np.zeros(T)
            alpha[support] = cur
            support = [s for s in support if alpha[s] > 0]
        alpha = np.clip(alpha, 0.0, None)
        alpha /= alpha.sum()
        Ga = A @ alpha
        t = int(np.argmin(Ga))
        if Ga[t] >= alpha @ Ga - eps or t in support:  # optimal (KKT), or no progress possible
            break
        support.append(t)  # major cycle: add the most improving vertex
    return alpha


class MGDA(GradientCombiner):
    r"""Multiple-gradient descent, MGDA-UB (Sener & Koltun 2018).

    The task weights are the minimum-norm element of the convex hull of the (normalised) task
    gradients,

    .. math:: \alpha = \arg\min_{\alpha \in \Delta_T} \Big\|\sum_i \alpha_i \hat g_i\Big\|^2,
              \qquad \hat g_i = g_i / n_i,

    solved by :func:`min_norm_solver`; then the gradient of :math:`\sum_i \alpha_i L_i` is
    back-propagated, so head :math:`i` gets its gradient scaled by :math:`\alpha_i` and the trunk the
    combined gradient. With ``use_representation=True`` and a ``representation`` :math:`Z` (the
    trunk's output) passed to :meth:`backward`, :math:`g_i = \nabla_Z L_i` (the paper's upper bound,
    MGDA-UB: one backward through the heads only per task); otherwise
    :math:`g_i = \nabla_{\theta_{sh}} L_i`.

    The normalisations :math:`n_i` are those of the authors' code (``gradient_normalizers``):
    ``"l2"`` :math:`\|g_i\|`, ``"loss"`` :math:`L_i`, ``"loss+"`` :math:`L_i \|g_i\|`, ``"none"``
    :math:`1`. As there, :math:`\alpha` weights the *unnormalised* losses. The ``"loss"`` forms assume
    positive losses.

    Parameters
    ----------
    normalization : {"loss+", "l2", "loss", "none"}, default="loss+"
        The gradient normalisation.
    use_representation : bool, default=True
        Use the gradients with respect to ``representation`` when it is given.
    n_tasks : int, optional
        Number of tasks, checked when given.

    References
    ----------
    .. [1] O. Sener, V. Koltun. "Multi-Task Learning as Multi-Objective Optimization". NeurIPS 2018.
       Code: https://github.com/isl-org/MultiObjectiveOptimization.
    """

    _NORMALIZATIONS = ("loss+", "l2", "loss", "none")

    def __init__(self, *, normalization: str = "loss+", use_representation: bool = True, n_tasks: int | None = None):
        super().__init__(n_tasks=n_tasks)
        self.normalization = _check_choice("MGDA", "normalization", normalization, self._NORMALIZATIONS)
        self.use_representation = bool(use_representation)

    def _combine(self, losses, params, *, representation, epoch):
        if representation is not None and self.use_representation:
            if not isinstance(representation, torch.Tensor) or not representation.requires_grad:
                raise ValueError(
                    "MGDA.backward: representation must be the trunk's output tensor, part of the graph "
                    "(requires_grad=True); pass it before any .detach(), or build MGDA(use_representation=False)."
                )
            inputs = [representation]
        else:
            self._require_params(params)
            inputs = params
        grads = _task_gradients(losses, inputs)[0].detach().double()
        if self.normalization == "none":
            scale = torch.ones(len(losses), dtype=torch.float64, device=grads.device)
        else:
            values = torch.stack([loss.detach() for loss in losses]).to(grads)
            norms = grads.norm(dim=1)
            scale = {"l2": norms, "loss": values, "loss+": values * norms}[self.normalization]
            scale = torch.where(scale.abs() > _TINY, scale, torch.ones_like(scale))
        normalised = grads / scale[:, None]
        alpha = min_norm_solver(normalised @ normalised.T, gram=True)
        w = torch.as_tensor(alpha, dtype=losses[0].dtype, device=losses[0].device)
        _weighted_backward(losses, w)
        return w


# --------------------------------------------------------------------------------------------------
# registry
# --------------------------------------------------------------------------------------------------
#: name -> combiner class
COMBINERS: dict[str, type[GradientCombiner]] = {
    "equal": EqualWeighting,
    "uncertainty": UncertaintyWeighting,
    "gradnorm": GradNorm,
    "dwa": DWA,
    "pcgrad": PCGrad,
    "cagrad": CAGrad,
    "mgda": MGDA,
}


def make_combiner(
    name_or_instance: str | GradientCombiner, n_tasks: int | None = None, *, seed: int | None = None, **kwargs
) -> GradientCombiner:
    """Build a combiner from its name in :data:`COMBINERS`, or pass an instance through.

    Parameters
    ----------
    name_or_instance : str or GradientCombiner
        A registered name (``"equal"``, ``"uncertainty"``, ``"gradnorm"``, ``"dwa"``, ``"pcgrad"``,
        ``"cagrad"``, ``"mgda"``) or a ready combiner, returned as is.
    n_tasks : int, optional
        Number of tasks; required by the methods with per-task state (uncertainty, gradnorm, dwa).
    seed : int, optional
        The default ``random_state`` of a method that draws random numbers (PCGrad's projection
        order), so that an estimator's seed makes the combiner deterministic too; an explicit
        ``random_state`` in ``kwargs`` wins.
    **kwargs
        The method's keyword hyper-parameters (only with a name).

    Returns
    -------
    GradientCombiner

    Raises
    ------
    UnknownNameError
        The name is not registered (the message lists the valid names).

    Examples
    --------
    >>> make_combiner("pcgrad", random_state=0)
    PCGrad()
    >>> make_combiner("dwa", n_tasks=3, temperature=1.0)
    DWA(n_tasks=3)
    """
    if isinstance(name_or_instance, GradientCombiner):
        if kwargs:
            raise ValueError(
                f"make_combiner: got a {type(name_or_instance).__name__} instance and keyword arguments "
                f"{sorted(kwargs)}; set them when building the instance, or pass its name instead."
            )
        if n_tasks is not None and name_or_instance.n_tasks not in (None, n_tasks):
            raise ValueError(
                f"make_combiner: the {type(name_or_instance).__name__} instance was built with "
                f"n_tasks={name_or_instance.n_tasks}, not {n_tasks}; build one for {n_tasks} tasks."
            )
        return name_or_instance
    if not isinstance(name_or_instance, str):
        raise TypeError(
            "make_combiner: expected a combiner name (one of " + ", ".join(sorted(COMBINERS))
            + f") or a GradientCombiner instance, got {type(name_or_instance).__name__}."
        )
    key = name_or_instance.lower()
    if key not in COMBINERS:
        raise unknown_name_error("gradient combiner", name_or_instance, COMBINERS)
    cls = COMBINERS[key]
    if seed is not None and "random_state" in inspect.signature(cls).parameters:
        kwargs.setdefault("random_state", int(seed))
    if cls.requires_n_tasks:
        if n_tasks is None:
            raise ValueError(f"make_combiner: {key!r} ({cls.__name__}) keeps per-task state; pass n_tasks=<number of tasks>.")
        return cls(n_tasks, **kwargs)
    return cls(n_tasks=n_tasks, **kwargs)
