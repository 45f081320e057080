"""Policy.decide for one due trigger: stale, expired, quiet hours, the active hour, channels."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pytest

from triggers.config import DAY_MS, HOUR_MS, PolicyConfig, TriggerConfig
from triggers.model import Trigger
from triggers.policy import PROFILE_WAIT_MS, Defer, Drop, Policy, Send, UserContext

POLICY = Policy(TriggerConfig())
ITEM = {"item_id": "A", "quantity": 2, "price": 10.0, "added_at": 0}
SH, NY = "Asia/Shanghai", "America/New_York"


def at(text: str) -> int:
    """An instant written with its UTC offset, e.g. ``2024-05-31T23:00+08:00``."""
    return int(datetime.fromisoformat(text).timestamp() * 1000)


NOW = at("2024-05-31T12:00+08:00")  # noon in Shanghai, 04:00 UTC


def trig(kind: str = "cart_reminder", ttl: int = DAY_MS, **kw: Any) -> Trigger:
    fields = {"channels": ("push", "sms"), "payload": {"items": []}, **kw}
    return Trigger(f"{kind}-x", kind, "u1", NOW - HOUR_MS, NOW - HOUR_MS, NOW + ttl, 50, **fields)


def ctx(zone: str = SH, peak: int | None = None, **kw: Any) -> UserContext:
    base: dict[str, Any] = {
        "segments": {"churn_risk": True, "high_value": True},
        "open_items": [ITEM],
        "last_purchase_at": None,
        "last_seen_at": None,
    }
    return UserContext(True, zone, peak, **{**base, **kw})


@pytest.mark.parametrize(
    "t,c,expected",
    [
        (trig(ttl=0), ctx(), Drop("suppressed", "expired")),  # now == expires_at
        (trig(ttl=-1), ctx(), Drop("suppressed", "expired")),
        (trig(), ctx(open_items=[]), Drop("cancelled", "cart_closed")),
        (
            trig("win_back"),
            ctx(segments={"churn_risk": False}),
            Drop("cancelled", "not_churn_risk"),
        ),
        (trig("win_back"), ctx(segments={}), Drop("cancelled", "not_churn_risk")),
        (
            trig("repeated_search"),
            ctx(last_purchase_at=NOW - HOUR_MS),
            Drop("cancelled", "purchase"),
        ),
        (trig("repeated_search"), ctx(last_purchase_at=NOW - 30), Drop("cancelled", "purchase")),
        (trig("high_value_welcome"), ctx(segments={}), Drop("cancelled", "not_high_value")),
        (trig("high_value_welcome", ttl=0), ctx(segments={}), Drop("suppressed", "expired")),
    ],
)
def test_drops(t: Trigger, c: UserContext, expected: Drop) -> None:
    assert POLICY.decide(t, c, NOW) == expected


@pytest.mark.parametrize(
    "kind,c",
    [
        ("repeated_search", ctx(last_purchase_at=NOW - HOUR_MS - 1)),  # before it was made
        ("repeated_search", ctx(last_purchase_at=None)),
        ("first_purchase", ctx(segments={}, open_items=[])),
        ("campaign", ctx(segments={}, open_items=[])),
    ],
)
def test_still_true_is_sent(kind: str, c: UserContext) -> None:
    decision = POLICY.decide(trig(kind), c, NOW)
    assert isinstance(decision, Send) and decision.channels == ("push", "sms")


# (zone, now, expected new due (None: Send), ttl)
QUIET = [
    (SH, "2024-05-31T21:59+08:00", None),
    (SH, "2024-05-31T22:00+08:00", "2024-06-01T08:00+08:00"),
    (SH, "2024-05-31T23:59+08:00", "2024-06-01T08:00+08:00"),
    (SH, "2024-06-01T00:00+08:00", "2024-06-01T08:00+08:00"),
    (SH, "2024-06-01T07:59+08:00", "2024-06-01T08:00+08:00"),
    (SH, "2024-06-01T08:00+08:00", None),
    ("UTC", "2024-05-31T23:30+00:00", "2024-06-01T08:00+00:00"),
    ("UTC", "2024-05-31T12:00+00:00", None),
    ("Not/AZone", "2024-05-31T23:30+00:00", "2024-06-01T08:00+00:00"),  # falls back to UTC
    (NY, "2024-05-31T23:00-04:00", "2024-06-01T08:00-04:00"),
    (NY, "2024-03-10T01:30-05:00", "2024-03-10T08:00-04:00"),  # spring forward at 02:00
    (NY, "2024-03-09T22:30-05:00", "2024-03-10T08:00-04:00"),
    (NY, "2024-11-03T01:30-04:00", "2024-11-03T08:00-05:00"),  # fall back: 01:30 twice
    (NY, "2024-11-03T01:30-05:00", "2024-11-03T08:00-05:00"),
    (NY, "2024-11-02T23:00-04:00", "2024-11-03T08:00-05:00"),
]


@pytest.mark.parametrize("zone,now,due", QUIET)
def test_quiet_hours(zone: str, now: str, due: str | None) -> None:
    t = dataclasses.replace(trig(), due_at=at(now) - 1, expires_at=at(now) + 2 * DAY_MS)
    decision = POLICY.decide(t, ctx(zone), at(now))
    if due is None:
        assert isinstance(decision, Send)
    else:
        assert decision == Defer(t.deferred(at(due)), "quiet_hours")
        assert decision.trigger.deferrals == 1


@pytest.mark.parametrize("zone,now,due", [q for q in QUIET if q[2] is not None])
def test_quiet_hours_past_expiry_drop(zone: str, now: str, due: str) -> None:
    for expires in (at(due), at(due) - 1):
        t = dataclasses.replace(trig(), due_at=at(now) - 1, expires_at=expires)
        assert POLICY.decide(t, ctx(zone), at(now)) == Drop("suppressed", "expired")


def test_no_quiet_hours_sends_at_night() -> None:
    policy = Policy(dataclasses.replace(TriggerConfig(), policy=PolicyConfig(quiet_start_min=None)))
    now = at("2024-05-31T23:30+08:00")
    t = dataclasses.replace(trig(), expires_at=now + DAY_MS)
    assert isinstance(policy.decide(t, ctx(SH), now), Send)


# (zone, now, peak hour, ttl from now, expected: a new due, "send" or "quiet")
ACTIVE = [
    (SH, "2024-05-31T12:00+08:00", 19, DAY_MS, "2024-05-31T19:00+08:00"),
    (SH, "2024-05-31T20:30+08:00", 19, DAY_MS, "2024-06-01T19:00+08:00"),  # next day's 19:00
    (SH, "2024-05-31T19:45+08:00", 19, DAY_MS, "send"),  # already in the hour
    (SH, "2024-05-31T12:00+08:00", 19, 7 * HOUR_MS, "send"),  # 19:00 is the expiry: not before
    (SH, "2024-05-31T12:00+08:00", 23, DAY_MS, "send"),  # peak inside quiet hours: not deferred
    (SH, "2024-05-31T23:00+08:00", 23, DAY_MS, "quiet"),  # in the hour but quiet
    (SH, "2024-05-31T23:30+08:00", 19, DAY_MS, "2024-06-01T19:00+08:00"),  # out of quiet
    (NY, "2024-03-10T09:00-04:00", 8, 2 * DAY_MS, "2024-03-11T08:00-04:00"),
    (NY, "2024-11-03T07:00-05:00", 9, DAY_MS, "2024-11-03T09:00-05:00"),
    (SH, "2024-05-31T12:00+08:00", None, DAY_MS, "send"),  # no peak hour known
]


@pytest.mark.parametrize("zone,now,peak,ttl,expected", ACTIVE)
def test_active_hour(zone: str, now: str, peak: int | None, ttl: int, expected: str) -> None:
    t = dataclasses.replace(trig("win_back"), at_active_hour=True, expires_at=at(now) + ttl)
    decision = POLICY.decide(t, ctx(zone, peak), at(now))
    if expected == "send":
        assert isinstance(decision, Send)
    elif expected == "quiet":
        assert isinstance(decision, Defer) and decision.reason == "quiet_hours"
    else:
        new = dataclasses.replace(t, due_at=at(expected), deferrals=1, at_active_hour=False)
        assert decision == Defer(new, "active_hour")


def test_active_hour_is_ignored_unless_asked() -> None:
    assert isinstance(POLICY.decide(trig("win_back"), ctx(SH, 19), NOW), Send)


VIP, REGULAR = (("sms", "push"), "gift", True), (("push", "sms", "email"), "coupon", False)


@pytest.mark.parametrize(
    "segments,expected",
    [
        ({"high_value": True}, VIP),
        ({"rfm_segment": "loyal"}, VIP),
        ({"rfm_segment": "regular"}, REGULAR),
        ({"rfm_segment": "at_risk", "high_value": False}, REGULAR),
        ({}, REGULAR),
        pytest.param({"rfm_segment": "champion"}, VIP),
    ],
)
def test_win_back_by_value(segments: dict[str, Any], expected: tuple[Any, ...]) -> None:
    c = ctx(segments={"churn_risk": True, "top_category": "shoes", **segments},
            last_seen_at=NOW - 200 * DAY_MS - 1)  # fmt: skip
    decision = POLICY.decide(trig("win_back", payload={"last_seen_at": 1}), c, NOW)
    assert isinstance(decision, Send)
    channels, offer, vip = expected
    assert decision.channels == channels
    payload = {
        "last_seen_at": NOW - 200 * DAY_MS - 1,
        "vip": vip,
        "offer": offer,
        "days_inactive": 200,
    }
    assert decision.trigger.payload == {**payload, "top_category": "shoes"}


def test_cart_payload_is_refreshed_from_the_open_items() -> None:
    b = {"item_id": "B", "quantity": 1, "price": None, "added_at": 5}
    t = trig(payload={"items": [{"item_id": "Z"}], "value": 99.0, "item_count": 9, "x": 1})
    decision = POLICY.decide(t, ctx(open_items=[ITEM, b]), NOW)
    assert isinstance(decision, Send)
    assert decision.trigger.payload == {
        "items": [{"item_id": "A", "quantity": 2, "price": 10.0},
                  {"item_id": "B", "quantity": 1, "price": None}],
        "item_count": 3, "value": 20.0, "x": 1,
    }  # fmt: skip
    assert t.payload["value"] == 99.0  # the pending trigger is not mutated


def test_the_channel_order_function_is_applied() -> None:
    seen: list[Any] = []

    def order(counts: Mapping[str, int], channels: tuple[str, ...]) -> tuple[str, ...]:
        seen.append((dict(counts), channels))
        return tuple(reversed(channels))

    c = ctx(sensitivity={"sms": 3})
    decision = Policy(TriggerConfig(), order).decide(trig(), c, NOW)
    assert isinstance(decision, Send) and decision.channels == ("sms", "push")
    assert seen == [({"sms": 3}, ("push", "sms"))]


@pytest.mark.parametrize(
    "fences,expected",
    [
        ({}, "defer"),  # no profile yet: its cause is still being written
        ({"3": 41}, "defer"),  # the profile is one record behind the trigger's cause
        ({"2": 99}, "defer"),  # other partitions do not count
        ({"3": 42}, "send"),
        ({"3": 43, "2": 1}, "send"),
    ],
)
def test_a_trigger_waits_for_the_profile_that_holds_its_cause(
    fences: dict[str, int], expected: str
) -> None:
    """Trigger operations are written before the batch's profiles: a trigger already due when
    written was judged on a profile without its cause (an empty cart) and dropped for good."""
    t = trig(source=("3", 42))
    items = [] if expected == "defer" else [ITEM]
    decision = POLICY.decide(t, ctx(open_items=items, fences=fences), NOW)
    if expected == "defer":
        assert isinstance(decision, Defer) and decision.reason == "profile_behind"
        assert decision.trigger.due_at == NOW + PROFILE_WAIT_MS
    else:
        assert isinstance(decision, Send)


def test_a_trigger_that_waited_for_its_profile_until_it_expired_is_dropped() -> None:
    t = trig(ttl=0, source=("3", 42))
    assert POLICY.decide(t, ctx(fences={}), NOW) == Drop("suppressed", "expired")


def test_a_source_survives_the_stored_record() -> None:
    t = trig(source=("3", 42))
    assert Trigger.decode(t.encode()) == t
    assert Trigger.decode(trig().encode()).source is None
