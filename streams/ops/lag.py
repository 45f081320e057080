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
from collections.abc import Mapping
from typing import Any

from aiokafka.structs import TopicPartition
from prometheus_client import CollectorRegistry, Gauge

from streams.ops.sensor import Sensor

log = logging.getLogger("portrait.lag")


class LagMetrics(Sensor):
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
        self._exported: set[tuple[str, str]] = set()

    def on_lag(self, partitions: Mapping[tuple[str, int], tuple[int, int]]) -> None:
        for (topic, partition), (highwater, lag) in partitions.items():
            labels = (topic, str(partition))
            self.lag.labels(*labels).set(lag)
            self.highwater.labels(*labels).set(highwater)
        owned = {(topic, str(partition)) for topic, partition in partitions}
        for labels in self._exported - owned:  # revoked: another worker reports it now
            for gauge in (self.lag, self.highwater):
                with contextlib.suppress(KeyError):
                    gauge.remove(*labels)
        self._exported = owned


class LagSampler:
    """Reports the lag of the partitions this consumer owns to a sensor."""

    def __init__(self, consumer: Any, sensor: Sensor) -> None:
        self.consumer = consumer  # aiokafka.AIOKafkaConsumer (untyped)
        self.sensor = sensor

    async def sample(self) -> dict[TopicPartition, int]:
        """Report and return the lag of every partition with a known high watermark."""
        lags: dict[TopicPartition, int] = {}
        seen: dict[tuple[str, int], tuple[int, int]] = {}
        for tp in sorted(self.consumer.assignment()):
            highwater = self.consumer.highwater(tp)
            if highwater is None:
                continue
            committed = await self.consumer.committed(tp)
            lags[tp] = max(0, highwater - (committed or 0))
            seen[(tp.topic, tp.partition)] = (highwater, lags[tp])
        self.sensor.on_lag(seen)
        return lags
