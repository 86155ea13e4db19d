"""Inductive transfer: the target task has (a few) labels.

Families: fine-tuning (:class:`LinearProbe`, :class:`FineTune`, :class:`FromScratch` baseline).
"""

from .finetune import FineTune, FromScratch, LinearProbe

__all__ = ["FineTune", "FromScratch", "LinearProbe"]
