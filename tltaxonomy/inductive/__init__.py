"""Inductive transfer: the target task has (a few) labels.

Families: fine-tuning — :class:`LinearProbe`, :class:`FineTune` and its registered variants
(:class:`PartialFineTune`, :class:`GradualUnfreezing`, :class:`DiscriminativeFineTune`, :class:`L2SP`,
:class:`LPFT`, :class:`BSS`), the :class:`FromScratch` baseline and, for text, the
:class:`TfidfLogistic` baseline; their regularisers as plain torch
modules in :mod:`tltaxonomy.inductive.regularizers`. Self-taught learning —
:class:`SelfTaughtClassifier` with the feature learners :class:`SparseAutoencoder` and
:class:`SparseCoding` (:mod:`tltaxonomy.inductive.self_taught`). Multi-task learning —
:class:`HardSharingMTL` and its loss weightings / gradient combiners, linear multi-task regression
(:mod:`tltaxonomy.inductive.multitask`).
"""

from .finetune import (
    BSS,
    L2SP,
    LPFT,
    DiscriminativeFineTune,
    FineTune,
    FromScratch,
    GradualUnfreezing,
    LinearProbe,
    PartialFineTune,
)
from .regularizers import BatchSpectralShrinkage, SPRegularization
from .self_taught import SelfTaughtClassifier, SparseAutoencoder, SparseCoding
from . import multitask  # noqa: F401  (registers the multi-task strategies)
from .multitask import HardSharingMTL
from .text_baselines import TfidfLogistic

__all__ = [
    "BSS",
    "BatchSpectralShrinkage",
    "DiscriminativeFineTune",
    "FineTune",
    "FromScratch",
    "GradualUnfreezing",
    "HardSharingMTL",
    "L2SP",
    "LPFT",
    "LinearProbe",
    "PartialFineTune",
    "SPRegularization",
    "SelfTaughtClassifier",
    "SparseAutoencoder",
    "SparseCoding",
    "TfidfLogistic",
]
