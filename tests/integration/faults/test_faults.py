"""The fault suite, small: crashes, pauses, duplicates and a tiny cache against real services,
each run comparing every user's stored profile with the pure model applied once to the same
events (tests/integration/faults/fault_runs.py; `make faults` runs the long versions)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.settings.tree import Settings
from tests.integration.faults.fault_checks import Load
from tests.integration.faults.fault_runs import (
    broker_pause,
    duplicate_storm,
    redis_crash,
    small_cache,
    worker_kills,
)

pytestmark = pytest.mark.integration


async def test_three_workers_one_killed_at_random_lose_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    load = Load(users=300, events=6_000, rate=600, carts=12, delay_s=4)
    figures = await worker_kills(settings, tmp_path, load, kills=3)
    assert figures.kills == figures.restarts == 3
    assert figures.users == 312
    assert figures.clean, figures.summary()


@pytest.mark.parametrize("fsync", ["always", "everysec"])
async def test_redis_killed_and_restarted_from_its_aof(
    settings: Settings, tmp_path: Path, fsync: str
) -> None:
    load = Load(users=400, events=4_000, rate=1_000, carts=8, delay_s=3)
    figures = await redis_crash(settings, tmp_path, load, fsync)
    assert figures.kills == figures.restarts == 1
    assert "0 users not a prefix of their events" in figures.notes, figures.summary()
    assert figures.doubled == 0 and figures.reminders_doubled == 0, figures.summary()
    if fsync == "always":  # every acknowledged write was on disk before the reply
        assert figures.clean, figures.summary()


async def test_broker_frozen_mid_stream_then_resumed(settings: Settings, tmp_path: Path) -> None:
    figures = await broker_pause(settings, tmp_path, Load(users=200, events=3_000, rate=600), 8)
    assert figures.users == 200
    assert figures.clean, figures.summary()


async def test_duplicate_storm_counts_each_event_once(settings: Settings) -> None:
    figures = await duplicate_storm(settings, Load(users=150, events=3_000, rate=2_500))
    assert figures.sent > 2 * figures.events
    assert figures.clean, figures.summary()


@pytest.mark.parametrize(("batch", "events"), [(1, 1_200), (7, 8_000)])
async def test_cache_far_smaller_than_the_users_loses_nothing(
    settings: Settings, batch: int, events: int
) -> None:
    load = Load(users=500, warm=10, events=events, rate=5_000)
    figures = await small_cache(settings, load, cache=5, batch=batch)
    assert figures.users > 300  # 60 times the cache: users are evicted and reloaded all along
    assert figures.clean, figures.summary()
