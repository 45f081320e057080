"""Effectively once: duplicates by event_id, and a worker SIGKILLed mid-stream and restarted."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from profiles.model import ProfileModel
from streams.settings.tree import Settings
from tests.integration.helpers import (
    DAY,
    T0,
    applied_total,
    ev,
    expected_states,
    load_states,
    metric,
    produce,
    profile_view,
    running_worker,
    traffic,
    wait_until,
)
from tests.integration.processes import WorkerProcess

pytestmark = pytest.mark.integration


async def test_same_event_id_twice_counts_once(settings: Settings, namespace: str) -> None:
    user = namespace + "bob"
    purchase = ev("purchase", user, T0, event_id="order-42-completed", revenue=99.5, order_id="42")
    events = [ev("view", user, T0 - 1000), purchase, dict(purchase), ev("view", user, T0 + 1000)]
    async with running_worker(settings) as registry:
        await produce(settings, events)

        async def all_consumed() -> bool:
            return metric(registry, "portrait_batch_size_sum") >= 4

        await wait_until(all_consumed, what="4 records consumed")
        assert metric(registry, "portrait_events_total", type="purchase", outcome="duplicate") == 1
        assert metric(registry, "portrait_events_total", type="purchase", outcome="applied") == 1
    tags = ProfileModel().tags((await load_states(settings, [user]))[user], T0 + 2000)
    assert tags["purchases_total"] == 1
    assert tags["spend_total"] == 99.5
    assert tags["events_total"] == 3


async def test_sigkill_mid_stream_loses_nothing_and_counts_nothing_twice(
    settings: Settings, namespace: str, tmp_path: Path
) -> None:
    events = traffic(namespace, users=300, n=30_000)
    users = sorted({e["user_id"] for e in events})
    expected = expected_states(events, ProfileModel())
    worker = WorkerProcess(settings, tmp_path)
    worker.start()
    producing = asyncio.ensure_future(produce(settings, events))
    try:
        kills = 0
        for threshold in (3_000, 10_000, 17_000):  # kill three times, each time mid-stream

            async def past(threshold: int = threshold) -> bool:
                return await applied_total(settings, users) >= threshold

            await wait_until(past, within=120, what=f"{threshold} events applied")
            worker.kill()
            kills += 1
            partial = await applied_total(settings, users)
            assert partial < len(events), "the kill must land before the stream is done"
            worker.start()
        await producing

        async def complete() -> bool:
            return await applied_total(settings, users) >= len(events)

        await wait_until(complete, within=180, what="all events applied after restarts")
        await asyncio.sleep(1.0)  # anything double-applied late would show up now
    finally:
        worker.stop()
    assert kills == 3
    states = await load_states(settings, users)
    model = ProfileModel()
    as_of = T0 + DAY
    mismatched = [
        u
        for u in users
        # views, not raw states: how the stream was cut into batches may change the inner form
        # (when decayed scores were rescaled, the change log) but never a value
        if profile_view(model, u, states[u], as_of) != profile_view(model, u, expected[u], as_of)
    ]
    assert mismatched == [], f"{len(mismatched)} users differ, e.g. {mismatched[:3]}"
    assert await applied_total(settings, users) == len(events)
