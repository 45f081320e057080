"""Tests from counts against scipy on the expanded samples (profiles/insight/stats.py)."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sp

from profiles.insight.stats import (
    CRAMER_V,
    EPSILON_SQUARED,
    RANK_BISERIAL,
    adjust,
    chi_square,
    magnitude,
    rank_test,
    significant,
)
from profiles.insight.stats import Test as Result  # a name pytest does not collect

TABLES = [
    [[10, 20], [30, 5]],  # 2x2: Yates
    [[10, 20, 30], [30, 20, 10]],
    [[5, 0, 7, 1], [4, 3, 0, 9], [12, 8, 1, 1]],
    [[1000, 2000, 3000], [1010, 1990, 3005]],
    [[402, 611], [655, 198]],
    [[1, 1], [1, 1]],  # no difference at all
]


@pytest.mark.parametrize("table", TABLES)
def test_chi_square_is_scipys(table: list[list[int]]) -> None:
    test = chi_square(table)
    expected = sp.chi2_contingency(table)
    assert test is not None
    assert test.name == "chi-square"
    assert test.statistic == pytest.approx(expected.statistic, rel=1e-12, abs=1e-12)
    assert test.p == pytest.approx(expected.pvalue, rel=1e-12)
    assert test.df == expected.dof
    assert test.effect_name == "Cramér's V"
    assert test.effect == pytest.approx(sp.contingency.association(table, method="cramer"))
    assert test.magnitude == magnitude(test.effect, CRAMER_V)


def test_chi_square_two_by_two_uses_yates() -> None:
    test = chi_square([[10, 20], [30, 5]])
    assert test is not None
    corrected = sp.chi2_contingency([[10, 20], [30, 5]], correction=True).statistic
    plain = sp.chi2_contingency([[10, 20], [30, 5]], correction=False).statistic
    assert test.statistic == pytest.approx(corrected) and test.statistic < plain


def test_chi_square_drops_empty_rows_and_columns() -> None:
    test = chi_square([[10, 0, 20], [0, 0, 0], [30, 0, 5]])
    assert test == chi_square([[10, 20], [30, 5]])


@pytest.mark.parametrize(
    "table",
    [[], [[1, 2, 3]], [[1, 2], [0, 0]], [[5, 0], [7, 0]], [[0, 0], [0, 0]], [[3], [4]]],
)
def test_chi_square_needs_two_rows_and_two_columns(table: list[list[int]]) -> None:
    assert chi_square(table) is None


def _expand(counts: dict[float, int]) -> list[float]:
    return [v for v, n in counts.items() for _ in range(n)]


def _check_rank(groups: list[dict[float, int]]) -> None:
    test = rank_test(groups)
    samples = [_expand(g) for g in groups]
    assert test is not None
    if len(groups) == 2:
        expected = sp.mannwhitneyu(
            samples[0],
            samples[1],
            method="asymptotic",
            use_continuity=True,
            alternative="two-sided",
        )
        assert test.name == "Mann\u2013Whitney U" and test.df is None
        n1, n2 = len(samples[0]), len(samples[1])
        assert test.effect == pytest.approx(2 * expected.statistic / (n1 * n2) - 1, abs=1e-12)
    else:
        expected = sp.kruskal(*samples)
        assert test.name == "Kruskal\u2013Wallis H" and test.df == len(groups) - 1
        assert test.effect == pytest.approx(expected.statistic / (sum(map(len, samples)) - 1))
    assert test.statistic == pytest.approx(expected.statistic, rel=1e-9, abs=1e-9)
    if math.isnan(expected.pvalue):  # identical audiences: scipy's H rounds below 0 (chi2.sf nan)
        assert test.statistic == pytest.approx(0.0, abs=1e-9) and test.p == 1.0
        return
    assert test.p == pytest.approx(expected.pvalue, rel=1e-7, abs=1e-12)


RANK_CASES = [
    [{0.0: 18, 1.0: 23, 2.5: 31}] * 3,  # identical audiences: H is 0, p is 1 (scipy: nan)
    [{1.0: 3, 2.0: 1}, {2.0: 2, 3.0: 4}],
    [{0.0: 500, 1.0: 300, 2.0: 100}, {0.0: 450, 1.0: 350, 2.0: 120}],  # heavy ties
    [{5.0: 1}, {7.0: 1}],
    [{0.0: 1000, 100.0: 1}, {0.0: 999, 50.0: 3}],
    [{1.0: 10, 2.0: 10}, {1.0: 10, 2.0: 10}],  # identical: U at its mean
    [{1.0: 3, 4.5: 2}, {2.0: 2, 3.0: 4}, {1.0: 1, 9.0: 5}],
    [{0.0: 400, 1.0: 10}, {0.0: 380, 1.0: 40}, {0.0: 200, 1.0: 200}, {1.0: 7}],
]


@pytest.mark.parametrize("groups", RANK_CASES)
def test_rank_test_is_scipys(groups: list[dict[float, int]]) -> None:
    _check_rank(groups)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from([0.0, 1.0, 2.0, 2.5, 10.0, 100.0, -3.0]),
            st.integers(1, 40),
            min_size=1,
        ),
        min_size=2,
        max_size=4,
    )
)
def test_rank_test_is_scipys_on_random_counts(groups: list[dict[float, int]]) -> None:
    if len({v for g in groups for v in g}) < 2:
        assert rank_test(groups) is None
    else:
        _check_rank(groups)


def test_rank_test_on_random_samples() -> None:
    rng = random.Random(16)
    for k in (2, 3, 5):
        for _ in range(20):
            groups = [
                Counter(round(rng.lognormvariate(3, 1), 0) for _ in range(rng.randint(5, 300)))
                for _ in range(k)
            ]
            _check_rank([dict(g) for g in groups])


def test_rank_biserial_is_positive_when_the_first_tends_higher() -> None:
    high, low = {10.0: 5, 11.0: 5}, {1.0: 5, 2.0: 5}
    up, down = rank_test([high, low]), rank_test([low, high])
    assert up is not None and down is not None
    assert up.effect == 1.0 and down.effect == -1.0
    assert up.magnitude == down.magnitude == "large"
    assert up.p == down.p


@pytest.mark.parametrize(
    "groups",
    [[], [{1.0: 3}], [{1.0: 3}, {}], [{1.0: 3}, {1.0: 5}], [{2.0: 1}, {2.0: 4, 3.0: 0}]],
)
def test_rank_test_needs_two_audiences_and_two_values(groups: list[dict[float, int]]) -> None:
    assert rank_test(groups) is None


def test_rank_test_leaves_out_audiences_without_values() -> None:
    assert rank_test([{1.0: 3}, {}, {2.0: 4}]) == rank_test([{1.0: 3}, {2.0: 4}])


@pytest.mark.parametrize(
    "effect,bounds,expected",
    [
        (0.0, CRAMER_V, "negligible"),
        (0.099, CRAMER_V, "negligible"),
        (0.1, CRAMER_V, "small"),
        (0.29, CRAMER_V, "small"),
        (0.3, CRAMER_V, "medium"),
        (0.5, CRAMER_V, "large"),
        (1.0, CRAMER_V, "large"),
        (-0.05, RANK_BISERIAL, "negligible"),
        (-0.2, RANK_BISERIAL, "small"),
        (-0.45, RANK_BISERIAL, "medium"),
        (-0.9, RANK_BISERIAL, "large"),
        (0.009, EPSILON_SQUARED, "negligible"),
        (0.01, EPSILON_SQUARED, "small"),
        (0.079, EPSILON_SQUARED, "small"),
        (0.08, EPSILON_SQUARED, "medium"),
        (0.259, EPSILON_SQUARED, "medium"),
        (0.26, EPSILON_SQUARED, "large"),
    ],
)
def test_magnitude(effect: float, bounds: tuple[float, float, float], expected: str) -> None:
    assert magnitude(effect, bounds) == expected


def _test(p: float, size: str = "small") -> Result:
    return Result("chi-square", 1.0, 1, p, "Cramér's V", 0.2, size)


@pytest.mark.parametrize(
    "ps", [[0.01, 0.04, 0.03, 0.2], [0.5], [1e-300, 0.0, 1.0, 0.049, 0.051], [0.3] * 7]
)
def test_adjust_is_false_discovery_control(ps: list[float]) -> None:
    adjusted = adjust([_test(p) for p in ps])
    expected = sp.false_discovery_control(ps, method="bh")
    assert [t.p for t in adjusted] == ps
    for test, q in zip(adjusted, expected, strict=True):
        assert test.q == pytest.approx(q, rel=1e-12) and math.isfinite(test.q or 0)
    assert adjust([]) == []


@pytest.mark.parametrize(
    "q,size,expected",
    [
        (0.01, "small", True),
        (0.01, "negligible", False),  # a million users: every p is tiny
        (0.049, "large", True),
        (0.05, "large", False),
        (None, "large", False),
    ],
)
def test_significant(q: float | None, size: str, expected: bool) -> None:
    assert significant(Result("chi-square", 1.0, 1, 0.0, "Cramér's V", 0.2, size, q)) is expected
