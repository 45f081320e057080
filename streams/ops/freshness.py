"""Per-tag freshness: from the event that changed a user's tag to that tag written in Redis.

The processor notes, per batch and tag, the oldest newest-event-time of the users whose tag
changed (``BatchStats.tags_changed``, from the model's ``settle``); once the batch's writes have
landed, :meth:`TagFreshness.on_batch_written` makes one observation per tag: the histogram shows,
per tag, the worst delay of each batch. The times travel with their batch, so a batch given up
uncommitted (a rebalance) observes nothing and cannot shift another batch's times.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram

from profiles.changes import SEGMENTS
from streams.ops.sensor import BatchReport, Sensor

# Millisecond-scale buckets, in seconds (event time -> written).
FRESHNESS_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600,
)  # fmt: skip


class TagFreshness(Sensor):
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

    def on_batch_written(self, batch: BatchReport, seconds: float, now_ms: int) -> None:
        for name, ts in batch.tags_changed.items():
            self.seconds.labels(name).observe(max(0.0, (now_ms - ts) / 1000))
