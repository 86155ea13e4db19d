"""Unsupervised transfer: no labels on the target task.

Families: feature reuse + clustering (:class:`FeatureKMeans`).
"""

from .feature_clustering import FeatureKMeans

__all__ = ["FeatureKMeans"]
