r"""Feature reuse + clustering: cluster the target rows in a representation learned elsewhere.

The pipeline of :class:`FeatureClustering`, each step a parameter:

1. **encoder** :math:`f_\theta` — a frozen backbone pretrained on another task (LeNet on MNIST labels,
   EfficientNet-Lite0 on ImageNet, the MiniLM sentence encoder), or the identity;
2. **representation** :math:`h` — a representation learned *without labels*: PCA, TF-IDF + LSA (text),
   sparse coding, a sparse autoencoder or a deep autoencoder, fitted on the target rows or on auxiliary
   unlabelled rows of another distribution (self-taught features);
3. **scaling** :math:`g` — unit L2 norm per row, z-score per feature, or nothing, then optionally PCA;
4. **clusterer** — k-means, a Gaussian mixture, spectral or agglomerative (Ward) clustering.

:class:`FeatureKMeans` is the k-means special case with no learned representation (the foundation's
strategy; its configs and records are unchanged).
"""

from __future__ import annotations

import os
from numbers import Integral

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.cluster import AgglomerativeClustering, KMeans, SpectralClustering
from sklearn.decomposition import PCA, TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.mixture import GaussianMixture
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler, normalize
from sklearn.utils._available_if import available_if
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ..backbones import BackboneInputMixin, build_backbone, cached_features, is_text
from ..base import BaseTransferClusterer, check_input
from ..registry import register
from ..training import seeded

__all__ = ["FeatureClustering", "FeatureKMeans", "make_representation", "REPRESENTATIONS", "CLUSTERERS"]

#: learned representations by name (the value says what input they take)
REPRESENTATIONS = {
    "pca": "numbers",
    "sparse_coding": "numbers",
    "sparse_autoencoder": "numbers",
    "autoencoder": "numbers",
    "lsa": "text",
    "tfidf": "text",
}
#: clusterers by name (the ones with a ``predict`` assign new rows)
CLUSTERERS = ("kmeans", "gmm", "spectral", "agglomerative")


def make_representation(name: str, *, random_state=None, **kwargs) -> BaseEstimator:
    """A learned (label-free) representation by name, with its defaults overridden by ``kwargs``.

    - ``"pca"`` — :class:`~sklearn.decomposition.PCA` (``n_components=50``);
    - ``"lsa"`` — latent semantic analysis of raw text: TF-IDF (sublinear tf, English stop words,
      ``min_df=5``, ``max_df=0.5``) then :class:`~sklearn.decomposition.TruncatedSVD` (100 components),
      scikit-learn's document-clustering recipe;
    - ``"tfidf"`` — the TF-IDF vectors alone (sparse; for k-means or agglomerative on text);
    - ``"sparse_coding"`` — :class:`~tltaxonomy.inductive.self_taught.SparseCoding` (Raina et al. 2007);
    - ``"sparse_autoencoder"`` — :class:`~tltaxonomy.inductive.self_taught.SparseAutoencoder` (UFLDL);
    - ``"autoencoder"`` — :class:`~tltaxonomy.unsupervised.autoencoder.Autoencoder` (d-500-500-2000-10,
      the encoder DEC starts from).

    Raises
    ------
    ValueError
        For an unknown name, listing the known ones.
    """
    if name == "pca":
        return PCA(**{"n_components": 50, **kwargs}, random_state=random_state)
    if name in ("lsa", "tfidf"):
        svd_keys = {"n_components", "algorithm", "n_iter"}
        tfidf = {"sublinear_tf": True, "stop_words": "english", "min_df": 5, "max_df": 0.5}
        tfidf.update({k: v for k, v in kwargs.items() if k not in svd_keys})
        if name == "tfidf":
            if svd_keys & set(kwargs):
                raise ValueError(f"representation='tfidf' has no {sorted(svd_keys & set(kwargs))}; use 'lsa' for an SVD.")
            return TfidfVectorizer(**tfidf)
        svd = {"n_components": 100, **{k: v for k, v in kwargs.items() if k in svd_keys}}
        return make_pipeline(TfidfVectorizer(**tfidf), TruncatedSVD(**svd, random_state=random_state))
    if name == "sparse_coding":
        from ..inductive.self_taught import SparseCoding

        return SparseCoding(**kwargs, random_state=random_state)
    if name == "sparse_autoencoder":
        from ..inductive.self_taught import SparseAutoencoder

        return SparseAutoencoder(**kwargs, random_state=random_state)
    if name == "autoencoder":
        from .autoencoder import Autoencoder

        return Autoencoder(**kwargs, random_state=random_state)
    raise ValueError(f"Unknown representation {name!r}; choose one of {sorted(REPRESENTATIONS)} or pass a transformer.")


