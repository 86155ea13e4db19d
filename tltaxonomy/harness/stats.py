r"""Statistics for comparing strategies over tasks and seeds (Demšar, JMLR 2006).

The input is a score table: ``scores[i, j]`` is the score of method ``j`` on task ``i`` (higher is
better, e.g. the mean target accuracy over seeds), and, where a test needs them, the per-seed scores
of a cell (seeds paired by index: seed ``s`` of a method and of the baseline used the same draw).

What each function computes:

- :func:`mean_se` — mean and standard error over seeds, :math:`s/\sqrt{n}` with the ``ddof=1``
  standard deviation (``None`` for one seed).
- :func:`wilcoxon` — the paired Wilcoxon signed-rank test (two-sided), used against a baseline
  across tasks (the task means) and across seeds within one task. The ranks of zero differences
  are split evenly between the positive and negative sums (``zero_method="zsplit"``, as Demšar
  recommends; scipy splits every zero where Demšar drops one of an odd number); when every
  difference is zero the p-value is 1.
- :func:`average_ranks` — rank 1 = best on each task, ties get the average of the ranks they span,
  then the mean over tasks.
- :func:`friedman` — the Friedman test over the ranks (:func:`scipy.stats.friedmanchisquare`),
  with Iman and Davenport's F statistic that Demšar recommends beside it.
- :func:`nemenyi_q` and :func:`critical_difference` — the Nemenyi post-hoc test:
  :math:`CD = q_\alpha \sqrt{k(k+1)/(6N)}` with :math:`q_\alpha` the studentized range quantile
  (``k`` groups, infinite degrees of freedom) divided by :math:`\sqrt 2`.
- :func:`cliques` — the maximal groups of methods whose average ranks all lie within less than
  ``CD`` of one another (the thick bars of the critical-difference diagram).
- :func:`paired_outcome` — win / tie / loss of a method against the baseline on one task, and
  the negative-transfer rule. **The noise rule**: with ``d_s`` the paired per-seed differences
  (method − baseline) and :math:`\bar d` their mean, the difference is *within noise* (a tie) when
  :math:`|\bar d| \le \max(z\cdot se(d),\ \delta_{min})`, where :math:`se(d)` is the standard error
  of the paired differences (``ddof=1``) and ``z = 2`` by default; with one seed there is no
  standard error and the threshold is :math:`\delta_{min}` alone. Beyond it, :math:`\bar d > 0` is
  a win and :math:`\bar d < 0` a loss. **Negative transfer** is a loss against the no-adaptation
  baseline: :math:`\bar d < -\max(z\cdot se(d), \delta_{min})`.

References
----------
.. [1] J. Demšar, "Statistical comparisons of classifiers over multiple data sets", JMLR 7:1-30, 2006.
.. [2] R. L. Iman and J. M. Davenport, "Approximations of the critical region of the Friedman
   statistic", Communications in Statistics 9(6):571-595, 1980.

Examples
--------
>>> round(critical_difference(4, 14, alpha=0.05), 2)   # Demšar 2006, section 3.2.2
1.25
>>> average_ranks([[0.9, 0.8, 0.8], [0.7, 0.9, 0.6]]).tolist()
[1.5, 1.75, 2.75]
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .._errors import ConfigError

__all__ = [
    "FriedmanResult",
    "PairedOutcome",
    "average_ranks",
    "cliques",
    "critical_difference",
    "friedman",
    "iman_davenport",
    "mean_se",
    "nemenyi_q",
    "paired_outcome",
    "ranks",
    "wilcoxon",
]


def mean_se(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and standard error (``std(ddof=1) / sqrt(n)``) of ``values``; the s.e. is ``None`` for one value.

    >>> mean_se([1.0, 2.0, 3.0])
    (2.0, 0.5773502691896258)
    """
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or v.size == 0:
        raise ConfigError(f"mean_se needs a non-empty 1-d sequence of numbers, got shape {v.shape}.")
    se = float(np.std(v, ddof=1) / math.sqrt(v.size)) if v.size > 1 else None
    return float(np.mean(v)), se


def _scores(scores, name: str = "scores") -> np.ndarray:
    s = np.asarray(scores, dtype=float)
    if s.ndim != 2 or s.shape[0] < 1 or s.shape[1] < 1:
        raise ConfigError(f"{name} must be a 2-d array (tasks x methods), got shape {s.shape}.")
    if not np.all(np.isfinite(s)):
        raise ConfigError(f"{name} has missing or non-finite values; every method needs a score on every task.")
    return s


