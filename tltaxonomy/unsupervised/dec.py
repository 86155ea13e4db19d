r"""Deep Embedded Clustering (DEC; Xie, Girshick & Farhadi 2016), initialised from a transferred encoder.

DEC clusters the target rows in the embedding :math:`z_i = f_\theta(x_i)` of an encoder, and then
refines the encoder *and* the cluster centres :math:`\mu_j` together by self-training on its own
most confident assignments:

1. soft assignments by a Student's t kernel (:func:`soft_assignment`),

   .. math:: q_{ij} = \frac{(1 + \|z_i - \mu_j\|^2 / \alpha)^{-\frac{\alpha + 1}{2}}}
                           {\sum_{j'} (1 + \|z_i - \mu_{j'}\|^2 / \alpha)^{-\frac{\alpha + 1}{2}}};

2. a sharper auxiliary target that also normalises by the cluster frequencies
   :math:`f_j = \sum_i q_{ij}` (:func:`target_distribution`),

   .. math:: p_{ij} = \frac{q_{ij}^2 / f_j}{\sum_{j'} q_{ij'}^2 / f_{j'}};

3. the loss :math:`L = \mathrm{KL}(P \,\|\, Q) = \sum_i \sum_j p_{ij} \log \frac{p_{ij}}{q_{ij}}`
   (:func:`dec_loss`), minimised over :math:`\theta` and :math:`\mu` by SGD with :math:`P` held fixed
   and recomputed on all rows every ``update_interval`` iterations.

The transfer is in the encoder it starts from: a backbone pretrained on a labelled source task
(LeNet on MNIST labels, to cluster USPS), or an :class:`~tltaxonomy.unsupervised.autoencoder.Autoencoder`
trained on unlabelled auxiliary rows of another distribution; an autoencoder trained on the target
rows themselves is Xie et al.'s own (no-transfer) setting.

References
----------
J. Xie, R. Girshick, A. Farhadi. Unsupervised Deep Embedding for Clustering Analysis. ICML 2016.
X. Guo, L. Gao, X. Liu, J. Yin. Improved Deep Embedded Clustering with Local Structure Preservation.
IJCAI 2017.
"""

from __future__ import annotations

import copy
import math
import os
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import TransformerMixin
from sklearn.cluster import KMeans
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ..backbones import build_backbone
from ..backbones.inputs import BackboneInputMixin
from ..base import BaseTransferClusterer, check_input
from ..registry import register
from ..training import Trainer, TrainState, resolve_device, seeded
from .autoencoder import Autoencoder

__all__ = ["DEC", "dec_loss", "soft_assignment", "target_distribution"]


