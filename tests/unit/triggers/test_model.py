"""triggers/model.py: the pending trigger, its id, its encoding, and the published message."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import orjson
import pytest

from triggers.model import SCHEMA_VERSION, Cancel, Schedule, Trigger, make_trigger_id, message

T = 1_717_149_600_123  # 2024-05-31T10:00:00.123Z
FULL = Trigger(
    "cart_reminder-abc", "cart_reminder", "u1", T + 1800_000, T, T + 88_200_000, 80,
    ("push", "sms"), {"items": [{"item_id": "A", "quantity": 2, "price": 10.0}], "value": 20.0},
    None, True, 2,
)  # fmt: skip
CAMPAIGN = dataclasses.replace(FULL, kind="campaign", campaign_id="spring", payload={})


@pytest.mark.parametrize(
    "trigger",
    [
        FULL,
        CAMPAIGN,
        dataclasses.replace(FULL, payload={}, channels=("email",), at_active_hour=False),
        dataclasses.replace(FULL, user_id="anon:x\u00e9", payload={"q": "caf\u00e9", "n": None}),
        dataclasses.replace(FULL, arm=("cart_copy", "urgent"), at_hour=8),
        dataclasses.replace(FULL, arm=("cart_copy", "holdout"), at_hour=0),
    ],
)
def test_encode_decode_round_trip(trigger: Trigger) -> None:
    blob = trigger.encode()
    assert Trigger.decode(blob) == trigger
    assert Trigger.decode(blob.decode()) == trigger  # str too
    assert isinstance(Trigger.decode(blob).channels, tuple)


def test_decode_defaults_for_fields_added_later() -> None:
    old = {"id": "x", "k": "win_back", "u": "u1", "d": 1, "c": 0, "e": 2, "p": 60}
    t = Trigger.decode(orjson.dumps({**old, "ch": ["push"], "pl": {}}))
    assert (t.campaign_id, t.at_active_hour, t.deferrals, t.channels) == (None, False, 0, ("push",))


def test_encoding_keys() -> None:
    assert orjson.loads(FULL.encode()) == {
        "id": "cart_reminder-abc", "k": "cart_reminder", "u": "u1", "d": T + 1800_000, "c": T,
        "e": T + 88_200_000, "p": 80, "ch": ["push", "sms"], "pl": FULL.payload, "cid": None,
        "ah": True, "df": 2,
    }  # fmt: skip


@pytest.mark.parametrize(
    "a,b,same",
    [
        (("cart_reminder", "u1", T), ("cart_reminder", "u1", T), True),
        (("first_purchase", "u1"), ("first_purchase", "u1"), True),
        (("cart_reminder", "u1", T), ("cart_reminder", "u1", T + 1), False),
        (("cart_reminder", "u1", T), ("cart_reminder", "u2", T), False),
        (("cart_reminder", "u1", T), ("win_back", "u1", T), False),
        (("repeated_search", "u1", "shoes", 2), ("repeated_search", "u1", "shoes", 3), False),
        (("repeated_search", "u1", "shoes", 2), ("repeated_search", "u1", "shoe", 2), False),
        (("repeated_search", "u1", "a", "b"), ("repeated_search", "u1", "ab"), False),
        (("first_purchase", "u1"), ("first_purchase", "u1", ""), False),
        (("campaign", "u1", "spring", 0), ("campaign", "u1", "spring", 1), False),
        (("k", "u", 1), ("k", "u", "1"), True),  # parts are compared as text
    ],
)
def test_make_trigger_id(a: tuple[Any, ...], b: tuple[Any, ...], same: bool) -> None:
    assert (make_trigger_id(*a) == make_trigger_id(*b)) is same
    assert re.fullmatch(rf"{a[0]}-[0-9a-f]{{20}}", make_trigger_id(*a))


def test_make_trigger_id_is_a_fixed_function() -> None:
    # pinned: an id must not change between releases (sent ids are remembered for dedupe)
    import hashlib

    digest = hashlib.blake2b(b"win_back\x1fu1\x1f42", digest_size=10).hexdigest()
    assert make_trigger_id("win_back", "u1", 42) == f"win_back-{digest}"


@pytest.mark.parametrize(
    "trigger,slot",
    [
        (FULL, "cart_reminder"),
        (CAMPAIGN, "campaign:spring"),
        (dataclasses.replace(FULL, campaign_id=""), "cart_reminder"),
        (dataclasses.replace(FULL, kind="win_back"), "win_back"),
    ],
)
def test_slot(trigger: Trigger, slot: str) -> None:
    assert trigger.slot == slot
    assert Schedule(trigger).trigger.slot == Cancel("u1", slot, "x").slot


def test_deferred_moves_due_and_counts() -> None:
    later = FULL.deferred(T + 5)
    assert (later.due_at, later.deferrals) == (T + 5, 3)
    assert dataclasses.replace(later, due_at=FULL.due_at, deferrals=2) == FULL
    assert FULL.deferrals == 2  # frozen: the original stands


@pytest.mark.parametrize(
    "trigger,channel,sent,expected",
    [
        (
            FULL, "sms", T + 1800_333,
            {"trigger_id": "cart_reminder-abc", "kind": "cart_reminder", "channel": "sms",
             "user_id": "u1", "due_at": "2024-05-31T10:30:00.123Z",
             "created_at": "2024-05-31T10:00:00.123Z", "sent_at": "2024-05-31T10:30:00.456Z",
             "expires_at": "2024-06-01T10:30:00.123Z", "priority": 80, "campaign_id": None,
             "experiment": None, "variant": None,
             "payload": FULL.payload},
        ),
        (
            dataclasses.replace(CAMPAIGN, created_at=0, due_at=1), "email", 946_684_800_000,
            {"trigger_id": "cart_reminder-abc", "kind": "campaign", "channel": "email",
             "user_id": "u1", "due_at": "1970-01-01T00:00:00.001Z",
             "created_at": "1970-01-01T00:00:00.000Z", "sent_at": "2000-01-01T00:00:00.000Z",
             "expires_at": "2024-06-01T10:30:00.123Z", "priority": 80, "campaign_id": "spring",
             "experiment": None, "variant": None,
             "payload": {}},
        ),
        (
            dataclasses.replace(FULL, arm=("cart_copy", "urgent"), payload={}), "push", T,
            {"trigger_id": "cart_reminder-abc", "kind": "cart_reminder", "channel": "push",
             "user_id": "u1", "due_at": "2024-05-31T10:30:00.123Z",
             "created_at": "2024-05-31T10:00:00.123Z", "sent_at": "2024-05-31T10:00:00.123Z",
             "expires_at": "2024-06-01T10:30:00.123Z", "priority": 80, "campaign_id": None,
             "experiment": "cart_copy", "variant": "urgent", "payload": {}},
        ),
    ],
)  # fmt: skip
def test_message(trigger: Trigger, channel: str, sent: int, expected: dict[str, Any]) -> None:
    msg = message(trigger, channel, sent)
    assert msg == {"schema": SCHEMA_VERSION, **expected}
    assert orjson.loads(orjson.dumps(msg)) == msg  # JSON as it is
    stamp = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
    assert all(stamp.fullmatch(msg[k]) for k in ("due_at", "created_at", "sent_at", "expires_at"))
