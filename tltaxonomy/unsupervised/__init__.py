"""Unsupervised transfer: no labels on the target task.

Families: feature reuse + clustering (:class:`FeatureKMeans`); self-taught clustering
(:class:`SelfTaughtClustering`, Dai et al. 2008) and its target-only baseline
(:class:`InformationTheoreticCoClustering`, Dhillon et al. 2003).
"""

from .coclustering import InformationTheoreticCoClustering, SelfTaughtClustering, coclustering_loss
from .feature_clustering import FeatureKMeans

__all__ = ["FeatureKMeans", "InformationTheoreticCoClustering", "SelfTaughtClustering", "coclustering_loss"]