def soft_assignment(z: torch.Tensor, centers: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    r"""Student's t soft assignment of each embedded point to each centre (Xie et al. 2016, eq. 1).

    .. math:: q_{ij} = \frac{(1 + \|z_i - \mu_j\|^2 / \alpha)^{-\frac{\alpha + 1}{2}}}
                            {\sum_{j'} (1 + \|z_i - \mu_{j'}\|^2 / \alpha)^{-\frac{\alpha + 1}{2}}}

    Parameters
    ----------
    z : torch.Tensor of shape (n, d)
        Embedded points :math:`z_i`.
    centers : torch.Tensor of shape (k, d)
        Cluster centres :math:`\mu_j`.
    alpha : float, default=1.0
        Degrees of freedom :math:`\alpha > 0` of the t distribution (1 in the paper).

    Returns
    -------
    torch.Tensor of shape (n, k)
        :math:`Q`; each row sums to 1. Differentiable in ``z`` and ``centers``.

    Examples
    --------
    >>> import torch
    >>> q = soft_assignment(torch.tensor([[0.0, 0.0]]), torch.tensor([[0.0, 0.0], [1.0, 0.0]]))
    >>> q  # kernels 1 and 1/2, normalised
    tensor([[0.6667, 0.3333]])
    """
    if z.ndim != 2 or centers.ndim != 2 or z.shape[1] != centers.shape[1]:
        raise ValueError(
            f"soft_assignment: z must be (n, d) and centers (k, d) with the same d; got z {tuple(z.shape)} and "
            f"centers {tuple(centers.shape)}."
        )
    if not alpha > 0:
        raise ValueError(f"soft_assignment: alpha={alpha} must be > 0 (the degrees of freedom of the t kernel; 1 in DEC).")
    dist2 = (z.unsqueeze(1) - centers.unsqueeze(0)).pow(2).sum(dim=2)
    kernel = (1.0 + dist2 / alpha).pow(-(alpha + 1.0) / 2.0)
    return kernel / kernel.sum(dim=1, keepdim=True)


def target_distribution(q: torch.Tensor) -> torch.Tensor:
    r"""DEC's auxiliary target distribution (Xie et al. 2016, eq. 3): :math:`Q` squared and normalised
    by the soft cluster frequencies.

    .. math:: p_{ij} = \frac{q_{ij}^2 / f_j}{\sum_{j'} q_{ij'}^2 / f_{j'}}, \qquad f_j = \sum_i q_{ij}

    Squaring sharpens each row (more weight on confident assignments); dividing by :math:`f_j` keeps
    large clusters from taking over.

    Parameters
    ----------
    q : torch.Tensor of shape (n, k)
        Soft assignments of **all** the rows (the frequencies :math:`f_j` are sums over rows).

    Returns
    -------
    torch.Tensor of shape (n, k)
        :math:`P`; each row sums to 1.

    Examples
    --------
    >>> import torch
    >>> target_distribution(torch.tensor([[0.5, 0.5], [0.75, 0.25]]))  # f = (1.25, 0.75)
    tensor([[0.3750, 0.6250],
            [0.8438, 0.1563]])
    """
    if q.ndim != 2:
        raise ValueError(f"target_distribution: q must be (n, k) soft assignments, got shape {tuple(q.shape)}.")
    weight = q.pow(2) / q.sum(dim=0, keepdim=True)
    return weight / weight.sum(dim=1, keepdim=True)


def dec_loss(q: torch.Tensor, p: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    r"""DEC's clustering loss, the Kullback-Leibler divergence of :math:`Q` from the target :math:`P`
    (Xie et al. 2016, eq. 2).

    .. math:: \mathrm{KL}(P \,\|\, Q) = \sum_i \sum_j p_{ij} \log \frac{p_{ij}}{q_{ij}}

    with :math:`0 \log 0 = 0`. The paper sums over the rows :math:`i`; ``reduction="mean"`` (the
    default, what :class:`DEC` trains with) divides by the number of rows, so the gradient scale does
    not depend on the batch size, as in the common re-implementations (Keras' ``KLDivergence`` with
    batch averaging).

    Parameters
    ----------
    q : torch.Tensor of shape (n, k)
        Soft assignments (each row sums to 1, entries > 0); the gradient flows through it.
    p : torch.Tensor of shape (n, k)
        Target distribution, treated as a constant (detach it; DEC holds it fixed between updates).
    reduction : {"mean", "sum"}, default="mean"
        Average or sum over the rows.

    Returns
    -------
    torch.Tensor
        A scalar.

    Examples
    --------
    >>> import torch
    >>> q = torch.tensor([[0.5, 0.5]]); p = torch.tensor([[1.0, 0.0]])
    >>> dec_loss(q, p)  # log 2
    tensor(0.6931)
    """
    if q.shape != p.shape or q.ndim != 2:
        raise ValueError(f"dec_loss: q and p must be (n, k) of the same shape; got q {tuple(q.shape)} and p {tuple(p.shape)}.")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"dec_loss: reduction={reduction!r} is not supported; use 'mean' (over rows) or 'sum' (the paper's).")
    per_row = (torch.xlogy(p, p) - p * torch.log(q)).sum(dim=1)
    return per_row.mean() if reduction == "mean" else per_row.sum()


class _Embedding(nn.Module):
    """Flat rows → ``encoder(rows reshaped to input_shape)`` flattened: the embedding :math:`f_\\theta`.

    Always deterministic: ``train()`` leaves the encoder in eval mode (dropout off, batch-norm
    statistics frozen), so that the targets :math:`P` (computed in eval mode) and the trained
    :math:`Q` come from the same function; Xie et al. likewise drop the corruption in the DEC phase.
    """

    def __init__(self, encoder: nn.Module, input_shape: tuple[int, ...]):
        super().__init__()
        self.encoder = encoder
        self.input_shape = tuple(int(v) for v in input_shape)

    def train(self, mode: bool = True) -> _Embedding:
        super().train(mode)
        self.encoder.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.reshape(x.shape[0], *self.input_shape)).flatten(1)


