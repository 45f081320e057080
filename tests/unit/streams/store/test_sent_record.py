"""SentRecord, the sent hash's value the feedback script attributes by, and sent_record."""

from __future__ import annotations

from typing import Any

import pytest

from streams.store.triggers import SentRecord, sent_record
from triggers.model import Trigger

NOW = 1_717_156_800_000


@pytest.mark.parametrize(
    "record,encoded",
    [
        (SentRecord("push", "cart_reminder", NOW), f"push|cart_reminder|{NOW}"),
        (SentRecord("sms", "win_back", NOW, "gift"), f"sms|win_back|{NOW}|gift|"),
        (SentRecord("push", "cart_reminder", NOW, "", "cart_copy"),
         f"push|cart_reminder|{NOW}||cart_copy"),
        (SentRecord("email", "win_back", 0, "coupon", "wb_2024"),
         "email|win_back|0|coupon|wb_2024"),
    ],
)  # fmt: skip
def test_encode_decode(record: SentRecord, encoded: str) -> None:
    assert record.encode() == encoded
    assert SentRecord.decode(encoded) == record
    assert SentRecord.decode(encoded.encode()) == record  # as Redis returns it


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("push|cart_reminder|5", SentRecord("push", "cart_reminder", 5)),  # before experiments
        (b"sms|win_back|7", SentRecord("sms", "win_back", 7)),
        ("sms|win_back|7|gift", SentRecord("sms", "win_back", 7, "gift")),
        ("sms|win_back|7|gift|x|later", SentRecord("sms", "win_back", 7, "gift", "x")),
    ],
)
def test_decode_older_and_newer_records(raw: str | bytes, expected: SentRecord) -> None:
    assert SentRecord.decode(raw) == expected


def trig(payload: dict[str, Any], arm: tuple[str, str] | None = None) -> Trigger:
    return Trigger("win_back-x", "win_back", "u1", NOW, NOW, NOW + 1, 50, ("sms",), payload,
                   arm=arm)  # fmt: skip


@pytest.mark.parametrize(
    "payload,arm,expected",
    [
        ({}, None, SentRecord("sms", "win_back", NOW)),
        ({"offer": "gift"}, None, SentRecord("sms", "win_back", NOW, "gift")),
        ({"offer": "a|b"}, None, SentRecord("sms", "win_back", NOW)),  # would break the fields
        ({"offer": 5}, None, SentRecord("sms", "win_back", NOW)),
        ({"offer": None}, None, SentRecord("sms", "win_back", NOW)),
        ({"offer": "gift"}, ("wb", "plain"), SentRecord("sms", "win_back", NOW, "gift", "wb")),
        ({}, ("wb", "holdout"), SentRecord("sms", "win_back", NOW, "", "wb")),
    ],
)
def test_sent_record(
    payload: dict[str, Any], arm: tuple[str, str] | None, expected: SentRecord
) -> None:
    record = sent_record(trig(payload, arm), "sms", NOW)
    assert record == expected
    assert SentRecord.decode(record.encode()) == record
