"""The ceiling: a plain aiokafka consumer doing ``getmany`` + ``orjson.loads`` of every value.

It uses the worker's own fetch settings and batch size, its own consumer group, no commits and
nothing else: what Python can pull through one consumer on this broker and this machine.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import orjson
from aiokafka import AIOKafkaConsumer

from bench.load import LoadMeter
from bench.progress import Progress
from streams.connect.clients import kafka_options


@dataclass(frozen=True, slots=True)
class Window:
    """``events`` handled after the first observation until the last one, ``seconds`` apart.

    The events of the first observation (first batch or first scrape) are not counted: they
    were handled before the clock started, and counting them would inflate the rate.
    """

    events: int
    seconds: float
    join_seconds: float  # start of the run to the first record
    cpu_seconds: float | None = None
    load: dict[str, float] = field(default_factory=dict)  # see bench.load.LoadMeter

    @property
    def per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


async def measure_ceiling(
    bootstrap: str, topic: str, group_id: str, total: int, max_records: int, timeout_s: float
) -> Window:
    consumer = AIOKafkaConsumer(
        topic,
        **kafka_options(bootstrap),
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    started = time.perf_counter()
    await consumer.start()
    progress = Progress("ceiling consumed", total)
    seen = at_first = 0
    first = last = cpu0 = 0.0
    loads = orjson.loads
    meter = LoadMeter()
    try:
        while seen < total:
            if time.perf_counter() - started > timeout_s:
                raise TimeoutError(f"ceiling consumer saw {seen}/{total} in {timeout_s}s")
            batch = await consumer.getmany(timeout_ms=100, max_records=max_records)
            for records in batch.values():
                for record in records:
                    loads(record.value)
                seen += len(records)
            last = time.perf_counter()
            if seen and not first:
                first, at_first, cpu0 = last, seen, time.process_time()
                meter.start()
            progress.update(seen)
        load = meter.stop()
    finally:
        await consumer.stop()
    progress.update(seen, force=True)
    cpu = time.process_time() - cpu0
    return Window(seen - at_first, last - first, first - started, cpu, load)