class _DECStep(nn.Module):
    """The trainer's step: :func:`dec_loss` of a batch against its rows of the fixed target :math:`P`.

    Being a module, its parameters (the centres) are optimised with the encoder's.
    """

    def __init__(self, centers: torch.Tensor, target: torch.Tensor, alpha: float):
        super().__init__()
        self.centers = nn.Parameter(centers.clone())
        self.register_buffer("target", target.clone())
        self.alpha = float(alpha)
        self.losses: list[float] = []  # the loss of each iteration since the last update of P

    def forward(self, model: nn.Module, batch, state: TrainState) -> torch.Tensor:
        x, rows = batch
        loss = dec_loss(soft_assignment(model(x), self.centers, self.alpha), self.target[rows])
        self.losses.append(float(loss.detach()))
        return loss


class _Converged(Exception):
    """Raised between two updates of the target to end training: fewer than ``tol`` labels changed."""


#: parameters that only one value of ``init`` reads, with their unset values
_INIT_ONLY = {
    "pretrained": {"autoencoder_data": "target", "autoencoder_kwargs": None},
    "autoencoder": {"backbone": None, "pretrained": None, "backbone_kwargs": None},
}


def _is_set(value, unset) -> bool:
    if unset is None:
        return value is not None and not (isinstance(value, dict) and not value)  # {} = no kwargs
    return value != unset