@register("feature_clustering", setting="unsupervised", family="feature_reuse")
class FeatureClustering(BackboneInputMixin, TransformerMixin, BaseTransferClusterer):
    r"""Cluster the target rows in a transferred representation: :math:`c = \mathcal{C}\big(g(h(f_\theta(x)))\big)`.

    :math:`f_\theta` is a frozen encoder pretrained on another task (``backbone`` / ``pretrained``; the
    identity when both are ``None``), :math:`h` a representation learned without labels
    (``representation``; fitted on the target rows or, with ``representation_data="auxiliary"``, on
    unlabelled rows of another distribution passed as ``X_auxiliary``), :math:`g` the scaling (and
    optional PCA) fitted on the target rows, and :math:`\mathcal{C}` the clusterer. No label is used
    anywhere.

    Parameters
    ----------
    n_clusters : int, default=10
        Number of clusters.
    backbone : str, path-like, torch.nn.Module or None, default=None
        Frozen encoder: a registered name (``"lenet"``, ``"efficientnet_lite0"``,
        ``"all_minilm_l6_v2"``), a module, or a pretrained checkpoint path. ``None`` with
        ``pretrained=None`` = no encoder (the input itself).
    pretrained : str or path-like, optional
        Checkpoint of :func:`~tltaxonomy.backbones.pretrain_backbone` the encoder loads.
    input_shape : tuple of int or None, default=(1, 28, 28)
        Shape of one input; ``X`` holds flat rows. ``None`` = flat rows as wide as ``X`` (or the text
        backbone's default ``(2, max_length)``).
    representation : str, transformer or None, default=None
        A label-free representation learned after the encoder: a name of :data:`REPRESENTATIONS`
        (see :func:`make_representation`) or any scikit-learn transformer (cloned). ``"lsa"`` and
        ``"tfidf"`` take raw text (``backbone=None``).
    representation_data : {"target", "auxiliary"}, default="target"
        Rows the representation is fitted on: the target rows, or ``X_auxiliary`` (self-taught
        features; the runner's unsupervised protocol passes the task's source rows, never their labels).
    representation_kwargs : dict, optional
        Parameters of a named representation (e.g. ``{"n_components": 100}``).
    normalize : {"l2", "standard", "none"}, default="l2"
        Scaling before clustering: unit L2 norm per row, z-score per feature, or nothing.
    n_components : int, optional
        If set, PCA to this many dimensions (after scaling) before clustering.
    clusterer : {"kmeans", "gmm", "spectral", "agglomerative"} or estimator, default="kmeans"
        ``"kmeans"`` (:class:`~sklearn.cluster.KMeans`), ``"gmm"`` (a Gaussian mixture with diagonal
        covariances), ``"spectral"`` (normalised cuts on a 10-nearest-neighbour graph), or
        ``"agglomerative"`` (Ward linkage); or any scikit-learn clusterer with ``fit_predict`` (cloned).
    clusterer_kwargs : dict, optional
        Parameters of a named clusterer, overriding its defaults.
    n_init : int, default=10
        Restarts of k-means, the mixture and spectral clustering's k-means step (the best by each
        one's own criterion is kept).
    batch_size : int, default=256
        Rows per forward pass of the encoder.
    device : str, default="auto"
        Torch device.
    random_state : int or None, default=None
        Seed of the encoder initialisation (if not pretrained), the representation, PCA and the clusterer.
    memory : str, path-like, joblib.Memory or None, default=None
        Cache of the encoder's features keyed by its weights and the rows (a sweep extracts once).

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster of each training row.
    cluster_centers_ : ndarray of shape (n_clusters, n_features_clustered) or None
        Centres (k-means centres, mixture means, or the mean of each cluster's rows for spectral and
        agglomerative clustering) in the clustered space (the output of :meth:`transform`).
    encoder_ : torch.nn.Module or None
        The frozen encoder (``None`` without one).
    representation_ : estimator or None
        The fitted representation.
    clusterer_ : estimator
        The fitted clusterer.

    References
    ----------
    .. [1] Pan, Yang. "A Survey on Transfer Learning." IEEE TKDE 22(10), 2010 (unsupervised transfer).
    .. [2] Raina, Battle, Lee, Packer, Ng. "Self-taught Learning." ICML 2007.
    .. [3] Caron, Bojanowski, Joulin, Douze. "Deep Clustering for Unsupervised Learning of Visual
       Features." ECCV 2018.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 0.1, (10, 4)), rng.normal(5, 0.1, (10, 4))])
    >>> fc = FeatureClustering(n_clusters=2, input_shape=(4,), normalize="none", clusterer="gmm", random_state=0)
    >>> labels = fc.fit_predict(X)
    >>> len(set(labels[:10])), len(set(labels))
    (1, 2)
    """

    _parameter_constraints = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "backbone": [str, os.PathLike, nn.Module, None],
        "pretrained": [str, os.PathLike, None],
        "input_shape": [tuple, list, None],
        "representation": [StrOptions(set(REPRESENTATIONS)), HasMethods(["fit", "transform"]), None],
        "representation_data": [StrOptions({"target", "auxiliary"})],
        "representation_kwargs": [dict, None],
        "normalize": [StrOptions({"l2", "standard", "none"})],
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "clusterer": [StrOptions(set(CLUSTERERS)), HasMethods(["fit_predict"])],
        "clusterer_kwargs": [dict, None],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str, torch.device],
        "random_state": [Interval(Integral, 0, None, closed="left"), None],
        "memory": [str, os.PathLike, HasMethods(["cache"]), None],
    }

    def __init__(
        self,
        *,
        n_clusters: int = 10,
        backbone: str | os.PathLike | nn.Module | None = None,
        pretrained: str | os.PathLike | None = None,
        input_shape: tuple[int, ...] | None = (1, 28, 28),
        representation=None,
        representation_data: str = "target",
        representation_kwargs: dict | None = None,
        normalize: str = "l2",
        n_components: int | None = None,
        clusterer="kmeans",
        clusterer_kwargs: dict | None = None,
        n_init: int = 10,
        batch_size: int = 256,
        device: str = "auto",
        random_state: int | None = None,
        memory=None,
    ):
        self.n_clusters = n_clusters
        self.backbone = backbone
        self.pretrained = pretrained
        self.input_shape = input_shape
        self.representation = representation
        self.representation_data = representation_data
        self.representation_kwargs = representation_kwargs
        self.normalize = normalize
        self.n_components = n_components
        self.clusterer = clusterer
        self.clusterer_kwargs = clusterer_kwargs
        self.n_init = n_init
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state
        self.memory = memory

    # -- the unsupervised protocol passes the source rows as X_auxiliary only when they are used --
    @property
    def _uses_unlabelled(self) -> bool:
        return self.representation is not None and self.representation_data == "auxiliary"

    @property
    def _has_encoder(self) -> bool:
        return self.backbone is not None or self.pretrained is not None

    def _takes_raw_text(self) -> bool:
        return isinstance(self.representation, str) and REPRESENTATIONS[self.representation] == "text"

    def _check_input(self, X, *, reset: bool):
        """Flat float rows for the encoder / numeric representations; a 1-D array of str for LSA / TF-IDF."""
        name = type(self).__name__
        if self._takes_raw_text():
            if self._has_encoder:
                raise ValueError(
                    f"{name}: representation={self.representation!r} vectorises raw text itself; set backbone=None and "
                    "pretrained=None, or use a text backbone (e.g. 'all_minilm_l6_v2') with representation=None."
                )
            if not is_text(X):
                raise ValueError(
                    f"{name}: representation={self.representation!r} takes raw text (a 1-D array of str), got "
                    f"{type(X).__name__} of shape {getattr(X, 'shape', None)}; pass the documents, or use 'pca'."
                )
            X = np.asarray(X, dtype=object)
            if X.shape[0] == 0:
                raise ValueError(f"{name}: X holds no document; pass at least n_clusters documents.")
            return X
        if is_text(X) and not self._has_encoder:
            raise ValueError(
                f"{name}: X holds text but there is neither a text encoder nor a text representation; use "
                "backbone='all_minilm_l6_v2' or representation='lsa'."
            )
        if sp.issparse(X) and self._has_encoder:
            raise ValueError(
                f"{name}: X is a sparse matrix but the encoder (backbone={self.backbone!r}) takes dense rows; pass "
                "X.toarray(), or cluster the sparse rows without an encoder (backbone=None, pretrained=None)."
            )
        if sp.issparse(X):  # word counts, bag-of-words: clustered as they are
            X = check_input(self, X, reset=reset, accept_sparse="csr", dtype=np.float32)
            if reset:
                self.input_shape_ = (X.shape[1],)
            return X
        return self._check_X(X, reset=reset)

    def _encode(self, X) -> np.ndarray:
        if self.encoder_ is None:
            return X
        return cached_features(
            self.memory, self.encoder_, X, input_shape=self.input_shape_, batch_size=self.batch_size, device=self.device
        )

    def _scale(self, Z, *, fit: bool) -> np.ndarray:
        if self.normalize == "l2":
            Z = normalize(Z)
        elif self.normalize == "standard":
            if fit:
                self.scaler_ = StandardScaler(with_mean=not hasattr(Z, "tocsr")).fit(Z)
            Z = self.scaler_.transform(Z)
        if self.n_components is not None:
            if fit:
                self.pca_ = (TruncatedSVD if hasattr(Z, "tocsr") else PCA)(
                    n_components=self.n_components, random_state=self.random_state
                ).fit(Z)
            Z = self.pca_.transform(Z)
        return Z

    def _features(self, X, *, fit: bool):
        Z = self._encode(X)
        if self.representation_ is not None:
            Z = self.representation_.transform(Z)
        if hasattr(Z, "dtype") and Z.dtype == object:
            raise ValueError(f"{type(self).__name__}: the representation returned non-numeric features.")
        return self._scale(Z, fit=fit)

    def _make_clusterer(self):
        kw = dict(self.clusterer_kwargs or {})
        if not isinstance(self.clusterer, str):
            if kw:
                raise ValueError(
                    f"{type(self).__name__}: clusterer_kwargs apply to a named clusterer; set them on the estimator instead."
                )
            est = clone(self.clusterer)
            if "n_clusters" in est.get_params():
                est.set_params(n_clusters=self.n_clusters)
            return est
        rs, k = self.random_state, self.n_clusters
        if self.clusterer == "kmeans":
            return KMeans(**{"n_clusters": k, "n_init": self.n_init, "random_state": rs, **kw})
        if self.clusterer == "gmm":
            return GaussianMixture(**{"n_components": k, "covariance_type": "diag", "n_init": self.n_init, "random_state": rs, **kw})
        if self.clusterer == "spectral":
            defaults = {"n_clusters": k, "affinity": "nearest_neighbors", "n_neighbors": 10, "n_init": self.n_init}
            return SpectralClustering(**{**defaults, "random_state": rs, **kw})
        return AgglomerativeClustering(**{"n_clusters": k, "linkage": "ward", **kw})

    def fit(self, X, y=None, *, X_auxiliary=None) -> FeatureClustering:
        """Encode ``X``, learn the representation, scale, and cluster.

        Parameters
        ----------
        X : array-like of shape (n_samples, prod(input_shape)), or 1-D array of str
            Unlabelled target rows (flat), or documents.
        y : ignored
            Not used; present for API consistency.
        X_auxiliary : array-like, optional
            Unlabelled rows of another distribution in the same input space; required when
            ``representation_data="auxiliary"``, ignored otherwise.
        """
        self._validate_params()
        name = type(self).__name__
        if self.representation is None and self.representation_kwargs:
            raise ValueError(f"{name}: representation_kwargs={self.representation_kwargs} but representation=None; set a representation.")
        if self.representation is not None and not isinstance(self.representation, str) and self.representation_kwargs:
            raise ValueError(f"{name}: representation_kwargs apply to a named representation; set them on the transformer instead.")
        if self._uses_unlabelled and X_auxiliary is None:
            raise ValueError(
                f"{name}: representation_data='auxiliary' learns the representation on X_auxiliary, but none was "
                "given; pass X_auxiliary=... (unlabelled rows of the same input space) or set representation_data='target'."
            )
        X = self._check_input(X, reset=True)
        if X_auxiliary is not None and not self._uses_unlabelled:  # not used, but it must share X's input space
            self._check_input(X_auxiliary, reset=False)
        n = X.shape[0]
        if self.n_clusters > n:
            raise ValueError(f"{name}: n_clusters={self.n_clusters} is larger than the {n} rows of X; lower n_clusters or pass more rows.")
        if self.n_components is not None and self.n_components > n:
            raise ValueError(
                f"{name}: n_components={self.n_components} is larger than the {n} rows of X; lower n_components or set it to None."
            )
        if self._has_encoder:
            with seeded(self.random_state):
                self.encoder_ = build_backbone(self.backbone, input_shape=self.input_shape_, pretrained=self.pretrained)
            self.encoder_.requires_grad_(False)
        else:
            self.encoder_ = None
        Z = self._encode(X)
        self.representation_ = None
        if self.representation is not None:
            if isinstance(self.representation, str):
                rep = make_representation(self.representation, random_state=self.random_state, **(self.representation_kwargs or {}))
            else:
                rep = clone(self.representation)
            if self._uses_unlabelled:
                X_aux = self._check_input(X_auxiliary, reset=False)
                if X_aux.shape[0] == 0:
                    raise ValueError(f"{name}: X_auxiliary has no rows; pass unlabelled rows or set representation_data='target'.")
                with seeded(self.random_state):
                    self.representation_ = rep.fit(self._encode(X_aux))
            else:
                with seeded(self.random_state):
                    self.representation_ = rep.fit(Z)
            Z = self.representation_.transform(Z)
        Z = self._scale(Z, fit=True)
        self.clusterer_ = self._make_clusterer()
        self.labels_ = np.asarray(self.clusterer_.fit_predict(Z))
        self.cluster_centers_ = self._centres(Z)
        return self

    def _centres(self, Z) -> np.ndarray | None:
        est = self.clusterer_
        if hasattr(est, "cluster_centers_"):
            return est.cluster_centers_
        if hasattr(est, "means_"):
            return est.means_
        labels = self.labels_
        rows = [np.asarray(Z[labels == c].mean(axis=0)).ravel() for c in np.unique(labels)]
        return np.vstack(rows) if rows else None

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]  # features are computed in float32
        return tags

    def transform(self, X) -> np.ndarray:
        """Features of ``X`` in the clustered space (encoded, represented, scaled, optionally PCA-reduced)."""
        check_is_fitted(self)
        return self._features(self._check_input(X, reset=False), fit=False)

    def _clusterer_predicts(self) -> bool:
        return hasattr(self.clusterer_, "predict") if hasattr(self, "clusterer_") else self.clusterer in ("kmeans", "gmm")

    @available_if(_clusterer_predicts)
    def predict(self, X) -> np.ndarray:
        """Cluster of each new row of ``X`` (k-means: nearest centre; mixture: most probable component).

        Spectral and agglomerative clustering assign only the rows they were fitted on (``labels_``).
        """
        check_is_fitted(self)
        return self.clusterer_.predict(self.transform(X))


