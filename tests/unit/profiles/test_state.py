"""The typed state: stored v2 states (maps with short keys) load, and v3 round-trips."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from profiles import codec
from profiles.model import ProfileModel, State
from profiles.state import V2_KEYS, VERSION
from tests.unit.profiles.test_model import AS_OF, AS_OFS, T0, E, events_strategy, observable

MODEL = ProfileModel()
DAY = 86_400_000


def v2_blob(fences: dict[str, int], body: dict[str, Any]) -> bytes:
    """Bytes as the v2 codec wrote them: the fence header, then the map as MessagePack."""
    header = ",".join(f"{p}:{o}" for p, o in fences.items()).encode()
    return header + b";" + msgspec.msgpack.encode(body)


def as_v2(state: State) -> dict[str, Any]:
    """The v2 map of a state: the same values under the short keys, sub-states as lists."""
    values = msgspec.to_builtins(state, builtin_types=(bytes,))[1 : 1 + len(V2_KEYS)]
    return {"v": 2, **dict(zip(V2_KEYS, values, strict=True))}


def applied(events: list[Any]) -> State:
    state = MODEL.initial()
    for offset, event in enumerate(events):
        MODEL.apply_event(state, event, 0, offset)
        MODEL.settle(state)
    return state


# A v2 profile written by hand, key by key as the v2 model laid it out: one purchase of 42.0
# (order o-1) and one view, both on 2024-06-01 (day 19875), fence 0:7.
V2_HAND: dict[str, Any] = {
    "v": 2,
    "d": {19875: b"\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c"},
    "x": 1_717_236_000_000,
    "xa": 1_717_236_000_000,
    "cd": 19875,
    "ch": [[], bytes([255]) * 20],
    "n": {"t": [1, 0, 0, 0, 0, 1, 0, 0, 0, 0], "l": {0: 1_717_236_000, 5: 1_717_232_400},
          "b": {19875: [1, 0, 0, 0, 0, 1, 0, 0]}},
    "m": [42.0, 1, 42.0, 1, 0, {19875: [42.0, 1]}, {123: [19875, 42.0]}, [0, 0.0]],
    "r": [1_717_232_400_000, 1_717_236_000_000, 1_717_232_400_000, None],
    "k": {"i": {}, "x": 1_717_236_000_000, "c": 0, "f": {}},
    "a": {}, "ca": [0, {}], "br": [0, {}], "s": {}, "h": [0, {}, None, 0], "g": [0, 0],
    "dv": {},
}  # fmt: skip


def test_a_hand_written_v2_state_loads() -> None:
    state = MODEL.decode(v2_blob({"0": 7}, dict(V2_HAND)))
    assert state.version == VERSION and state.fences == {"0": 7}
    assert (state.orders, state.spend, state.last_seen) == (1, 42.0, 1_717_236_000_000)
    tags = MODEL.tags(state, 1_717_236_000_000)
    assert tags["orders_total"] == 1 and tags["spend_total"] == 42.0
    assert tags["views_total"] == 1 and tags["purchases_total"] == 1
    assert tags["last_purchase_at"] == "2024-06-01T09:00:00.000Z"
    assert MODEL.decode(codec.encode(state)) == state  # written back as v3, read as it was


def test_a_v2_state_without_arrival_time_takes_the_event_time() -> None:
    old = {k: v for k, v in V2_HAND.items() if k != "xa"}
    assert MODEL.decode(v2_blob({}, old)).arrival == V2_HAND["x"]


@settings(max_examples=150, deadline=None)
@given(events=events_strategy(400 * DAY))
def test_v2_states_load_with_the_same_tags(events: list[Any]) -> None:
    state = applied(events)
    loaded = MODEL.decode(v2_blob(state.fences, as_v2(state)))
    assert observable(MODEL, loaded) == observable(MODEL, state)
    assert loaded.segments == state.segments
    assert [MODEL.segments(loaded, t) for t in AS_OFS] == [MODEL.segments(state, t) for t in AS_OFS]
    assert loaded.fences == state.fences and codec.encode(loaded) == codec.encode(state)


@settings(max_examples=150, deadline=None)
@given(events=events_strategy(400 * DAY))
def test_v3_round_trips(events: list[Any]) -> None:
    state = applied(events)
    blob = codec.encode(state)
    again = MODEL.decode(blob)
    assert again == state  # segments included: decode recomputes them
    assert codec.encode(again) == blob
    assert blob.startswith(f"0:{len(events) - 1};".encode() if events else b";")


def test_encode_stores_neither_fences_nor_segments() -> None:
    state = applied([E("view", T0, "a"), E("purchase", AS_OF, "b", revenue=5.0)])
    body = codec.encode(state).split(b";", 1)[1]
    stored = msgspec.msgpack.decode(body)
    assert stored[0] == VERSION and stored[-4:-2] == [{}, None]  # then rules, absorbed
    assert state.fences == {"0": 1} and state.segments is not None  # left as they were


@pytest.mark.parametrize(
    "body,reason",
    [
        (msgspec.msgpack.encode({"v": 1, "x": 0}), "not a v2 state"),
        (msgspec.msgpack.encode({"v": 2, "x": 0}), "v2 state without"),
        (msgspec.msgpack.encode([VERSION, "not a dict"]), "Expected"),
        (msgspec.msgpack.encode("text"), "Expected"),
        (b"", "truncated"),
    ],
)
def test_corrupt_bodies_are_refused(body: bytes, reason: str) -> None:
    with pytest.raises(codec.CorruptState, match=reason):
        codec.decode(b"0:1;" + body)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_any_bytes_decode_or_are_refused(junk: bytes) -> None:
    try:
        state = codec.decode(b";" + junk)
    except codec.CorruptState:
        return
    assert isinstance(state, State) and state.fences == {}


def test_a_state_stored_before_identity_reads_with_nothing_absorbed() -> None:
    """v3.1 states end with the rules' state: ``absorbed`` (v3.2) defaults to empty."""
    state = applied([E("view", T0, "a")])
    body = msgspec.msgpack.decode(codec.encode(state).split(b";", 1)[1])
    older = codec.decode(b"0:1;" + msgspec.msgpack.encode(body[:-1]))
    assert older.absorbed == [] and older.counters == state.counters
