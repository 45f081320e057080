"""Policy.screen / Policy.decide for a trigger in an experiment arm, and experiments.enrol.

The arm comes from the scheduler (the user's recorded one); these tests check what the policy
does with it: hold the holdout out, send a variant's channel alone and its copy, wait for a
fixed local hour (and still respect quiet hours and the expiry after it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pytest

from triggers.config import DAY_MS, HOUR_MS, Experiment, TriggerConfig, Variant
from triggers.experiments import enrol
from triggers.model import Trigger
from triggers.policy import Decision, Defer, Drop, Policy, Send, UserContext

SH, NY = "Asia/Shanghai", "America/New_York"
ITEM = {"item_id": "A", "quantity": 2, "price": 10.0, "added_at": 0}
EXPERIMENT = Experiment(
    "cart_copy",
    frozenset({"cart_reminder", "win_back"}),
    frozenset(),
    0.2,
    (
        Variant("plain", 1),
        Variant("urgent", 1, copy="cart_urgent"),
        Variant("by_email", 1, channel="email"),
        Variant("sms_urgent", 1, channel="sms", copy="sms_urgent"),
        Variant("now", 1, send_time="now"),
        Variant("active", 1, send_time="active_hour"),
        Variant("at_8", 1, send_time="fixed_hour", hour=8),
    ),
)
POLICY = Policy(TriggerConfig(experiments=(EXPERIMENT,)))


def at(text: str) -> int:
    """An instant written with its UTC offset, e.g. ``2024-05-31T23:00+08:00``."""
    return int(datetime.fromisoformat(text).timestamp() * 1000)


NOW = at("2024-05-31T12:00+08:00")  # noon in Shanghai


def trig(kind: str = "cart_reminder", ttl: int = DAY_MS, now: int = NOW, **kw: Any) -> Trigger:
    fields = {"channels": ("push", "sms"), "payload": {"items": []}, **kw}
    return Trigger(f"{kind}-x", kind, "u1", now - HOUR_MS, now - HOUR_MS, now + ttl, 50, **fields)


def ctx(zone: str = SH, peak: int | None = None, **kw: Any) -> UserContext:
    base: dict[str, Any] = {
        "segments": {"churn_risk": True},
        "open_items": [ITEM],
        "last_purchase_at": None,
        "last_seen_at": None,
    }
    return UserContext(True, zone, peak, **{**base, **kw})


@pytest.mark.parametrize(
    "t,c,expected",
    [
        (trig(arm=("cart_copy", "holdout")), ctx(), None),  # screen does not look at the arm
        (trig(ttl=0, arm=("cart_copy", "plain")), ctx(), Drop("suppressed", "expired")),
        (trig(arm=("cart_copy", "plain")), ctx(open_items=[]), Drop("cancelled", "cart_closed")),
        (trig("win_back", at_hour=8), ctx(segments={}), Drop("cancelled", "not_churn_risk")),
    ],
)
def test_screen(t: Trigger, c: UserContext, expected: Drop | None) -> None:
    assert POLICY.screen(t, c, NOW) == expected


@pytest.mark.parametrize(
    "t,c,expected",
    [
        (trig(arm=("cart_copy", "holdout")), ctx(), Drop("held_out", "cart_copy")),
        (trig(arm=("cart_copy", "holdout"), at_hour=3), ctx(), Drop("held_out", "cart_copy")),
        (trig(ttl=0, arm=("cart_copy", "holdout")), ctx(), Drop("suppressed", "expired")),
        (trig(arm=("cart_copy", "holdout")), ctx(open_items=[]), Drop("cancelled", "cart_closed")),
    ],
)
def test_the_holdout_is_held_out_once_the_trigger_holds(
    t: Trigger, c: UserContext, expected: Drop
) -> None:
    assert POLICY.decide(t, c, NOW) == expected


VIP = {"churn_risk": True, "high_value": True}  # win_back otherwise goes by sms, push
REGULAR = {"churn_risk": True}  # ... or by push, sms, email


# (kind, arm, segments, expected channels, expected copy)
SENDS = [
    ("cart_reminder", ("cart_copy", "plain"), REGULAR, ("push", "sms"), None),
    ("cart_reminder", ("cart_copy", "urgent"), REGULAR, ("push", "sms"), "cart_urgent"),
    ("cart_reminder", ("cart_copy", "by_email"), REGULAR, ("email",), None),
    ("cart_reminder", ("cart_copy", "sms_urgent"), REGULAR, ("sms",), "sms_urgent"),
    ("win_back", ("cart_copy", "plain"), VIP, ("sms", "push"), None),
    ("win_back", ("cart_copy", "by_email"), VIP, ("email",), None),
    ("win_back", ("cart_copy", "by_email"), REGULAR, ("email",), None),
    ("win_back", ("cart_copy", "sms_urgent"), REGULAR, ("sms",), "sms_urgent"),
    ("cart_reminder", ("ended", "by_email"), REGULAR, ("push", "sms"), None),  # not configured
    ("cart_reminder", ("cart_copy", "retired"), REGULAR, ("push", "sms"), None),  # no such arm
    ("win_back", ("ended", "sms_urgent"), VIP, ("sms", "push"), None),
]


@pytest.mark.parametrize("kind,arm,segments,channels,copy", SENDS)
def test_a_variant_sends_its_channel_alone_and_its_copy(
    kind: str,
    arm: tuple[str, str],
    segments: Mapping[str, Any],
    channels: tuple[str, ...],
    copy: str | None,
) -> None:
    decision = POLICY.decide(trig(kind, arm=arm, payload={"k": 1}), ctx(segments=segments), NOW)
    assert isinstance(decision, Send)
    assert decision.channels == channels
    assert decision.trigger.payload.get("copy") == copy
    assert decision.trigger.payload["k"] == 1 and decision.trigger.arm == arm


def test_a_variant_channel_ignores_the_channel_order() -> None:
    def reverse(_counts: Mapping[str, int], channels: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(reversed(channels))

    policy = Policy(TriggerConfig(experiments=(EXPERIMENT,)), reverse)
    for arm, expected in (("by_email", ("email",)), ("plain", ("sms", "push"))):
        decision = policy.decide(trig(arm=("cart_copy", arm)), ctx(), NOW)
        assert isinstance(decision, Send) and decision.channels == expected


# (zone, now, at_hour, ttl from now, expected: the new due, "send" or "expired")
FIXED = [
    (SH, "2024-05-31T12:00+08:00", 8, DAY_MS, "2024-06-01T08:00+08:00"),  # tomorrow's 8:00
    (SH, "2024-05-31T07:30+08:00", 8, DAY_MS, "2024-05-31T08:00+08:00"),  # later today
    (SH, "2024-05-31T21:00+08:00", 20, 2 * DAY_MS, "2024-06-01T20:00+08:00"),
    (SH, "2024-05-31T08:00+08:00", 8, DAY_MS, "send"),
    (SH, "2024-05-31T08:59+08:00", 8, DAY_MS, "send"),
    (SH, "2024-05-31T12:00+08:00", 8, 20 * HOUR_MS + 1, "2024-06-01T08:00+08:00"),
    (SH, "2024-05-31T12:00+08:00", 8, 20 * HOUR_MS, "expired"),  # the hour is the expiry
    (SH, "2024-05-31T12:00+08:00", 8, 19 * HOUR_MS, "expired"),
    ("UTC", "2024-05-31T23:30+00:00", 0, DAY_MS, "2024-06-01T00:00+00:00"),
    (NY, "2024-03-10T00:30-05:00", 2, DAY_MS, "2024-03-10T03:00-04:00"),  # 02:00 is skipped
    (NY, "2024-11-03T00:30-04:00", 1, DAY_MS, "2024-11-03T01:00-04:00"),  # the first 01:00
]


@pytest.mark.parametrize("zone,now,hour,ttl,expected", FIXED)
def test_fixed_hour(zone: str, now: str, hour: int, ttl: int, expected: str) -> None:
    t = trig(ttl=ttl, now=at(now), arm=("cart_copy", "at_8"), at_hour=hour)
    decision = POLICY.decide(t, ctx(zone), at(now))
    if expected == "send":
        assert isinstance(decision, Send) and decision.trigger.at_hour is None
    elif expected == "expired":
        assert decision == Drop("suppressed", "expired")
    else:
        moved = dataclasses.replace(t, due_at=at(expected), deferrals=1, at_hour=None)
        assert decision == Defer(moved, "fixed_hour")


def follow(t: Trigger, c: UserContext, now: int) -> list[Decision]:
    """Decide, and decide again at each deferral's due time, until a send or a drop."""
    decisions: list[Decision] = []
    while len(decisions) < 5:
        decisions.append(POLICY.decide(t, c, now))
        last = decisions[-1]
        if not isinstance(last, Defer):
            break
        t, now = last.trigger, last.trigger.due_at
    return decisions


