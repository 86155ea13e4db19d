"""Feature reuse + clustering: cluster the target data in the feature space of a transferred encoder."""

from __future__ import annotations

import math
import os
from numbers import Integral

import numpy as np
import torch
from sklearn.base import TransformerMixin
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler, normalize
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn

from ..backbones import build_backbone, extract_features
from ..base import BaseTransferClusterer
from ..registry import register
from ..training import seeded

__all__ = ["FeatureKMeans"]


@register("feature_kmeans", setting="unsupervised", family="feature_reuse")
class FeatureKMeans(TransformerMixin, BaseTransferClusterer):
    r"""K-means on transferred features: :math:`\min_{\mu, c} \sum_i \| g(f_\theta(x_i)) - \mu_{c_i} \|^2`.

    :math:`f_\theta` is an encoder pretrained on another (source) task and frozen; :math:`g` is the
    normalisation (and optional PCA) fitted on the target rows. With ``backbone=None`` and
    ``pretrained=None``, :math:`f_\theta` is the identity: plain k-means on the raw input, the
    no-transfer baseline.

    Parameters
    ----------
    n_clusters : int, default=10
        Number of clusters.
    backbone : str, path-like, torch.nn.Module or None, default=None
        Encoder: a registered name, a module, or a pretrained checkpoint path. ``None`` with
        ``pretrained=None`` clusters the raw input; ``None`` with ``pretrained`` set rebuilds the
        architecture recorded in the checkpoint.
    pretrained : str or path-like, optional
        Checkpoint of :func:`~tltaxonomy.backbones.pretrain_backbone` whose weights the encoder loads.
    input_shape : tuple of int or None, default=(1, 28, 28)
        Shape of one input; ``X`` holds flat rows.
    normalize : {"l2", "standard", "none"}, default="l2"
        Feature scaling before clustering: unit L2 norm per row, z-score per feature, or nothing.
    n_components : int, optional
        If set, PCA to this many dimensions (after scaling) before k-means.
    n_init : int, default=10
        K-means restarts (the best inertia is kept).
    batch_size : int, default=256
        Rows per forward pass of the encoder.
    device : str, default="auto"
        Torch device.
    random_state : int or None, default=None
        Seed of the encoder initialisation (if not pretrained), PCA and k-means.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster of each training row.
    cluster_centers_ : ndarray of shape (n_clusters, n_features_clustered)
        Centres in the clustered space (the output of :meth:`transform`).
    encoder_ : torch.nn.Module or None
        The frozen encoder (``None`` for raw input).

    References
    ----------
    .. [1] Pan, Yang. "A Survey on Transfer Learning." IEEE TKDE 22(10), 2010 (unsupervised transfer).
    .. [2] Caron, Bojanowski, Joulin, Douze. "Deep Clustering for Unsupervised Learning of Visual
       Features." ECCV 2018.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 0.1, (10, 4)), rng.normal(5, 0.1, (10, 4))])
    >>> km = FeatureKMeans(n_clusters=2, input_shape=(4,), normalize="none", random_state=0).fit(X)
    >>> len(set(km.labels_[:10])), len(set(km.labels_))
    (1, 2)
    """

    _parameter_constraints = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "backbone": [str, os.PathLike, nn.Module, None],
        "pretrained": [str, os.PathLike, None],
        "input_shape": [tuple, list, None],
        "normalize": [StrOptions({"l2", "standard", "none"})],
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str, torch.device],
        "random_state": [Interval(Integral, 0, None, closed="left"), None],
    }

    def __init__(
        self,
        *,
        n_clusters: int = 10,
        backbone: str | os.PathLike | nn.Module | None = None,
        pretrained: str | os.PathLike | None = None,
        input_shape: tuple[int, ...] = (1, 28, 28),
        normalize: str = "l2",
        n_components: int | None = None,
        n_init: int = 10,
        batch_size: int = 256,
        device: str = "auto",
        random_state: int | None = None,
    ):
        self.n_clusters = n_clusters
        self.backbone = backbone
        self.pretrained = pretrained
        self.input_shape = input_shape
        self.normalize = normalize
        self.n_components = n_components
        self.n_init = n_init
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state

    def _check_X(self, X, *, reset: bool) -> np.ndarray:
        X = validate_data(self, X, reset=reset, dtype=np.float32)
        if reset:  # None = flat vectors of X's width
            self.input_shape_ = (X.shape[1],) if self.input_shape is None else tuple(self.input_shape)
        n_in = math.prod(self.input_shape_)
        if X.shape[1] != n_in:
            raise ValueError(
                f"FeatureKMeans: X has {X.shape[1]} features but input_shape={self.input_shape_} needs {n_in} "
                "(flat rows); fix input_shape or reshape X."
            )
        return X

    def _encode(self, X: np.ndarray) -> np.ndarray:
        if self.encoder_ is None:
            return X
        return extract_features(
            self.encoder_, X, input_shape=self.input_shape_, batch_size=self.batch_size, device=self.device
        )

    def _scale(self, Z: np.ndarray, *, fit: bool) -> np.ndarray:
        if self.normalize == "l2":
            Z = normalize(Z)
        elif self.normalize == "standard":
            if fit:
                self.scaler_ = StandardScaler().fit(Z)
            Z = self.scaler_.transform(Z)
        if self.n_components is not None:
            if fit:
                self.pca_ = PCA(n_components=self.n_components, random_state=self.random_state).fit(Z)
            Z = self.pca_.transform(Z)
        return Z

    def fit(self, X, y=None) -> FeatureKMeans:
        """Encode ``X``, scale the features and run k-means.

        Parameters
        ----------
        X : array-like of shape (n_samples, prod(input_shape))
            Unlabelled target rows (flat).
        y : ignored
            Not used; present for API consistency.
        """
        self._validate_params()
        X = self._check_X(X, reset=True)
        if self.n_clusters > X.shape[0]:
            raise ValueError(
                f"FeatureKMeans: n_clusters={self.n_clusters} is larger than the {X.shape[0]} rows of X; "
                "lower n_clusters or pass more rows."
            )
        if self.n_components is not None and self.n_components > X.shape[0]:
            raise ValueError(
                f"FeatureKMeans: n_components={self.n_components} is larger than the {X.shape[0]} rows of X; "
                "lower n_components or set it to None."
            )
        if self.backbone is None and self.pretrained is None:
            self.encoder_ = None
        else:
            with seeded(self.random_state):
                self.encoder_ = build_backbone(self.backbone, input_shape=self.input_shape_, pretrained=self.pretrained)
            self.encoder_.requires_grad_(False)
        Z = self._scale(self._encode(X), fit=True)
        self.kmeans_ = KMeans(n_clusters=self.n_clusters, n_init=self.n_init, random_state=self.random_state).fit(Z)
        self.labels_ = self.kmeans_.labels_
        self.cluster_centers_ = self.kmeans_.cluster_centers_
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]  # features are computed in float32
        return tags

    def transform(self, X) -> np.ndarray:
        """Features of ``X`` in the clustered space (encoded, scaled, optionally PCA-reduced)."""
        check_is_fitted(self)
        return self._scale(self._encode(self._check_X(X, reset=False)), fit=False)

    def predict(self, X) -> np.ndarray:
        """Nearest cluster centre of each row of ``X``."""
        check_is_fitted(self)
        return self.kmeans_.predict(self.transform(X))
