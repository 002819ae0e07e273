"""The statistics and verdict rules of dps principle, against independent implementations and
textbook values."""

import math

import numpy as np
import pytest
from dps_principle.stats import Rule, combine, judge, slope, spearman, t_interval
from scipy import stats as st


def test_spearman_equals_scipy_with_ties():
    rng = np.random.default_rng(3)
    for _ in range(20):
        x = rng.integers(0, 6, 25).astype(float)  # many ties
        y = x + rng.normal(0, 2, 25)
        assert spearman(x, y) == pytest.approx(st.spearmanr(x, y).statistic, abs=1e-12)


def test_spearman_of_a_series_that_does_not_change_is_zero_and_nan_pairs_are_dropped():
    assert spearman([1, 1, 1, 1], [1, 2, 3, 4]) == 0.0
    assert spearman([1, 2, math.nan, 4, 5], [2, 4, 100, 8, 10]) == pytest.approx(1.0)
    assert math.isnan(spearman([1, 2], [3, 4]))


def test_slope_is_the_least_squares_slope():
    x = np.array([1.0, 2.0, 3.0, 4.0, 6.0])
    assert slope(x, 0.7 * x + 2) == pytest.approx(0.7)
    y = np.array([1.2, 1.9, 3.4, 3.8, 6.5])
    assert slope(x, y) == pytest.approx(st.linregress(x, y).slope)
    assert math.isnan(slope([2, 2, 2], [1, 2, 3]))


def test_t_interval_matches_the_textbook_value():
    # values 1, 2, 3: mean 2, sd 1, t(0.975, 2) = 4.3027 (Student's t table), half-width 4.3027 / sqrt(3)
    mean, low, high = t_interval([1.0, 2.0, 3.0])
    assert mean == 2.0
    assert high - mean == pytest.approx(4.302653 / math.sqrt(3), rel=1e-6)
    assert mean - low == pytest.approx(high - mean)
    assert math.isnan(t_interval([1.0, math.nan])[1])


def test_verdict_rule_minimum_effect():
    rule = Rule("s", "d", minimum=0.5)
    assert judge(rule, [0.9, 1.0, 1.1]).verdict == "holds"
    assert judge(rule, [0.0, 0.1, -0.1]).verdict == "fails"
    assert judge(rule, [0.0, 1.0, 2.0]).verdict == "inconclusive"  # the interval straddles 0.5
    assert judge(rule, [1.0, math.nan, math.nan]).verdict == "inconclusive"  # one defined replicate


def test_verdict_rule_band():
    rule = Rule("s", "d", band=(0.75, 1.25))
    assert judge(rule, [0.98, 1.0, 1.02]).verdict == "holds"
    assert judge(rule, [0.3, 0.32, 0.31]).verdict == "fails"
    assert judge(rule, [1.5, 1.52, 1.49]).verdict == "fails"
    assert judge(rule, [0.7, 0.8, 0.9]).verdict == "inconclusive"
    with pytest.raises(ValueError, match="exactly one"):
        Rule("s", "d", minimum=1.0, band=(0.0, 1.0))


def test_a_law_fails_if_any_statistic_fails_and_holds_only_if_all_hold():
    hold = judge(Rule("a", "", minimum=0.0), [1, 1.1, 0.9])
    fail = judge(Rule("b", "", minimum=5.0), [1, 1.1, 0.9])
    unsure = judge(Rule("c", "", minimum=1.0), [0, 1, 2])
    assert combine([hold, hold])[0] == "holds"
    assert combine([hold, unsure])[0] == "inconclusive"
    assert combine([hold, unsure, fail])[0] == "fails"
    assert combine([])[0] == "inconclusive"
