"""The segment values metrics are created with at 0 (streams.ops.census.SEGMENT_VALUES) are the
values the pure functions give: a panel's 0 line is a value that can happen, and every value that
can happen has its line from the start."""

from __future__ import annotations

from itertools import product

from prometheus_client import CollectorRegistry

from profiles.changes import SEGMENTS
from profiles.layers import RFM_SEGMENTS, segment
from streams.ops.census import QUANTILES, SEGMENT_VALUES, CensusMetrics
from streams.pipeline.batch import segment_label


def test_the_rfm_segments_are_every_value_segment_gives() -> None:
    given = {segment(r, f, m) for r, f, m in product(range(1, 6), repeat=3)}
    assert given == set(RFM_SEGMENTS)


def test_segment_values_name_bounded_segments_with_their_labels() -> None:
    for name, values in SEGMENT_VALUES.items():
        assert name in SEGMENTS
        assert segment_label(name, values[0])[1] != "*", f"{name} is labelled as unbounded"
    assert SEGMENT_VALUES["rfm_r"][:5] == tuple(segment_label("rfm_r", s)[1] for s in range(1, 6))
    assert segment_label("high_value", True)[1] in SEGMENT_VALUES["high_value"]


def test_a_census_before_its_first_result_exports_every_known_value_at_0() -> None:
    registry = CollectorRegistry()
    metrics = CensusMetrics(registry)
    expected = {(s, v) for s, values in SEGMENT_VALUES.items() for v in values}
    assert _series(registry, "portrait_segment_users") == {k: 0.0 for k in expected}
    assert {q for (q,) in _series(registry, "portrait_profile_state_bytes")} == {
        str(q) for q in QUANTILES
    }

    segments = {"lifecycle=new": 3, "top_brand=x": 1}
    metrics.on_census({"profiles": 3, "sampled": 3, "exact": True, "at": 1.0, "seconds": 0.1,
                    "bytes": {"0.5": 90}, "segments": segments})  # fmt: skip
    after = _series(registry, "portrait_segment_users")
    assert after[("lifecycle", "new")] == 3 and after[("lifecycle", "active")] == 0
    assert after[("top_brand", "x")] == 1 and len(after) == len(expected) + 1


def _series(registry: CollectorRegistry, name: str) -> dict[tuple[str, ...], float]:
    return {
        tuple(s.labels.values()): s.value
        for family in registry.collect()
        for s in family.samples
        if s.name == name
    }
