"""Redis goes away mid-stream: the worker retries with backoff, loses nothing, counts once."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator

import pytest
from redis.asyncio import Redis

from profiles.model import ProfileModel
from streams.embedded import EmbeddedRedis
from streams.settings import Settings
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
            await produce(settings, events[:3_000])

            async def first_half() -> bool:
                return await applied_total(settings, users) >= 3_000

            await wait_until(first_half, what="the first half applied")
            # The outage: every connection is cut and no new one may authenticate.
            await admin.config_set("requirepass", "outage")
            await admin.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
            await produce(settings, events[3_000:])

            async def retrying() -> bool:
                ops = ("load", "triggers", "write")  # triggers: written before the profiles
                return (
                    sum(metric(registry, "portrait_redis_retries_total", op=op) for op in ops) >= 2
                )

            await wait_until(retrying, what="the worker retrying against Redis")
            await asyncio.sleep(1.0)
            await admin.config_set("requirepass", "")  # Redis is back

            async def complete() -> bool:
                return await applied_total(settings, users) >= len(events)

            await wait_until(complete, within=120, what="all events applied after the outage")
    finally:
        await admin.aclose()
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