@pytest.mark.parametrize(
    "arm,hour,ttl,expected",
    [
        ("at_8", 8, DAY_MS, [("fixed_hour", "2024-06-01T08:00+08:00"), ("send", "")]),
        ("at_8", 23, 2 * DAY_MS, [("fixed_hour", "2024-05-31T23:00+08:00"),
                                  ("quiet_hours", "2024-06-01T08:00+08:00"), ("send", "")]),
        ("at_8", 23, 18 * HOUR_MS, [("fixed_hour", "2024-05-31T23:00+08:00"),
                                    ("expired", "")]),  # quiet until 08:00, gone at 06:00
        ("plain", None, DAY_MS, [("send", "")]),
    ],
)  # fmt: skip
def test_enrolled_trigger_waits_for_its_hour_then_quiet_hours(
    arm: str, hour: int | None, ttl: int, expected: list[tuple[str, str]]
) -> None:
    t = enrol(trig(ttl=ttl), EXPERIMENT, arm)
    t = dataclasses.replace(t, at_hour=hour)  # the table's hour in place of the variant's 8
    steps: list[tuple[str, int | None]] = []
    for d in follow(t, ctx(SH), NOW):
        if isinstance(d, Defer):
            steps.append((d.reason, d.trigger.due_at))
        else:
            steps.append(("send" if isinstance(d, Send) else d.reason, None))
    assert steps == [(reason, at(due) if due else None) for reason, due in expected]


