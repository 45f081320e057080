"""Redis goes away mid-stream: the worker retries with backoff, loses nothing, counts once."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from profiles.model import ProfileModel
from streams.app.embedded import EmbeddedRedis
from streams.connect.clients import kafka_options
from streams.names import TOPIC_EVENTS
from streams.settings.tree import Settings
from tests.integration.helpers import (
    T0,
    applied_total,
    expected_states,
    load_states,
    metric,
    produce,
    profile_view,
    running_worker,
    traffic,
    wait_until,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def own_redis() -> Iterator[EmbeddedRedis]:
    """A Redis of this test's own: it is about to be made unavailable."""
    server = EmbeddedRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_worker_rides_out_a_redis_outage(
    settings: Settings, namespace: str, own_redis: EmbeddedRedis
) -> None:
    settings = dataclasses.replace(settings, redis_url=own_redis.url)
    events = traffic(namespace, users=100, n=6_000, seed=3)
    users = sorted({e["user_id"] for e in events})
    admin = Redis.from_url(own_redis.url)
    try:
        async with running_worker(settings) as registry:
            await outage_mid_stream(settings, admin, registry, events, 3_000, retries=2)
            await asyncio.sleep(1.0)
            await restore(settings, admin, events)
    finally:
        await admin.aclose()
    await assert_exact(settings, events, users)


async def test_a_rebalance_during_an_outage_is_not_stalled_by_the_batch_in_flight(
    settings: Settings, namespace: str, own_redis: EmbeddedRedis
) -> None:
    """The revocation gives the batch in flight ``revoke_timeout_s``, then gives it up
    uncommitted: another member gets its partitions in seconds, not when Redis comes back, and
    after the outage every count is still exact."""
    settings = dataclasses.replace(
        settings,
        redis_url=own_redis.url,
        worker=dataclasses.replace(settings.worker, revoke_timeout_s=2.0),
    )
    events = traffic(namespace, users=80, n=3_000, seed=5)
    users = sorted({e["user_id"] for e in events})
    admin = Redis.from_url(own_redis.url)
    try:
        async with running_worker(settings) as registry:
            await outage_mid_stream(settings, admin, registry, events, 2_000, retries=1)
            other = AIOKafkaConsumer(
                settings.topic(TOPIC_EVENTS),
                **kafka_options(settings),
                group_id=settings.group_id,
                enable_auto_commit=False,
            )
            await other.start()
            try:

                async def other_assigned() -> bool:
                    await other.getmany(timeout_ms=200)  # never commits: it only takes a share
                    return bool(other.assignment())

                # without the bound the revocation waits for Redis and the group stalls
                await wait_until(other_assigned, within=45, what="the rebalance to complete")
            finally:
                await other.stop()
            await restore(settings, admin, events)
    finally:
        await admin.aclose()
    await assert_exact(settings, events, users)


async def outage_mid_stream(
    settings: Settings,
    admin: Redis,
    registry: CollectorRegistry,
    events: list[dict[str, Any]],
    first: int,
    retries: int,
) -> None:
    """The first ``first`` events applied, then the outage (every connection cut and no new one
    may authenticate), the rest sent, and the worker seen retrying ``retries`` times."""
    users = sorted({e["user_id"] for e in events})
    await produce(settings, events[:first])

    async def first_part() -> bool:
        return await applied_total(settings, users) >= first

    await wait_until(first_part, what="the first part applied")
    await admin.config_set("requirepass", "outage")
    await admin.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
    await produce(settings, events[first:])

    async def retrying() -> bool:
        # triggers: written before the profiles; rules, changes: the rules' upkeep between
        # batches and the profile.changes outbox (either may be what meets the outage first)
        ops = ("load", "triggers", "write", "rules", "changes")
        counts = (metric(registry, "portrait_redis_retries_total", op=op) for op in ops)
        return sum(counts) >= retries

    await wait_until(retrying, what="the worker retrying against Redis")


async def restore(settings: Settings, admin: Redis, events: list[dict[str, Any]]) -> None:
    """Redis is back: wait until every event is applied."""
    await admin.config_set("requirepass", "")
    users = sorted({e["user_id"] for e in events})

    async def complete() -> bool:
        return await applied_total(settings, users) >= len(events)

    await wait_until(complete, within=120, what="all events applied after the outage")


async def assert_exact(settings: Settings, events: list[dict[str, Any]], users: list[str]) -> None:
    """Every user's profile is the pure model's applied once to the events; each applied once."""
    model = ProfileModel()
    expected = expected_states(events, model)
    states = await load_states(settings, users)
    wrong = [
        u
        for u in users
        if profile_view(model, u, states[u], T0) != profile_view(model, u, expected[u], T0)
    ]
    assert wrong == []
    assert await applied_total(settings, users) == len(events)
