"""A worker killed while reminders are pending: its successors send each one exactly once.

Real `portrait worker` processes on the wall clock (a SIGKILL cannot be injected): reminders
due a few seconds after their add, the first worker killed before they fall due, two new
workers sharing the due index afterwards.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from redis.asyncio import Redis

from streams.settings.tree import Settings
from streams.store.triggers import TriggerStore
from tests.integration.helpers import ev, produce, wait_until
from tests.integration.processes import WorkerProcess
from tests.integration.triggers.trigger_helpers import read_messages, with_triggers

pytestmark = pytest.mark.integration
USERS = 25
DELAY_S = 12


async def test_killed_worker_restarts_and_sends_each_reminder_once(
    settings: Settings, namespace: str, tmp_path: Path
) -> None:
    triggers = {
        "cart_reminder": {"delay": f"{DELAY_S}s"},
        "policy": {"quiet_hours": None, "min_gap": 0},
    }
    settings = with_triggers(settings, triggers)
    users = [f"{namespace}k{i}" for i in range(USERS)]
    first = WorkerProcess(settings, tmp_path, {"triggers": triggers}, name="a")
    successors = [WorkerProcess(settings, tmp_path, {"triggers": triggers}, name=n) for n in "bc"]
    redis = Redis.from_url(settings.redis_url)
    store = TriggerStore(redis, settings.topics.prefix)
    first.start()
    try:
        now = int(time.time() * 1000)
        await produce(settings, [ev("add_to_cart", u, now, item_id="i1", price=9.0) for u in users])

        async def all_pending() -> bool:
            found = [await store.pending(u) for u in users]
            return all("cart_reminder" in p for p in found)

        await wait_until(all_pending, within=DELAY_S - 2, what="every reminder pending")
        first.kill()  # before any reminder is due
        assert await read_messages(settings, expect=0, within=0.5, settle=0) == []
        for worker in successors:
            worker.start()
        sent = await read_messages(settings, expect=USERS, within=60, settle=3)
    finally:
        for worker in (first, *successors):
            worker.stop()
        await redis.aclose()
    reminders = [m for m in sent if m["kind"] == "cart_reminder"]
    assert sorted(m["user_id"] for m in reminders) == sorted(users)  # each one, once
    assert len({m["trigger_id"] for m in reminders}) == USERS
