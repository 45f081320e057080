"""A trigger already due when its batch writes it must not be judged on a profile that does not
hold its cause yet: trigger operations are written before the batch's profiles (so a crash
between them loses nothing), and a scheduler in another process can claim the trigger in that
gap. Found by the fault suite: with a consumer lag longer than the reminder's delay (a killed
worker's partitions wait ~10 s for the rebalance), reminders were judged on an empty cart and
dropped for good, about one per kill."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
import pytest

from profiles.model import ProfileModel
from streams.connect.clients import redis_client
from streams.pipeline.batch import DeadLetter
from streams.pipeline.processor import BatchProcessor
from streams.pipeline.retry import Backoff
from streams.pipeline.trigger_hook import TriggerHook
from streams.settings.tree import Settings
from streams.store.profiles import ProfileStore
from streams.store.triggers import TriggerStore
from tests.factories import Rec
from tests.integration.helpers import ev
from tests.integration.triggers.trigger_helpers import (
    Clock,
    at,
    clocked_scheduler,
    pending,
    read_messages,
    with_triggers,
)
from triggers.rules import TriggerRules

pytestmark = pytest.mark.integration

NOON = at("2026-03-10T12:00:00")


class NoDeadLetters:
    async def send_many(self, letters: Sequence[DeadLetter]) -> None:
        raise AssertionError(f"no event here is malformed: {letters}")


async def test_a_due_trigger_waits_for_the_profile_write_that_follows_it(
    settings: Settings, namespace: str
) -> None:
    settings = with_triggers(settings, {"policy": {"quiet_hours": None}})
    user = namespace + "late-cart"
    clock = Clock(NOON)
    redis = redis_client(settings)
    model = ProfileModel(settings.model)
    hook = TriggerHook(
        TriggerRules(model, settings.triggers), TriggerStore(redis, settings.topics.prefix)
    )
    processor = BatchProcessor(
        model, ProfileStore(redis, settings.topics.prefix), NoDeadLetters(), clock,
        backoff=Backoff(), should_stop=lambda: False, triggers=hook,
    )  # fmt: skip
    add = ev("add_to_cart", user, NOON - 3_600_000, item_id="i1", price=9.0)  # read an hour late
    record = Rec("events", 0, 7, user.encode(), orjson.dumps(add), NOON)
    try:
        prepared = await processor.prepare({("events", 0): [record]})
        # the batch's trigger operations have landed, its profile write has not yet
        await hook.write_ops(prepared.ops)
        reminder = (await pending(settings, user))["cart_reminder"]
        assert reminder.due_at < clock.now and reminder.source == ("0", 7)
        async with clocked_scheduler(settings, clock) as scheduler:
            assert await scheduler.run_once() == 1  # claimed: due already
            waiting = (await pending(settings, user)).get("cart_reminder")
            assert waiting is not None, "judged on a profile without the add, and dropped"
            assert waiting.trigger_id == reminder.trigger_id
            await processor.store_prepared(prepared)  # the profile lands
            clock.now += 1_000
            assert await scheduler.run_once() == 1
    finally:
        await redis.aclose()
    [message] = await read_messages(settings, expect=1)
    assert (message["trigger_id"], message["kind"]) == (reminder.trigger_id, "cart_reminder")
    assert [i["item_id"] for i in message["payload"]["items"]] == ["i1"]
