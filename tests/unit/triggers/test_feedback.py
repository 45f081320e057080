"""Strict decoding of feedback messages and trigger messages (triggers/feedback.py)."""

from __future__ import annotations

import orjson
import pytest

from triggers.config import CHANNELS
from triggers.feedback import (
    REJECT_REASONS,
    BadFeedback,
    Feedback,
    Sent,
    decode_feedback,
    decode_sent,
)
from triggers.model import Trigger, message

NOW = 1_700_000_000_000
GOOD = {"trigger_id": "win_back-abc", "user_id": "u1", "status": "delivered"}


def raw(**fields: object) -> bytes:
    return orjson.dumps({**GOOD, **fields})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (raw(), Feedback("win_back-abc", "u1", "delivered", NOW)),  # at defaults to now
        (raw(status="opened", at=NOW - 5), Feedback("win_back-abc", "u1", "opened", NOW - 5)),
        (raw(status="clicked", at="2023-11-14T22:13:20Z", channel="sms"),
         Feedback("win_back-abc", "u1", "clicked", NOW, "sms")),
        (raw(status="converted", at="2023-11-14T23:13:20+01:00", offer="coupon"),
         Feedback("win_back-abc", "u1", "converted", NOW, None, "coupon")),
        (raw(provider_id="x-1", channel=None), Feedback("win_back-abc", "u1", "delivered", NOW)),
    ],
)  # fmt: skip
def test_decodes_valid_feedback(value: bytes, expected: Feedback) -> None:
    assert decode_feedback(value, NOW, CHANNELS) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "invalid_json"),
        (b'{"trigger_id": ', "invalid_json"),
        (b"[1, 2]", "not_an_object"),
        (b'"delivered"', "not_an_object"),
        (orjson.dumps({"user_id": "u1", "status": "opened"}), "missing_trigger_id"),
        (raw(trigger_id=""), "missing_trigger_id"),
        (raw(trigger_id=12), "bad_field"),
        (raw(trigger_id="a|b"), "bad_field"),
        (raw(trigger_id="x" * 300), "bad_field"),
        (orjson.dumps({"trigger_id": "t", "status": "opened"}), "missing_user"),
        (raw(user_id="u{1}"), "bad_field"),
        (raw(user_id=["u1"]), "bad_field"),
        (raw(status="read"), "unknown_status"),
        (raw(status=None), "unknown_status"),
        (raw(status="DELIVERED"), "unknown_status"),
        (raw(at="yesterday"), "bad_timestamp"),
        (raw(at="2023-11-14 22:13:20"), "bad_timestamp"),
        (raw(at=True), "bad_timestamp"),
        (raw(at=1_700_000_000), "bad_timestamp"),  # seconds, not ms: before 2000
        (raw(channel="pigeon"), "bad_field"),
        (raw(channel=3), "bad_field"),
        (raw(offer=""), "bad_field"),
        (raw(offer="a|b"), "bad_field"),
    ],
)
def test_refuses_malformed_feedback_with_a_reason(value: bytes | None, reason: str) -> None:
    with pytest.raises(BadFeedback) as caught:
        decode_feedback(value, NOW, CHANNELS)
    assert caught.value.reason == reason
    assert reason in REJECT_REASONS
    assert caught.value.detail


def test_any_channel_name_when_none_are_given() -> None:
    assert decode_feedback(raw(channel="pigeon"), NOW).channel == "pigeon"


def test_decodes_the_schedulers_messages() -> None:
    t = Trigger("win_back-1", "win_back", "u1", NOW, NOW - 10, NOW + 1000, 60, ("push",))
    body = orjson.dumps(message(t, "push", NOW + 7))
    assert decode_sent(body) == Sent("win_back-1", "win_back", "push", "u1", NOW + 7)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"nope", "invalid_json"),
        (orjson.dumps({"trigger_id": "t", "kind": "k", "channel": "push", "user_id": "u"}),
         "bad_timestamp"),
        (orjson.dumps({"kind": "k", "channel": "push", "user_id": "u", "sent_at": NOW}),
         "missing_trigger_id"),
    ],
)  # fmt: skip
def test_refuses_unreadable_trigger_messages(value: bytes, reason: str) -> None:
    with pytest.raises(BadFeedback) as caught:
        decode_sent(value)
    assert caught.value.reason == reason
