"""Means, quantiles and histograms from counters (profiles/insight/numbers.py)."""

from __future__ import annotations

import itertools
import statistics

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from profiles.insight.numbers import edges, histogram, mean, quantiles

PS = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]
COUNTERS = st.dictionaries(
    st.one_of(st.integers(-50, 50).map(float), st.floats(-1e6, 1e6)),
    st.integers(1, 20),
    min_size=1,
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(COUNTERS)
def test_quantiles_and_mean_are_the_expanded_samples(counts: dict[float, int]) -> None:
    sample = [v for v, n in counts.items() for _ in range(n)]
    got = quantiles(counts, PS)
    assert got == pytest.approx(list(np.percentile(sample, [100 * p for p in PS])), rel=1e-9)
    assert mean(counts) == pytest.approx(statistics.fmean(sample), rel=1e-9, abs=1e-9)


@pytest.mark.parametrize(
    "counts,expected",
    [
        ({}, [None, None, None]),
        ({7.0: 1}, [7.0, 7.0, 7.0]),
        ({1.0: 1, 2.0: 1}, [1.1, 1.5, 1.9]),
        ({0.0: 3, 10.0: 1}, [0.0, 0.0, 7.0]),  # positions 0.3, 1.5, 2.7 of 0 0 0 10
    ],
)
def test_quantiles_table(counts: dict[float, int], expected: list[float | None]) -> None:
    assert quantiles(counts, [0.1, 0.5, 0.9]) == pytest.approx(expected)


def test_mean_without_values() -> None:
    assert mean({}) is None


@pytest.mark.parametrize(
    "low,high,whole,expected,log",
    [
        (0, 5, True, [0, 1, 2, 3, 4, 5, 6], False),  # one bin per whole value
        (2, 22, True, list(range(2, 24)), False),
        (0, 0, True, [0, 1], False),
        (0, 9999, False, [0, 1, 3, 10, 30, 100, 300, 1000, 3000, 10000], True),
        (0.5, 2000, False, [0, 1, 3, 10, 30, 100, 300, 1000, 3000], True),
        (150, 90000, True, [100, 300, 1000, 3000, 10000, 30000, 100000], True),
        (3, 40, True, [0, 5, 10, 15, 20, 25, 30, 35, 40, 45], False),
        (0.3, 1.0, False, [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.1], False),
        (-5, 5.5, False, [-6, -4, -2, 0, 2, 4, 6], False),
        (2.5, 2.5, False, [2.5, 3], False),
    ],
)
def test_edges(low: float, high: float, whole: bool, expected: list[float], log: bool) -> None:
    assert edges(low, high, whole) == (expected, log)


@settings(max_examples=200, deadline=None)
@given(st.lists(COUNTERS, min_size=1, max_size=3))
def test_every_value_falls_in_one_bin(groups: list[dict[float, int]]) -> None:
    out = histogram(groups)
    assert out is not None
    bins = out["edges"]
    assert bins == sorted(bins) and len(set(bins)) == len(bins)
    low = min(v for g in groups for v in g)
    high = max(v for g in groups for v in g)
    assert bins[0] <= low and high < bins[-1]
    for row, group in zip(out["counts"], groups, strict=True):
        assert len(row) == len(bins) - 1 and sum(row) == sum(group.values())


def test_histogram_without_values() -> None:
    assert histogram([{}, {}]) is None


@settings(max_examples=300, deadline=1000)
@given(
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
)
def test_edges_cover_any_finite_range(a: float, b: float, whole: bool) -> None:
    low, high = min(a, b), max(a, b)
    whole = whole and low.is_integer() and high.is_integer()
    bins, log = edges(low, high, whole)
    assert bins[0] <= low and high < bins[-1] and len(bins) <= (640 if log else 25)
    assert all(x < y for x, y in itertools.pairwise(bins))


@pytest.mark.parametrize(
    "low,high", [(1e6, 1e6 + 1.2e-10), (1e-320, 2e-320), (-1e308, 1e308), (0.0, 1.7e308)]
)
def test_edges_at_the_limits_of_floats(low: float, high: float) -> None:
    bins, _ = edges(low, high, False)
    assert bins[0] <= low and high < bins[-1]
