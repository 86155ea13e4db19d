r"""Optimal-transport domain adaptation: OT mapping, class-regularised OT (Courty et al., TPAMI 2017) and
JDOT (Courty et al., NeurIPS 2017).

All couplings are computed with POT (``ot``): :func:`ot.emd` (exact, network simplex),
:func:`ot.sinkhorn` (entropic), :func:`ot.da.sinkhorn_lpl1_mm` and :func:`ot.da.sinkhorn_l1l2_gl`
(class-regularised). Notation: source rows :math:`x^s_i` (:math:`i \le n_s`), target rows
:math:`x^t_j` (:math:`j \le n_t`), uniform weights :math:`a = \mathbf 1/n_s`, :math:`b = \mathbf 1/n_t`,
cost :math:`M_{ij} = \lVert x^s_i - x^t_j\rVert_2^2` (optionally normalised, as POT's ``ot.da``
classes do), couplings :math:`\gamma \in \Pi(a, b) = \{\gamma \ge 0,\ \gamma \mathbf 1 = a,\
\gamma^\top \mathbf 1 = b\}`.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
import ot
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import pairwise_distances_argmin
from sklearn.metrics.pairwise import euclidean_distances
from sklearn.neighbors import KNeighborsClassifier
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

from .._linalg import check_dense_memory
from ..base import BaseDomainAdaptationClassifier, DomainSplit
from ..classifiers import clone_or_default, estimator_selection
from ..registry import register

__all__ = ["OTMapping", "ClassRegularizedOT", "JDOT", "ot_cost", "ot_coupling", "barycentric_mapping"]

_NORMS = {"median", "max", "log", "loglog"}


def ot_cost(X_source, X_target, norm=None) -> np.ndarray:
    r"""Squared Euclidean cost :math:`M_{ij} = \lVert x^s_i - x^t_j \rVert^2`, optionally normalised.

    Parameters
    ----------
    X_source, X_target : array or sparse matrix
    norm : {None, "median", "max", "log", "loglog"}, default=None
        POT's :func:`ot.utils.cost_normalization`: divide by the median / maximum entry, or apply
        :math:`\log(1+M)` / :math:`\log(1+\log(1+M))`. A cost that is identically 0 is left unchanged.

    Returns
    -------
    M : ndarray of shape (n_s, n_t)
    """
    M = np.maximum(euclidean_distances(X_source, X_target, squared=True), 0.0)
    if norm is None:
        return M
    if norm in ("median", "max") and float(np.median(M) if norm == "median" else M.max()) == 0.0:
        return M
    return ot.utils.cost_normalization(M, norm)


def ot_coupling(
    M,
    *,
    method="sinkhorn",
    reg_e=1e-2,
    reg_cl=0.1,
    y_source=None,
    max_iter=None,
    max_inner_iter=200,
    tol=1e-9,
) -> np.ndarray:
    r"""An optimal coupling :math:`\gamma^\star` between uniform source and target weights for cost ``M``.

    - ``"exact"``: :math:`\min_{\gamma \in \Pi(a,b)} \langle \gamma, M\rangle` (:func:`ot.emd`).
    - ``"sinkhorn"``: :math:`\min_{\gamma \in \Pi(a,b)} \langle \gamma, M\rangle - \varepsilon H(\gamma)`,
      :math:`H(\gamma) = -\sum \gamma_{ij}(\log\gamma_{ij} - 1)`, :math:`\varepsilon` = ``reg_e``
      (:func:`ot.sinkhorn`, Sinkhorn-Knopp iterations).
    - ``"lpl1"``: entropic + the class-based :math:`\ell_p\!-\!\ell_1` group regulariser
      :math:`\eta \sum_j \sum_c \lVert \gamma_{I_c, j} \rVert_p^{1/2}` (:math:`p=1/2`, :math:`I_c` = source
      rows of class :math:`c`; majoration-minimisation, :func:`ot.da.sinkhorn_lpl1_mm`).
    - ``"l1l2"``: entropic + the group-lasso :math:`\eta \sum_j \sum_c \lVert \gamma_{I_c, j} \rVert_2`
      (generalised conditional gradient, :func:`ot.da.sinkhorn_l1l2_gl`). :math:`\eta` = ``reg_cl``.

    Both class regularisers make a target row receive mass from few classes (Courty et al. 2017).

    Parameters
    ----------
    M : ndarray of shape (n_s, n_t)
    method : {"exact", "sinkhorn", "lpl1", "l1l2"}
    reg_e, reg_cl : float
    y_source : ndarray of int, required for "lpl1" / "l1l2"
    max_iter : int or None
        Solver iterations (``None``: 100000 for "exact", 1000 for "sinkhorn", 10 outer for the class
        regularisers).
    max_inner_iter : int
        Sinkhorn iterations inside each outer step of the class-regularised solvers.
    tol : float
        Stopping threshold of the Sinkhorn iterations.

    Returns
    -------
    gamma : ndarray of shape (n_s, n_t)

    Raises
    ------
    ValueError
        If the entropic solver under/overflows (non-finite coupling): increase ``reg_e`` or normalise
        the cost.
    """
    M = np.ascontiguousarray(M, dtype=np.float64)
    with warnings.catch_warnings(), np.errstate(all="ignore"):  # an underflow is reported below, as one error
        warnings.filterwarnings("ignore", message=".*numerical errors at iteration")
        G = _solve(M, method, reg_e, reg_cl, y_source, max_iter, max_inner_iter, tol)
    if not np.all(np.isfinite(G)) or G.sum() <= 0:
        raise ValueError(
            f"The {method} OT solver returned a non-finite or empty coupling (reg_e={reg_e} is too small for the "
            "scale of the cost: exp(-M/reg_e) underflows). Increase reg_e or normalise the cost (norm='max')."
        )
    return G


def _solve(M, method, reg_e, reg_cl, y_source, max_iter, max_inner_iter, tol):
    ns, nt = M.shape
    a, b = np.full(ns, 1.0 / ns), np.full(nt, 1.0 / nt)
    if method == "exact":
        G = ot.emd(a, b, M, numItermax=int(max_iter or 100000))
    elif method == "sinkhorn":
        G = ot.sinkhorn(a, b, M, reg_e, numItermax=int(max_iter or 1000), stopThr=tol, warn=False)
    elif method in ("lpl1", "l1l2"):
        if y_source is None:
            raise ValueError(f"ot_coupling(method={method!r}) needs y_source, the source labels.")
        solver = ot.da.sinkhorn_lpl1_mm if method == "lpl1" else ot.da.sinkhorn_l1l2_gl
        with warnings.catch_warnings():  # the inner Sinkhorn runs are warm-started steps, not meant to converge
            warnings.filterwarnings("ignore", message="Sinkhorn did not converge")
            G = solver(
                a, np.asarray(y_source), b, M, reg_e, eta=reg_cl, numItermax=int(max_iter or 10),
                numInnerItermax=int(max_inner_iter), stopInnerThr=tol,
            )
    else:
        raise ValueError(f"ot_coupling: method must be one of 'exact', 'sinkhorn', 'lpl1', 'l1l2', got {method!r}.")
    return np.asarray(G)


def barycentric_mapping(coupling, X_source, X_target) -> np.ndarray:
    r"""Barycentric image of each source row: :math:`\hat x^s_i = \sum_j \gamma_{ij} x^t_j / \sum_j \gamma_{ij}`.

    This is :math:`\operatorname{diag}(\gamma \mathbf 1)^{-1} \gamma X_T` (Courty et al. 2017, Eq. 13);
    with uniform weights and an exact coupling it is :math:`n_s \gamma X_T`. A source row that
    receives no mass (possible only through round-off) keeps its position.

    Returns
    -------
    X_mapped : ndarray of shape (n_s, n_features)
    """
    G = np.asarray(coupling, dtype=float)
    row = G.sum(axis=1)
    ok = row > 0
    W = np.zeros_like(G)
    W[ok] = G[ok] / row[ok, None]
    mapped = np.asarray(W @ X_target) if not sp.issparse(X_target) else np.asarray((X_target.T @ W.T).T)
    if not np.all(ok):
        Xs = X_source.toarray() if sp.issparse(X_source) else np.asarray(X_source)
        mapped[~ok] = Xs[~ok]
    return mapped


def _dense(X):
    return X.toarray() if sp.issparse(X) else np.asarray(X)


#: The dense n_s x n_t arrays alive at once: the cost, the coupling, the solver's kernel / working copy
#: and the temporaries of the distance computation.
_OT_DENSE_COPIES = 4


def _check_ot_memory(who: str, n_source: int, n_target: int) -> None:
    """Refuse before allocating an n_s x n_t cost / coupling that does not fit in memory."""
    check_dense_memory(
        who, "cost and coupling matrices", (n_source, n_target), copies=_OT_DENSE_COPIES,
        fix="Every OT solver here (exact and entropic) is dense in n_s x n_t and there is no minibatch variant: "
        "fit on a random subsample of the source and target rows (map_source / predict then apply to every row), "
        'or use a method linear in n (CORAL, SubspaceAlignment, TCA / JDA with approximation="nystroem").',
    )


class _BaseOTMapping(BaseDomainAdaptationClassifier):
    """Shared fit / predict of the mapping strategies: couple, map the source, train the estimator."""

    def _method(self) -> str:
        raise NotImplementedError

    def _fit(self, split: DomainSplit) -> None:
        self._validate_params()
        Xs = split.X_source
        if split.has_target:
            _check_ot_memory(type(self).__name__, Xs.shape[0], split.X_target.shape[0])
            self.cost_ = ot_cost(Xs, split.X_target, self.norm)
            self.coupling_ = ot_coupling(
                self.cost_, method=self._method(), reg_e=getattr(self, "reg_e", None),
                reg_cl=getattr(self, "reg_cl", None), y_source=split.y_source, max_iter=self.max_iter,
                **({"max_inner_iter": self.max_inner_iter} if hasattr(self, "max_inner_iter") else {}),
            )
            self.source_mapped_ = barycentric_mapping(self.coupling_, Xs, split.X_target)
        else:  # nothing to transport to: the identity map, i.e. the source-only classifier
            self.cost_ = self.coupling_ = None
            self.source_mapped_ = _dense(Xs).astype(float)
        # number of outer solver steps (1 = one exact / Sinkhorn solve; the class-regularised solvers run
        # max_iter majorisation / conditional-gradient steps; 1 without target rows)
        self.n_iter_ = 1 if self._method() in ("exact", "sinkhorn") or not split.has_target else int(self.max_iter or 10)
        self._Xs = Xs
        self.displacement_ = self.source_mapped_ - _dense(Xs)
        self.estimator_ = clone_or_default(self.estimator, KNeighborsClassifier(n_neighbors=1, algorithm="brute"))
        self.estimator_.fit(self.source_mapped_, split.y_source)

    def map_source(self, X):
        r"""Map source rows to the target domain.

        Out-of-sample rule of POT's ``ot.da`` classes (Ferradans et al. 2014): a row :math:`x` moves by
        the displacement of its nearest training source row :math:`x^s_k`,
        :math:`x \mapsto x + (\hat x^s_k - x^s_k)`; training source rows land exactly on their
        barycentric images.
        """
        X = self._validate_predict_X(X)
        return self._map(X)

    def _map(self, X):
        idx = pairwise_distances_argmin(X, self._Xs)
        return _dense(X) + self.displacement_[idx]

    def predict(self, X, *, sample_domain=None):
        """Predict labels; rows with a positive ``sample_domain`` are source rows and are mapped first
        (:meth:`map_source`); target rows go to the estimator unchanged."""
        X = self._validate_predict_X(X, sample_domain)
        if sample_domain is not None and np.any(np.asarray(sample_domain) > 0):
            is_source = np.asarray(sample_domain) > 0
            X = _dense(X).astype(float, copy=True)
            X[is_source] = self._map(X[is_source])
        return self.classes_[self._predict_encoded(X)]

    def _predict_encoded(self, X):
        return self.estimator_.predict(X)

    def selection_protocol(self) -> str:
        """``"none"`` (fixed OT hyper-parameters; ``"source_cv"`` only if ``estimator`` cross-validates)."""
        return "none" if self.estimator is None else estimator_selection(self.estimator)


_COMMON_CONSTRAINTS = {
    "norm": [StrOptions(_NORMS), None],
    "max_iter": [Interval(Integral, 1, None, closed="left"), None],
    "estimator": [HasMethods(["fit", "predict"]), None],
    "random_state": ["random_state"],
}


@register("ot_mapping", setting="transductive", family="optimal_transport")
class OTMapping(_BaseOTMapping):
    r"""OT domain adaptation: transport the source onto the target, train on the transported source (Courty et al., 2017).

    1. Coupling between the uniform empirical source and target distributions (:func:`ot_coupling`),

       .. math::

           \gamma^\star = \arg\min_{\gamma \in \Pi(a, b)} \langle \gamma, M \rangle - \varepsilon H(\gamma),
           \qquad M_{ij} = \lVert x^s_i - x^t_j \rVert_2^2 / \text{norm},

       exactly (``method="exact"``, :math:`\varepsilon = 0`, :func:`ot.emd`) or entropically
       (``method="sinkhorn"``, :math:`\varepsilon` = ``reg_e``, :func:`ot.sinkhorn`).
    2. Barycentric mapping of the source (:func:`barycentric_mapping`):
       :math:`\hat X_S = \operatorname{diag}(\gamma^\star \mathbf 1)^{-1} \gamma^\star X_T`.
    3. ``estimator`` is trained on :math:`(\hat X_S, y_S)` and applied to the target rows as they are.

    New source rows (positive ``sample_domain`` in ``predict``, or :meth:`map_source`) move by the
    displacement of their nearest training source row (POT's ``ferradans`` out-of-sample map).
    The target labels are never used.

    Parameters
    ----------
    method : {"sinkhorn", "exact"}, default="sinkhorn"
    reg_e : float, default=1e-2
        Entropic regularisation :math:`\varepsilon`, relative to the normalised cost (ignored by
        ``"exact"``). With ``norm="max"`` the cost lies in [0, 1]; ``reg_e=1e-2`` keeps the coupling
        sharp without underflow. (POT's own default, ``reg_e=1`` on an unnormalised cost, underflows
        on 800-d z-scored features and is nearly uniform on a max-normalised one.)
    norm : {"max", "median", "log", "loglog"} or None, default="max"
        Cost normalisation (:func:`ot_cost`).
    max_iter : int or None, default=None
        Solver iterations (``None``: POT's defaults, 100000 network-simplex / 1000 Sinkhorn).
    estimator : sklearn classifier or None, default=None
        ``None`` = 1-nearest neighbour (brute force, so sparse target rows work; the classifier of Courty
        et al.'s experiments).
    random_state : None, int or RandomState, default=None
        Unused: the solvers are deterministic. Accepted for a uniform strategy interface.

    Attributes
    ----------
    coupling_ : ndarray of shape (n_source, n_target) or None
        :math:`\gamma^\star` (``None`` when fitted without target rows).
    cost_ : ndarray of shape (n_source, n_target) or None
        The (normalised) cost matrix :math:`M`.
    source_mapped_ : ndarray of shape (n_source, n_features)
        :math:`\hat X_S`.
    displacement_ : ndarray of shape (n_source, n_features)
        :math:`\hat X_S - X_S`.
    n_iter_ : int
        Coupling solves (1; 1 also when fitted without target rows).
    estimator_ : fitted classifier

    References
    ----------
    .. [1] N. Courty, R. Flamary, D. Tuia, A. Rakotomamonjy. "Optimal Transport for Domain
       Adaptation". IEEE TPAMI 39(9), 2017.
    .. [2] R. Flamary et al. "POT: Python Optimal Transport". JMLR 22(78), 2021.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> Xs = rng.normal(size=(60, 2)); ys = (Xs[:, 0] > 0).astype(int)
    >>> Xt = Xs + 3.0
    >>> clf = OTMapping(method="exact").fit_domains(Xs, ys, Xt)
    >>> clf.coupling_.shape, float(clf.coupling_.sum().round(6))
    ((60, 60), 1.0)
    >>> float((clf.predict(Xt) == ys).mean())
    1.0
    """

    _parameter_constraints = {
        "method": [StrOptions({"exact", "sinkhorn"})],
        "reg_e": [Interval(Real, 0, None, closed="neither")],
        **_COMMON_CONSTRAINTS,
    }

    def __init__(self, *, method="sinkhorn", reg_e=1e-2, norm="max", max_iter=None, estimator=None, random_state=None):
        self.method = method
        self.reg_e = reg_e
        self.norm = norm
        self.max_iter = max_iter
        self.estimator = estimator
        self.random_state = random_state

    def _method(self) -> str:
        return self.method


@register("ot_class_reg", setting="transductive", family="optimal_transport")
class ClassRegularizedOT(_BaseOTMapping):
    r"""Class-regularised OT mapping: entropic OT + a source-class group regulariser (Courty et al., 2017).

    .. math::

        \gamma^\star = \arg\min_{\gamma \in \Pi(a, b)} \langle \gamma, M \rangle - \varepsilon H(\gamma)
        + \eta\, \Omega_c(\gamma),

    with :math:`\varepsilon` = ``reg_e``, :math:`\eta` = ``reg_cl`` and, :math:`I_c` being the source rows
    of class :math:`c`,

    - ``regularizer="lpl1"``: :math:`\Omega_c(\gamma) = \sum_j \sum_c \lVert \gamma_{I_c j} \rVert_{1/2}^{1/2}`
      (Courty et al., ECML 2014; majoration-minimisation, :func:`ot.da.sinkhorn_lpl1_mm`);
    - ``regularizer="l1l2"``: :math:`\Omega_c(\gamma) = \sum_j \sum_c \lVert \gamma_{I_c j} \rVert_2`
      (group lasso, TPAMI 2017; generalised conditional gradient, :func:`ot.da.sinkhorn_l1l2_gl`).

    Both favour couplings in which each target row receives mass from one source class. Then, as in
    :class:`OTMapping`, the source is mapped barycentrically and ``estimator`` is trained on it. Only
    the source labels enter the regulariser.

    Parameters
    ----------
    regularizer : {"lpl1", "l1l2"}, default="lpl1"
    reg_e : float, default=1e-2
        :math:`\varepsilon`, relative to the normalised cost (see :class:`OTMapping`).
    reg_cl : float, default=0.1
        :math:`\eta` (POT's default).
    norm : {"max", "median", "log", "loglog"} or None, default="max"
    max_iter : int or None, default=None
        Outer iterations (``None`` = 10, POT's default).
    max_inner_iter : int, default=200
        Sinkhorn iterations per outer iteration.
    estimator : sklearn classifier or None, default=None
        ``None`` = 1-nearest neighbour.
    random_state : None, int or RandomState, default=None
        Unused (deterministic). Accepted for a uniform strategy interface.

    Attributes
    ----------
    coupling_, cost_, source_mapped_, displacement_, estimator_
        As in :class:`OTMapping`.
    n_iter_ : int
        Outer (majorisation-minimisation / conditional-gradient) steps run.

    References
    ----------
    .. [1] N. Courty, R. Flamary, D. Tuia, A. Rakotomamonjy. "Optimal Transport for Domain
       Adaptation". IEEE TPAMI 39(9), 2017.
    .. [2] N. Courty, R. Flamary, D. Tuia. "Domain adaptation with regularized optimal transport".
       ECML PKDD 2014.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> Xs = rng.normal(size=(60, 2)); ys = (Xs[:, 0] > 0).astype(int)
    >>> clf = ClassRegularizedOT().fit_domains(Xs, ys, Xs @ [[0, 1], [-1, 0]] + 2)
    >>> clf.coupling_.shape
    (60, 60)
    """

    _parameter_constraints = {
        "regularizer": [StrOptions({"lpl1", "l1l2"})],
        "reg_e": [Interval(Real, 0, None, closed="neither")],
        "reg_cl": [Interval(Real, 0, None, closed="left")],
        "max_inner_iter": [Interval(Integral, 1, None, closed="left")],
        **_COMMON_CONSTRAINTS,
    }

    def __init__(
        self, *, regularizer="lpl1", reg_e=1e-2, reg_cl=0.1, norm="max", max_iter=None, max_inner_iter=200,
        estimator=None, random_state=None,
    ):
        self.regularizer = regularizer
        self.reg_e = reg_e
        self.reg_cl = reg_cl
        self.norm = norm
        self.max_iter = max_iter
        self.max_inner_iter = max_inner_iter
        self.estimator = estimator
        self.random_state = random_state

    def _method(self) -> str:
        return self.regularizer


@register("jdot", setting="transductive", family="optimal_transport")
class JDOT(BaseDomainAdaptationClassifier):
    r"""JDOT: joint distribution optimal transport, alternating a coupling and a target predictor (Courty et al., 2017).

    JDOT looks for the predictor :math:`f` whose target joint distribution :math:`(x^t, f(x^t))` is
    closest, in optimal transport, to the source joint distribution :math:`(x^s, y^s)`:

    .. math::

        \min_{f,\ \gamma \in \Pi(a, b)} \sum_{ij} \gamma_{ij}
        \big(\alpha\, \lVert x^s_i - x^t_j \rVert^2 + L(y^s_i, f(x^t_j))\big) + \lambda\, \Omega(f),

    solved by block-coordinate descent (``max_iter`` rounds): with :math:`f` fixed, :math:`\gamma` is an
    OT coupling on the joint cost (:func:`ot.emd`, or :func:`ot.sinkhorn` with ``method="sinkhorn"``);
    with :math:`\gamma` fixed, :math:`f` is fitted on the target rows with the *transported labels*
    :math:`\hat Y_T = n_t \gamma^\top Y_S` (:math:`Y_S` one-hot). The first coupling uses the feature
    cost alone (no :math:`f` yet). The feature cost is normalised (``norm``) so that :math:`\alpha`
    is scale-free.

    - ``loss="squared"``: :math:`L(y, f(x)) = \lVert \mathrm{onehot}(y) - f(x) \rVert^2`; ``learner`` is a
      multi-output regressor fitted on :math:`(X_T, \hat Y_T)` (default: ridge regression,
      :math:`\lambda = 1`; a :class:`~sklearn.kernel_ridge.KernelRidge` gives the paper's kernel
      ridge); prediction = :math:`\arg\max_c f_c(x)`.
    - ``loss="log"``: :math:`L(y, f(x)) = -\log p_f(y \mid x)`; ``learner`` is a probabilistic
      classifier that accepts ``sample_weight`` (default: logistic regression), fitted on every
      (target row, class :math:`c`) pair with weight :math:`\hat Y_{T, jc}`.

    The learner never sees target labels: only source labels moved by the coupling. (The parameter is
    called ``learner``, not ``estimator``, because with the squared loss it is a regressor.)

    Parameters
    ----------
    alpha : float, default=1.0
        Weight :math:`\alpha` of the (normalised) feature cost against the label loss.
    loss : {"squared", "log"}, default="squared"
    method : {"exact", "sinkhorn"}, default="exact"
    reg_e : float, default=1e-2
        Entropic regularisation, used by ``method="sinkhorn"`` only.
    norm : {"median", "max", "log", "loglog"} or None, default="median"
        Normalisation of the feature cost :math:`\lVert x^s_i - x^t_j\rVert^2`.
    max_iter : int, default=10
        Block-coordinate-descent rounds (the reference implementation's ``numIterBCD=10``).
    learner : sklearn regressor / classifier or None, default=None
        ``None`` = ``Ridge(alpha=1.0)`` for ``"squared"``, ``LogisticRegression()`` for ``"log"``.
    random_state : None, int or RandomState, default=None
        Unused (deterministic). Accepted for a uniform strategy interface.

    Attributes
    ----------
    coupling_ : ndarray of shape (n_source, n_target) or None
        The last coupling (``None`` when fitted without target rows).
    transported_labels_ : ndarray of shape (n_target, n_classes) or None
        :math:`\hat Y_T` of the last round.
    objective_ : list of float
        :math:`\langle \gamma, \alpha M + L \rangle` after each round.
    n_iter_ : int
        Block-coordinate-descent rounds run (1 when fitted without target rows).
    learner_ : the fitted learner

    References
    ----------
    .. [1] N. Courty, R. Flamary, A. Habrard, A. Rakotomamonjy. "Joint Distribution Optimal
       Transportation for Domain Adaptation". NeurIPS 2017.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> Xs = rng.normal(size=(60, 2)); ys = (Xs[:, 0] > 0).astype(int)
    >>> clf = JDOT().fit_domains(Xs, ys, Xs + [1.0, 0.0])
    >>> clf.coupling_.shape
    (60, 60)
    """

    _parameter_constraints = {
        "alpha": [Interval(Real, 0, None, closed="left")],
        "loss": [StrOptions({"squared", "log"})],
        "method": [StrOptions({"exact", "sinkhorn"})],
        "reg_e": [Interval(Real, 0, None, closed="neither")],
        "norm": [StrOptions(_NORMS), None],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "learner": [HasMethods(["fit", "predict"]), None],
        "random_state": ["random_state"],
    }

    def __init__(
        self, *, alpha=1.0, loss="squared", method="exact", reg_e=1e-2, norm="median", max_iter=10, learner=None,
        random_state=None,
    ):
        self.alpha = alpha
        self.loss = loss
        self.method = method
        self.reg_e = reg_e
        self.norm = norm
        self.max_iter = max_iter
        self.learner = learner
        self.random_state = random_state

    def _new_learner(self):
        if self.learner is not None:
            return clone(self.learner)
        return Ridge(alpha=1.0) if self.loss == "squared" else LogisticRegression()

    def _fit_learner(self, X, Y):
        """Fit a fresh learner on rows ``X`` with soft labels ``Y`` (n, K)."""
        learner = self._new_learner()
        if self.loss == "squared":
            learner.fit(X, Y)
        else:
            n, K = Y.shape
            keep = Y.ravel() > 1e-12  # (row j, class c) pairs in row-major order
            rows = np.repeat(np.arange(n), K)[keep]
            labels = np.tile(np.arange(K), n)[keep]
            if np.unique(labels).size < 2:  # every row carries one class: a classifier cannot be fitted
                raise ValueError(
                    "JDOT(loss='log'): the transported labels hold a single class; use loss='squared' or a larger alpha."
                )
            learner.fit(X[rows], labels, sample_weight=Y.ravel()[keep])  # rows of Y sum to 1
        return learner

    def _scores(self, learner, X, K):
        """(n, K) predictions: regression outputs (squared) or class probabilities (log)."""
        if self.loss == "squared":
            return np.asarray(learner.predict(X), dtype=float).reshape(X.shape[0], -1)
        P = np.zeros((X.shape[0], K))
        P[:, np.asarray(learner.classes_, dtype=int)] = learner.predict_proba(X)
        return P

    def _label_loss(self, Ys, F):
        """L[i, j] = L(y^s_i, f(x^t_j)) for one-hot ``Ys`` (n_s, K) and scores ``F`` (n_t, K)."""
        if self.loss == "squared":
            return euclidean_distances(Ys, F, squared=True)
        return -np.log(np.clip(F, 1e-12, None))[:, Ys.argmax(axis=1)].T

    def _fit(self, split: DomainSplit) -> None:
        self._validate_params()
        K = split.n_classes
        Ys = np.eye(K)[split.y_source]
        self.objective_ = []
        self.n_iter_ = self.max_iter if split.has_target else 1
        if not split.has_target:
            self.coupling_ = self.transported_labels_ = None
            self.learner_ = self._fit_learner(split.X_source, Ys)
            return
        Xt = split.X_target
        nt = Xt.shape[0]
        _check_ot_memory(type(self).__name__, split.X_source.shape[0], nt)
        C0 = self.alpha * ot_cost(split.X_source, Xt, self.norm)
        C = C0
        for _ in range(self.max_iter):
            G = ot_coupling(C, method=self.method, reg_e=self.reg_e)
            Yt_hat = nt * (G.T @ Ys)
            learner = self._fit_learner(Xt, Yt_hat)
            C = C0 + self._label_loss(Ys, self._scores(learner, Xt, K))
            self.objective_.append(float(np.sum(G * C)))
        self.coupling_ = G
        self.transported_labels_ = Yt_hat
        self.learner_ = learner

    def _predict_encoded(self, X):
        if self.loss == "squared":
            return self._scores(self.learner_, X, len(self.classes_)).argmax(axis=1)
        return np.asarray(self.learner_.predict(X), dtype=int)

    def selection_protocol(self) -> str:
        """``"none"``: fixed hyper-parameters."""
        return "none"
