r"""Deep domain adaptation building blocks: losses and modules as plain :class:`torch.nn.Module` objects.

They work on mini-batches of features ``(B, d)`` and/or logits ``(B, K)`` and return scalar losses, so
they drop into the toolkit's :class:`~tltaxonomy.training.Trainer` (inside a ``step`` function) or into
any other training loop:

- adversarial: :class:`GradientReversal` / :func:`grad_reverse`, :func:`dann_schedule`,
  :class:`DomainDiscriminator`, :class:`DomainAdversarialLoss` (DANN, Ganin & Lempitsky 2015),
  :class:`ConditionalDomainAdversarialLoss` with :class:`MultiLinearMap` /
  :class:`RandomizedMultiLinearMap` (CDAN / CDAN+E, Long et al. 2018);
- statistics alignment: :func:`gaussian_kernel_matrix`, :class:`MultipleKernelMMD` (DAN, Long et al.
  2015), :class:`CoralLoss` (Deep CORAL, Sun & Saenko 2016);
- self-training style: :class:`MinimumClassConfusionLoss` (MCC, Jin et al. 2020), :func:`entropy`.

Example — a DANN step for :class:`~tltaxonomy.training.Trainer` (``model = nn.Sequential(backbone,
head)``; a step that is an ``nn.Module`` has its parameters — here the discriminator's — optimised with
the model's)::

    import torch.nn.functional as F
    from torch import nn
    from tltaxonomy.training import Trainer
    from tltaxonomy.transductive.deep import DomainAdversarialLoss, DomainDiscriminator, dann_schedule

    class DANNStep(nn.Module):
        def __init__(self, in_features):
            super().__init__()
            self.adv = DomainAdversarialLoss(DomainDiscriminator(in_features))

        def forward(self, model, batch, state):
            (xs, ys), (xt,) = batch["source"], batch["target"]
            self.adv.coeff = dann_schedule(state.progress)
            fs, ft = model[0](xs), model[0](xt)
            loss_d, acc = self.adv(fs, ft, return_accuracy=True)
            return {"loss": F.cross_entropy(model[1](fs), ys) + loss_d, "domain_acc": acc}

    Trainer(max_epochs=20).fit(model, {"source": (Xs, ys), "target": (Xt,)}, step=DANNStep(500))

See :mod:`tltaxonomy.transductive.deep.losses` for the math and shapes of each object, and
:mod:`tltaxonomy.transductive.deep.methods` for the registered strategies built on them (``dann``,
``cdan``, ``cdan_e``, ``dan``, ``deep_coral``, ``mcc``, ``adabn``, ``mdd``, ``deep_self_training``,
``deep_source_only``).
"""

from __future__ import annotations

from . import losses, methods
from .losses import *  # noqa: F403
from .methods import *  # noqa: F403

__all__ = list(losses.__all__) + list(methods.__all__)
