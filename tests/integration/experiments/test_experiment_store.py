"""The experiment records at their edges, on a real Redis: the first arm recorded wins (a later
draw under other weights, or a second scheduler racing for the same users, never moves it), a
message re-reserved after a crash is counted once, and feedback redelivered is counted once in
the user's arm (streams/store/experiments.py, trigger_lua.py, feedback_lua.py)."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from streams.connect.clients import redis_client
from streams.names import Keys
from streams.settings.tree import Settings
from streams.store.experiments import ExperimentStore
from streams.store.feedback import FeedbackStore
from streams.store.triggers import Limits, TriggerStore
from triggers.config import DAY_MS
from triggers.experiment_outcome import Exposure
from triggers.feedback import Feedback
from triggers.model import Schedule, Trigger

pytestmark = pytest.mark.integration
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
NO_CAPS = Limits(0, 0, None, None, 0, 0, DAY_MS)


async def test_the_first_recorded_arm_wins_and_keeps_its_exposure(
    settings: Settings, namespace: str
) -> None:
    async with redis_client(settings) as redis:
        store = ExperimentStore(redis, namespace)
        user = namespace + "ann"
        [(first, new)] = await store.assign_many([(user, "e1", Exposure("plain", T0, 2))])
        assert (first, new) == (Exposure("plain", T0, 2), True)
        # weights changed: the draw now says holdout, a day later; the record stands
        [(again, new)] = await store.assign_many(
            [(user, "e1", Exposure("holdout", T0 + DAY_MS, 0))]
        )
        assert (again, new) == (Exposure("plain", T0, 2), False)
        assert await store.arms(user) == {"e1": Exposure("plain", T0, 2)}
        ledger = Keys(namespace).experiment_ledger("e1")
        assert await redis.zrange(ledger, 0, -1, withscores=True) == [(user.encode(), T0)]


async def test_two_schedulers_racing_record_one_arm_per_user(
    settings: Settings, namespace: str
) -> None:
    users = [f"{namespace}u{i}" for i in range(300)]
    async with redis_client(settings) as one, redis_client(settings) as two:
        a, b = ExperimentStore(one, namespace), ExperimentStore(two, namespace)
        left, right = await asyncio.gather(
            a.assign_many([(u, "race", Exposure("plain", T0, 0)) for u in users]),
            b.assign_many([(u, "race", Exposure("urgent", T0 + 1, 0)) for u in users]),
        )
        assert [x for x, _ in left] == [x for x, _ in right]  # both agree on every user
        assert sum(new for _, new in left) + sum(new for _, new in right) == len(users)
        assert await a.size("race") == len(users)
        arms = {u: (await a.arms(u))["race"] for u in users}
        assert arms == {u: x for u, (x, _) in zip(users, left, strict=True)}


async def test_a_resent_message_and_redelivered_feedback_count_once(
    settings: Settings, namespace: str
) -> None:
    user = namespace + "bo"
    t = Trigger(f"cart_reminder-{namespace}1", "cart_reminder", user, T0, T0, T0 + DAY_MS, 80,
                ("sms",), {"offer": "coupon"}, arm=("e2", "urgent"))  # fmt: skip
    async with redis_client(settings) as redis:
        triggers = TriggerStore(redis, namespace)
        await ExperimentStore(redis, namespace).assign_many(
            [(user, "e2", Exposure("urgent", T0, 0))]
        )
        await triggers.apply([Schedule(t)])
        first = await triggers.reserve_many([(t, "sms", T0, NO_CAPS)])
        again = await triggers.reserve_many([(t, "sms", T0 + 5, NO_CAPS)])  # a crash, a retry
        assert [r.outcome for r in first + again] == ["ok", "resend"]
        feedback = FeedbackStore(redis, namespace, recall_window_ms=DAY_MS, seen_ttl_ms=DAY_MS)
        opened = Feedback(t.trigger_id, user, "opened", T0 + 60_000)
        counted = await feedback.count([opened, opened])  # the provider sent it twice
        counted += await feedback.count([opened])  # and the batch was redelivered
        assert [(c.new, c.experiment, c.arm, c.kind, c.channel) for c in counted] == [
            (True, "e2", "urgent", "cart_reminder", "sms"),
            (False, "e2", "urgent", "cart_reminder", "sms"),
            (False, "e2", "urgent", "cart_reminder", "sms"),
        ]
        record = await _hash(redis, Keys(namespace).experiment(user))
        assert record == {"e2": "urgent|" + str(T0) + "|0", "e2|sent:sms": "1", "e2|opened": "1"}
        sensitivity = await _hash(redis, Keys(namespace).sensitivity(user))
        assert sensitivity["offer:coupon:opened"] == "1"  # the sent record carries the offer


async def _hash(redis: Redis, key: str) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in (await redis.hgetall(key)).items()}
