"""Behaviour triggers end to end on a real broker and Redis, with an injected clock.

The worker applies events and schedules; the scheduler claims what is due on the test's clock
and publishes to the channel topics, which the test reads back.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry

from streams.settings import Settings
from tests.integration.helpers import ev, metric, produce
from tests.integration.trigger_helpers import (
    Clock,
    at,
    clocked_scheduler,
    clocked_worker,
    pending,
    read_messages,
    wait_pending,
    with_triggers,
)
from triggers.config import MINUTE_MS

NOON = at("2026-03-10T12:00:00")  # a Tuesday; 20:00 in Shanghai
MIN = MINUTE_MS
DAY = 86_400_000


def cart(etype: str, user: str, ts: int, item: str, **props: Any) -> dict[str, Any]:
    return ev(etype, user, ts, item_id=item, **props)


async def test_reminder_fires_after_the_delay_with_the_open_items(
    settings: Settings, namespace: str
) -> None:
    settings = with_triggers(settings, {"policy": {"quiet_hours": None}})
    user = f"{namespace}alice"
    clock, registry = Clock(NOON), CollectorRegistry()
    async with clocked_worker(settings, clock, registry):
        await produce(
            settings,
            [
                cart("add_to_cart", user, NOON, "i1", price=10.0, quantity=2),
                cart("add_to_cart", user, NOON + MIN, "i2", price=5.0),
                cart("remove_from_cart", user, NOON + 2 * MIN, "i2"),
            ],
        )
        first = await wait_pending(settings, user, "cart_reminder")
        assert first.due_at == NOON + 30 * MIN  # the latest *open* add + 30 min
        clock.now = NOON + 10 * MIN  # a further add updates the same reminder
        await produce(settings, [cart("add_to_cart", user, clock.now, "i3", price=1.5)])

        async def moved() -> bool:
            t = (await pending(settings, user)).get("cart_reminder")
            return t is not None and t.due_at == NOON + 40 * MIN

        from tests.integration.helpers import wait_until

        await wait_until(moved, what="the reminder moved by the further add")
        updated = (await pending(settings, user))["cart_reminder"]
        assert updated.trigger_id == first.trigger_id
    async with clocked_scheduler(settings, clock, registry) as scheduler:
        clock.now = NOON + 39 * MIN
        assert await scheduler.run_once() == 0  # not yet due
        clock.now = NOON + 40 * MIN
        assert await scheduler.run_once() == 1
    [msg] = await read_messages(settings, expect=1)
    assert msg["trigger_id"] == first.trigger_id
    assert (msg["kind"], msg["channel"], msg["user_id"]) == ("cart_reminder", "push", user)
    assert msg["due_at"] == "2026-03-10T12:40:00.000Z"
    items = {i["item_id"]: (i["quantity"], i["price"]) for i in msg["payload"]["items"]}
    assert items == {"i1": (2, 10.0), "i3": (1, 1.5)}
    assert msg["payload"]["value"] == 21.5
    assert metric(registry, "portrait_triggers_published_total", kind="cart_reminder",
                  channel="push") == 1  # fmt: skip
    assert set(await pending(settings, user)) == {"win_back"}  # sent; the win-back waits


async def test_purchase_cancels_the_reminder_even_when_it_arrives_late(
    settings: Settings, namespace: str
) -> None:
    settings = with_triggers(settings, {"policy": {"quiet_hours": None}})
    bob, carol = f"{namespace}bob", f"{namespace}carol"
    clock, registry = Clock(NOON), CollectorRegistry()
    async with clocked_worker(settings, clock, registry):
        await produce(
            settings,
            [
                cart("add_to_cart", bob, NOON, "i1", price=10.0),
                cart("add_to_cart", carol, NOON, "i9", price=3.0),
            ],
        )
        await wait_pending(settings, bob, "cart_reminder")
        await wait_pending(settings, carol, "cart_reminder")
        await produce(settings, [cart("purchase", bob, NOON + 5 * MIN, "i1", price=10.0)])
        await wait_pending(settings, bob, "cart_reminder", present=False)
        # carol's purchase reaches us late: stamped before the due time, read after it passed
        clock.now = NOON + 29 * MIN
        await produce(settings, [cart("purchase", carol, NOON + 20 * MIN, "i9", price=3.0)])
        await wait_pending(settings, carol, "cart_reminder", present=False)
    assert metric(registry, "portrait_triggers_cancelled_total", kind="cart_reminder",
                  reason="purchase") == 2  # fmt: skip
    async with clocked_scheduler(settings, clock) as scheduler:
        clock.now = NOON + 31 * MIN
        assert await scheduler.run_once() == 0
    assert await read_messages(settings, expect=0, within=1) == []


async def test_quiet_hours_defer_the_reminder_to_eight_local(
    settings: Settings, namespace: str
) -> None:
    user = f"{namespace}dan"
    add_at = at("2026-03-10T21:50:00+08:00")  # Shanghai: the reminder falls due at 22:20
    clock, registry = Clock(add_at), CollectorRegistry()
    event = cart("add_to_cart", user, add_at, "i1", price=99.0)
    event["context"] = {"timezone": "Asia/Shanghai"}
    async with clocked_worker(settings, clock, registry):
        await produce(settings, [event])
        await wait_pending(settings, user, "cart_reminder")
    eight = at("2026-03-11T08:00:00+08:00")
    async with clocked_scheduler(settings, clock, registry) as scheduler:
        clock.now = add_at + 30 * MIN
        assert await scheduler.run_once() == 1
        deferred = (await pending(settings, user))["cart_reminder"]
        assert deferred.due_at == eight
        assert metric(registry, "portrait_triggers_deferred_total", kind="cart_reminder",
                      reason="quiet_hours") == 1  # fmt: skip
        clock.now = eight - 1
        assert await scheduler.run_once() == 0
        clock.now = eight
        assert await scheduler.run_once() == 1
    [msg] = await read_messages(settings, expect=1)
    assert msg["due_at"] == "2026-03-11T00:00:00.000Z"
    assert msg["payload"]["items"][0]["item_id"] == "i1"
