"""The hot-path decoder gives exactly what the reference decoder gives, for any message."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from profiles import events, wire
from profiles.names import TAG_EVENT

ids = st.one_of(st.none(), st.just(""), st.text(max_size=6), st.integers(-5, 10**12), st.booleans())
strings = st.one_of(st.none(), st.just(""), st.text(max_size=8), st.integers(0, 9))
numbers = st.one_of(
    st.none(), st.integers(-2, 10**13), st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(), st.text(max_size=3),
)  # fmt: skip
timestamps = st.one_of(
    st.integers(900_000_000_000, 4_200_000_000_000),
    st.floats(9e11, 4.2e12),
    st.sampled_from(["2024-05-01T12:00:00Z", "2024-05-01T12:00:00.123+02:00", "2024-05-01",
                     "yesterday", "1999-12-31T23:59:59Z"]),
    st.none(), st.booleans(),
)  # fmt: skip
products = st.lists(
    st.one_of(st.fixed_dictionaries({}, optional={"item_id": ids, "product_id": ids}), ids),
    max_size=3,
)
properties = st.fixed_dictionaries(
    {},
    optional={
        "item_id": ids, "product_id": ids, "category": strings, "brand": strings,
        "price": numbers, "quantity": numbers, "order_id": ids, "revenue": numbers,
        "query": strings, "coupon": strings, "products": st.one_of(products, strings),
        "tag": st.sampled_from(["vip", "VIP", ""]), "value": strings,  # tag events
    },
)  # fmt: skip
device = st.one_of(
    strings, st.fixed_dictionaries({"type": strings, "model": strings}, optional={"id": ids})
)
contacts = st.one_of(  # identifiers (profiles/identity.py) among declared traits
    st.dictionaries(st.sampled_from(["gender", "city", "x", "email", "phone"]), strings), strings
)
context = st.fixed_dictionaries(
    {},
    optional={
        "device": device, "os": strings, "channel": strings, "timezone": strings,
        "device_id": ids, "traits": contacts,
    },
)  # fmt: skip
messages = st.fixed_dictionaries(
    {},
    optional={
        "event_id": ids, "messageId": ids,
        "type": st.sampled_from(
            [*sorted(events.EVENT_TYPES), TAG_EVENT, "track", "Product Viewed", "x", ""]
        ),
        "event": st.sampled_from(["Order Completed", "nope"]),
        "user_id": ids, "userId": ids, "anonymous_id": ids, "anonymousId": ids,
        "ts": timestamps, "timestamp": timestamps,
        "properties": st.one_of(properties, st.none(), strings),
        "context": st.one_of(context, st.none(), strings),
        "traits": contacts,
    },
)  # fmt: skip


def outcome(decode: Any, raw: bytes) -> Any:
    try:
        return decode(raw)
    except events.Rejected as exc:
        return ("rejected", exc.reason)


@settings(max_examples=3000, deadline=None)
@given(messages)
def test_fast_decoder_equals_reference(message: dict[str, Any]) -> None:
    raw = orjson.dumps(message)
    assert outcome(wire.decode, raw) == outcome(events.decode, raw)


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        b'{"event_id": "e", "type": "view", "user_id": "u", "ts": 1700000000000}',
        b'{"event_id": "e", "type": "view", "user_id": "u", "ts": 1700000000000, "ts": "x"}',
        b'{"event_id":"e","type":"identify","user_id":7,"ts":"2024-05-01T12:00:00Z",'
        b'"traits":{"gender":"f","birth_year":1990,"x":1}}',
        b'{"event_id":"e","type":"login","user_id":"u","anonymous_id":"a","ts":1700000000000}',
        b'{"event_id":"e","type":"view","user_id":"u","ts":1700000000000,'
        b'"context":{"device_id":"d","traits":{"phone":"+1 555"}}}',
    ],
)
def test_fast_decoder_equals_reference_on_edge_cases(raw: bytes) -> None:
    assert outcome(wire.decode, raw) == outcome(events.decode, raw)


native = st.fixed_dictionaries(
    {
        "event_id": st.text(min_size=1, max_size=8),
        "type": st.sampled_from(sorted(events.EVENT_TYPES)),
        "user_id": st.one_of(st.text(min_size=1, max_size=6), st.integers(0, 10**9)),
        "ts": st.integers(946_684_800_000, 4_102_444_799_999),
    },
    optional={
        "properties": properties, "context": context, "anonymous_id": ids, "traits": contacts,
    },
)  # fmt: skip


@settings(max_examples=3000, deadline=None)
@given(native)
def test_fast_decoder_equals_reference_on_native_messages(message: dict[str, Any]) -> None:
    raw = orjson.dumps(message)
    assert outcome(wire.decode, raw) == outcome(events.decode, raw)
