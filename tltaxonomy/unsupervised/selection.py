r"""Model selection for clustering without labels: internal validity criteria.

A clustering benchmark that picks hyper-parameters by NMI against the labels reports an oracle. The
honest alternative scores each candidate by an *internal* criterion computed from the rows and the
clusters alone:

- **silhouette** (Rousseeuw 1987): :math:`s(i) = \frac{b(i) - a(i)}{\max(a(i), b(i))}`, with
  :math:`a(i)` the mean distance of row :math:`i` to its own cluster and :math:`b(i)` the smallest mean
  distance to another cluster; the score is the mean over rows, in :math:`[-1, 1]`, higher is better;
- **calinski_harabasz** (1974): between- over within-cluster dispersion, scaled by degrees of freedom;
  higher is better;
- **davies_bouldin** (1979): mean over clusters of the worst ratio of within-cluster scatter to
  between-centre distance; lower is better (negated here so that higher is better for all three).

Scores are only comparable when computed in the **same space**: :class:`UnsupervisedSearch` scores
every candidate in one reference space (the first candidate's :meth:`transform` output, a fixed
callable, or the input rows), never each candidate in its own space, where a criterion would favour
whichever representation happens to be most compact.
"""

from __future__ import annotations

import warnings
from itertools import product
from numbers import Integral

import numpy as np
from sklearn.base import clone
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..backbones import is_text
from ..base import BaseTransferClusterer, check_input
from ..registry import register
from .feature_clustering import CLUSTERERS, FeatureClustering

__all__ = ["CRITERIA", "UnsupervisedSearch", "internal_score"]

CRITERIA = ("silhouette", "calinski_harabasz", "davies_bouldin")


def internal_score(Z, labels, criterion: str = "silhouette", *, sample_size: int | None = None, random_state=None) -> float:
    """An internal clustering criterion of ``labels`` on the rows ``Z``, oriented so that higher is better.

    Parameters
    ----------
    Z : array-like of shape (n_samples, n_features)
        The rows in the space the criterion is computed in.
    labels : array-like of shape (n_samples,)
        Cluster of each row.
    criterion : {"silhouette", "calinski_harabasz", "davies_bouldin"}, default="silhouette"
        Davies-Bouldin is returned negated (lower is better in its definition).
    sample_size : int, optional
        Silhouette on a random subset of this many rows (it is quadratic in the rows); ``None`` = all.
    random_state : int, optional
        Seed of that subset.

    Returns
    -------
    float
        ``-inf`` when the labels hold a single cluster (every criterion is undefined there), so a
        degenerate candidate is never selected.

    Examples
    --------
    >>> import numpy as np
    >>> Z = np.array([[0.0], [0.1], [5.0], [5.1]])
    >>> round(internal_score(Z, [0, 0, 1, 1]), 3), internal_score(Z, [0, 0, 0, 0])
    (0.98, -inf)
    """
    if criterion not in CRITERIA:
        raise ValueError(f"Unknown criterion {criterion!r}; choose one of {list(CRITERIA)}.")
    labels = np.asarray(labels)
    n_labels = len(np.unique(labels))
    if n_labels < 2 or n_labels >= len(labels):
        return -np.inf
    if hasattr(Z, "toarray") and criterion != "silhouette":
        Z = Z.toarray()
    if criterion == "silhouette":
        size = None if sample_size is None or sample_size >= len(labels) else sample_size
        return float(silhouette_score(Z, labels, sample_size=size, random_state=random_state))
    if criterion == "calinski_harabasz":
        return float(calinski_harabasz_score(Z, labels))
    return -float(davies_bouldin_score(Z, labels))


def _grid(param_grid) -> list[dict]:
    grids = param_grid if isinstance(param_grid, (list, tuple)) else [param_grid]
    out = []
    for grid in grids:
        if not isinstance(grid, dict):
            raise ValueError(f"UnsupervisedSearch: param_grid must be a dict or a list of dicts, got {type(grid).__name__}.")
        for key, values in grid.items():
            if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__") or len(list(values)) == 0:
                raise ValueError(
                    f"UnsupervisedSearch: param_grid[{key!r}] must be a non-empty list of values, got {values!r}."
                )
        keys = sorted(grid)
        out.extend(dict(zip(keys, combo)) for combo in product(*(list(grid[k]) for k in keys)))
    if not out:
        raise ValueError("UnsupervisedSearch: param_grid holds no candidate; give at least one parameter value.")
    return out


