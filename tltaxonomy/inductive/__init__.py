"""Inductive transfer: the target task has (a few) labels.

Families: fine-tuning — :class:`LinearProbe`, :class:`FineTune` and its registered variants
(:class:`PartialFineTune`, :class:`GradualUnfreezing`, :class:`DiscriminativeFineTune`, :class:`L2SP`,
:class:`LPFT`, :class:`BSS`), the :class:`FromScratch` baseline and, for text, the
:class:`TfidfLogistic` baseline; their regularisers as plain torch
modules in :mod:`tltaxonomy.inductive.regularizers`.
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
from .text_baselines import TfidfLogistic

__all__ = [
    "BSS",
    "BatchSpectralShrinkage",
    "DiscriminativeFineTune",
    "FineTune",
    "FromScratch",
    "GradualUnfreezing",
    "L2SP",
    "LPFT",
    "LinearProbe",
    "PartialFineTune",
    "SPRegularization",
    "TfidfLogistic",
]
