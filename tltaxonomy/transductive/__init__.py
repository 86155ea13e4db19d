"""Transductive transfer (domain adaptation): labelled source, unlabelled target.

Families: ``baseline`` (:class:`SourceOnly`), ``statistics`` (:class:`CORAL`).
"""

from .coral import CORAL, coral_transform_matrix
from .source_only import SourceOnly

__all__ = ["CORAL", "SourceOnly", "coral_transform_matrix"]