@register("feature_kmeans", setting="unsupervised", family="feature_reuse")
class FeatureKMeans(FeatureClustering):
    r"""K-means on transferred features: :math:`\min_{\mu, c} \sum_i \| g(f_\theta(x_i)) - \mu_{c_i} \|^2`.

    :math:`f_\theta` is an encoder pretrained on another (source) task and frozen; :math:`g` is the
    normalisation (and optional PCA) fitted on the target rows. With ``backbone=None`` and
    ``pretrained=None``, :math:`f_\theta` is the identity: plain k-means on the raw input, the
    no-transfer baseline. :class:`FeatureClustering` with ``clusterer="kmeans"`` and no learned
    representation; use that class for the other clusterers and representations.

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

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 0.1, (10, 4)), rng.normal(5, 0.1, (10, 4))])
    >>> km = FeatureKMeans(n_clusters=2, input_shape=(4,), normalize="none", random_state=0).fit(X)
    >>> len(set(km.labels_[:10])), len(set(km.labels_))
    (1, 2)
    """

    # the FeatureClustering parameters FeatureKMeans fixes (read by the shared code, not settable)
    representation = None
    representation_data = "target"
    representation_kwargs = None
    clusterer = "kmeans"
    clusterer_kwargs = None
    memory = None

    _parameter_constraints = {
        k: v
        for k, v in FeatureClustering._parameter_constraints.items()
        if k not in ("representation", "representation_data", "representation_kwargs", "clusterer", "clusterer_kwargs", "memory")
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

    def fit(self, X, y=None) -> FeatureKMeans:
        """Encode ``X``, scale the features and run k-means.

        Parameters
        ----------
        X : array-like of shape (n_samples, prod(input_shape))
            Unlabelled target rows (flat).
        y : ignored
            Not used; present for API consistency.
        """
        super().fit(X)
        self.kmeans_ = self.clusterer_
        return self
