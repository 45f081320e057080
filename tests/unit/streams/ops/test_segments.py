"""Segment gauges and transition counters (streams/ops/segments.py), on a fresh registry and an
in-memory stand-in for Redis's pipelined SCARD."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from streams.names import Keys
from streams.ops.segments import SegmentSizes
from streams.store.segments import SegmentStore


class FakePipeline:
    def __init__(self, sets: dict[str, set[str]]) -> None:
        self.sets = sets
        self.asked: list[str] = []

    def scard(self, name: str) -> None:
        self.asked.append(name)

    async def execute(self) -> list[int]:
        return [len(self.sets.get(k, ())) for k in self.asked]


class FakeRedis:
    def __init__(self, sets: dict[str, set[str]]) -> None:
        self.sets = sets
        self.pipelines = 0

    def pipeline(self, transaction: bool = True) -> FakePipeline:
        assert transaction is False  # SCARDs need no MULTI
        self.pipelines += 1
        return FakePipeline(self.sets)


@dataclass(frozen=True)
class T:
    kind: str
    name: str
    change: Any


KEYS = Keys("ns")


def members(registry: CollectorRegistry, segment: str) -> float | None:
    return registry.get_sample_value("portrait_segment_members", {"segment": segment})


def counted(registry: CollectorRegistry, segment: str, change: str) -> float | None:
    labels = {"segment": segment, "change": change}
    return registry.get_sample_value("portrait_segment_transitions_total", labels)


def test_refresh_sets_each_segment_to_its_set_size_in_one_round_trip() -> None:
    redis = FakeRedis({KEYS.segment_members("a"): {"u1", "u2"}, KEYS.segment_members("b"): {"u"}})
    registry = CollectorRegistry()
    sizes = SegmentSizes(SegmentStore(redis, "ns"), lambda: ["b", "a", "empty"], registry)
    got = asyncio.run(sizes.refresh())
    assert got == {"a": 2, "b": 1, "empty": 0}
    assert (members(registry, "a"), members(registry, "b")) == (2.0, 1.0)
    assert members(registry, "empty") == 0.0  # a segment nobody is in yet shows 0, not no data
    assert redis.pipelines == 1


def test_a_segment_dropped_from_the_rules_leaves_the_gauge() -> None:
    redis = FakeRedis({KEYS.segment_members("a"): {"u1"}, KEYS.segment_members("b"): {"u"}})
    registry = CollectorRegistry()
    current = ["a", "b"]
    sizes = SegmentSizes(SegmentStore(redis, "ns"), lambda: current, registry)
    asyncio.run(sizes.refresh())
    current = ["a"]
    redis.sets[KEYS.segment_members("a")].add("u2")
    asyncio.run(sizes.refresh())
    assert members(registry, "a") == 2.0
    assert members(registry, "b") is None


def test_no_segments_no_round_trip() -> None:
    redis = FakeRedis({})
    sizes = SegmentSizes(SegmentStore(redis, "ns"), list, CollectorRegistry())
    assert asyncio.run(sizes.refresh()) == {}
    assert redis.pipelines == 0


@pytest.mark.parametrize(
    "transitions,expect",
    [
        ([], {}),
        ([T("segment", "a", "entered")], {("a", "entered"): 1}),
        (
            [T("segment", "a", "entered"), T("segment", "a", "exited"),
             T("segment", "a", "entered"), T("segment", "b", "exited")],
            {("a", "entered"): 2, ("a", "exited"): 1, ("b", "exited"): 1},
        ),
        ([T("tag", "a", ("x", "y")), T("segment", "a", "exited")], {("a", "exited"): 1}),
    ],
)  # fmt: skip
def test_observe_counts_segment_transitions_by_change(
    transitions: list[T], expect: dict[tuple[str, str], int]
) -> None:
    registry = CollectorRegistry()
    sizes = SegmentSizes(SegmentStore(FakeRedis({}), "ns"), list, registry)
    assert sizes.observe(transitions) == sum(expect.values())
    for (segment, change), n in expect.items():
        assert counted(registry, segment, change) == n
    assert counted(registry, "a", "changed") is None  # tag changes are not segment transitions


def test_observe_accumulates_across_batches() -> None:
    registry = CollectorRegistry()
    sizes = SegmentSizes(SegmentStore(FakeRedis({}), "ns"), list, registry)
    for _ in range(3):
        sizes.observe(iter([T("segment", "s", "entered")]))
    assert counted(registry, "s", "entered") == 3.0
