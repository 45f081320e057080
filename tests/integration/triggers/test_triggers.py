"""Behaviour triggers end to end on a real broker and Redis, with an injected clock.

The worker applies events and schedules; the scheduler claims what is due on the test's clock
and publishes to the channel topics, which the test reads back.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry

from streams.settings.tree import Settings
from tests.integration.helpers import ev, metric, produce
from tests.integration.triggers.trigger_helpers import (
    Clock,
    at,
    clocked_scheduler,
    clocked_worker,
    due_slots,
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
    assert await pending(settings, user) == {}  # sent; the win-back waits in the index alone
    assert set(await due_slots(settings, user)) == {"win_back"}


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


def _campaign(user: str, name: str, due: int, priority: int = 50) -> Any:
    from triggers.model import Schedule, Trigger, make_trigger_id

    tid = make_trigger_id("campaign", user, name)
    return Schedule(
        Trigger(tid, "campaign", user, due, due, due + DAY, priority, ("push",), {"n": name},
                name)
    )  # fmt: skip


async def _schedule(settings: Settings, ops: list[Any]) -> None:
    from redis.asyncio import Redis

    from streams.store.triggers import TriggerStore

    redis = Redis.from_url(settings.redis_url)
    try:
        await TriggerStore(redis, settings.topics.prefix).apply(ops)
    finally:
        await redis.aclose()


async def test_caps_suppress_the_third_push_of_a_local_day(
    settings: Settings, namespace: str
) -> None:
    settings = with_triggers(settings, {"policy": {"min_gap": 0, "quiet_hours": None}})
    user = f"{namespace}erin"
    clock, registry = Clock(NOON), CollectorRegistry()
    hours = [NOON + h * 3_600_000 for h in range(3)] + [at("2026-03-11T09:00:00")]
    await _schedule(settings, [_campaign(user, f"c{i}", due) for i, due in enumerate(hours)])
    async with clocked_scheduler(settings, clock, registry) as scheduler:
        for due in hours:
            clock.now = due
            assert await scheduler.run_once() == 1
    sent = await read_messages(settings, expect=3)
    assert sorted(m["campaign_id"] for m in sent) == ["c0", "c1", "c3"]  # c3: the next day
    assert metric(registry, "portrait_triggers_suppressed_total", kind="campaign",
                  reason="cap_day") == 1  # fmt: skip
    assert await pending(settings, user) == {}


async def test_priority_takes_the_slot_and_the_other_waits_the_gap(
    settings: Settings, namespace: str
) -> None:
    settings = with_triggers(settings, {"policy": {"min_gap": "1h", "quiet_hours": None}})
    user = f"{namespace}finn"
    clock, registry = Clock(NOON), CollectorRegistry()
    await _schedule(
        settings, [_campaign(user, "low", NOON, priority=10), _campaign(user, "high", NOON, 90)]
    )
    async with clocked_scheduler(settings, clock, registry) as scheduler:
        assert await scheduler.run_once() == 2
        waiting = (await pending(settings, user))["campaign:low"]
        assert waiting.due_at == NOON + 3_600_000
        assert metric(registry, "portrait_triggers_deferred_total", kind="campaign",
                      reason="priority") == 1  # fmt: skip
        clock.now = NOON + 3_600_000
        assert await scheduler.run_once() == 1
    sent = await read_messages(settings, expect=2)
    assert [m["campaign_id"] for m in sent if m["user_id"] == user] == ["high", "low"]


async def test_two_schedulers_never_send_the_same_trigger(
    settings: Settings, namespace: str
) -> None:
    import asyncio

    settings = with_triggers(
        settings, {"policy": {"min_gap": 0, "quiet_hours": None, "caps": {"push": {"day": None}}},
                   "scheduler": {"batch": 7}}
    )  # fmt: skip
    users = [f"{namespace}u{i}" for i in range(60)]
    await _schedule(settings, [_campaign(u, "sale", NOON) for u in users])
    clock = Clock(NOON)
    async with (
        clocked_scheduler(settings, clock) as one,
        clocked_scheduler(settings, clock) as two,
    ):

        async def drain(s: Any) -> int:
            n = 0
            while claimed := await s.run_once():
                n += claimed
            return n

        counts = await asyncio.gather(drain(one), drain(two))
    assert sum(counts) == 60 and all(counts)  # both took part
    sent = await read_messages(settings, expect=60)
    assert sorted(m["user_id"] for m in sent) == sorted(users)
    assert len({m["trigger_id"] for m in sent}) == 60


async def test_churn_risk_reached_by_time_alone_fires_a_win_back(
    settings: Settings, namespace: str
) -> None:
    user = f"{namespace}gus"
    seen = at("2026-03-10T10:15:00")  # the only event: a view at 10 o'clock UTC
    clock, registry = Clock(seen), CollectorRegistry()
    async with clocked_worker(settings, clock, registry):
        await produce(settings, [ev("view", user, seen, item_id="i1", category="shoes")])
        from tests.integration.helpers import wait_until

        async def indexed() -> bool:
            return "win_back" in await due_slots(settings, user)

        await wait_until(indexed, what="the win-back in the due index")
    churn_day = at("2026-09-07T00:00:00")  # the UTC day after seen + 180 days
    assert (await due_slots(settings, user))["win_back"] == churn_day
    async with clocked_scheduler(settings, clock, registry) as scheduler:
        clock.now = churn_day - DAY
        assert await scheduler.run_once() == 0
        clock.now = churn_day  # no event since: time alone made the user churn-risk
        assert await scheduler.run_once() == 1
        moved = (await pending(settings, user))["win_back"]
        assert moved.due_at == at("2026-09-07T10:00:00")  # the user's active hour
        clock.now = moved.due_at
        assert await scheduler.run_once() == 1
    [msg] = await read_messages(settings, expect=1)
    assert (msg["kind"], msg["channel"]) == ("win_back", "push")
    assert msg["payload"]["offer"] == "coupon" and msg["payload"]["vip"] is False
    assert msg["payload"]["days_inactive"] == 180
    assert msg["payload"]["top_category"] == "shoes"


async def test_replay_sends_nothing(settings: Settings, namespace: str, tmp_path: Any) -> None:
    import orjson

    from streams.replay.command import replay
    from tests.integration.helpers import load_states, wait_until

    now = NOON
    users = {"direct": f"{namespace}hal", "kafka": f"{namespace}ivy"}
    for via, user in users.items():
        log = tmp_path / f"{via}.jsonl"
        rows = [
            cart("add_to_cart", user, now - 10 * MIN, "i1", price=5.0),
            ev("search", user, now - 5 * MIN, query="red shoes"),
        ]
        log.write_bytes(b"\n".join(orjson.dumps(r) for r in rows) + b"\n")
        await replay(settings, log, via=via, progress=False)
    clock = Clock(now)
    async with clocked_worker(settings, clock, CollectorRegistry()):  # reads the kafka replay

        async def applied() -> bool:
            states = await load_states(settings, list(users.values()))
            return all(u in states and sum(states[u].totals) == 2 for u in users.values())

        await wait_until(applied, what="both replays applied")
    for user in users.values():
        assert await pending(settings, user) == {}
        assert await due_slots(settings, user) == {}
    async with clocked_scheduler(settings, clock) as scheduler:
        clock.now = now + 2 * DAY
        assert await scheduler.run_once() == 0
    assert await read_messages(settings, expect=0, within=1) == []
