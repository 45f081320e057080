"""Event contract v1 decode: accept / reject tables (pure, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from profiles.events import (
    EVENT_TYPES,
    REJECT_REASONS,
    SEGMENT_NAMES,
    Event,
    Rejected,
    TimeBounds,
    decode,
    parse_ts,
)
from profiles.wire import decode as wire_decode

TS = 1_714_564_800_000  # 2024-05-01T12:00:00Z
MIN_TS = 100_000_000_000  # 1973-03-03T09:46:40Z: the smallest epoch-ms number read as such
MAX_TS = 4_102_444_800_000  # 2100-01-01T00:00:00Z (excluded)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DROP = object()  # marks a base field to remove


def payload(**fields: Any) -> dict[str, Any]:
    """A valid native event with ``fields`` merged in (``DROP`` removes a field)."""
    base: dict[str, Any] = {"event_id": "e-1", "type": "view", "user_id": "u-1", "ts": TS}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not DROP}


def raw(**fields: Any) -> bytes:
    return orjson.dumps(payload(**fields))


def rejected_reason(value: bytes | str) -> str:
    with pytest.raises(Rejected) as info:
        decode(value)
    assert info.value.reason in REJECT_REASONS
    assert info.value.detail
    return info.value.reason


# --- accepted ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value,expected",
    [
        # minimal native event, epoch milliseconds
        (raw(), {"event_id": "e-1", "type": "view", "user_id": "u-1", "ts": TS}),
        # RFC 3339 with Z, lower-case z, and offsets
        (raw(ts="2024-05-01T12:00:00Z"), {"ts": TS}),
        (raw(ts="2024-05-01T12:00:00z"), {"ts": TS}),
        (raw(ts="2024-05-01T12:00:00.250Z"), {"ts": TS + 250}),
        (raw(ts="2024-05-01T14:00:00+02:00"), {"ts": TS}),
        (raw(ts="2024-05-01T06:30:00-05:30"), {"ts": TS}),
        (raw(ts="2024-05-01T12:00:00+00:00"), {"ts": TS}),
        (raw(ts="2024-05-01T12:00:00-00:00"), {"ts": TS}),
        (raw(ts="2024-05-02T02:00:00+14:00"), {"ts": TS}),
        (raw(ts="2024-05-01T12:00:00.123456Z"), {"ts": TS + 123}),
        # epoch ms as a float (JavaScript Date.now() / 1 style): truncated to the millisecond
        (raw(ts=float(TS) + 0.75), {"ts": TS}),
        # range edges
        (raw(ts=MIN_TS), {"ts": MIN_TS}),
        (raw(ts=MAX_TS - 1), {"ts": MAX_TS - 1}),
        (raw(ts="1970-01-01T00:00:00Z"), {"ts": 0}),
        (raw(ts="2099-12-31T23:59:59.999Z"), {"ts": MAX_TS - 1}),
        # honest history of the late 1990s (a retail log of 1998)
        (raw(ts=889_000_000_000), {"ts": 889_000_000_000}),
        (raw(ts="1999-12-31T23:59:59.999Z"), {"ts": 946_684_799_999}),
        (raw(ts="2000-01-01T00:30:00+01:00"), {"ts": 946_683_000_000}),
        # too small to be seconds of a time inside the bounds: epoch ms of 1971
        (raw(ts=50_000_000_000), {"ts": 50_000_000_000}),
        # anonymous ids are prefixed so they never collide with a real user id
        (raw(user_id=DROP, anonymous_id="a-9"), {"user_id": "anon:a-9"}),
        (raw(user_id="", anonymous_id="a-9"), {"user_id": "anon:a-9"}),
        (raw(user_id=None, anonymous_id="a-9"), {"user_id": "anon:a-9"}),
        (raw(anonymous_id="a-9"), {"user_id": "u-1"}),  # a known user wins
        # numeric ids (many backends use integer keys)
        (raw(user_id=42), {"user_id": "42"}),
        (raw(user_id=0), {"user_id": "0"}),
        (raw(user_id=DROP, anonymous_id=7), {"user_id": "anon:7"}),
        (raw(user_id="ü-ß-用户"), {"user_id": "ü-ß-用户"}),
        # every contract type
        *[(raw(type=t), {"type": t}) for t in sorted(EVENT_TYPES)],
        # properties of a purchase
        (
            raw(
                type="purchase",
                properties={
                    "item_id": "sku-1",
                    "category": "shoes",
                    "brand": "acme",
                    "price": 19.99,
                    "quantity": 3,
                    "order_id": "o-1",
                    "revenue": 59.97,
                    "coupon": "SPRING",
                },
            ),
            {
                "type": "purchase",
                "item_id": "sku-1",
                "category": "shoes",
                "brand": "acme",
                "price": 19.99,
                "quantity": 3,
                "order_id": "o-1",
                "revenue": 59.97,
                "coupon": "SPRING",
            },
        ),
        # integer prices and ids are fine; ids become strings, prices floats
        (
            raw(type="add_to_cart", properties={"item_id": 123, "price": 10, "order_id": 9}),
            {"item_id": "123", "price": 10.0, "order_id": "9", "quantity": 1},
        ),
        (raw(type="add_to_cart", properties={"price": 0}), {"price": 0.0}),
        (raw(type="search", properties={"query": "red shoes"}), {"query": "red shoes"}),
        # product_id is an alias of item_id (Segment's name); item_id wins when both are given
        (raw(properties={"product_id": "p-1"}), {"item_id": "p-1"}),
        (raw(properties={"item_id": "i-1", "product_id": "p-1"}), {"item_id": "i-1"}),
        # a multi-product order
        (
            raw(
                type="purchase",
                properties={"products": [{"item_id": "a"}, {"product_id": "b"}, {"sku": "c"}]},
            ),
            {"item_ids": ("a", "b"), "item_id": None},
        ),
        (raw(type="purchase", properties={"products": []}), {"item_ids": ()}),
        # empty strings and nulls mean "absent"; quantity defaults to 1
        (
            raw(properties={"item_id": "", "category": None, "quantity": None, "price": None}),
            {"item_id": None, "category": None, "quantity": 1, "price": None},
        ),
        (raw(properties=None, context=None), {"item_id": None, "device": None}),
        (raw(properties={"quantity": 1_000_000}), {"quantity": 1_000_000}),
        # context
        (
            raw(
                context={
                    "device": "mobile",
                    "os": "iOS",
                    "channel": "app",
                    "timezone": "Europe/Berlin",
                }
            ),
            {"device": "mobile", "os": "iOS", "channel": "app", "timezone": "Europe/Berlin"},
        ),
        # identify traits: known names only, nulls dropped
        (
            raw(
                type="identify",
                traits={
                    "gender": "f",
                    "birth_year": 1990,
                    "city": "Lyon",
                    "occupation": None,
                    "favourite_colour": "blue",
                },
            ),
            {"traits": {"gender": "f", "birth_year": 1990, "city": "Lyon"}},
        ),
        (raw(type="identify", traits={}), {"traits": None}),
        (raw(type="identify"), {"traits": None}),
        # traits only count on identify events
        (raw(type="view", traits={"city": "Lyon"}), {"traits": None}),
        # unknown top-level and property fields are ignored (forward compatible)
        (raw(schema_version=2, properties={"colour": "red"}), {"type": "view"}),
    ],
)
def test_decode_accepts(value: bytes, expected: dict[str, Any]) -> None:
    event = decode(value)
    assert isinstance(event, Event)
    for name, want in expected.items():
        assert getattr(event, name) == want, name


@pytest.mark.parametrize("convert", [bytes, bytearray, memoryview, lambda b: b.decode()])
def test_decode_accepts_buffer_types(convert: Any) -> None:
    assert decode(convert(raw())) == decode(raw())


# --- rejected ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value,reason",
    [
        # not JSON at all
        (b"", "invalid_json"),
        (b'{"event_id": "e-1", "type": "view",}', "invalid_json"),
        (b"{'event_id': 'e-1'}", "invalid_json"),
        (b"\xff\xfe{}", "invalid_json"),
        (b"NaN", "invalid_json"),
        (b'{"event_id": "e-1", "ts": 1e400}', "invalid_json"),
        (b"event_id=e-1&type=view", "invalid_json"),
        # JSON but not one object
        (b"[" + raw() + b"]", "not_an_object"),  # a batch in one message
        (b'"view"', "not_an_object"),
        (b"null", "not_an_object"),
        (b"42", "not_an_object"),
        # event id
        (raw(event_id=DROP), "missing_event_id"),
        (raw(event_id=""), "missing_event_id"),
        (raw(event_id=None), "missing_event_id"),
        (raw(event_id=12345), "missing_event_id"),
        (raw(event_id=["e-1"]), "missing_event_id"),
        # type
        (raw(type=DROP), "missing_type"),
        (raw(type=""), "missing_type"),
        (raw(type=None), "missing_type"),
        (raw(type=3), "missing_type"),
        (raw(type="track"), "missing_type"),  # Segment track without "event"
        (raw(type="page_view"), "unknown_type"),
        (raw(type="View"), "unknown_type"),  # case matters
        (raw(type="checkout"), "unknown_type"),
        (raw(type="Product Shared"), "unknown_type"),  # a Segment name outside the mapping
        (raw(type="track", event="Cart Viewed"), "unknown_type"),
        (raw(type="page"), "unknown_type"),  # Segment page call
        # user
        (raw(user_id=DROP), "missing_user"),
        (raw(user_id=""), "missing_user"),
        (raw(user_id=None), "missing_user"),
        (raw(user_id="", anonymous_id=""), "missing_user"),
        (raw(user_id=None, anonymous_id=None), "missing_user"),
        (raw(user_id=12.5), "bad_field"),
        (raw(user_id=True), "bad_field"),
        (raw(user_id={"id": "u-1"}), "bad_field"),
        (raw(user_id="{u-1}"), "bad_field"),  # braces would break the Redis hash tag
        (raw(user_id="u}1"), "bad_field"),
        (raw(user_id=DROP, anonymous_id=["a"]), "bad_field"),
        (raw(user_id=DROP, anonymous_id="a{b"), "bad_field"),
        # time
        (raw(ts=DROP), "bad_timestamp"),
        (raw(ts=None), "bad_timestamp"),
        (raw(ts=True), "bad_timestamp"),
        (raw(ts=1_714_564_800), "bad_timestamp"),  # seconds, not milliseconds
        (raw(ts=1_714_564_800_000_000), "bad_timestamp"),  # microseconds
        (raw(ts=-1), "bad_timestamp"),
        (raw(ts=0), "bad_timestamp"),
        (raw(ts=4_102_444_799), "bad_timestamp"),  # seconds of 2099
        (raw(ts=MAX_TS), "bad_timestamp"),
        (raw(ts="1969-12-31T23:59:59.999Z"), "bad_timestamp"),  # states count from the epoch
        (raw(ts="2100-01-01T00:00:00Z"), "bad_timestamp"),
        (raw(ts=889_000_000_000_000_000), "bad_timestamp"),  # nanoseconds
        (raw(ts="2024-05-01T12:00:00"), "bad_timestamp"),  # no offset: ambiguous
        (raw(ts="2024-05-01"), "bad_timestamp"),
        (raw(ts="2024-05-01T24:00:00Z"), "bad_timestamp"),
        (raw(ts="1714564800000"), "bad_timestamp"),  # epoch ms as a string
        (raw(ts="yesterday"), "bad_timestamp"),
        (raw(ts=""), "bad_timestamp"),
        (raw(ts=[TS]), "bad_timestamp"),
        (raw(ts={"$date": TS}), "bad_timestamp"),
        # sub-objects and fields
        (raw(properties="sku-1"), "bad_field"),
        (raw(properties=[{"item_id": "a"}]), "bad_field"),
        (raw(context="mobile"), "bad_field"),
        (raw(type="identify", traits=["gender", "f"]), "bad_field"),
        (raw(properties={"price": "9.99"}), "bad_field"),
        (raw(properties={"price": -0.01}), "bad_field"),
        (raw(properties={"price": True}), "bad_field"),
        (raw(properties={"revenue": "10"}), "bad_field"),
        (raw(properties={"revenue": -5}), "bad_field"),
        (raw(properties={"quantity": 0}), "bad_field"),
        (raw(properties={"quantity": -1}), "bad_field"),
        (raw(properties={"quantity": 2.5}), "bad_field"),
        (raw(properties={"quantity": "2"}), "bad_field"),
        (raw(properties={"quantity": True}), "bad_field"),
        (raw(properties={"quantity": 1_000_001}), "bad_field"),
        (raw(properties={"item_id": 3.5}), "bad_field"),
        (raw(properties={"item_id": ["a"]}), "bad_field"),
        (raw(properties={"order_id": {"id": 1}}), "bad_field"),
        (raw(properties={"category": 5}), "bad_field"),
        (raw(properties={"brand": ["acme"]}), "bad_field"),
        (raw(properties={"query": 42}), "bad_field"),
        (raw(properties={"coupon": False}), "bad_field"),
        (raw(properties={"products": "a,b"}), "bad_field"),
        (raw(properties={"products": ["a", "b"]}), "bad_field"),
        (raw(properties={"products": [{"item_id": 1.5}]}), "bad_field"),
        (raw(context={"timezone": 2}), "bad_field"),
        (raw(context={"channel": ["app"]}), "bad_field"),
    ],
)
def test_decode_rejects(value: bytes, reason: str) -> None:
    assert rejected_reason(value) == reason


def test_every_reject_reason_is_exercised() -> None:
    reasons = {
        "invalid_json": b"{",
        "not_an_object": b"[]",
        "missing_event_id": raw(event_id=DROP),
        "missing_type": raw(type=DROP),
        "unknown_type": raw(type="nope"),
        "missing_user": raw(user_id=DROP),
        "bad_timestamp": raw(ts=DROP),
        "bad_field": raw(properties=1),
    }
    assert set(reasons) == set(REJECT_REASONS)
    for reason, value in reasons.items():
        assert rejected_reason(value) == reason


def test_rejected_is_a_value_error_with_reason_and_detail() -> None:
    with pytest.raises(ValueError, match=r"^missing_user: "):
        decode(raw(user_id=DROP))


# --- Segment names and envelope ------------------------------------------------------------------


@pytest.mark.parametrize("name,mapped", sorted(SEGMENT_NAMES.items()))
def test_segment_name_in_envelope(name: str, mapped: str) -> None:
    envelope = {
        "type": "track",
        "event": name,
        "messageId": "ajs-next-1",
        "userId": "u-1",
        "timestamp": "2024-05-01T12:00:00.000Z",
        "properties": {"product_id": "p-1"},
    }
    event = decode(orjson.dumps(envelope))
    assert (event.type, event.event_id, event.user_id, event.ts) == (
        mapped,
        "ajs-next-1",
        "u-1",
        TS,
    )
    assert event.item_id == "p-1"


@pytest.mark.parametrize("name,mapped", sorted(SEGMENT_NAMES.items()))
def test_segment_name_as_native_type(name: str, mapped: str) -> None:
    assert decode(raw(type=name)).type == mapped


def test_segment_names_map_into_the_contract() -> None:
    assert set(SEGMENT_NAMES.values()) <= EVENT_TYPES
    assert not set(SEGMENT_NAMES) & EVENT_TYPES


@pytest.mark.parametrize(
    "envelope,expected",
    [
        # Order Completed with a products array
        (
            {
                "type": "track",
                "event": "Order Completed",
                "messageId": "m-1",
                "userId": "u-1",
                "timestamp": "2024-05-01T14:00:00+02:00",
                "properties": {
                    "order_id": "o-1",
                    "revenue": 25.5,
                    "coupon": "X",
                    "products": [
                        {"product_id": "p-1", "price": 10, "quantity": 1},
                        {"product_id": "p-2", "price": 15.5, "quantity": 1},
                    ],
                },
            },
            {
                "type": "purchase",
                "order_id": "o-1",
                "revenue": 25.5,
                "item_ids": ("p-1", "p-2"),
                "ts": TS,
            },
        ),
        # Products Searched
        (
            {
                "type": "track",
                "event": "Products Searched",
                "messageId": "m-2",
                "anonymousId": "anon-7",
                "timestamp": "2024-05-01T12:00:00Z",
                "properties": {"query": "blue hotpants"},
            },
            {"type": "search", "user_id": "anon:anon-7", "query": "blue hotpants"},
        ),
        # Product Added, userId wins over anonymousId
        (
            {
                "type": "track",
                "event": "Product Added",
                "messageId": "m-3",
                "userId": "u-1",
                "anonymousId": "anon-7",
                "timestamp": TS,
                "properties": {"product_id": "p-9", "price": 18.99, "quantity": 2},
            },
            {"type": "add_to_cart", "user_id": "u-1", "item_id": "p-9", "quantity": 2},
        ),
        # Segment identify call
        (
            {
                "type": "identify",
                "messageId": "m-4",
                "userId": 97980,
                "timestamp": "2024-05-01T12:00:00Z",
                "traits": {"gender": "m", "city": "Porto", "email": "x@example.com"},
            },
            {"type": "identify", "user_id": "97980", "traits": {"gender": "m", "city": "Porto"}},
        ),
        # native event_id wins over messageId; native ts wins over timestamp
        (
            {
                "type": "view",
                "event_id": "e-1",
                "messageId": "m-5",
                "user_id": "u-1",
                "ts": TS,
                "timestamp": "2030-01-01T00:00:00Z",
            },
            {"event_id": "e-1", "ts": TS},
        ),
        # native fields mixed with Segment's envelope names
        (
            {"type": "track", "event": "Signed In", "event_id": "e-6", "userId": "u-1", "ts": TS},
            {"type": "login", "event_id": "e-6", "user_id": "u-1"},
        ),
    ],
)
def test_segment_envelope(envelope: dict[str, Any], expected: dict[str, Any]) -> None:
    event = decode(orjson.dumps(envelope))
    for name, want in expected.items():
        assert getattr(event, name) == want, name


@pytest.mark.parametrize(
    "envelope,reason",
    [
        ({"type": "track", "messageId": "m", "userId": "u", "timestamp": TS}, "missing_type"),
        (
            {
                "type": "track",
                "event": "Checkout Started",
                "messageId": "m",
                "userId": "u",
                "timestamp": TS,
            },
            "unknown_type",
        ),
        (
            {"type": "track", "event": "Product Viewed", "userId": "u", "timestamp": TS},
            "missing_event_id",
        ),
        (
            {"type": "track", "event": "Product Viewed", "messageId": "m", "timestamp": TS},
            "missing_user",
        ),
        (
            {"type": "track", "event": "Product Viewed", "messageId": "m", "userId": "u"},
            "bad_timestamp",
        ),
    ],
)
def test_segment_envelope_rejects(envelope: dict[str, Any], reason: str) -> None:
    assert rejected_reason(orjson.dumps(envelope)) == reason


def test_segment_envelope_from_a_mobile_sdk() -> None:
    """Segment's mobile libraries send ``context.device`` and ``context.os`` as objects.

    The decoder accepts "Segment's own envelope", so a stock Segment event must decode; today it
    is rejected with ``bad_field: device must be a string`` (see the report).
    """
    envelope = {
        "type": "track",
        "event": "Product Viewed",
        "messageId": "m-ios-1",
        "userId": "u-1",
        "timestamp": "2024-05-01T12:00:00.000Z",
        "channel": "mobile",
        "context": {
            "device": {
                "id": "B5372DB0",
                "manufacturer": "Apple",
                "model": "iPhone7,2",
                "type": "ios",
            },
            "os": {"name": "iPhone OS", "version": "17.4"},
            "timezone": "Europe/Amsterdam",
        },
        "properties": {"product_id": "p-1"},
    }
    event = decode(orjson.dumps(envelope))
    assert (event.type, event.item_id, event.timezone) == ("view", "p-1", "Europe/Amsterdam")


# --- time -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value,expected",
    [
        (TS, TS),
        (float(TS), TS),
        ("2024-05-01T12:00:00Z", TS),
        ("2024-05-01T12:00:00.000Z", TS),
        ("2024-05-01T12:00:00.001Z", TS + 1),
        ("2024-05-01T12:00:00.999Z", TS + 999),
        ("2024-05-01T12:00:00.5+00:00", TS + 500),
        ("2024-05-01T12:00:00.123456789Z", TS + 123),  # nanoseconds truncated
        ("2024-05-01T13:00:00+01:00", TS),
        ("2024-05-01T11:00:00-01:00", TS),
        ("2024-04-30T23:00:00-13:00", TS),
        # millisecond fractions must be exact, whatever the year (float rounding bug, see report)
        ("2004-03-03T08:10:11.123Z", 1_078_301_411_123),
        ("2004-07-30T15:38:39.485Z", 1_091_201_919_485),
        ("2038-09-10T09:42:49.752Z", 2_167_724_569_752),
        ("2039-07-06T01:24:33.693Z", 2_193_528_273_693),
    ],
)
def test_parse_ts(value: object, expected: int) -> None:
    assert parse_ts(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        "",
        "now",
        "2024-13-01T00:00:00Z",
        "2024-05-01T12:00:00",
        1_714_564_800,
        MAX_TS,
        -1,
        float("inf"),
        float("nan"),
        "1969-12-31T23:59:59Z",
        [],
        {},
    ],
)
def test_parse_ts_rejects(value: object) -> None:
    with pytest.raises(Rejected) as info:
        parse_ts(value)
    assert info.value.reason == "bad_timestamp"


@settings(database=None, max_examples=300)
@given(
    ms=st.one_of(
        st.integers(MIN_TS, MAX_TS - 1),
        # years where a float number of seconds cannot hold every millisecond exactly
        st.integers(1_073_741_824_000, 1_100_000_000_000),
        st.integers(2_147_483_648_000, 2_200_000_000_000),
    ),
    offset_minutes=st.integers(-14 * 4, 14 * 4).map(lambda q: q * 15),
)
def test_rfc3339_and_epoch_ms_agree(ms: int, offset_minutes: int) -> None:
    """The same instant written as epoch ms or as RFC 3339 (any offset) decodes to the same ts."""
    utc = EPOCH + timedelta(milliseconds=ms)
    local = utc.astimezone(timezone(timedelta(minutes=offset_minutes)))
    text = local.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert parse_ts(text) == parse_ts(ms) == ms


@pytest.mark.parametrize(
    "value,detail",
    [
        (1_714_564_800, "ts 1714564800 looks like seconds; epoch ms expected"),
        (1_714_564_800_000_000, "ts 1714564800000000 looks like microseconds; epoch ms expected"),
        (1_714_564_800_000_000_000, "looks like nanoseconds; epoch ms expected"),
        ("1969-12-31T23:59:59Z", "is outside 1970-01-01T00:00:00.000Z..2100-01-01T00:00:00.000Z"),
        ("x" * 100_000, "ts 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx... is not RFC 3339"),
        (float("inf"), "ts inf is not a finite number"),
    ],
)
def test_bad_timestamps_say_why_in_one_short_line(value: object, detail: str) -> None:
    with pytest.raises(Rejected) as info:
        parse_ts(value)
    assert detail in info.value.detail
    assert "\n" not in info.value.detail and len(info.value.detail) < 200


@pytest.mark.parametrize(
    "bounds,value,accepted",
    [
        # a log of 1998 with the bound moved up: refused, however honest
        (TimeBounds(946_684_800_000, MAX_TS), 889_000_000_000, False),
        (TimeBounds(946_684_800_000, MAX_TS), 946_684_800_000, True),
        # an upper bound of 2030: a far-future stamp is refused, 2029 is fine
        (TimeBounds(0, 1_893_456_000_000), 1_893_456_000_000, False),
        (TimeBounds(0, 1_893_456_000_000), 1_861_920_000_000, True),
        # bounds that leave no seconds reading inside them: 4e9 is plain ms of 1970-02-16
        (TimeBounds(0, 10**12), 4_000_000_000, True),
        (TimeBounds(0, 5 * 10**12), 4_000_000_000, False),  # 4e9 s = 2096: looks like seconds
    ],
)
def test_event_time_bounds_are_configurable(bounds: TimeBounds, value: int, accepted: bool) -> None:
    message = raw(ts=value)
    if accepted:
        assert decode(message, bounds).ts == wire_decode(message, bounds).ts == value
    else:
        for decoder in (decode, wire_decode):
            with pytest.raises(Rejected) as info:
                decoder(message, bounds)
            assert info.value.reason == "bad_timestamp"


def test_bounds_before_the_epoch_or_out_of_order_are_refused() -> None:
    with pytest.raises(ValueError):
        TimeBounds(-1, MAX_TS)
    with pytest.raises(ValueError):
        TimeBounds(MAX_TS, MAX_TS)