@register("dec", setting="unsupervised", family="deep_clustering")
class DEC(TransformerMixin, BackboneInputMixin, BaseTransferClusterer):
    r"""Deep Embedded Clustering (Xie et al. 2016) from a pretrained backbone or an autoencoder.

    With :math:`z_i = f_\theta(x_i)` the embedding of target row :math:`i` and :math:`\mu_j` the centres,
    DEC minimises

    .. math:: L(\theta, \mu) = \frac{1}{n} \sum_{i=1}^{n} \sum_{j=1}^{k} p_{ij} \log \frac{p_{ij}}{q_{ij}},

    :math:`q_{ij}` the Student's t soft assignment of :math:`z_i` to :math:`\mu_j` (:func:`soft_assignment`)
    and :math:`P` the sharpened target (:func:`target_distribution`), held fixed and recomputed from
    :math:`Q` on all the rows every ``update_interval`` iterations (encoder in eval mode: no dropout,
    batch-norm running statistics). The centres start from k-means with ``n_init`` restarts on the
    initial embedding (its labels are ``init_labels_``: "feature reuse + k-means" of the same encoder),
    then :math:`\theta` and :math:`\mu` are trained together by SGD with momentum (mini-batches of rows,
    the loss averaged over the batch) through the toolkit's :class:`~tltaxonomy.training.Trainer`.
    Training stops when fewer than a fraction ``tol`` of the rows changed cluster between two target
    updates (the paper's criterion), or after ``max_iter`` iterations.

    Where :math:`f_\theta` comes from (``init``):

    - ``"pretrained"`` — a backbone (``backbone`` / ``pretrained``), e.g. LeNet's 500-d penultimate
      layer pretrained on MNIST labels to cluster USPS; the whole backbone is fine-tuned.
    - ``"autoencoder"`` — the encoder of an :class:`~tltaxonomy.unsupervised.autoencoder.Autoencoder`
      (:math:`d`-500-500-2000-10) trained first, on the target rows (``autoencoder_data="target"``,
      Xie et al.'s setting, no transfer) or on unlabelled auxiliary rows of another distribution
      passed as ``X_auxiliary`` (``"auxiliary"``; e.g. MNIST images to cluster USPS: a representation
      transferred without labels). In ``tltax run`` the unsupervised protocol passes the task's
      source rows, never their labels.

    Parameters
    ----------
    n_clusters : int, default=10
        Number of clusters :math:`k`.
    init : {"autoencoder", "pretrained"}, default="autoencoder"
        Where the encoder comes from (above).
    backbone : str, path-like, torch.nn.Module or None, default=None
        With ``init="pretrained"``: a registered name (``"lenet"``, ``"mlp"``), a module (copied), or a
        checkpoint path; ``None`` with ``pretrained`` set rebuilds the architecture recorded in the
        checkpoint.
    pretrained : str or path-like, optional
        With ``init="pretrained"``: a checkpoint of :func:`~tltaxonomy.backbones.pretrain_backbone`
        whose weights the encoder starts from (without it a named backbone starts at random).
    backbone_kwargs : dict, optional
        With ``init="pretrained"``: constructor arguments of a named backbone (e.g. ``{"hidden": [64]}``).
    input_shape : tuple of int or None, default=None
        Shape of one input; ``X`` holds flat rows. ``None`` = flat rows as wide as ``X`` (the
        autoencoder, an MLP backbone); ``(1, 28, 28)`` for LeNet on digits.
    autoencoder_data : {"target", "auxiliary"}, default="target"
        With ``init="autoencoder"``: the rows the autoencoder is trained on (``"auxiliary"`` =
        ``X_auxiliary``).
    autoencoder_kwargs : dict, optional
        With ``init="autoencoder"``: parameters of the :class:`Autoencoder` (``n_components``,
        ``hidden_dims``, ``max_epochs``, ``noise``, ...); its ``device`` and ``random_state`` default
        to DEC's.
    alpha : float, default=1.0
        Degrees of freedom of the Student's t kernel (1 in the paper).
    n_init : int, default=20
        K-means restarts for the initial centres (20 in the paper).
    update_interval : int or None, default=None
        SGD iterations between two updates of :math:`P` (and convergence tests). ``None`` = one pass
        over the rows, :math:`\lceil n / \text{batch\_size} \rceil` (29 on USPS; the Keras DEC uses 30
        for USPS and 140 for MNIST).
    tol : float, default=0.001
        Stop when fewer than this fraction of the rows changed cluster between two updates of
        :math:`P` (0.1% in the paper); ``0`` = always run ``max_iter`` iterations.
    max_iter : int, default=2000
        Maximum SGD iterations (run in whole update intervals, so up to ``update_interval - 1`` more).
        The Keras DEC allows 20 000; on USPS the ``tol`` criterion stops DEC after about 1 100, and the
        default bounds one run (autoencoder included, about 2.5 minutes of one CPU thread on USPS).
    batch_size : int, default=256
        Rows per mini-batch (256 in the paper).
    lr : float, default=0.01
        SGD learning rate (0.01 in the paper).
    momentum : float, default=0.9
        SGD momentum (0.9 in the paper).
    device : str, default="auto"
        Torch device (see :func:`~tltaxonomy.training.resolve_device`).
    random_state : int or None, default=None
        Seed of the autoencoder / backbone initialisation, k-means and the shuffling; the same seed
        gives the same clusters on the CPU.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster of each training row, :math:`\arg\max_j q_{ij}` at the end.
    cluster_centers_ : ndarray of shape (n_clusters, n_embedding)
        The centres :math:`\mu_j` in the embedding space.
    encoder_ : torch.nn.Module
        The fine-tuned embedding :math:`f_\theta`: float32 flat rows ``(n, n_features_in_)`` to ``(n, d)``.
    init_labels_ : ndarray of shape (n_samples,)
        K-means clusters of the initial embedding (before DEC's training).
    autoencoder_ : Autoencoder or None
        The autoencoder the encoder started from (``init="autoencoder"``); it is not changed by DEC.
    n_iter_ : int
        SGD iterations run.
    delta_label_ : list of float
        Fraction of the rows that changed cluster at each update of :math:`P` (the first against
        ``init_labels_``).
    converged_ : bool
        Whether the ``tol`` criterion stopped training (rather than ``max_iter``).
    loss_curve_ : list of float
        Mean loss of the iterations of each update interval.

    References
    ----------
    .. [1] J. Xie, R. Girshick, A. Farhadi. "Unsupervised Deep Embedding for Clustering Analysis."
       ICML 2016.
    .. [2] X. Guo, L. Gao, X. Liu, J. Yin. "Improved Deep Embedded Clustering with Local Structure
       Preservation." IJCAI 2017 (and their Keras DEC, github.com/XifengGuo/DEC-keras).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(c, 0.3, (30, 5)) for c in (0.0, 4.0)])
    >>> dec = DEC(n_clusters=2, autoencoder_kwargs={"hidden_dims": (16,), "n_components": 2, "max_epochs": 20},
    ...           max_iter=20, device="cpu", random_state=0)
    >>> labels = dec.fit_predict(X)
    >>> len(set(labels[:30])), len(set(labels))
    (1, 2)
    >>> dec.transform(X).shape  # soft assignments q
    (60, 2)
    """

    _parameter_constraints = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "init": [StrOptions({"pretrained", "autoencoder"})],
        "backbone": [str, os.PathLike, nn.Module, None],
        "pretrained": [str, os.PathLike, None],
        "backbone_kwargs": [dict, None],
        "input_shape": [tuple, list, None],
        "autoencoder_data": [StrOptions({"target", "auxiliary"})],
        "autoencoder_kwargs": [dict, None],
        "alpha": [Interval(Real, 0, None, closed="neither")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "update_interval": [Interval(Integral, 1, None, closed="left"), None],
        "tol": [Interval(Real, 0, 1, closed="both")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "device": [str, torch.device],
        "random_state": [Interval(Integral, 0, None, closed="left"), None],
    }

    def __init__(
        self,
        *,
        n_clusters: int = 10,
        init: str = "autoencoder",
        backbone: str | os.PathLike | nn.Module | None = None,
        pretrained: str | os.PathLike | None = None,
        backbone_kwargs: dict | None = None,
        input_shape: tuple[int, ...] | None = None,
        autoencoder_data: str = "target",
        autoencoder_kwargs: dict | None = None,
        alpha: float = 1.0,
        n_init: int = 20,
        update_interval: int | None = None,
        tol: float = 1e-3,
        max_iter: int = 2000,
        batch_size: int = 256,
        lr: float = 0.01,
        momentum: float = 0.9,
        device: str = "auto",
        random_state: int | None = None,
    ):
        self.n_clusters = n_clusters
        self.init = init
        self.backbone = backbone
        self.pretrained = pretrained
        self.backbone_kwargs = backbone_kwargs
        self.input_shape = input_shape
        self.autoencoder_data = autoencoder_data
        self.autoencoder_kwargs = autoencoder_kwargs
        self.alpha = alpha
        self.n_init = n_init
        self.update_interval = update_interval
        self.tol = tol
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.lr = lr
        self.momentum = momentum
        self.device = device
        self.random_state = random_state

    # -- the unsupervised protocol passes the source rows as X_auxiliary only when they are used --
    @property
    def _uses_unlabelled(self) -> bool:
        return self.init == "autoencoder" and self.autoencoder_data == "auxiliary"

    def _check_init(self, X_auxiliary) -> None:
        name = type(self).__name__
        unused = [k for k, unset in _INIT_ONLY[self.init].items() if _is_set(getattr(self, k), unset)]
        if unused:
            other = "autoencoder" if self.init == "pretrained" else "pretrained"
            given = ", ".join(f"{k}={getattr(self, k)!r}" for k in unused)
            raise ValueError(
                f"{name}: init={self.init!r} does not use {given}; leave "
                f"{', '.join(f'{k}={_INIT_ONLY[self.init][k]!r}' for k in unused)} (the defaults), or set init={other!r}."
            )
        if self.init == "pretrained" and self.backbone is None and self.pretrained is None:
            raise ValueError(
                f"{name}: init='pretrained' needs an encoder; pass backbone (a registered name such as 'lenet', a "
                "module or a checkpoint path) and/or pretrained (a checkpoint of pretrain_backbone), or set "
                "init='autoencoder' to learn one."
            )
        if self._uses_unlabelled and X_auxiliary is None:
            raise ValueError(
                f"{name}: autoencoder_data='auxiliary' trains the autoencoder on X_auxiliary, but none was given; pass "
                "X_auxiliary=... (unlabelled rows of the same input space) or set autoencoder_data='target'."
            )
        if self.autoencoder_kwargs:
            known = set(Autoencoder().get_params())
            bad = sorted(set(self.autoencoder_kwargs) - known)
            if bad:
                raise ValueError(f"{name}: autoencoder_kwargs has unknown keys {bad}; the Autoencoder takes {sorted(known)}.")

    def _build_encoder(self, X: np.ndarray, X_auxiliary) -> nn.Module:
        if self.init == "pretrained":
            self.autoencoder_ = None
            with seeded(self.random_state):
                encoder = build_backbone(
                    self.backbone, input_shape=self.input_shape_, pretrained=self.pretrained,
                    backbone_kwargs=self.backbone_kwargs,
                )
            return _Embedding(encoder.requires_grad_(True), self.input_shape_)
        rows = X
        if self._uses_unlabelled:
            rows = check_input(self, X_auxiliary, what="X_auxiliary", reset=False, dtype=np.float32)
        params = {"device": self.device, "random_state": self.random_state, **(self.autoencoder_kwargs or {})}
        self.autoencoder_ = Autoencoder(**params).fit(rows)
        return _Embedding(copy.deepcopy(self.autoencoder_.encoder_), (X.shape[1],))

    def _rows(self, model: nn.Module, X: torch.Tensor, device, fn=None) -> torch.Tensor:
        """``fn(model(batch))`` over all the rows ``X`` in batches (eval mode, no gradient), on the CPU."""
        model.eval()
        bs = max(int(self.batch_size), 256)
        out = []
        with torch.no_grad():
            for start in range(0, X.shape[0], bs):
                z = model(X[start : start + bs].to(device))
                out.append((z if fn is None else fn(z)).cpu())
        return torch.cat(out)

    def _soft_assign(self, model: nn.Module, centers: torch.Tensor, X: torch.Tensor, device) -> torch.Tensor:
        """:math:`Q` of all the rows ``X``, on the CPU."""
        return self._rows(model, X, device, lambda z: soft_assignment(z, centers, self.alpha))

    def fit(self, X, y=None, *, X_auxiliary=None) -> DEC:
        """Build or learn the encoder, initialise the centres by k-means, then train DEC.

        Parameters
        ----------
        X : array-like of shape (n_samples, prod(input_shape))
            Unlabelled target rows (flat).
        y : ignored
            Not used; present for API consistency.
        X_auxiliary : array-like of shape (n_auxiliary, prod(input_shape)), optional
            Unlabelled rows of another distribution in the same input space; required when
            ``init="autoencoder"`` and ``autoencoder_data="auxiliary"``, ignored otherwise.

        Returns
        -------
        self
        """
        self._validate_params()
        self._check_init(X_auxiliary)
        X = self._check_X(X, reset=True)
        if X_auxiliary is not None and not self._uses_unlabelled:  # not used, but it must share X's input space
            check_input(self, X_auxiliary, what="X_auxiliary", reset=False, dtype=np.float32)
        n = X.shape[0]
        if self.n_clusters > n:
            raise ValueError(
                f"{type(self).__name__}: n_clusters={self.n_clusters} is larger than the {n} rows of X; lower n_clusters "
                "or pass more rows."
            )
        device = resolve_device(self.device)
        model = self._build_encoder(X, X_auxiliary).to(device)
        X_t = torch.from_numpy(np.ascontiguousarray(X))
        rows = torch.arange(n)

        # initial centres: k-means on the embedding
        Z = self._rows(model, X_t, device).numpy()
        kmeans = KMeans(n_clusters=self.n_clusters, n_init=self.n_init, random_state=self.random_state).fit(Z)
        self.init_labels_ = kmeans.labels_.astype(np.int64)
        centers = torch.as_tensor(kmeans.cluster_centers_, dtype=torch.float32)
        q = self._soft_assign(model, centers.to(device), X_t, device)
        step = _DECStep(centers, target_distribution(q), self.alpha)

        # training through the one loop: each trainer "epoch" is one round of `interval` SGD iterations;
        # after it, P is recomputed on all rows and the convergence test may end the run (_Converged)
        interval = int(self.update_interval) if self.update_interval is not None else math.ceil(n / self.batch_size)
        rounds = max(1, math.ceil(self.max_iter / interval))
        state = {"labels": self.init_labels_, "delta": [], "rounds": 0, "losses": []}

        def update_target(model: nn.Module, epoch: int) -> None:
            q = self._soft_assign(model, step.centers.detach(), X_t, device)
            labels = q.argmax(dim=1).numpy()
            delta = float(np.mean(labels != state["labels"]))
            state["labels"], state["rounds"] = labels, epoch
            state["delta"].append(delta)
            state["losses"].append(float(np.mean(step.losses)))
            step.losses.clear()
            step.target.copy_(target_distribution(q).to(step.target.device))
            if delta < self.tol:
                raise _Converged

        trainer = Trainer(
            max_epochs=rounds, batch_size=self.batch_size, lr=self.lr, optimizer="sgd", momentum=self.momentum,
            device=self.device, seed=self.random_state,
            steps_per_epoch=None if self.update_interval is None else interval,
        )
        self.converged_ = False
        try:
            trainer.fit(model, (X_t, rows), step=step, on_epoch_end=update_target)
        except _Converged:
            self.converged_ = True
        model.eval()
        self.encoder_ = model
        self.cluster_centers_ = step.centers.detach().cpu().numpy()
        self.n_iter_ = state["rounds"] * interval
        self.delta_label_ = state["delta"]
        self.loss_curve_ = state["losses"]
        self.labels_ = self._predict_rows(X)
        return self

    def fit_predict(self, X, y=None, *, X_auxiliary=None) -> np.ndarray:
        """:meth:`fit`, then the clusters ``labels_`` of the target rows."""
        return self.fit(X, y, X_auxiliary=X_auxiliary).labels_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]  # torch computes in float32
        return tags

    def _q(self, X: np.ndarray) -> torch.Tensor:
        device = resolve_device(self.device)
        self.encoder_.to(device)
        centers = torch.as_tensor(self.cluster_centers_).to(device)
        return self._soft_assign(self.encoder_, centers, torch.from_numpy(np.ascontiguousarray(X)), device)

    def _predict_rows(self, X: np.ndarray) -> np.ndarray:
        return self._q(X).argmax(dim=1).numpy().astype(np.int64)

    def transform(self, X) -> np.ndarray:
        """Soft assignments :math:`q_{ij}` of the rows of ``X``, float32 of shape (n_samples, n_clusters)."""
        check_is_fitted(self)
        return self._q(self._check_X(X, reset=False)).numpy()

    def predict(self, X) -> np.ndarray:
        """Most probable cluster :math:`\\arg\\max_j q_{ij}` of each row of ``X``."""
        check_is_fitted(self)
        return self._predict_rows(self._check_X(X, reset=False))

    def embed(self, X) -> np.ndarray:
        """The embedding :math:`z = f_\\theta(x)` of the rows of ``X``, float32 of shape (n_samples, n_embedding)."""
        check_is_fitted(self)
        X = torch.from_numpy(np.ascontiguousarray(self._check_X(X, reset=False)))
        device = resolve_device(self.device)
        return self._rows(self.encoder_.to(device), X, device).numpy()
