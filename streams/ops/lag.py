"""Consumer lag per owned partition: high watermark - committed offset, sampled periodically.

The high watermark comes from the consumer's own fetch responses (``consumer.highwater``), not
from ``ListOffsets`` (``end_offsets()``): the embedded broker, Tansu, answers ListOffsets a few
percent low (docs/operations.md), while the fetch responses' high watermark is right on Kafka and
Tansu alike. The committed offset is asked of the group coordinator (one request per owned
partition per sample, every few seconds: nothing on the hot path). A partition not fetched yet
has no high watermark and is left out until it has one.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from aiokafka.structs import TopicPartition
from prometheus_client import CollectorRegistry, Gauge

log = logging.getLogger("portrait.lag")


class LagMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.lag = Gauge(
            "portrait_consumer_lag",
            "Records not yet committed by the group: high watermark - committed offset",
            ["topic", "partition"],
            registry=registry,
        )
        self.highwater = Gauge(
            "portrait_consumer_highwater",
            "High watermark of an owned partition (from the fetch responses)",
            ["topic", "partition"],
            registry=registry,
        )


class LagSampler:
    """Exports the lag of the partitions this consumer owns; forgets the ones it lost."""

    def __init__(self, consumer: Any, metrics: LagMetrics) -> None:
        self.consumer = consumer  # aiokafka.AIOKafkaConsumer (untyped)
        self.metrics = metrics
        self._exported: set[tuple[str, str]] = set()

    async def sample(self) -> dict[TopicPartition, int]:
        """Update the gauges; return the lag of every partition with a known high watermark."""
        lags: dict[TopicPartition, int] = {}
        for tp in sorted(self.consumer.assignment()):
            highwater = self.consumer.highwater(tp)
            if highwater is None:
                continue
            committed = await self.consumer.committed(tp)
            lags[tp] = max(0, highwater - (committed or 0))
            labels = (tp.topic, str(tp.partition))
            self.metrics.lag.labels(*labels).set(lags[tp])
            self.metrics.highwater.labels(*labels).set(highwater)
        owned = {(tp.topic, str(tp.partition)) for tp in lags}
        for labels in self._exported - owned:  # revoked: another worker reports it now
            for gauge in (self.metrics.lag, self.metrics.highwater):
                with contextlib.suppress(KeyError):
                    gauge.remove(*labels)
        self._exported = owned
        return lags
