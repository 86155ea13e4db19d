"""Statistics of comparisons (harness/stats.py) and the critical-difference diagram (harness/cd_diagram.py),
against hand-computed values, scipy and the published numbers of Demšar (JMLR 2006)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import chi2 as chi2_dist
from scipy.stats import rankdata

from tltaxonomy._errors import ConfigError
from tltaxonomy.harness import stats


def test_mean_se_by_hand():
    mean, se = stats.mean_se([40.0, 42.0, 47.0])
    assert mean == pytest.approx(43.0)
    # s = sqrt(((−3)² + (−1)² + 4²) / 2) = sqrt(13); se = s / sqrt(3)
    assert se == pytest.approx(math.sqrt(13) / math.sqrt(3))
    assert stats.mean_se([41.5]) == (41.5, None)
    with pytest.raises(ConfigError, match="non-empty 1-d"):
        stats.mean_se([])


def test_ranks_ties_get_average_ranks():
    scores = [[0.9, 0.8, 0.8, 0.1], [0.5, 0.5, 0.5, 0.5], [0.1, 0.2, 0.3, 0.4]]
    r = stats.ranks(scores)
    np.testing.assert_allclose(r, [[1, 2.5, 2.5, 4], [2.5, 2.5, 2.5, 2.5], [4, 3, 2, 1]])
    np.testing.assert_allclose(stats.average_ranks(scores), [7.5 / 3, 8 / 3, 7 / 3, 7.5 / 3])
    # lower is better (errors) reverses the order
    np.testing.assert_allclose(stats.ranks([[1.0, 2.0, 3.0]], higher_is_better=False), [[1, 2, 3]])
    # the mean rank over methods is always (k + 1) / 2
    rng = np.random.default_rng(0)
    assert stats.average_ranks(rng.normal(size=(12, 5))).mean() == pytest.approx(3.0)
    with pytest.raises(ConfigError, match="non-finite"):
        stats.average_ranks([[0.1, np.nan]])
    with pytest.raises(ConfigError, match="2-d array"):
        stats.average_ranks([0.1, 0.2])


# Demšar (2006), Table 5(a): q_0.05 of the two-tailed Nemenyi test for k = 2..10
_Q05 = {2: 1.960, 3: 2.343, 4: 2.569, 5: 2.728, 6: 2.850, 7: 2.949, 8: 3.031, 9: 3.102, 10: 3.164}
# Table 5(a), alpha = 0.10
_Q10 = {2: 1.645, 3: 2.052, 4: 2.291, 5: 2.459, 6: 2.589, 7: 2.693, 8: 2.780, 9: 2.855, 10: 2.920}


@pytest.mark.parametrize("k", sorted(_Q05))
def test_nemenyi_q_matches_demsar_table(k):
    assert stats.nemenyi_q(k, 0.05) == pytest.approx(_Q05[k], abs=1e-3)
    assert stats.nemenyi_q(k, 0.10) == pytest.approx(_Q10[k], abs=1e-3)


def test_critical_difference_demsar_example():
    # Section 3.2.4: four classifiers on 14 data sets, CD = 2.569 * sqrt(4 * 5 / (6 * 14)) = 1.25
    assert stats.critical_difference(4, 14, alpha=0.05) == pytest.approx(1.25, abs=5e-3)
    assert stats.critical_difference(4, 14) == pytest.approx(2.569 * math.sqrt(20 / 84), abs=1e-3)
    with pytest.raises(ConfigError, match="k >= 2"):
        stats.critical_difference(1, 14)
    with pytest.raises(ConfigError, match="n >= 1"):
        stats.critical_difference(4, 0)
    with pytest.raises(ConfigError, match="alpha must be in"):
        stats.nemenyi_q(4, 1.5)


def test_friedman_matches_demsar_formula_without_ties():
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(14, 4)) + np.array([0.0, 0.5, 0.2, 0.6])
    n, k = scores.shape
    r = stats.average_ranks(scores)
    chi2 = 12 * n / (k * (k + 1)) * (np.sum(r**2) - k * (k + 1) ** 2 / 4)  # Demšar eq. (4)
    res = stats.friedman(scores)
    assert res.statistic == pytest.approx(chi2)
    assert res.pvalue == pytest.approx(chi2_dist.sf(chi2, k - 1))
    assert res.f_statistic == pytest.approx((n - 1) * chi2 / (n * (k - 1) - chi2))
    assert (res.n_tasks, res.n_methods) == (14, 4)


def test_friedman_demsar_example_from_average_ranks():
    # Section 3.2.4: average ranks 3.143, 2.000, 2.893, 1.964 over N = 14 give chi2_F = 9.28, F_F = 3.69
    r = np.array([3.143, 2.000, 2.893, 1.964])
    n, k = 14, 4
    chi2 = 12 * n / (k * (k + 1)) * (np.sum(r**2) - k * (k + 1) ** 2 / 4)
    assert chi2 == pytest.approx(9.28, abs=0.02)
    assert stats.iman_davenport(chi2, n, k) == pytest.approx(3.69, abs=0.01)


def test_friedman_degenerate_cases():
    assert stats.friedman([[1.0, 2.0], [2.0, 1.0]]) is None  # two methods: use the Wilcoxon test
    same = stats.friedman([[0.5, 0.5, 0.5]] * 4)
    assert (same.statistic, same.pvalue) == (0.0, 1.0)
    perfect = stats.friedman([[3.0, 2.0, 1.0]] * 6)  # the same order on every task
    assert math.isinf(perfect.f_statistic) and perfect.f_pvalue == 0.0 and perfect.pvalue < 0.01


def test_wilcoxon_by_hand_and_against_scipy():
    # five positive differences: exact two-sided p = 2 / 2^5
    assert stats.wilcoxon([2, 3, 4, 5, 6], [1, 1, 1, 1, 1]) == pytest.approx(2 / 32)
    assert stats.wilcoxon([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == 1.0  # no difference at all
    assert stats.wilcoxon([1.0], [0.0]) is None
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=12), rng.normal(size=12)
    from scipy.stats import wilcoxon

    assert stats.wilcoxon(x, y) == pytest.approx(wilcoxon(x, y, zero_method="zsplit").pvalue)
    with pytest.raises(ConfigError, match="same length"):
        stats.wilcoxon([1.0, 2.0], [1.0])


def test_wilcoxon_zero_differences_are_split():
    # differences 0, 1, -2, 3, 4: ranks of |d| = 1, 2, 3, 4, 5; the zero's rank 1 is split in halves,
    # R+ = 2 + 4 + 5 + 0.5 = 11.5, R- = 3 + 0.5 = 3.5 (Demšar's recommendation)
    from scipy.stats import wilcoxon

    x, y = np.array([1.0, 2.0, 1.0, 6.0, 9.0]), np.array([1.0, 1.0, 3.0, 3.0, 5.0])
    assert wilcoxon(x, y, zero_method="zsplit").statistic == pytest.approx(3.5)
    assert stats.wilcoxon(x, y) == pytest.approx(wilcoxon(x, y, zero_method="zsplit").pvalue)


def test_cliques_known_groups():
    # two well separated groups and one method bridging nothing
    r = [1.0, 1.4, 1.9, 3.5, 3.9, 6.0]
    assert stats.cliques(r, cd=1.0) == [(0, 1, 2), (3, 4)]
    # overlapping groups: a-b-c within CD, b-c-d within CD, but not a-d
    assert stats.cliques([1.0, 1.6, 2.0, 2.5], cd=1.2) == [(0, 1, 2), (1, 2, 3)]
    # indices follow the input order, not the rank order
    assert stats.cliques([4.0, 1.0, 4.2, 1.3], cd=0.5) == [(1, 3), (0, 2)]
    # a difference of exactly CD is significant (not joined)
    assert stats.cliques([1.0, 2.0], cd=1.0) == []
    assert stats.cliques([1.0, 2.0, 3.0], cd=10.0) == [(0, 1, 2)]


def test_paired_outcome_noise_rule():
    # differences 2, 3, 1.5: mean 2.1667, se = std([2, 3, 1.5], ddof=1) / sqrt(3) = 0.4410; 2 se = 0.882 → win
    out = stats.paired_outcome([50.0, 52.0, 51.0], [48.0, 49.0, 49.5])
    assert out.outcome == "win" and not out.negative_transfer
    assert out.diff == pytest.approx(13 / 6)
    assert out.se == pytest.approx(np.std([2.0, 3.0, 1.5], ddof=1) / math.sqrt(3))
    assert out.threshold == pytest.approx(2 * out.se)
    assert out.pvalue == pytest.approx(0.25)  # the smallest p three seeds can give
    # differences -4, +3, -2: mean -1, se = 2.08; within 2 se → tie
    tie = stats.paired_outcome([40.0, 53.0, 48.0], [44.0, 50.0, 50.0])
    assert tie.outcome == "tie" and not tie.negative_transfer
    # consistently worse → loss = negative transfer
    loss = stats.paired_outcome([40.0, 41.0, 42.0], [45.0, 45.5, 47.0])
    assert loss.outcome == "loss" and loss.negative_transfer
    # one seed: only min_delta decides
    assert stats.paired_outcome([40.0], [40.4], min_delta=0.5).outcome == "tie"
    assert stats.paired_outcome([40.0], [40.6], min_delta=0.5).outcome == "loss"
    assert stats.paired_outcome([40.0], [40.6]).se is None
    # min_delta is a floor also with seeds
    assert stats.paired_outcome([50.1, 50.1], [50.0, 50.0], min_delta=0.5).outcome == "tie"
    assert stats.paired_outcome([50.1, 50.1], [50.0, 50.0]).outcome == "win"
    with pytest.raises(ConfigError, match="same seeds"):
        stats.paired_outcome([1.0, 2.0], [1.0])
    with pytest.raises(ConfigError, match="must be >= 0"):
        stats.paired_outcome([1.0], [1.0], z=-1)


def test_ranks_agree_with_scipy_rankdata():
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 4, size=(10, 6)).astype(float)  # many ties
    expected = np.vstack([rankdata(-row, method="average") for row in scores])
    np.testing.assert_allclose(stats.ranks(scores), expected)


def test_cd_diagram_writes_png_with_the_known_groups(tmp_path):
    from tltaxonomy.harness.cd_diagram import cd_diagram

    names = ["a", "b", "c", "d", "e", "f"]
    ranks = [1.0, 1.4, 1.9, 3.5, 3.9, 6.0]
    out = cd_diagram(names, ranks, 1.0, tmp_path / "sub" / "cd.png", title="known groups")
    assert out.path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.groups == (("a", "b", "c"), ("d", "e"))
    # no critical difference: the ranks only
    assert cd_diagram(names[:2], [1.2, 1.8], None, tmp_path / "r.svg").groups == ()
    with pytest.raises(ConfigError, match=r"must lie in \[1, 2\]"):
        cd_diagram(["a", "b"], [0.5, 2.5], 1.0, tmp_path / "x.png")
    with pytest.raises(ConfigError, match="at least two methods"):
        cd_diagram(["a"], [1.0], 1.0, tmp_path / "x.png")
