"""Means, quantiles and histograms of a number dimension, from value -> users counters (a tally
never holds the raw sample), equal to what the expanded sample gives.

Quantiles interpolate linearly between order statistics (position (n - 1) p, numpy's default
"linear" method, Python's ``statistics.quantiles(method="inclusive")``), so a report's median is
the one a spreadsheet shows. Histogram bins are half-open ``[edge, next edge)`` and the last edge
is above the largest value, so every value falls in exactly one bin; the edges are chosen for
reading rather than for equal mass:

- whole numbers spanning at most 20: one bin per value (orders, active days);
- values from 0 (or more) spanning two decades or more: 1-3-10 steps (``0, 1, 3, 10, 30, ...``)
  with ``log`` set, since spend and order values are heavily skewed;
- otherwise about 10 equal bins of a round width (1, 2 or 5 times a power of ten).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from itertools import accumulate, pairwise
from typing import Any, Final

SPAN_PER_VALUE: Final = 20  # whole numbers spanning at most this get one bin each
LOG_RATIO: Final = 100  # a largest value this many times the smallest (or 1) gets 1-3-10 bins
LINEAR_BINS: Final = 10


def mean(counts: Mapping[float, int]) -> float | None:
    """The mean; None without values."""
    n = sum(counts.values())
    return math.fsum(v * c for v, c in counts.items()) / n if n else None


def quantiles(counts: Mapping[float, int], ps: Sequence[float]) -> list[float | None]:
    """Each ``p`` quantile (0..1) by linear interpolation; None without values."""
    items = sorted((v, c) for v, c in counts.items() if c > 0)
    if not items:
        return [None] * len(ps)
    values = [v for v, _ in items]
    ends = list(accumulate(c for _, c in items))  # ends[i]: order statistics below the next

    def nth(k: int) -> float:  # the k-th order statistic, from 0
        return values[bisect.bisect_right(ends, k)]

    out: list[float | None] = []
    for p in ps:
        h = (ends[-1] - 1) * p
        low = math.floor(h)
        a, b = nth(low), nth(min(low + 1, ends[-1] - 1))
        out.append(a + (h - low) * (b - a))
    return out


def _tidy(x: float) -> float:
    """A whole edge as an int, so that the JSON reads 10 rather than 10.0."""
    return int(x) if x.is_integer() and abs(x) < 2**53 else x


def _nice(width: float) -> float:
    """The smallest of 1, 2, 5 times a power of ten at least ``width``."""
    power = 10.0 ** math.floor(math.log10(width))
    round_widths = (m * power for m in (1, 2, 5, 10) if m * power >= width * (1 - 1e-12))
    return next(round_widths, width)  # subnormal powers of ten are inexact


def _log_edges(low: float, high: float) -> list[float]:
    """1, 3, 10, 30, ... from the last step at or below ``low`` (from 0 below 1) past ``high``."""
    steps: list[float] = []
    while not steps or steps[-1] <= high:
        k = len(steps)
        steps.append(10.0 ** (k // 2) * (3 if k % 2 else 1))
    if low < 1:
        return [0.0, *steps]
    return steps[max(i for i, s in enumerate(steps) if s <= low) :]


def _linear_edges(low: float, high: float) -> list[float]:
    """About 10 bins of a round width; one bin when floats cannot tell the edges apart (a span
    near the resolution of the values)."""
    span = high - low if high > low else max(abs(low), 1.0)
    if not math.isfinite(span):  # from near -max to near +max float
        return [low, math.nextafter(high, math.inf)]
    width = _nice(span / LINEAR_BINS)
    digits = 2 - math.floor(math.log10(width))  # enough to show the width, no float noise
    start = math.floor(low / width) - 1  # one step early: division may land a step high
    out = [_tidy(round((start + i) * width, digits)) for i in range(LINEAR_BINS + 4)]
    while len(out) > 2 and out[1] <= low:
        out.pop(0)
    ends = [i for i, e in enumerate(out) if e > high]
    out = out[: ends[0] + 1] if ends else out
    if out[0] > low or out[-1] <= high or any(b <= a for a, b in pairwise(out)):
        return [low, math.nextafter(high, math.inf)]
    return out


def edges(low: float, high: float, whole: bool) -> tuple[list[float], bool]:
    """Bin edges covering ``low .. high`` (both included) and whether they are 1-3-10 (log)."""
    if whole and high - low <= SPAN_PER_VALUE:
        return [int(low) + i for i in range(int(high - low) + 2)], False
    if low >= 0 and LOG_RATIO * max(low, 1.0) <= high < 1e300:  # 10.0 ** 309 overflows
        return [_tidy(e) for e in _log_edges(low, high)], True
    return _linear_edges(low, high), False


def histogram(groups: Sequence[Mapping[float, int]]) -> dict[str, Any] | None:
    """Shared edges over every group and each group's users per bin; None without values."""
    values = [v for g in groups for v, c in g.items() if c > 0]
    if not values:
        return None
    low, high = min(values), max(values)
    bins, log = edges(low, high, all(float(v).is_integer() for v in values))
    counts = [[0] * (len(bins) - 1) for _ in groups]
    for row, group in zip(counts, groups, strict=True):
        for v, c in group.items():
            row[bisect.bisect_right(bins, v) - 1] += c
    return {"edges": bins, "counts": counts, "log": log}
