r"""Instance reweighting for covariate shift: KMM, KLIEP and a discriminator density ratio.

Under covariate shift (:math:`p_S(y|x) = p_T(y|x)`, :math:`p_S(x) \ne p_T(x)`), the target risk is the
source risk of the importance-weighted loss, :math:`\mathbb E_T[\ell] = \mathbb E_S[w(x)\,\ell]` with
:math:`w(x) = p_T(x)/p_S(x)` (Shimodaira 2000). The three strategies differ only in how they estimate
the weights of the source rows; each then trains any sklearn classifier that accepts ``sample_weight``
on the weighted source rows. The weights alone are available through :func:`kmm_weights`,
:func:`kliep_weights` and :func:`discriminator_weights`.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
import scipy.linalg as sla
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics.pairwise import euclidean_distances, rbf_kernel
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.utils import check_random_state
from sklearn.utils._available_if import available_if
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import has_fit_parameter

from .._linalg import check_dense_memory, nystroem_map, resolve_approximation
from ..base import BaseDomainAdaptationClassifier, DomainSplit
from ..classifiers import CVSVC, clone_or_default, estimator_selection
from ..registry import register

__all__ = [
    "KMM",
    "KLIEP",
    "DiscriminatorReweighting",
    "kmm_weights",
    "kliep_weights",
    "discriminator_weights",
    "resolve_rbf_gamma",
]


# ---------------------------------------------------------------------------------------------------
# kernels
# ---------------------------------------------------------------------------------------------------
def _median_sq_distance(Xs, Xt, random_state, max_rows=1000) -> float:
    rng = check_random_state(random_state)
    X = sp.vstack([sp.csr_matrix(Xs), sp.csr_matrix(Xt)], format="csr") if sp.issparse(Xs) or sp.issparse(Xt) else np.vstack([Xs, Xt])
    if X.shape[0] > max_rows:
        X = X[np.sort(rng.choice(X.shape[0], max_rows, replace=False))]
    D2 = euclidean_distances(X, squared=True)
    d2 = D2[np.triu_indices_from(D2, k=1)]
    d2 = d2[d2 > 0]
    return float(np.median(d2)) if d2.size else 1.0


def resolve_rbf_gamma(gamma, Xs, Xt, random_state=None) -> float:
    r"""The RBF width :math:`\gamma` of :math:`k(x, x') = \exp(-\gamma \|x - x'\|^2)`.

    ``"auto"`` = ``1 / n_features`` (libsvm's default, the kernel of the SVM of the CORAL protocol);
    ``"median"`` = ``1 / median(||x - x'||^2)`` over pairs of the pooled source + target rows (at most
    1000 rows, drawn with ``random_state``); a positive float is used as is.
    """
    if isinstance(gamma, str):
        if gamma == "auto":
            return 1.0 / Xs.shape[1]
        if gamma == "median":
            return 1.0 / _median_sq_distance(Xs, Xt, random_state)
        raise ValueError(f"gamma must be 'auto', 'median' or a positive float, got {gamma!r}.")
    gamma = float(gamma)
    if not gamma > 0:
        raise ValueError(f"gamma must be positive, got {gamma!r}.")
    return gamma


# ---------------------------------------------------------------------------------------------------
# KMM
# ---------------------------------------------------------------------------------------------------
def _spd_solver(A):
    """A function ``b -> A^{-1} b`` for a symmetric positive-definite ``A``, factorised once by
    Cholesky (half the flops of an LU: the KMM solvers' linear solves are most of their time); by LU
    if the Cholesky factorisation fails (``A`` numerically indefinite)."""
    try:
        factor = sla.cho_factor(A, lower=True, check_finite=False)
        return lambda b: sla.cho_solve(factor, b, check_finite=False)
    except np.linalg.LinAlgError:
        lu = sla.lu_factor(A, check_finite=False)
        return lambda b: sla.lu_solve(lu, b, check_finite=False)


def _pdas(K, c, lb, ub, beta, total=None, max_iter=200, nu0=None):
    r"""Primal-dual active-set method for :math:`\min \tfrac12\beta^\top K\beta - c^\top\beta`,
    ``lb <= beta <= ub`` (and ``sum(beta) == total`` if given), ``K`` positive definite.

    At a fixed point the KKT conditions hold exactly (up to the linear solves). Returns
    ``(beta, nu, converged)`` with ``nu`` the multiplier of the sum constraint (0 without it).
    """
    n = c.shape[0]
    beta = np.clip(beta, lb, ub)
    nu = 0.0
    g = K @ beta - c
    if total is not None and nu0 is not None:
        nu = float(nu0)
    elif total is not None:
        free = (beta > lb) & (beta < ub)
        nu = -float(np.mean(g[free])) if np.any(free) else 0.0
    prev = None
    for _ in range(max_iter):
        gg = g + nu
        at_lb = beta - gg <= lb
        at_ub = beta - gg >= ub
        key = (at_lb.tobytes(), at_ub.tobytes())
        if key == prev:
            return beta, nu, True
        prev = key
        F = ~(at_lb | at_ub)
        new = np.where(at_lb, lb, np.where(at_ub, ub, 0.0))
        fixed = ~F
        if np.any(F):
            rhs = c[F] - K[np.ix_(F, fixed)] @ new[fixed]
            KFF = K[np.ix_(F, F)]
            if total is None:
                new[F] = _spd_solver(KFF)(rhs)
                nu = 0.0
            else:
                # bordered system [K_FF 1; 1' 0] [beta_F; nu] = [rhs; total - sum(beta_fixed)]
                a, u = _spd_solver(KFF)(np.column_stack([rhs, np.ones(F.sum())])).T
                nu = (a.sum() - (total - new[fixed].sum())) / u.sum()
                new[F] = a - nu * u
        elif total is not None:
            nu = 0.0
        beta = new
        g = K @ beta - c
    return beta, nu, False


def _pdas_kmm(K, kappa, B, lower, upper, start, max_iter):
    """Box PDAS, then (if the sum leaves [lower, upper]) PDAS with the violated side as an equality."""
    n = kappa.shape[0]
    lb, ub = np.zeros(n), np.full(n, B)
    beta, nu, ok = _pdas(K, kappa, lb, ub, start, max_iter=max_iter)
    s = beta.sum()
    if ok and (s > upper or s < lower):
        total = upper if s > upper else lower
        beta, nu, ok = _pdas(K, kappa, lb, ub, beta * (total / max(s, 1e-300)), total=total, max_iter=max_iter)
    return beta, ok


def _ipm_kmm(K, c, B, lower, upper, tol=1e-10, max_iter=100):
    r"""Mehrotra predictor-corrector interior-point method for the KMM QP (robust to an ill-conditioned
    ``K``): constraints :math:`G\beta \le h` = ``-beta <= 0``, ``beta <= B``, ``-sum <= -lower``,
    ``sum <= upper``; the iterates stay strictly feasible."""
    n = c.shape[0]
    if upper - lower < 1e-9 * n:  # an equality: give the barrier a hair of room
        mid = 0.5 * (upper + lower)
        lower, upper = mid - 5e-10 * n, mid + 5e-10 * n
    x = np.full(n, min(max(0.5 * (lower + upper) / n, 1e-3 * B), 0.999 * B))
    z = np.ones(2 * n + 2)
    m = z.size

    def slack(x):
        t = x.sum()
        return np.concatenate([x, B - x, [t - lower, upper - t]])

    def Gt(v):  # G' v
        return -v[:n] + v[n:2 * n] + (v[2 * n + 1] - v[2 * n])

    def G(dx):
        t = dx.sum()
        return np.concatenate([-dx, dx, [-t, t]])

    def max_step(v, dv):
        neg = dv < 0
        return min(1.0, float(np.min(-v[neg] / dv[neg]))) if np.any(neg) else 1.0

    scale = 1.0 + np.abs(c).max()
    ok = False
    for _ in range(max_iter):
        s = slack(x)
        rd = K @ x - c + Gt(z)
        mu = s @ z / m
        if np.abs(rd).max() <= tol * scale and mu <= tol * scale:
            ok = True
            break
        w = z / s
        M = K + np.diag(w[:n] + w[n:2 * n])
        M += w[2 * n] + w[2 * n + 1]
        solve = _spd_solver(M)

        def direction(rc):
            dx = solve(-rd - Gt(rc / s))
            ds = -G(dx)
            return dx, ds, (rc - z * ds) / s

        dx, ds, dz = direction(-s * z)
        a = min(max_step(s, ds), max_step(z, dz))
        sigma = (((s + a * ds) @ (z + a * dz)) / m / mu) ** 3
        dx, ds, dz = direction(-s * z + sigma * mu - ds * dz)
        a = 0.99 * min(max_step(s, ds), max_step(z, dz))
        x, z = x + a * dx, z + a * dz
    return np.clip(x, 0.0, B), float(z[2 * n + 1] - z[2 * n]), ok


def _solve_kmm_qp(K, kappa, B, lower, upper):
    """Solve the KMM QP to KKT optimality; returns ``(beta, converged)``."""
    # 1. active-set method from the unconstrained minimiser (exact in a few dense solves when K is
    #    well conditioned)
    beta, ok = _pdas_kmm(K, kappa, B, lower, upper, _spd_solver(K)(kappa), max_iter=12)
    if ok:
        return beta, True
    # 2. interior point (robust), then the active-set method polishes its solution to exactness
    x, nu, ok_ipm = _ipm_kmm(K, kappa, B, lower, upper)
    n, t = x.shape[0], x.sum()
    lb, ub = np.zeros(n), np.full(n, B)
    if min(abs(t - lower), abs(t - upper)) <= 1e-6 * max(upper, 1.0):  # the sum constraint is active
        total = lower if abs(t - lower) < abs(t - upper) else upper
        beta, _, ok = _pdas(K, kappa, lb, ub, x, total=total, max_iter=12, nu0=nu)
    else:
        beta, _, ok = _pdas(K, kappa, lb, ub, x, max_iter=12)
    feasible = np.all(beta >= 0) and np.all(beta <= B) and lower - 1e-9 * upper <= beta.sum() <= upper * (1 + 1e-12)
    f = lambda b: 0.5 * b @ (K @ b) - kappa @ b  # noqa: E731
    if ok and feasible and f(beta) <= f(x) + 1e-12 * abs(f(x)):
        return beta, True
    return x, ok_ipm


def _project_box_sum(v, B, lower, upper):
    r"""Euclidean projection of ``v`` onto :math:`\{0 \le \beta \le B,\ \text{lower} \le \sum\beta \le
    \text{upper}\}`: :math:`\beta = \operatorname{clip}(v - \tau, 0, B)` with :math:`\tau = 0` if that sum is in
    the band, else the :math:`\tau` (bisection, O(n) per step) that puts the sum on the violated side."""
    beta = np.clip(v, 0.0, B)
    s = beta.sum()
    if lower <= s <= upper:
        return beta
    target = upper if s > upper else lower
    lo, hi = float(v.min()) - B, float(v.max())  # sum(clip(v - lo)) = n B >= target, sum(clip(v - hi)) = 0
    for _ in range(100):
        tau = 0.5 * (lo + hi)
        if np.clip(v - tau, 0.0, B).sum() > target:
            lo = tau
        else:
            hi = tau
        if hi - lo <= 1e-12 * max(1.0, abs(tau)):
            break
    return np.clip(v - 0.5 * (lo + hi), 0.0, B)


def _kmm_qp_low_rank(Phi, kappa, B, lower, upper, jitter, max_iter=1000, tol=1e-4):
    r"""The KMM QP with :math:`K = \Phi\Phi^\top + \text{jitter}\, I` (``Phi``: n x m), by accelerated
    projected gradient (FISTA with gradient restart, O'Donoghue & Candès 2015).

    Each step costs two products with :math:`\Phi` (:math:`O(nm)`, in float32) and one projection onto the box and
    the sum band (:func:`_project_box_sum`, :math:`O(n)`): linear in :math:`n`, and :math:`K` is never
    formed. Step :math:`1/L`, :math:`L = \lambda_{\max}(\Phi^\top\Phi) + \text{jitter}`. Stops when a
    step moves :math:`\beta` by less than ``tol`` (relative), or after ``max_iter`` steps. Returns
    ``(beta, converged, n_iter)``.
    """
    n = kappa.shape[0]
    # the two products per step read Phi from memory (they are memory-bound): float32 halves that, and
    # its ~1e-7 relative rounding is far below the stopping tolerance
    P = np.asarray(Phi, dtype=np.float32)
    L = float(np.linalg.eigvalsh((P.T @ P).astype(np.float64))[-1]) * (1 + 1e-4) + jitter
    grad = lambda b: (P @ (P.T @ b.astype(np.float32))).astype(np.float64) + jitter * b - kappa  # noqa: E731
    beta = _project_box_sum(np.ones(n), B, lower, upper)
    y, t = beta.copy(), 1.0
    for it in range(1, max_iter + 1):
        g = grad(y)
        new = _project_box_sum(y - g / L, B, lower, upper)
        step = new - beta
        if g @ (new - y) > 0:  # the momentum points uphill: restart from the last iterate
            y, t = new.copy(), 1.0
        else:
            t_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
            y = new + ((t - 1.0) / t_new) * step
            t = t_new
        beta = new
        if np.linalg.norm(step) <= tol * max(1.0, np.linalg.norm(beta)):
            return beta, True, it
    return beta, False, max_iter


def kmm_weights(
    Xs,
    Xt,
    *,
    gamma="auto",
    B=1000.0,
    eps=None,
    jitter=1e-8,
    random_state=None,
    return_info=False,
    approximation="auto",
    n_landmarks=500,
    max_iter=1000,
):
    r"""Kernel Mean Matching weights of the source rows (Huang et al., NIPS 2007).

    .. math::

        \min_{\beta}\ \tfrac12 \beta^\top K \beta - \kappa^\top \beta \quad \text{s.t.}\quad
        0 \le \beta_i \le B,\quad \Big|\sum_{i=1}^{n_s} \beta_i - n_s\Big| \le n_s \varepsilon,

    with :math:`K_{ii'} = k(x^s_i, x^s_{i'})` and :math:`\kappa_i = \frac{n_s}{n_t}\sum_{j=1}^{n_t}
    k(x^s_i, x^t_j)`: the weighted source kernel mean matches the target's (the empirical MMD
    :math:`\|\frac1{n_s}\sum_i \beta_i\phi(x^s_i) - \frac1{n_t}\sum_j \phi(x^t_j)\|^2` equals
    :math:`\frac{2}{n_s^2}(\tfrac12\beta^\top K\beta - \kappa^\top\beta) + \text{const}`).

    The QP is solved to KKT optimality: from the clipped unconstrained minimiser :math:`K^{-1}\kappa`, a
    primal-dual active-set method (Hintermüller, Ito & Kunisch 2003) solves the KKT system on the free
    rows exactly until the active sets repeat (a few dense solves); if the sum constraint is violated
    without it, the optimum lies on the violated side (convexity) and the method is rerun with that
    equality and its multiplier. When the active sets cycle (ill-conditioned ``K``, e.g. few
    features), a Mehrotra predictor-corrector interior-point method solves the QP and the active-set
    method polishes its solution. skada's ``KMMReweightAdapter`` uses Frank-Wolfe or a generic scipy
    solver instead, which stop at a tolerance. ``K + jitter * I`` is used so
    that the free block is positive definite (RBF Gram matrices of distinct rows are, up to rounding).

    Approximate variant (``approximation="nystroem"``; ``"auto"`` picks it above 10 000 rows, source +
    target). The exact QP needs the :math:`n_s \times n_s` matrix :math:`K` (and dense solves on it,
    :math:`O(n_s^3)`) and :math:`\kappa` the :math:`n_s \times n_t` kernel. With Nyström features
    :math:`\phi` (:func:`~tltaxonomy._linalg.nystroem_map`, :math:`m` = ``n_landmarks`` landmarks from
    the pooled rows), :math:`K \approx \Phi_s\Phi_s^\top` is low rank and
    :math:`\kappa \approx \tfrac{n_s}{n_t}\Phi_s \sum_j \phi(x^t_j)`; the same QP (with ``jitter``) is
    solved by accelerated projected gradient using only products with :math:`\Phi_s`
    (:func:`_kmm_qp_low_rank`): time :math:`O((n_s + n_t) m d + \text{iterations} \cdot n_s m)`, memory
    :math:`O((n_s + n_t) m)`, linear in :math:`n`. Its solution is approximate twice (the kernel and
    the iteration budget ``max_iter``): it matches the exact weights where :math:`K` is well
    represented by the landmarks. The exact variant refuses
    (:class:`~tltaxonomy._errors.InsufficientMemoryError`) before allocating matrices that do not fit in
    the available memory.

    Parameters
    ----------
    Xs, Xt : array or sparse matrix of shape (n_s, d), (n_t, d)
    gamma : "auto", "median" or float, default="auto"
        RBF width, see :func:`resolve_rbf_gamma` (``"auto"`` = ``1/d``, libsvm's default).
    B : float, default=1000
        Upper bound of a weight (the paper's default).
    eps : float or None, default=None
        ``None`` = :math:`(\sqrt{n_s} - 1)/\sqrt{n_s}`, the paper's choice.
    jitter : float, default=1e-8
        Added to the diagonal of ``K``.
    random_state : int, RandomState or None
        Only for the row sample of ``gamma="median"``.
    return_info : bool, default=False
        Also return a dict with ``K`` (``None`` for Nyström), ``kappa``, ``gamma``, ``eps``,
        ``converged``, ``approximation`` (``"exact"`` or ``"nystroem"``).
    approximation : {"auto", "exact", "nystroem"}, default="auto"
        ``"auto"`` = exact up to 10 000 rows (source + target), Nyström above.
    n_landmarks : int, default=500
        Nyström landmarks (drawn with ``random_state``).
    max_iter : int, default=1000
        Projected-gradient steps of the Nyström variant (it stops earlier when a step changes the
        weights by less than 1e-4, relative: measured against the exact QP on 500 + 400 rows, the
        objective is then within 0.1-5% of the exact optimum, relative to the uniform weights' gap).

    Returns
    -------
    beta : ndarray of shape (n_s,)
    info : dict, only if ``return_info``
    """
    n_s, n_t = Xs.shape[0], Xt.shape[0]
    if n_s < 1 or n_t < 1:
        raise ValueError(f"kmm_weights: needs at least one source and one target row, got {n_s} and {n_t}.")
    if not B > 0:
        raise ValueError(f"kmm_weights: B must be positive, got {B!r}.")
    if approximation not in ("auto", "exact", "nystroem"):
        raise ValueError(f"kmm_weights: approximation must be 'auto', 'exact' or 'nystroem', got {approximation!r}.")
    eps = (np.sqrt(n_s) - 1) / np.sqrt(n_s) if eps is None else float(eps)
    g = resolve_rbf_gamma(gamma, Xs, Xt, random_state)
    lower, upper = max(n_s * (1 - eps), 0.0), n_s * (1 + eps)
    if lower > n_s * float(B):
        raise ValueError(f"kmm_weights: infeasible: sum(beta) >= {lower:g} cannot hold with beta <= B={B:g}.")
    method = resolve_approximation(approximation, n_s + n_t)
    if method == "nystroem":
        X = sp.vstack([sp.csr_matrix(Xs), sp.csr_matrix(Xt)], format="csr") if sp.issparse(Xs) or sp.issparse(Xt) else np.vstack([Xs, Xt])
        phi = nystroem_map(X, kernel="rbf", gamma=g, n_landmarks=n_landmarks, random_state=random_state)
        Phi_s = phi.transform(Xs)
        kappa = (n_s / n_t) * (Phi_s @ phi.transform(Xt).sum(axis=0))
        K = None
        beta, ok, _ = _kmm_qp_low_rank(Phi_s, kappa, float(B), lower, upper, jitter, max_iter=max_iter)
    else:
        # K, the n_s x n_t kernel of kappa, and the active-set / interior-point copies of K
        check_dense_memory("KMM", "source x source RBF kernel matrix", (n_s, n_s), copies=3 + n_t / n_s,
                           fix='Use approximation="nystroem" (n_landmarks=500: memory and time linear in n).')
        K = rbf_kernel(Xs, Xs, gamma=g)
        K[np.diag_indices_from(K)] += jitter
        kappa = (n_s / n_t) * rbf_kernel(Xs, Xt, gamma=g).sum(axis=1)
        beta, ok = _solve_kmm_qp(K, kappa, float(B), lower, upper)
    if not ok:
        warnings.warn("kmm_weights: the QP solvers did not reach their tolerance; the weights are approximate.", RuntimeWarning)
    beta = np.clip(beta, 0.0, float(B))
    if return_info:
        info = {"K": K, "kappa": kappa, "gamma": g, "eps": eps, "B": float(B), "converged": ok, "approximation": method}
        return beta, info
    return beta


# ---------------------------------------------------------------------------------------------------
# KLIEP
# ---------------------------------------------------------------------------------------------------
def _gauss(X, C, sigma):
    return rbf_kernel(X, C, gamma=1.0 / (2.0 * sigma**2))


def _kliep_fit(A, b, max_steps=100):
    r"""Maximise mean(log(A alpha)) s.t. b' alpha = 1, alpha >= 0 (Sugiyama et al.'s projected gradient
    ascent with decreasing step sizes 1e3 .. 1e-3, a step kept only if it increases the objective)."""
    n_b = A.shape[1]
    c = b / (b @ b)

    def project(a):
        a = a + (1.0 - b @ a) * c
        a = np.maximum(0.0, a)
        s = b @ a
        return a / s if s > 0 else np.full(n_b, 1.0 / b.sum())

    alpha = project(np.ones(n_b))
    score = np.mean(np.log(np.maximum(A @ alpha, 1e-300)))
    for step in 10.0 ** np.arange(3, -4, -1):
        for _ in range(max_steps):
            new = project(alpha + step * A.T @ (1.0 / np.maximum(A @ alpha, 1e-300)))
            new_score = np.mean(np.log(np.maximum(A @ new, 1e-300)))
            if new_score <= score:
                break
            alpha, score = new, new_score
    return alpha, score


def kliep_weights(
    Xs, Xt, *, sigmas=None, n_centers=100, cv=5, max_steps=100, random_state=None, return_info=False
):
    r"""KLIEP importance weights of the source rows (Sugiyama et al., NIPS 2007 / AISM 2008).

    The ratio is modelled as :math:`\hat w(x) = \sum_{l=1}^{b} \alpha_l\,
    \exp(-\|x - c_l\|^2 / 2\sigma^2)` with centres :math:`c_l` drawn from the target rows, and

    .. math::

        \max_{\alpha}\ \frac1{n_t}\sum_{j=1}^{n_t} \log \hat w(x^t_j) \quad\text{s.t.}\quad
        \frac1{n_s}\sum_{i=1}^{n_s} \hat w(x^s_i) = 1,\quad \alpha \ge 0,

    i.e. the KL divergence from :math:`p_T` to :math:`\hat w\, p_S` is minimised. Solved by the paper's
    projected gradient ascent. :math:`\sigma` is chosen from ``sigmas`` by likelihood
    cross-validation on the target rows (``cv`` folds; the held-out mean log-likelihood, no labels),
    centres drawn from all target rows as in the authors' code.

    Parameters
    ----------
    Xs, Xt : array or sparse matrix
    sigmas : sequence of float or None, default=None
        Candidate widths; ``None`` = ``{1/4, 1/2, 1, 2, 4} x`` the median distance between pooled
        rows.
    n_centers : int, default=100
        Maximum number of kernel centres (the paper's ``b = min(100, n_t)``).
    cv : int, default=5
        Folds of the likelihood cross-validation (``min(cv, n_t)``; no CV with a single candidate).
    max_steps : int, default=100
        Gradient steps per step size.
    random_state : int, RandomState or None
        Draw of the centres, of the CV folds and of the median-distance sample.
    return_info : bool, default=False
        Also return a dict with ``alpha``, ``centers``, ``sigma``, ``cv_scores``, ``target_loglik``.

    Returns
    -------
    w : ndarray of shape (n_s,)
        Positive weights with mean exactly 1 over the source rows.
    """
    rng = check_random_state(random_state)
    n_s, n_t = Xs.shape[0], Xt.shape[0]
    if n_s < 1 or n_t < 2:
        raise ValueError(f"kliep_weights: needs at least 1 source and 2 target rows, got {n_s} and {n_t}.")
    b = min(int(n_centers), n_t)
    centers = Xt[np.sort(rng.choice(n_t, b, replace=False))]
    if sigmas is None:
        med = np.sqrt(_median_sq_distance(Xs, Xt, rng))
        sigmas = med * np.array([0.25, 0.5, 1.0, 2.0, 4.0])
    sigmas = np.atleast_1d(np.asarray(sigmas, dtype=float))
    if np.any(sigmas <= 0):
        raise ValueError(f"kliep_weights: sigmas must be positive, got {sigmas!r}.")
    n_folds = min(int(cv), n_t)
    cv_scores = np.full(sigmas.size, np.nan)
    if sigmas.size > 1 and n_folds >= 2:
        folds = list(KFold(n_folds, shuffle=True, random_state=rng.randint(2**31 - 1)).split(np.arange(n_t)))
        for k, sigma in enumerate(sigmas):
            A = _gauss(Xt, centers, sigma)
            bvec = _gauss(Xs, centers, sigma).mean(axis=0)
            scores = []
            for train, test in folds:
                alpha, _ = _kliep_fit(A[train], bvec, max_steps)
                scores.append(np.mean(np.log(np.maximum(A[test] @ alpha, 1e-300))))
            cv_scores[k] = np.mean(scores)
        sigma = float(sigmas[int(np.nanargmax(cv_scores))])
    else:
        sigma = float(sigmas[0])
    A = _gauss(Xt, centers, sigma)
    Phi_s = _gauss(Xs, centers, sigma)
    alpha, loglik = _kliep_fit(A, Phi_s.mean(axis=0), max_steps)
    w = Phi_s @ alpha
    if return_info:
        return w, {"alpha": alpha, "centers": centers, "sigma": sigma, "sigmas": sigmas, "cv_scores": cv_scores,
                   "target_loglik": loglik}
    return w


# ---------------------------------------------------------------------------------------------------
# discriminator density ratio
# ---------------------------------------------------------------------------------------------------
def discriminator_weights(Xs, Xt, *, classifier=None, cv=5, clip=None, random_state=None, return_info=False):
    r"""Density-ratio weights from a probabilistic domain classifier (Bickel, Brückner & Scheffer 2007).

    A classifier is trained to tell target (label 1) from source (label 0) rows; by Bayes' rule

    .. math::

        w(x) = \frac{p_T(x)}{p_S(x)} = \frac{n_s}{n_t}\,\frac{p(t \mid x)}{p(s \mid x)}.

    With ``cv = k >= 2`` the weights are *cross-fitted*: the rows are split into ``k`` stratified,
    shuffled folds and each source row's :math:`p(t|x)` comes from the classifier fitted without its
    fold (which keeps a flexible classifier from memorising the rows it weights). ``cv=None`` fits once
    on all rows. Probabilities are clipped to ``[1e-6, 1 - 1e-6]``; ``clip`` bounds the weights.

    Parameters
    ----------
    Xs, Xt : array or sparse matrix
    classifier : sklearn classifier with ``predict_proba`` or None, default=None
        ``None`` = ``LogisticRegression(C=1.0, max_iter=1000)``.
    cv : int or None, default=5
    clip : float or None, default=None
        Upper bound of a weight.
    random_state : int, RandomState or None
        Shuffling of the folds.
    return_info : bool, default=False
        Also return ``{"p_target": ...}`` (the target-class probability of each source row).

    Returns
    -------
    w : ndarray of shape (n_s,)
    """
    n_s, n_t = Xs.shape[0], Xt.shape[0]
    if n_s < 1 or n_t < 1:
        raise ValueError(f"discriminator_weights: needs source and target rows, got {n_s} and {n_t}.")
    clf = LogisticRegression(C=1.0, max_iter=1000) if classifier is None else classifier
    if not hasattr(clf, "predict_proba"):
        raise ValueError(f"discriminator_weights: the classifier {type(clf).__name__} has no predict_proba.")
    sparse = sp.issparse(Xs) or sp.issparse(Xt)
    X = sp.vstack([sp.csr_matrix(Xs), sp.csr_matrix(Xt)], format="csr") if sparse else np.vstack([Xs, Xt])
    d = np.r_[np.zeros(n_s, int), np.ones(n_t, int)]
    p = np.empty(n_s)
    if cv is None or int(cv) < 2:
        model = clone(clf).fit(X, d)
        p = model.predict_proba(Xs)[:, list(model.classes_).index(1)]
    else:
        k = min(int(cv), n_s, n_t)
        if k < 2:
            raise ValueError(f"discriminator_weights: cross-fitting needs at least 2 rows per domain, got {n_s} and {n_t}.")
        for train, test in StratifiedKFold(k, shuffle=True, random_state=random_state).split(np.zeros(len(d)), d):
            model = clone(clf).fit(X[train], d[train])
            src = test[test < n_s]
            if src.size:
                p[src] = model.predict_proba(X[src])[:, list(model.classes_).index(1)]
    p = np.clip(p, 1e-6, 1 - 1e-6)
    w = (n_s / n_t) * p / (1 - p)
    if clip is not None:
        w = np.minimum(w, float(clip))
    if return_info:
        return w, {"p_target": p}
    return w


# ---------------------------------------------------------------------------------------------------
# strategies
# ---------------------------------------------------------------------------------------------------
def check_sample_weight_support(estimator, owner: str) -> None:
    """Raise a ValueError naming ``estimator`` if its ``fit`` has no ``sample_weight`` parameter."""
    if not has_fit_parameter(estimator, "sample_weight"):
        raise ValueError(
            f"{owner}: the estimator {type(estimator).__name__} does not accept sample_weight in fit, so the "
            "importance weights cannot be used. Pass a classifier whose fit(X, y, sample_weight=...) exists "
            "(e.g. tltaxonomy.classifiers.CVSVC, sklearn.svm.SVC, sklearn.linear_model.LogisticRegression)."
        )


class _BaseReweighting(BaseDomainAdaptationClassifier):
    """Fit ``estimator`` on the source rows weighted by ``self._weights(Xs, Xt)``."""

    _min_target_rows = 2  # a density ratio (and its cross-fitting) needs at least 2 target rows

    def _fit(self, split: DomainSplit) -> None:
        self._validate_params()
        est = clone_or_default(self.estimator, CVSVC(kernel="linear"))
        check_sample_weight_support(est, type(self).__name__)
        if split.has_target:
            w = np.asarray(self._weights(split.X_source, split.X_target), dtype=float)
        else:  # nothing to match: every source row counts once
            w = np.ones(split.X_source.shape[0])
        self.weights_ = w
        est.fit(split.X_source, split.y_source, sample_weight=w)
        self.estimator_ = est

    def selection_protocol(self) -> str:
        """That of the weighted classifier (``"source_cv"`` with the default SVM); the weights use no label."""
        return estimator_selection(self.estimator)

    def _predict_encoded(self, X):
        return self.estimator_.predict(X)

    @available_if(lambda self: self.estimator is not None and hasattr(self.estimator, "predict_proba"))
    def predict_proba(self, X, *, sample_domain=None):
        """Class probabilities of the weighted classifier (only if it has ``predict_proba``)."""
        X = self._validate_predict_X(X, sample_domain)
        return self.estimator_.predict_proba(X)


_ESTIMATOR = [HasMethods(["fit", "predict"]), None]


@register("kmm", setting="transductive", family="reweighting")
class KMM(_BaseReweighting):
    r"""KMM: Kernel Mean Matching importance weights, then a weighted classifier (Huang et al., NIPS 2007).

    The source rows get the weights :math:`\beta` that match the source kernel mean to the target's in
    the RKHS of an RBF kernel (see :func:`kmm_weights`):

    .. math::

        \min_{\beta}\ \tfrac12 \beta^\top K \beta - \kappa^\top \beta \quad \text{s.t.}\quad
        0 \le \beta_i \le B,\quad \Big|\sum_i \beta_i - n_s\Big| \le n_s \varepsilon,
        \qquad \kappa_i = \tfrac{n_s}{n_t}\textstyle\sum_j k(x^s_i, x^t_j),

    and ``estimator`` is fitted on :math:`(X_S, y_S)` with ``sample_weight = beta``. Without target rows
    every weight is 1 (the source-only classifier).

    Parameters
    ----------
    gamma : "auto", "median" or float, default="auto"
        RBF width of the matching kernel; ``"auto"`` = ``1/n_features`` (libsvm's default, the same
        kernel as the CORAL protocol's SVM), ``"median"`` = inverse median squared distance.
    B : float, default=1000
        Upper bound of a weight (the paper's default).
    eps : float or None, default=None
        Tolerance of the sum constraint; ``None`` = :math:`(\sqrt{n_s}-1)/\sqrt{n_s}` (the paper's).
    estimator : sklearn classifier accepting ``sample_weight``, or None, default=None
        ``None`` = :class:`~tltaxonomy.classifiers.CVSVC` (linear SVM, ``C`` by 2-fold CV on the weighted
        source rows; its ``fit`` passes ``sample_weight`` to libsvm).
    random_state : int, RandomState or None, default=None
        Used by ``gamma="median"`` (row sample) and the Nyström landmarks; exact KMM is otherwise
        deterministic.
    approximation : {"auto", "exact", "nystroem"}, default="auto"
        ``"exact"``: the QP on the n_s x n_s kernel; ``"nystroem"``: the same QP on a rank-``n_landmarks``
        Nyström kernel, solved in time and memory linear in n (see :func:`kmm_weights`); ``"auto"`` =
        exact up to 10 000 rows (source + target), Nyström above.
    n_landmarks : int, default=500
        Nyström landmarks.

    Attributes
    ----------
    weights_ : ndarray of shape (n_source,)
        :math:`\beta`, the weight of each source row.
    gamma_ : float
        The RBF width used.
    approximation_ : str
        ``"exact"`` or ``"nystroem"``, what ``approximation`` resolved to.
    estimator_ : the fitted classifier

    References
    ----------
    .. [1] J. Huang, A. Smola, A. Gretton, K. Borgwardt, B. Schölkopf. "Correcting Sample Selection Bias
       by Unlabeled Data". NIPS 2007.
    .. [2] A. Gretton et al. "Covariate Shift by Kernel Mean Matching". In Dataset Shift in Machine
       Learning, MIT Press 2009.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> rng = np.random.default_rng(0)
    >>> Xs = rng.normal(size=(100, 2)); ys = (Xs[:, 0] > 0).astype(int)
    >>> Xt = rng.normal(size=(80, 2)) + 0.5
    >>> clf = KMM(estimator=LogisticRegression()).fit_domains(Xs, ys, Xt)
    >>> clf.weights_.shape, clf.predict(Xt).shape
    ((100,), (80,))
    """

    _parameter_constraints = {
        "gamma": [StrOptions({"auto", "median"}), Interval(Real, 0, None, closed="neither")],
        "B": [Interval(Real, 0, None, closed="neither")],
        "eps": [Interval(Real, 0, None, closed="left"), None],
        "estimator": _ESTIMATOR,
        "random_state": ["random_state"],
        "approximation": [StrOptions({"auto", "exact", "nystroem"})],
        "n_landmarks": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self, *, gamma="auto", B=1000.0, eps=None, estimator=None, random_state=None, approximation="auto", n_landmarks=500
    ):
        self.gamma = gamma
        self.B = B
        self.eps = eps
        self.estimator = estimator
        self.random_state = random_state
        self.approximation = approximation
        self.n_landmarks = n_landmarks

    def _weights(self, Xs, Xt):
        beta, info = kmm_weights(
            Xs, Xt, gamma=self.gamma, B=self.B, eps=self.eps, random_state=self.random_state, return_info=True,
            approximation=self.approximation, n_landmarks=self.n_landmarks,
        )
        self.gamma_ = info["gamma"]
        self.approximation_ = info["approximation"]
        return beta


@register("kliep", setting="transductive", family="reweighting")
class KLIEP(_BaseReweighting):
    r"""KLIEP: Kullback-Leibler importance estimation, then a weighted classifier (Sugiyama et al. 2007).

    The importance :math:`w(x) = p_T(x)/p_S(x)` is modelled by Gaussian kernels centred on (at most
    ``n_centers``) target rows and fitted by maximising the target log-likelihood of
    :math:`\hat w\,p_S` (see :func:`kliep_weights`):

    .. math::

        \max_{\alpha \ge 0}\ \frac1{n_t}\sum_j \log \sum_l \alpha_l\, k_\sigma(x^t_j, c_l)
        \quad\text{s.t.}\quad \frac1{n_s}\sum_i \sum_l \alpha_l\, k_\sigma(x^s_i, c_l) = 1,

    with :math:`\sigma` chosen by likelihood cross-validation on the (unlabelled) target rows. Then
    ``estimator`` is fitted on the source rows with ``sample_weight = w``.

    Parameters
    ----------
    sigmas : sequence of float or None, default=None
        Candidate kernel widths; ``None`` = ``{1/4, 1/2, 1, 2, 4} x`` the median pairwise distance.
    n_centers : int, default=100
        Maximum number of kernel centres (drawn from the target rows with ``random_state``).
    cv : int, default=5
        Folds of the likelihood cross-validation.
    max_steps : int, default=100
        Gradient steps per step size.
    estimator : sklearn classifier accepting ``sample_weight``, or None, default=None
        ``None`` = :class:`~tltaxonomy.classifiers.CVSVC` (linear SVM, ``C`` by 2-fold source CV).
    random_state : int, RandomState or None, default=None
        Centres, CV folds, median-distance sample.

    Attributes
    ----------
    weights_ : ndarray of shape (n_source,)
        Positive, mean 1 over the source rows.
    alpha_, centers_, sigma_, cv_scores_ : the fitted ratio model and its width selection
    estimator_ : the fitted classifier

    References
    ----------
    .. [1] M. Sugiyama, S. Nakajima, H. Kashima, P. von Bünau, M. Kawanabe. "Direct Importance Estimation
       with Model Selection and Its Application to Covariate Shift Adaptation". NIPS 2007.
    .. [2] M. Sugiyama et al. "Direct importance estimation for covariate shift adaptation". Annals of the
       Institute of Statistical Mathematics 60(4), 2008.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> rng = np.random.default_rng(0)
    >>> Xs = rng.normal(size=(100, 2)); ys = (Xs[:, 0] > 0).astype(int)
    >>> Xt = rng.normal(size=(80, 2)) + 0.5
    >>> clf = KLIEP(estimator=LogisticRegression(), random_state=0).fit_domains(Xs, ys, Xt)
    >>> round(float(clf.weights_.mean()), 6)
    1.0
    """

    _parameter_constraints = {
        "sigmas": ["array-like", None],
        "n_centers": [Interval(Integral, 1, None, closed="left")],
        "cv": [Interval(Integral, 1, None, closed="left")],
        "max_steps": [Interval(Integral, 1, None, closed="left")],
        "estimator": _ESTIMATOR,
        "random_state": ["random_state"],
    }

    def __init__(self, *, sigmas=None, n_centers=100, cv=5, max_steps=100, estimator=None, random_state=None):
        self.sigmas = sigmas
        self.n_centers = n_centers
        self.cv = cv
        self.max_steps = max_steps
        self.estimator = estimator
        self.random_state = random_state

    def _weights(self, Xs, Xt):
        w, info = kliep_weights(
            Xs, Xt, sigmas=self.sigmas, n_centers=self.n_centers, cv=self.cv, max_steps=self.max_steps,
            random_state=self.random_state, return_info=True,
        )
        self.alpha_, self.centers_, self.sigma_, self.cv_scores_ = info["alpha"], info["centers"], info["sigma"], info["cv_scores"]
        return w


@register("density_ratio", setting="transductive", family="reweighting")
class DiscriminatorReweighting(_BaseReweighting):
    r"""Discriminator density ratio: weights from a source-vs-target classifier, then a weighted classifier.

    A probabilistic classifier learns :math:`p(t \mid x)` (target vs source rows; no class label), and
    each source row gets the weight (see :func:`discriminator_weights`)

    .. math::

        w(x) = \frac{n_s}{n_t}\,\frac{p(t \mid x)}{1 - p(t \mid x)} \approx \frac{p_T(x)}{p_S(x)},

    cross-fitted over ``cv`` folds by default and optionally clipped at ``clip``. ``estimator`` is then
    fitted on the source rows with ``sample_weight = w``.

    Parameters
    ----------
    classifier : sklearn classifier with ``predict_proba``, or None, default=None
        The domain discriminator; ``None`` = ``LogisticRegression(C=1.0, max_iter=1000)``.
    cv : int or None, default=5
        Cross-fitting folds; ``None`` = fit the discriminator once on all rows.
    clip : float or None, default=None
        Upper bound of a weight.
    estimator : sklearn classifier accepting ``sample_weight``, or None, default=None
        ``None`` = :class:`~tltaxonomy.classifiers.CVSVC` (linear SVM, ``C`` by 2-fold source CV).
    random_state : int, RandomState or None, default=None
        Shuffling of the cross-fitting folds.

    Attributes
    ----------
    weights_ : ndarray of shape (n_source,)
    estimator_ : the fitted classifier

    References
    ----------
    .. [1] S. Bickel, M. Brückner, T. Scheffer. "Discriminative Learning for Differing Training and Test
       Distributions". ICML 2007.
    .. [2] M. Sugiyama, T. Suzuki, T. Kanamori. Density Ratio Estimation in Machine Learning. Cambridge
       University Press 2012, ch. 4 (probabilistic classification).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> rng = np.random.default_rng(0)
    >>> Xs = rng.normal(size=(100, 2)); ys = (Xs[:, 0] > 0).astype(int)
    >>> Xt = rng.normal(size=(80, 2)) + 0.5
    >>> clf = DiscriminatorReweighting(estimator=LogisticRegression(), random_state=0).fit_domains(Xs, ys, Xt)
    >>> bool((clf.weights_ > 0).all())
    True
    """

    _parameter_constraints = {
        "classifier": [HasMethods(["fit", "predict_proba"]), None],
        "cv": [Interval(Integral, 1, None, closed="left"), None],
        "clip": [Interval(Real, 0, None, closed="neither"), None],
        "estimator": _ESTIMATOR,
        "random_state": ["random_state"],
    }

    def __init__(self, *, classifier=None, cv=5, clip=None, estimator=None, random_state=None):
        self.classifier = classifier
        self.cv = cv
        self.clip = clip
        self.estimator = estimator
        self.random_state = random_state

    def _weights(self, Xs, Xt):
        return discriminator_weights(
            Xs, Xt, classifier=self.classifier, cv=self.cv, clip=self.clip, random_state=self.random_state
        )
