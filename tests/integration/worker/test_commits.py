"""Offsets are committed on an interval (``worker.commit_interval_ms``), not after every batch,
against a real broker and Redis: a stored batch is committed once the interval has passed even
when no event follows, and everything stored is committed at stop however long the interval."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from streams.connect.clients import kafka_options
from streams.names import TOPIC_EVENTS
from streams.settings.tree import Settings
from tests.integration.helpers import ev, produce, running_worker, wait_for_count, wait_until

pytestmark = pytest.mark.integration


async def committed(settings: Settings) -> int:
    """The group's committed offsets summed over the partitions (a fresh topic: the number of
    records committed), asked without joining the group."""
    reader = AIOKafkaConsumer(
        **kafka_options(settings), group_id=settings.group_id, enable_auto_commit=False
    )
    await reader.start()
    try:
        topic = settings.topic(TOPIC_EVENTS)
        total = 0
        for p in range(settings.topics.partitions):
            total += await reader.committed(TopicPartition(topic, p)) or 0
        return total
    finally:
        await reader.stop()


def with_interval(settings: Settings, ms: int) -> Settings:
    return replace(settings, worker=replace(settings.worker, commit_interval_ms=ms))


async def test_a_stored_batch_is_committed_on_the_interval_without_more_events(
    settings: Settings, namespace: str
) -> None:
    settings = with_interval(settings, 8000)
    now = int(time.time() * 1000)
    first, second = namespace + "first", namespace + "second"
    async with running_worker(settings):
        await produce(settings, [ev("view", first, now)])
        await wait_for_count(settings, first, "view", 1, "the first view")

        async def first_committed() -> bool:
            return await committed(settings) == 1

        await wait_until(first_committed, what="the first batch's commit (the first is at once)")
        await produce(settings, [ev("view", second, now), ev("click", second, now + 1)])
        await wait_for_count(settings, second, "click", 1, "the second batch")
        stored_at = time.monotonic()
        await asyncio.sleep(1.5)  # polls of 50 ms: a commit after every batch would be done
        assert await committed(settings) == 1  # stored, its commit waits for the interval

        async def all_committed() -> bool:
            return await committed(settings) == 3

        await wait_until(all_committed, what="the commit once the interval passed", within=30)
        assert time.monotonic() - stored_at < 25


async def test_the_stop_commits_everything_stored(settings: Settings, namespace: str) -> None:
    settings = with_interval(settings, 3_600_000)  # an hour: only the stop commits
    now = int(time.time() * 1000)
    users = [f"{namespace}u{i}" for i in range(5)]
    async with running_worker(settings):
        await produce(settings, [ev("view", users[0], now)])
        await wait_for_count(settings, users[0], "view", 1, "the first view")
        await produce(settings, [ev("view", u, now + 1) for u in users[1:]])
        for user in users[1:]:
            await wait_for_count(settings, user, "view", 1, "the later views")
        await asyncio.sleep(1.5)
        assert await committed(settings) == 1  # the first batch's, at once; the rest waits
    assert await committed(settings) == 5