@register("unsupervised_search", setting="unsupervised", family="model_selection")
class UnsupervisedSearch(BaseTransferClusterer):
    r"""Grid search over a clusterer's hyper-parameters by an internal criterion (no label used).

    Every candidate of ``param_grid`` is fitted on the target rows; its clusters are scored by
    ``criterion`` (see :func:`internal_score`) in one reference space shared by all candidates, and
    the best candidate is kept. This is the unsupervised counterpart of
    :class:`~sklearn.model_selection.GridSearchCV`: no held-out labels exist, so there is no
    cross-validation; the criterion plays the role of the validation score.

    Parameters
    ----------
    estimator : clusterer, optional
        A clusterer with ``fit`` and ``labels_`` (a :class:`~tltaxonomy.unsupervised.FeatureClustering`,
        :class:`~sklearn.cluster.KMeans`, ...). Cloned per candidate. ``None`` =
        ``FeatureClustering()`` (k-means on the raw rows).
    param_grid : dict or list of dict, optional
        Parameter names of ``estimator`` mapped to the values to try (as in ``GridSearchCV``).
        ``None`` = ``{"clusterer": ["kmeans", "gmm", "spectral", "agglomerative"]}`` (which clusterer
        suits the representation).
    criterion : {"silhouette", "calinski_harabasz", "davies_bouldin"}, default="silhouette"
        Internal criterion, higher is better (Davies-Bouldin negated).
    space : {"estimator", "input"}, default="estimator"
        Reference space of the scores: ``"estimator"`` = the first candidate's ``transform`` output
        (right when the candidates share the representation and differ in the clusterer or its
        settings); ``"input"`` = the rows as given (e.g. to compare representations; they must be
        numeric).
    sample_size : int or None, default=2000
        Rows the silhouette is computed on (a fixed random subset, the same for every candidate).
    random_state : int or None, default=None
        Seed of that subset.
    X_auxiliary_passthrough : bool, default=True
        Pass ``X_auxiliary`` (unlabelled rows of another distribution) to candidates that use them.

    Attributes
    ----------
    best_params_ : dict
        Parameters of the selected candidate.
    best_estimator_ : clusterer
        The selected candidate, fitted.
    best_score_ : float
        Its criterion.
    labels_ : ndarray of shape (n_samples,)
        Its clusters.
    cv_results_ : dict
        ``params`` (list of dict), ``score`` (ndarray) and ``rank`` (1 = best) of every candidate, and
        ``labels`` (one array per candidate) so that an evaluation can report the oracle choice too.

    References
    ----------
    .. [1] Rousseeuw. "Silhouettes: a graphical aid to the interpretation and validation of cluster
       analysis." J. Comput. Appl. Math. 20, 1987.
    .. [2] Arbelaitz, Gurrutxaga, Muguerza, Pérez, Perona. "An extensive comparative study of cluster
       validity indices." Pattern Recognition 46(1), 2013.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.cluster import KMeans
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(c, 0.2, (20, 2)) for c in (0, 4, 8)])
    >>> search = UnsupervisedSearch(KMeans(n_init=3, random_state=0), {"n_clusters": [2, 3, 4, 5]}).fit(X)
    >>> search.best_params_
    {'n_clusters': 3}
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit"]), None],
        "param_grid": [dict, list, None],
        "criterion": [StrOptions(set(CRITERIA))],
        "space": [StrOptions({"estimator", "input"})],
        "sample_size": [Interval(Integral, 2, None, closed="left"), None],
        "random_state": [Interval(Integral, 0, None, closed="left"), None],
        "X_auxiliary_passthrough": ["boolean"],
    }

    def __init__(
        self,
        estimator=None,
        param_grid=None,
        *,
        criterion: str = "silhouette",
        space: str = "estimator",
        sample_size: int | None = 2000,
        random_state: int | None = None,
        X_auxiliary_passthrough: bool = True,
    ):
        self.estimator = estimator
        self.param_grid = param_grid
        self.criterion = criterion
        self.space = space
        self.sample_size = sample_size
        self.random_state = random_state
        self.X_auxiliary_passthrough = X_auxiliary_passthrough

    @property
    def _uses_unlabelled(self) -> bool:
        return self.X_auxiliary_passthrough and bool(getattr(self._base_estimator(), "_uses_unlabelled", False))

    def _base_estimator(self):
        return FeatureClustering() if self.estimator is None else self.estimator

    def fit(self, X, y=None, *, X_auxiliary=None) -> UnsupervisedSearch:
        """Fit every candidate on ``X`` and keep the best by the criterion.

        Parameters
        ----------
        X : array-like
            Unlabelled target rows.
        y : ignored
            Not used (selection is unsupervised); present for API consistency.
        X_auxiliary : array-like, optional
            Passed on to candidates that learn from auxiliary rows.
        """
        self._validate_params()
        if not is_text(X):  # documents go to the candidates as they are (their own vectoriser)
            X = check_input(self, X, accept_sparse=True, dtype=None, ensure_min_samples=2)
            if X_auxiliary is not None and not is_text(X_auxiliary):
                check_input(self, X_auxiliary, what="X_auxiliary", reset=False, accept_sparse=True, dtype=None)
        base = self._base_estimator()
        candidates = _grid({"clusterer": list(CLUSTERERS)} if self.param_grid is None else self.param_grid)
        valid = set(base.get_params())
        unknown = sorted({k for c in candidates for k in c} - valid)
        if unknown:
            raise ValueError(
                f"UnsupervisedSearch: param_grid names {unknown}, which {type(base).__name__} does not have; "
                f"its parameters are {sorted(valid)}."
            )
        if self.space == "estimator" and not hasattr(base, "transform"):
            raise ValueError(
                f"UnsupervisedSearch: space='estimator' scores in the estimator's transform output, but "
                f"{type(base).__name__} has no transform; use space='input'."
            )
        kwargs = {"X_auxiliary": X_auxiliary} if (X_auxiliary is not None and self._uses_unlabelled) else {}
        rng = check_random_state(self.random_state)
        scores, labels, fitted = [], [], []
        Z_ref = idx = None
        for params in candidates:
            est = clone(base).set_params(**params)
            try:
                est.fit(X, **kwargs)
            except (ValueError, TypeError) as exc:  # the candidate's own message, under the search's name
                raise type(exc)(f"UnsupervisedSearch: the candidate {params} cannot be fitted: {exc}") from exc
            if Z_ref is None:
                Z_ref = est.transform(X) if self.space == "estimator" else np.asarray(X)
                if Z_ref.dtype == object:
                    raise ValueError("UnsupervisedSearch: space='input' needs numeric rows; use space='estimator'.")
                n = Z_ref.shape[0]
                idx = None if self.sample_size is None or self.sample_size >= n else np.sort(rng.choice(n, self.sample_size, replace=False))
            lab = np.asarray(est.labels_)
            Zs, ls = (Z_ref, lab) if idx is None else (Z_ref[idx], lab[idx])
            scores.append(internal_score(Zs, ls, self.criterion))
            labels.append(lab)
            fitted.append(est)
        scores = np.asarray(scores, dtype=float)
        if not np.isfinite(scores).any():
            warnings.warn(
                "UnsupervisedSearch: every candidate put all rows in one cluster (or each row in its own), where the "
                f"{self.criterion} criterion is undefined; the first candidate is kept. Widen param_grid.",
                UserWarning,
                stacklevel=2,
            )
        best = int(np.argmax(scores))  # ties: the first candidate in grid order
        order = np.argsort(-scores, kind="stable")
        rank = np.empty(len(scores), dtype=int)
        rank[order] = np.arange(1, len(scores) + 1)
        self.cv_results_ = {"params": candidates, "score": scores, "rank": rank, "labels": labels}
        self.best_index_ = best
        self.best_params_ = candidates[best]
        self.best_score_ = float(scores[best])
        self.best_estimator_ = fitted[best]
        self.labels_ = labels[best]
        return self

    def predict(self, X) -> np.ndarray:
        """Clusters of new rows by the selected candidate (when it can assign new rows)."""
        check_is_fitted(self)
        if not hasattr(self.best_estimator_, "predict"):
            raise AttributeError(
                f"UnsupervisedSearch: the selected {type(self.best_estimator_).__name__} cannot assign new rows "
                "(no predict); use labels_ for the fitted rows."
            )
        if not is_text(X):  # the search's own check first, so that its errors name UnsupervisedSearch
            check_input(self, X, reset=False, accept_sparse=True, dtype=None)
        return self.best_estimator_.predict(X)

