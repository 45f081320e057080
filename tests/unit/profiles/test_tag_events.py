"""Manual tag events (docs/events.md, "Tag events"): what both decoders accept and refuse.

The reference decoder (profiles/events.py) is the judge; the hot-path decoder (profiles/wire.py)
must give the same outcome for every message, tag-shaped or not.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from profiles import events, wire
from profiles.events import MAX_TEXT, Event, Rejected
from profiles.names import ADMIN_TYPES, TAG_EVENT

BASE: dict[str, Any] = {"event_id": "e-1", "type": "tag", "user_id": "u-1", "ts": 1717156800000}
DECODERS = [pytest.param(events.decode, id="reference"), pytest.param(wire.decode, id="wire")]


def message(**fields: Any) -> bytes:
    return orjson.dumps({**BASE, **fields})


def test_the_tag_type_is_an_admin_type_not_a_behaviour() -> None:
    assert TAG_EVENT == "tag" and TAG_EVENT in ADMIN_TYPES
    assert TAG_EVENT not in events.EVENT_TYPES


@pytest.mark.parametrize("decode", DECODERS)
@pytest.mark.parametrize(
    "value",
    ["gold", "", "é" * MAX_TEXT, 0, -3, 2**63 - 1, 2.5, True, False, None],
)
def test_a_tag_event_decodes_to_its_name_and_value(decode: Any, value: Any) -> None:
    event = decode(message(properties={"tag": "vip_manual", "value": value}))
    assert event == Event("e-1", "tag", "u-1", 1717156800000, traits={"tag": "vip_manual",
                                                                     "value": value})  # fmt: skip
    assert type(event.traits["value"]) is type(value)  # True stays a bool, 1 an int


@pytest.mark.parametrize("decode", DECODERS)
def test_an_anonymous_tag_event_keys_the_anonymous_profile(decode: Any) -> None:
    fields = {k: v for k, v in BASE.items() if k != "user_id"}
    raw = orjson.dumps(fields | {"anonymous_id": "a-9", "properties": {"tag": "x", "value": 1}})
    assert decode(raw).user_id == "anon:a-9"


@pytest.mark.parametrize("decode", DECODERS)
def test_context_and_traits_of_a_tag_event_are_ignored(decode: Any) -> None:
    raw = message(properties={"tag": "x", "value": 1}, context={"device": 5}, traits={"a": 1})
    event = decode(raw)
    assert event.device is None and event.traits == {"tag": "x", "value": 1}


@pytest.mark.parametrize("decode", DECODERS)
@pytest.mark.parametrize(
    "properties,detail",
    [
        (None, "needs properties"),
        ("x", "needs properties"),
        ([], "needs properties"),
        ({}, "properties.tag"),
        ({"value": 1}, "properties.tag"),
        ({"tag": "vip"}, "properties.value is required"),
        ({"tag": "vip", "value": 1, "note": "x"}, "not 'note'"),
        ({"tag": "vip", "value": 1, "item_id": "s"}, "not 'item_id'"),
        ({"tag": "VIP", "value": 1}, "properties.tag"),
        ({"tag": "9lives", "value": 1}, "properties.tag"),
        ({"tag": "_x", "value": 1}, "properties.tag"),
        ({"tag": "a-b", "value": 1}, "properties.tag"),
        ({"tag": "a" * 65, "value": 1}, "properties.tag"),
        ({"tag": "vip\n", "value": 1}, "properties.tag"),
        ({"tag": 7, "value": 1}, "properties.tag"),
        ({"tag": None, "value": 1}, "properties.tag"),
        ({"tag": "vip", "value": {"level": 1}}, "properties.value must be"),
        ({"tag": "vip", "value": [1]}, "properties.value must be"),
        ({"tag": "vip", "value": "x" * (MAX_TEXT + 1)}, "properties.value is longer"),
    ],
)
def test_anything_else_about_a_tag_event_is_a_bad_field(
    decode: Any, properties: Any, detail: str
) -> None:
    with pytest.raises(Rejected) as info:
        decode(message(properties=properties))
    assert info.value.reason == "bad_field"
    assert detail in info.value.detail


@pytest.mark.parametrize("decode", DECODERS)
def test_the_longest_tag_name_is_accepted(decode: Any) -> None:
    name = "a" + "b_9" * 21
    assert len(name) == 64
    assert decode(message(properties={"tag": name, "value": 1})).traits["tag"] == name


@pytest.mark.parametrize("decode", DECODERS)
@pytest.mark.parametrize(
    "fields,reason",
    [
        ({"event_id": ""}, "missing_event_id"),
        ({"user_id": None}, "missing_user"),
        ({"ts": 1717156800}, "bad_timestamp"),
        ({"type": "track", "event": "tag"}, "unknown_type"),  # native shape only
        ({"type": "Tag"}, "unknown_type"),
    ],
)
def test_the_envelope_of_a_tag_event_is_checked_as_any_other(
    decode: Any, fields: dict[str, Any], reason: str
) -> None:
    with pytest.raises(Rejected) as info:
        decode(message(properties={"tag": "x", "value": 1}, **fields))
    assert info.value.reason == reason


def test_a_nan_value_cannot_arrive_but_is_refused_anyway() -> None:
    with pytest.raises(Rejected, match="finite"):
        events.tag_value(float("nan"))


# --- both decoders agree -----------------------------------------------------------------------

values = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), st.text(max_size=4),
    st.floats(allow_nan=False, allow_infinity=False), st.just("x" * (MAX_TEXT + 1)),
    st.lists(st.integers(0, 9), max_size=1),
    st.dictionaries(st.text(max_size=2), st.none(), max_size=1),
)  # fmt: skip
names = st.one_of(
    st.from_regex(r"[a-z][a-z0-9_]{0,63}", fullmatch=True), st.text(max_size=5), st.integers(0, 9),
    st.none(), st.just("a" * 65),
)  # fmt: skip
tag_properties = st.fixed_dictionaries(
    {},
    optional={"tag": names, "value": values, "item_id": st.just("s"), "price": st.just("x")},
)
tag_messages = st.fixed_dictionaries(
    {
        "event_id": st.one_of(st.text(min_size=1, max_size=4), st.just("")),
        "type": st.sampled_from([TAG_EVENT, TAG_EVENT, "track", "view"]),
    },
    optional={
        "event": st.just(TAG_EVENT),
        "user_id": st.one_of(st.text(max_size=4), st.integers(0, 99), st.none()),
        "anonymous_id": st.text(max_size=3),
        "ts": st.one_of(st.integers(946_684_800_000, 4_102_444_799_999), st.just("x")),
        "properties": st.one_of(tag_properties, st.none(), st.text(max_size=2)),
        "context": st.one_of(st.just({"device": 5}), st.just({"os": "iOS"})),
    },
)


def outcome(decode: Any, raw: bytes) -> Any:
    try:
        return decode(raw)
    except Rejected as exc:
        return ("rejected", exc.reason, exc.detail)


@settings(max_examples=2000, deadline=None)
@given(tag_messages)
def test_both_decoders_agree_on_tag_shaped_messages(msg: dict[str, Any]) -> None:
    raw = orjson.dumps(msg)
    assert outcome(wire.decode, raw) == outcome(events.decode, raw)


@settings(max_examples=500, deadline=None)
@given(st.from_regex(r"[a-z][a-z0-9_]{0,63}", fullmatch=True), values)
def test_a_well_named_tag_with_a_scalar_value_is_accepted(name: str, value: Any) -> None:
    raw = message(properties={"tag": name, "value": value})
    scalar = (
        value is None
        or isinstance(value, bool | int | float)
        or (isinstance(value, str) and len(value) <= MAX_TEXT)
    )
    got = outcome(wire.decode, raw)
    if scalar:
        assert isinstance(got, Event) and got.traits == {"tag": name, "value": value}
    else:
        assert got[:2] == ("rejected", "bad_field")
