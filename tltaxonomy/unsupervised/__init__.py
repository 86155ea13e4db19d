"""Unsupervised transfer: no labels on the target task.

Families: feature reuse + clustering (:class:`FeatureClustering`, and its k-means special case
:class:`FeatureKMeans`); self-taught clustering (:class:`SelfTaughtClustering`, Dai et al. 2008) and its
target-only baseline (:class:`InformationTheoreticCoClustering`, Dhillon et al. 2003); deep clustering
(:class:`DEC`, Xie et al. 2016) from a transferred encoder or an :class:`Autoencoder`. Hyper-parameters
are chosen without labels by :class:`UnsupervisedSearch` (silhouette and other internal criteria).
"""

from .autoencoder import Autoencoder
from .coclustering import InformationTheoreticCoClustering, SelfTaughtClustering, coclustering_loss
from .dec import DEC, dec_loss, soft_assignment, target_distribution
from .feature_clustering import CLUSTERERS, REPRESENTATIONS, FeatureClustering, FeatureKMeans, make_representation
from .selection import CRITERIA, UnsupervisedSearch, internal_score

__all__ = [
    "Autoencoder",
    "CLUSTERERS",
    "CRITERIA",
    "DEC",
    "FeatureClustering",
    "FeatureKMeans",
    "InformationTheoreticCoClustering",
    "REPRESENTATIONS",
    "SelfTaughtClustering",
    "UnsupervisedSearch",
    "coclustering_loss",
    "dec_loss",
    "internal_score",
    "make_representation",
    "soft_assignment",
    "target_distribution",
]
