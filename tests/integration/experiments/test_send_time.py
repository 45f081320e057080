"""A fixed-hour variant through the real worker and scheduler: the reminder due at 12:30 waits in
Redis, carrying its arm, until 08:00 local the next day, and goes out then in that arm; the
arm's users were exposed (recorded) at 12:30, when the reminder first held."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from streams.connect.clients import redis_client
from streams.settings.tree import Settings
from streams.store.experiments import ExperimentStore
from tests.integration.helpers import ev, produce
from tests.integration.triggers.trigger_helpers import (
    Clock,
    at,
    clocked_scheduler,
    clocked_worker,
    pending,
    read_messages,
    wait_pending,
    with_triggers,
)
from triggers.experiment_outcome import Exposure

pytestmark = pytest.mark.integration
NOON = at("2026-03-10T12:00:00")
EXPERIMENT = {"name": "morning", "kinds": ["cart_reminder"], "holdout": 0,
              "variants": [{"name": "at_eight", "weight": 1, "copy": "morning",
                            "send_time": "fixed_hour", "hour": 8}]}  # fmt: skip


async def test_a_fixed_hour_arm_waits_for_its_hour_and_keeps_its_arm(
    settings: Settings, namespace: str
) -> None:
    settings = with_triggers(settings, {"policy": {"quiet_hours": None},
                                        "experiments": [EXPERIMENT]})  # fmt: skip
    user, clock, registry = f"{namespace}ann", Clock(NOON), CollectorRegistry()
    async with clocked_worker(settings, clock, registry):
        await produce(settings, [ev("add_to_cart", user, NOON, item_id="i1", price=5.0)])
        await wait_pending(settings, user, "cart_reminder")
    async with clocked_scheduler(settings, clock, registry) as scheduler:
        clock.now = at("2026-03-10T12:30:00")
        assert await scheduler.run_once() == 1  # claimed, enrolled, deferred to 08:00
        waiting = (await pending(settings, user))["cart_reminder"]
        assert (waiting.arm, waiting.at_hour) == (("morning", "at_eight"), None)
        assert waiting.due_at == at("2026-03-11T08:00:00")
        clock.now = at("2026-03-11T07:59:00")
        assert await scheduler.run_once() == 0
        clock.now = at("2026-03-11T08:00:00")
        assert await scheduler.run_once() == 1
    [message] = await read_messages(settings, expect=1)
    assert (message["experiment"], message["variant"]) == ("morning", "at_eight")
    assert message["payload"]["copy"] == "morning"
    assert message["sent_at"] == "2026-03-11T08:00:00.000Z"
    async with redis_client(settings) as redis:
        arms = await ExperimentStore(redis, namespace).arms(user)
    assert arms == {"morning": Exposure("at_eight", at("2026-03-10T12:30:00"), 0)}
