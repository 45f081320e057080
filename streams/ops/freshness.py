"""Per-tag freshness: from the event that changed a user's tag to that tag written in Redis.

Observed from outside the processor: :class:`FreshnessModel` is the profile model whose
``settle`` (called once per touched user per batch, after the batch's events) notes, for each
tag that changed, the user's newest event time. Per batch and tag only the oldest such time is
kept, and one observation per tag is made when the batch's writes have landed: the histogram
shows, per tag, the worst delay of each batch, at a cost of a dict update per changed tag.

The worker calls :meth:`TagFreshness.seal` after preparing a batch and
:meth:`TagFreshness.written` after storing one; batches are stored in the order they are
prepared, so a FIFO pairs them.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from prometheus_client import CollectorRegistry, Histogram

from profiles.changes import SEGMENTS
from profiles.config import ModelConfig
from profiles.model import ProfileModel, State

# Millisecond-scale buckets, in seconds (event time -> written).
FRESHNESS_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600,
)  # fmt: skip


class TagFreshness:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.seconds = Histogram(
            "portrait_tag_freshness_seconds",
            "Per tag and batch, the oldest change's event time to the tag written in Redis",
            ["tag"],
            buckets=FRESHNESS_BUCKETS,
            registry=registry,
        )
        for tag in SEGMENTS:  # the tags a batch records changes of: each at 0 from the start
            self.seconds.labels(tag)
        self._current: dict[str, int] = {}
        self._sealed: deque[dict[str, int]] = deque()

    def note(self, changed: dict[str, Any], event_ts_ms: int) -> None:
        current = self._current
        for name in changed:
            seen = current.get(name)
            if seen is None or event_ts_ms < seen:
                current[name] = event_ts_ms

    def seal(self) -> None:
        """The batch just prepared is complete: its notes wait for its writes."""
        self._sealed.append(self._current)
        self._current = {}

    def written(self, now_ms: int) -> None:
        """The oldest sealed batch's writes landed: observe its tags' delays."""
        if not self._sealed:
            return
        for name, ts in self._sealed.popleft().items():
            self.seconds.labels(name).observe(max(0.0, (now_ms - ts) / 1000))


class FreshnessModel(ProfileModel):
    """The profile model, noting the tags each ``settle`` reports as changed."""

    def __init__(self, config: ModelConfig | None, freshness: TagFreshness) -> None:
        super().__init__(config)
        self.freshness = freshness

    def settle(self, state: State) -> dict[str, tuple[Any, Any]]:
        changed = super().settle(state)
        if changed:
            self.freshness.note(changed, state["x"])
        return changed
