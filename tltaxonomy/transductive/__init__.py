"""Transductive transfer (domain adaptation): labelled source, unlabelled target.

Families: ``baseline`` (:class:`SourceOnly`), ``statistics`` (:class:`CORAL`), ``subspace`` (SA, GFK,
TCA, JDA, BDA, PCA), ``reweighting`` (KMM, KLIEP, discriminator density ratio), ``optimal_transport``
(OT mapping, class-regularised OT, JDOT), ``label_assignment`` (EasyTL), ``self_training``,
``feature_learning`` (mSDA), and the deep (torch) methods of :mod:`tltaxonomy.transductive.deep`
(DANN, CDAN(+E), DAN, Deep CORAL, MCC, AdaBN, MDD, deep self-training, deep source only) with their
losses as plain ``nn.Module`` objects.
"""

from . import deep, easytl, mmd_embedding, msda, ot, reweighting, self_training, subspace
from .coral import CORAL, coral_transform_matrix
from .deep.methods import *  # noqa: F403
from .easytl import *  # noqa: F403
from .mmd_embedding import *  # noqa: F403
from .msda import *  # noqa: F403
from .ot import *  # noqa: F403
from .reweighting import *  # noqa: F403
from .self_training import *  # noqa: F403
from .source_only import SourceOnly
from .subspace import *  # noqa: F403

__all__ = (
    ["CORAL", "SourceOnly", "coral_transform_matrix"]
    + subspace.__all__
    + reweighting.__all__
    + self_training.__all__
    + ot.__all__
    + easytl.__all__
    + mmd_embedding.__all__
    + msda.__all__
    + deep.methods.__all__
)
