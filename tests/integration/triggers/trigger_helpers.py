"""Helpers for the trigger tests: an injected clock, a worker and a scheduler on it, and a reader
of the channel topics (real broker, real Redis)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition
from prometheus_client import CollectorRegistry

from profiles.model import ProfileModel
from streams.connect.clients import kafka_options, redis_client
from streams.connect.topics import ensure_topics
from streams.ops.trigger_metrics import TriggerMetrics
from streams.ops.worker_metrics import WorkerMetrics
from streams.settings.tree import Settings
from streams.settings.triggers import trigger_config
from streams.store.triggers import TriggerStore
from streams.triggers.publisher import KafkaPublisher
from streams.triggers.scheduler import Scheduler
from streams.worker.service import EventWorker
from triggers.model import Trigger
from triggers.policy import Policy


def at(text: str) -> int:
    """Epoch ms of an ISO time (UTC unless it says otherwise)."""
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


class Clock:
    """The injected clock: tests move ``now``; nothing sleeps."""

    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def with_triggers(settings: Settings, raw: dict[str, Any]) -> Settings:
    return dataclasses.replace(settings, triggers=trigger_config(raw))


@contextlib.asynccontextmanager
async def clocked_worker(
    settings: Settings, clock: Clock, registry: CollectorRegistry
) -> AsyncIterator[EventWorker]:
    """The event worker with triggers enabled, on the injected clock; its trigger metrics go
    to ``registry`` (:func:`trigger_metrics` gives the same object to the scheduler)."""
    metrics = WorkerMetrics(registry)
    worker = EventWorker(
        settings, metrics, clock=clock, trigger_metrics=trigger_metrics(registry, settings)
    )
    await worker.start()
    try:
        yield worker
    finally:
        await worker.stop()


_METRICS: dict[int, TriggerMetrics] = {}


def trigger_metrics(registry: CollectorRegistry, settings: Settings) -> TriggerMetrics:
    """One TriggerMetrics per registry (a registry refuses the same names twice)."""
    found = _METRICS.get(id(registry))
    if found is None or found.registry is not registry:
        found = _METRICS[id(registry)] = TriggerMetrics(registry, settings.triggers.cost)
    return found


def channel_topics(settings: Settings) -> dict[str, str]:
    return {ch: settings.topic(name) for ch, name in settings.triggers.topics.items()}


@contextlib.asynccontextmanager
async def clocked_scheduler(
    settings: Settings, clock: Clock, registry: CollectorRegistry | None = None
) -> AsyncIterator[Scheduler]:
    """A scheduler publishing to the real channel topics, on the injected clock."""
    topics = channel_topics(settings)
    await ensure_topics(settings, sorted(topics.values()), partitions=2)
    redis = redis_client(settings)
    producer = AIOKafkaProducer(**kafka_options(settings), acks="all")
    await producer.start()
    metrics = trigger_metrics(registry or CollectorRegistry(), settings)
    try:
        yield Scheduler(
            redis,
            ProfileModel(settings.model),
            Policy(settings.triggers),
            KafkaPublisher(producer, topics),
            metrics,
            clock,
            settings.topics.prefix,
        )
    finally:
        await producer.stop()
        await redis.aclose()


async def read_messages(
    settings: Settings, expect: int, within: float = 20.0, settle: float = 1.0
) -> list[dict[str, Any]]:
    """Every message on the channel topics: wait for ``expect`` of them, then ``settle`` more
    seconds for any extra (a duplicate would show up there)."""
    topics = sorted(channel_topics(settings).values())
    await ensure_topics(settings, topics, partitions=2)
    consumer = AIOKafkaConsumer(
        **kafka_options(settings),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        parts = []
        for topic in topics:
            found = consumer.partitions_for_topic(topic) or set()
            while not found:
                await consumer.force_metadata_update()  # type: ignore[no-untyped-call]
                found = consumer.partitions_for_topic(topic) or set()
            parts.extend(TopicPartition(topic, p) for p in found)
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        out: list[dict[str, Any]] = []
        deadline = time.monotonic() + within
        quiet_until: float | None = None
        while time.monotonic() < (quiet_until or deadline):
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                out.extend(orjson.loads(r.value) for r in records)
            if len(out) >= expect and quiet_until is None:
                quiet_until = time.monotonic() + settle
        return out
    finally:
        await consumer.stop()


async def pending(settings: Settings, user: str) -> dict[str, Trigger]:
    redis = redis_client(settings)
    try:
        return await TriggerStore(redis, settings.topics.prefix).pending(user)
    finally:
        await redis.aclose()


async def wait_pending(settings: Settings, user: str, slot: str, present: bool = True) -> Trigger:
    """Wait until ``slot`` is (or is no longer) pending for ``user``; return what is there."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = (await pending(settings, user)).get(slot)
        if (found is not None) == present:
            return found  # type: ignore[return-value]
        await asyncio.sleep(0.1)
    raise AssertionError(f"{slot} for {user} never became {'pending' if present else 'gone'}")


async def due_slots(settings: Settings, user: str) -> dict[str, int]:
    """The user's entries in the due index, ``{slot: due}`` (lazy kinds have no record)."""
    from streams.names import Keys, parse_due_member

    redis = redis_client(settings)
    try:
        entries = await redis.zrange(Keys(settings.topics.prefix).due, 0, -1, withscores=True)
    finally:
        await redis.aclose()
    out = {}
    for member, score in entries:
        slot, owner = parse_due_member(member.decode())
        if owner == user:
            out[slot] = int(score)
    return out
