"""bench.latency's pure helpers: quantiles, the CDF and matching events to what saw them."""

from __future__ import annotations

import pytest

from bench.latency_match import (
    Produced,
    Seen,
    cdf,
    match_received,
    match_visible,
    parse_fences,
    percentile,
    summary,
)


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 1.0) == 100.0
    assert percentile([7.0], 0.01) == 7.0
    with pytest.raises(ValueError):
        percentile([], 0.5)


def test_summary_and_cdf_are_in_ms() -> None:
    values = [i / 1000 for i in range(1, 1001)]  # 1..1000 ms
    s = summary(values)
    assert (s["count"], s["p50_ms"], s["p99_ms"], s["max_ms"]) == (1000, 500.0, 990.0, 1000.0)
    points = cdf(values)
    assert points[-1] == (1000.0, 1.0)
    assert [q for _, q in points] == sorted(q for _, q in points)
    assert summary([]) == {"count": 0}


def test_parse_fences_reads_the_header_only() -> None:
    assert parse_fences(b"0:17,3:5;\x93\x01;2:9") == {0: 17, 3: 5}
    assert parse_fences(b";\x90") == {}
    assert parse_fences(b"") == {}


def test_match_received_by_partition_and_offset() -> None:
    produced = [Produced("u1", 0, 5, 10.0), Produced("u2", 1, 0, 10.5)]
    assert match_received(produced, {(0, 5): 10.25}) == [0.25, None]


def test_match_visible_takes_the_first_write_whose_fence_reaches_the_offset() -> None:
    produced = [
        Produced("u1", 2, 10, 1.0),
        Produced("u1", 2, 11, 1.1),
        Produced("u1", 2, 12, 1.2),
        Produced("u2", 0, 3, 1.0),
    ]
    seen = [
        Seen("u1", 1.3, 1.301, {2: 11}),  # holds offsets 10 and 11
        Seen("u1", 1.6, 1.601, {2: 12}),
    ]
    latencies, raced = match_visible(produced, seen)
    assert latencies[:3] == pytest.approx([0.3, 0.2, 0.4]) and latencies[3:] == [None]
    assert raced == 0


def test_a_read_that_raced_a_later_write_counts_at_that_write() -> None:
    produced = [Produced("u1", 0, 1, 1.0), Produced("u1", 0, 2, 1.05)]
    # the first read came back after the second write's notification: it may show offset 2
    seen = [Seen("u1", 1.1, 1.25, {0: 2}), Seen("u1", 1.2, 1.21, {0: 2})]
    latencies, raced = match_visible(produced, seen)
    assert raced == 1
    assert latencies == pytest.approx([0.2, 0.15])