# (arm, the trigger's own at_active_hour, expected at_active_hour, expected at_hour)
ENROL = [
    ("plain", True, True, None),  # no send_time: the kind's own setting stays
    ("plain", False, False, None),
    ("now", True, False, None),
    ("active", False, True, None),
    ("at_8", True, False, 8),
    ("holdout", True, True, None),
    ("no_such_variant", True, True, None),
]


@pytest.mark.parametrize("arm,active_before,active,hour", ENROL)
def test_enrol(arm: str, active_before: bool, active: bool, hour: int | None) -> None:
    t = trig("win_back", at_active_hour=active_before, payload={"p": 1})
    expected = dataclasses.replace(t, arm=("cart_copy", arm), at_active_hour=active, at_hour=hour)
    assert enrol(t, EXPERIMENT, arm) == expected


def test_enrol_now_clears_an_earlier_fixed_hour() -> None:
    t = trig(at_hour=5)
    assert enrol(t, EXPERIMENT, "now").at_hour is None
    assert enrol(t, EXPERIMENT, "plain").at_hour == 5  # no send_time: left as it was


def test_an_active_hour_variant_defers_to_the_peak_hour() -> None:
    t = enrol(trig(), EXPERIMENT, "active")
    decision = POLICY.decide(t, ctx(SH, peak=19), NOW)
    moved = dataclasses.replace(
        t, due_at=at("2024-05-31T19:00+08:00"), deferrals=1, at_active_hour=False
    )
    assert decision == Defer(moved, "active_hour")
