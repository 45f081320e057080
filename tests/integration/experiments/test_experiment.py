"""An experiment on cart reminders end to end: real broker and Redis, the event worker, the
scheduler, the feedback service and a simulated provider whose users answer with known
probabilities (streams/sim/responder.py).

The oracle shares no code with the report: each user's arm is read from the messages published
(a holdout user is one who was exposed and sent nothing), each buyer from what the test and the
provider produced; every count of the report must equal it, and the interval must hold the true
uplift the probabilities imply.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from streams.connect.clients import redis_client
from streams.experiments.report import read_report
from streams.feedback.service import run_feedback
from streams.settings.tree import Settings
from streams.sim.responder import Responses, replies, respond
from streams.store.experiments import ExperimentStore
from tests.integration.helpers import ev, metric, produce, wait_until
from tests.integration.triggers.trigger_helpers import (
    Clock,
    at,
    clocked_scheduler,
    clocked_worker,
    read_messages,
    with_triggers,
)
from triggers.experiment_report import text

pytestmark = pytest.mark.integration
NOON = at("2026-03-10T12:00:00")
MIN, HOUR, DAY = 60_000, 3_600_000, 86_400_000
USERS, ORGANIC = 400, 0.1
RESPONSES = Responses(
    convert_by_channel={"push": 0.15}, convert_by_copy={"urgent": 0.4}, delivered=0.9, seed=3
)
EXPERIMENT = {
    "name": "cart_copy", "kinds": ["cart_reminder"], "holdout": 0.3, "window_days": 1,
    "variants": [{"name": "plain", "weight": 1},
                 {"name": "urgent", "weight": 1, "copy": "urgent", "channel": "sms"}],
}  # fmt: skip


def truth(convert: float) -> float:
    """The arm's rate minus the holdout's: extra buyers among the delivered, over the organic."""
    treated = 1 - (1 - ORGANIC) * (1 - RESPONSES.delivered * convert)
    return treated - ORGANIC


async def test_an_experiment_measures_each_arm_against_its_holdout(
    settings: Settings, namespace: str
) -> None:
    settings = with_triggers(
        settings, {"policy": {"quiet_hours": None}, "experiments": [EXPERIMENT]}
    )
    users = [f"{namespace}u{i:03d}" for i in range(USERS)]
    clock, registry = Clock(NOON), CollectorRegistry()
    rng = random.Random(11)
    organic = {u for u in users if rng.random() < ORGANIC}
    stop, fb_registry = asyncio.Event(), CollectorRegistry()
    feedback = asyncio.ensure_future(
        run_feedback(settings, settings.triggers, registry=fb_registry, stop=stop, clock=clock)
    )
    try:
        async with clocked_worker(settings, clock, registry):
            await produce(settings, [ev("add_to_cart", u, NOON, item_id="i1", price=20.0)
                                     for u in users])  # fmt: skip
            await _wait_written(registry, len(users))
            async with clocked_scheduler(settings, clock, registry) as scheduler:
                clock.now = NOON + 30 * MIN
                while await scheduler.run_once():
                    pass
            messages = await read_messages(settings, expect=_sent(registry))
            answered = await respond(settings, RESPONSES, len(messages), namespace + "provider")
            assert answered == len(messages)
            # organic purchases after the exposure, on the same day: every arm alike
            await produce(settings, [ev("purchase", u, NOON + 5 * HOUR, order_id=f"org-{u}",
                                        price=9.0) for u in sorted(organic)])  # fmt: skip
            buyers = [m["user_id"] for m in messages if replies(m, RESPONSES)[1]]
            bought = set(buyers) | organic
            await _wait_written(registry, len(users) + len(organic) + len(buyers))
            statuses = sum(len(replies(m, RESPONSES)[0]) for m in messages)

            async def counted() -> bool:
                return _feedback(fb_registry) == statuses

            await wait_until(counted, what=f"{statuses} feedback messages counted")
    finally:
        stop.set()
        await asyncio.wait_for(feedback, 30)
    async with redis_client(settings) as redis:
        e = settings.triggers.experiments[0]
        report = await read_report(
            redis, namespace, e, dict(settings.triggers.cost), NOON + 3 * DAY
        )
        assert await ExperimentStore(redis, namespace).size("cart_copy") == len(users)
    print(text(report))
    arms = {row["arm"]: row for row in report["arms"]}
    oracle = _oracle(users, messages, bought)
    for arm, expected in oracle.items():
        row = arms[arm]
        got = {k: row[k] for k in expected}
        assert got == expected, arm
    assert report["decision"]["verdict"] == "keep_running"  # 400 users are far below the horizon
    for arm, convert in (("plain", 0.15), ("urgent", 0.4)):
        up = arms[arm]["uplift"]
        assert up["low"] <= truth(convert) <= up["high"], (arm, up, truth(convert))
    assert metric(registry, "portrait_experiment_events_total", experiment="cart_copy",
                  arm="holdout", event="held_out") == oracle["holdout"]["users"]  # fmt: skip


def _oracle(users: list[str], messages: list[dict[str, Any]], bought: set[str]) -> dict[str, Any]:
    arm_of = {m["user_id"]: m["variant"] for m in messages}
    out: dict[str, dict[str, Any]] = {}
    for arm in ("holdout", "plain", "urgent"):
        members = [u for u in users if arm_of.get(u, "holdout") == arm]
        sent = [m for m in messages if m["variant"] == arm]
        status = Counter(f["status"] for m in sent for f in replies(m, RESPONSES)[0])
        out[arm] = {
            "users": len(members), "measured": len(members), "waiting": 0,
            "outcomes": sum(u in bought for u in members), "sent": len(sent),
            "reached": len({m["user_id"] for m in sent}),
            "sent_by_channel": dict(Counter(m["channel"] for m in sent)),
            **{s: status[s] for s in ("delivered", "opened", "clicked", "converted")},
            "cost": round(0.05 * sum(m["channel"] == "sms" for m in sent), 6),
        }  # fmt: skip
    assert {m["channel"] for m in messages if m["variant"] == "urgent"} == {"sms"}
    assert all(m["payload"].get("copy") == "urgent" for m in messages if m["variant"] == "urgent")
    assert all(m["experiment"] == "cart_copy" for m in messages)
    return out


def _sent(registry: CollectorRegistry) -> int:
    return int(sum(metric(registry, "portrait_experiment_events_total", experiment="cart_copy",
                          arm=a, event="sent") for a in ("plain", "urgent")))  # fmt: skip


async def _wait_written(registry: CollectorRegistry, events: int) -> None:
    async def done() -> bool:
        applied = sum(metric(registry, "portrait_events_total", type=t, outcome="applied")
                      for t in ("add_to_cart", "purchase"))  # fmt: skip
        return applied >= events

    await wait_until(done, what=f"{events} events applied")


def _feedback(registry: CollectorRegistry) -> int:
    return int(sum(
        metric(registry, "portrait_experiment_feedback_total", experiment="cart_copy", arm=a,
               status=s)
        for a in ("plain", "urgent") for s in ("delivered", "opened", "clicked", "converted")
    ))  # fmt: skip
