"""Pre-produce keyed events fast: one aiokafka ``BatchBuilder`` per partition, murmur2 keys.

Records go to the partition aiokafka's default partitioner picks for their key (the same one
``producer.send(key=...)`` would), so each user lives in one partition as in production.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.partitioner import DefaultPartitioner

from bench.progress import Progress
from bench.sources import Record
from streams.connect.clients import kafka_options

MAX_BATCH_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ProduceResult:
    events: int
    bytes: int
    seconds: float

    @property
    def per_s(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


async def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(**kafka_options(bootstrap), request_timeout_ms=15_000)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)], timeout_ms=15_000)
    finally:
        await admin.close()


async def produce(
    bootstrap: str, topic: str, partitions: int, records: Iterable[Record], total: int
) -> ProduceResult:
    """Send every record, waiting for the broker's acks; a progress line about every second."""
    producer = AIOKafkaProducer(
        **kafka_options(bootstrap),
        acks="all",
        linger_ms=5,
        max_batch_size=MAX_BATCH_BYTES,
        max_request_size=8 * MAX_BATCH_BYTES,
    )
    await producer.start()
    progress = Progress("produced", total)
    choose = DefaultPartitioner()
    all_partitions = list(range(partitions))
    builders: dict[int, Any] = {}
    futures: list[Any] = []
    sent = size = 0
    started = time.perf_counter()
    try:
        for key, value in records:
            p = choose(key, all_partitions, all_partitions)
            builder = builders.get(p) or builders.setdefault(p, producer.create_batch())
            if builder.append(key=key, value=value, timestamp=None) is None:
                futures.append(await producer.send_batch(builder, topic, partition=p))
                builder = builders[p] = producer.create_batch()
                builder.append(key=key, value=value, timestamp=None)
            sent += 1
            size += len(value)
            progress.update(sent)
        for p, builder in builders.items():
            if builder.record_count():
                futures.append(await producer.send_batch(builder, topic, partition=p))
        for future in futures:
            await future
    finally:
        await producer.stop()
    progress.update(sent, force=True)
    return ProduceResult(sent, size, time.perf_counter() - started)
