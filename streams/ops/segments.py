"""Segment sizes and transitions, as Prometheus sees them (docs/rules.md).

A segment's members are a Redis SET kept exact by the worker's fenced write
(``Keys.segment_members``), so its size is one SCARD: exact, never a sample. On Redis Cluster
the set is sharded by the user id (a user in one shard only), and the size the sum of the
shards' SCARDs (streams/store/segments.py ``SegmentStore.sizes``), as exact. The worker calls
:meth:`SegmentSizes.refresh` every few seconds (one pipelined round trip for every segment of
the current rules) and hands each batch's transitions to :meth:`SegmentSizes.observe`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge

SEGMENT: Final = "segment"  # the kind of transition counted here (tags change, they do not enter)


class Transition(Protocol):
    """What :meth:`SegmentSizes.observe` reads of a transition (the engine's own type)."""

    @property
    def kind(self) -> str: ...  # "segment" or "tag"

    @property
    def name(self) -> str: ...

    @property
    def change(self) -> Any: ...  # "entered" / "exited" for a segment


class Sizes(Protocol):
    """What :meth:`SegmentSizes.refresh` reads (streams/store/segments.py SegmentStore)."""

    async def sizes(self, segments: Sequence[str]) -> dict[str, int]: ...


class SegmentSizes:
    """``portrait_segment_members{segment}`` (gauge, SCARD; summed over the shards on a
    cluster) and
    ``portrait_segment_transitions_total{segment,change}`` (counter).

    ``segments`` gives the names of the current rules' segments at each refresh: rules are
    reloaded while the worker runs, and a segment dropped from them leaves the gauge (its stale
    member set may linger in Redis until cleaned, but it is no longer a segment)."""

    def __init__(
        self,
        store: Sizes,
        segments: Callable[[], Iterable[str]],
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.store = store
        self.segments = segments
        self.registry = registry if registry is not None else CollectorRegistry()
        self.members = Gauge(
            "portrait_segment_members",
            "Users in each segment of the current rules (SCARD of its member set: exact)",
            ["segment"],
            registry=self.registry,
        )
        self.transitions = Counter(
            "portrait_segment_transitions_total",
            "Users entering or leaving each segment (change: entered, exited)",
            ["segment", "change"],
            registry=self.registry,
        )
        self._shown: set[str] = set()

    async def refresh(self) -> dict[str, int]:
        """Read every current segment's size into the gauge; returns them (name -> size)."""
        sizes = await self.store.sizes(sorted(set(self.segments())))
        for name, size in sizes.items():
            self.members.labels(segment=name).set(size)
        for gone in self._shown - sizes.keys():
            self.members.remove(gone)
        self._shown = set(sizes)
        return sizes

    def observe(self, transitions: Sequence[Transition] | Iterable[Transition]) -> int:
        """Count the segment transitions among ``transitions`` (tag changes are not counted
        here); returns how many were counted."""
        counted = 0
        for t in transitions:
            if t.kind == SEGMENT:
                self.transitions.labels(segment=t.name, change=str(t.change)).inc()
                counted += 1
        return counted