def ranks(scores, *, higher_is_better: bool = True) -> np.ndarray:
    """Rank of every method on every task (1 = best; ties get the average of the ranks they span).

    Parameters
    ----------
    scores : array-like of shape (n_tasks, n_methods)
    higher_is_better : bool, default=True
        ``False`` for errors / losses.
    """
    from scipy.stats import rankdata

    s = _scores(scores)
    return rankdata(-s if higher_is_better else s, axis=1, method="average")


def average_ranks(scores, *, higher_is_better: bool = True) -> np.ndarray:
    """Mean over tasks of :func:`ranks`: one average rank per method (``k(k+1)/2 / k`` on average)."""
    return ranks(scores, higher_is_better=higher_is_better).mean(axis=0)


def wilcoxon(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Two-sided p-value of the paired Wilcoxon signed-rank test of ``x`` against ``y``.

    Zero differences are split between the signs (``zero_method="zsplit"``); when every difference is
    zero the p-value is 1 (no evidence of a difference). ``None`` for fewer than two pairs.

    Notes
    -----
    With ``n`` pairs and no zero differences, the smallest attainable two-sided p-value is
    :math:`2/2^n` (0.25 for 3 seeds, 0.00049 for 12 tasks): a test over three seeds can never be
    significant and is reported as a description, not as a verdict.
    """
    from scipy.stats import wilcoxon as _wilcoxon

    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ConfigError(f"wilcoxon needs two paired 1-d sequences of the same length, got {a.shape} and {b.shape}.")
    if a.size < 2:
        return None
    d = a - b
    if np.all(d == 0):
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns that exact p-values are unavailable with zeros/ties
        return float(_wilcoxon(a, b, zero_method="zsplit", alternative="two-sided").pvalue)


@dataclass(frozen=True)
class FriedmanResult:
    """The Friedman test over ``n_tasks`` tasks and ``n_methods`` methods."""

    statistic: float  #: Friedman's chi-square, k-1 degrees of freedom
    pvalue: float
    #: Iman-Davenport's F = (N-1) chi2 / (N(k-1) - chi2), with (k-1, (k-1)(N-1)) degrees of freedom
    f_statistic: float
    f_pvalue: float
    n_tasks: int
    n_methods: int


def friedman(scores) -> FriedmanResult | None:
    """The Friedman test of equal average ranks (``None`` with fewer than 3 methods or 2 tasks).

    Parameters
    ----------
    scores : array-like of shape (n_tasks, n_methods)
        Higher or lower is better alike (the test depends on the ranks only up to their order).
    """
    from scipy.stats import f as f_dist
    from scipy.stats import friedmanchisquare

    s = _scores(scores)
    n, k = s.shape
    if k < 3 or n < 2:
        return None
    if np.all(s == s[:, :1]):  # every method ties on every task: no evidence of any difference
        return FriedmanResult(0.0, 1.0, 0.0, 1.0, n, k)
    chi2, p = friedmanchisquare(*s.T)
    f_stat = iman_davenport(float(chi2), n, k)
    f_p = 0.0 if math.isinf(f_stat) else float(f_dist.sf(f_stat, k - 1, (k - 1) * (n - 1)))
    return FriedmanResult(float(chi2), float(p), f_stat, f_p, n, k)


def iman_davenport(chi2: float, n: int, k: int) -> float:
    r"""Iman and Davenport's :math:`F_F = (N-1)\chi^2_F / (N(k-1) - \chi^2_F)` from Friedman's
    :math:`\chi^2_F` over ``n`` tasks and ``k`` methods (infinite when every task ranks the methods
    the same way). Demšar's example (N=14, k=4, chi2=9.28) gives 3.69:

    >>> round(iman_davenport(9.28, 14, 4), 2)
    3.69
    """
    denom = n * (k - 1) - chi2
    return math.inf if denom <= 0 else (n - 1) * chi2 / denom


def nemenyi_q(k: int, alpha: float = 0.05) -> float:
    r"""The Nemenyi test's :math:`q_\alpha` for ``k`` methods: the studentized range quantile
    :math:`q(1-\alpha; k, \infty) / \sqrt 2` (Demšar 2006, Table 5a: 2.728 for k=5, alpha=0.05).

    >>> round(nemenyi_q(5, 0.05), 3)
    2.728
    """
    from scipy.stats import studentized_range

    if int(k) != k or k < 2:
        raise ConfigError(f"nemenyi_q needs k >= 2 methods, got k={k!r}.")
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must be in (0, 1), got {alpha!r}.")
    return float(studentized_range.ppf(1 - alpha, int(k), np.inf) / math.sqrt(2))


def critical_difference(k: int, n: int, alpha: float = 0.05) -> float:
    r"""The Nemenyi critical difference of average ranks, :math:`q_\alpha\sqrt{k(k+1)/(6N)}`.

    Two methods whose average ranks over ``n`` tasks differ by at least this are significantly
    different at level ``alpha``.
    """
    if int(n) != n or n < 1:
        raise ConfigError(f"critical_difference needs n >= 1 tasks, got n={n!r}.")
    return nemenyi_q(k, alpha) * math.sqrt(k * (k + 1) / (6.0 * n))


def cliques(avg_ranks: Sequence[float], cd: float) -> list[tuple[int, ...]]:
    """Maximal groups of methods not significantly different from one another (Nemenyi).

    A group is a run of methods, in the order of their average ranks, whose largest and smallest
    average rank differ by less than ``cd``; only groups of two or more that no other group contains
    are returned, best-ranked group first. Indices refer to ``avg_ranks``.

    >>> cliques([1.0, 1.5, 3.0, 3.2], cd=1.0)
    [(0, 1), (2, 3)]
    """
    r = np.asarray(avg_ranks, dtype=float)
    order = list(np.argsort(r, kind="stable"))
    groups: list[tuple[int, ...]] = []
    last_end = -1
    for i in range(len(order)):
        j = i
        while j + 1 < len(order) and r[order[j + 1]] - r[order[i]] < cd:
            j += 1
        if j > i and j > last_end:  # not contained in the previous (longer-reaching) group
            groups.append(tuple(int(m) for m in order[i:j + 1]))
            last_end = j
    return groups


@dataclass(frozen=True)
class PairedOutcome:
    """A method against a baseline on one task, over paired seeds (see the module's noise rule)."""

    diff: float  #: mean of the paired differences (method - baseline)
    se: float | None  #: standard error of the paired differences (None for one seed)
    threshold: float  #: the noise threshold max(z * se, min_delta)
    outcome: str  #: "win", "tie" or "loss"
    pvalue: float | None  #: Wilcoxon over seeds (None for one seed)

    @property
    def negative_transfer(self) -> bool:
        """Worse than the (no-adaptation) baseline beyond noise."""
        return self.outcome == "loss"


def paired_outcome(
    method: Sequence[float], baseline: Sequence[float], *, z: float = 2.0, min_delta: float = 0.0,
    higher_is_better: bool = True,
) -> PairedOutcome:
    r"""Win, tie or loss of ``method`` against ``baseline`` on one task, seeds paired by index.

    A tie when :math:`|\bar d| \le \max(z\cdot se(d), \delta_{min})` (the difference is within
    noise), else a win (:math:`\bar d > 0`, or :math:`\bar d < 0` when lower is better) or a loss.
    With one seed the threshold is ``min_delta`` alone.

    Parameters
    ----------
    method, baseline : sequence of float
        Per-seed scores, same length, same seed order.
    z : float, default=2.0
        How many standard errors of the paired difference count as noise.
    min_delta : float, default=0.0
        The smallest difference that is not a tie, in the scores' unit.
    higher_is_better : bool, default=True
        ``False`` for errors and losses (a negative difference is then a win).

    >>> paired_outcome([50.0, 52.0, 51.0], [48.0, 49.0, 49.5]).outcome
    'win'
    """
    a, b = np.asarray(method, dtype=float), np.asarray(baseline, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ConfigError(
            f"paired_outcome needs two non-empty paired 1-d sequences of the same length (same seeds), "
            f"got {a.shape} and {b.shape}; run the method and the baseline with the same seeds."
        )
    if z < 0 or min_delta < 0:
        raise ConfigError(f"z and min_delta must be >= 0, got z={z!r}, min_delta={min_delta!r}.")
    diff, se = mean_se(a - b)
    threshold = max(z * se, min_delta) if se is not None else float(min_delta)
    outcome = "tie" if abs(diff) <= threshold else ("win" if (diff > 0) == higher_is_better else "loss")
    return PairedOutcome(diff, se, float(threshold), outcome, wilcoxon(a, b))
