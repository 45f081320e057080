"""``portrait replay --via kafka``: a log produced to the events topic for a running worker.

Every message goes to the events topic keyed by its user, acknowledged by all in-sync
replicas; a ``portrait worker`` applies them as it would any producer's events.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from streams.connect.clients import kafka_options
from streams.connect.topics import ensure_topics
from streams.errors import kafka_unreachable
from streams.names import EMIT_CHANGES, REPLAY_HEADER, TOPIC_EVENTS
from streams.replay.run import ReplayError, Run
from streams.settings.tree import Settings

# Marks the messages as history: the worker applies them but schedules no trigger for them.
_MARK = [(REPLAY_HEADER, b"1")]
_EMITTING = [(REPLAY_HEADER, EMIT_CHANGES)]  # the worker publishes its rule transitions


async def produce(settings: Settings, run: Run, emit_changes: bool = False) -> None:
    """Every message to the events topic, keyed by user; return once the broker has them all."""
    producer = await _producer(settings)
    topic = settings.topic(TOPIC_EVENTS)
    mark = _EMITTING if emit_changes else _MARK
    window: list[asyncio.Future[Any]] = []
    previous: asyncio.Future[None] | None = None
    try:
        for message, done in run.feed:
            window.append(await producer.send(topic, message.value, key=message.key, headers=mark))
            if len(window) >= settings.worker.batch_max_records:
                if previous is not None:
                    await previous  # one window in flight while the next one fills
                previous = asyncio.ensure_future(_acknowledged(run, window, done))
                window = []
        if previous is not None:
            await previous
        await _acknowledged(run, window, 1.0)
    except KafkaError as exc:
        raise ReplayError(f"producing to {topic} failed: {exc!r}") from exc
    finally:
        await producer.stop()


async def _acknowledged(run: Run, window: list[asyncio.Future[Any]], done: float) -> None:
    await asyncio.gather(*window)
    run.account(len(window), {"produced": len(window)}, {}, done)


async def _producer(settings: Settings) -> AIOKafkaProducer:
    s = settings
    producer = AIOKafkaProducer(**kafka_options(s), acks="all", linger_ms=20,
                                max_batch_size=1 << 20)  # fmt: skip
    try:
        await asyncio.wait_for(
            ensure_topics(s, [s.topic(TOPIC_EVENTS)],
                          partitions=s.topics.partitions,
                          replication_factor=s.topics.replication_factor),
            s.worker.startup_timeout_s,
        )  # fmt: skip
        await asyncio.wait_for(producer.start(), s.worker.startup_timeout_s)
    except (TimeoutError, KafkaError, OSError) as exc:
        await producer.stop()
        raise ReplayError(kafka_unreachable(s.kafka_bootstrap_servers, exc)) from exc
    return producer
