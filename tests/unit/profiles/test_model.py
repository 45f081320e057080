"""Aggregators and the profile model: tables of events -> tags, the fence, dedupe, order."""

from __future__ import annotations

import copy
import itertools
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from profiles.aggregators import BEHAVIOURS, DAY_MS, Counters, day_of, rfc3339
from profiles.cart import Cart
from profiles.events import EVENT_TYPES, Event
from profiles.model import ModelConfig, Outcome, ProfileModel, State, event_digest
from profiles.money import Monetary, purchase_amount
from profiles.recency import Recency
from profiles.traits import Attributes
from tests.tagdocs import documented_tags

_ids = itertools.count()
HOUR = 3_600_000


def at(text: str) -> int:
    """RFC 3339 (UTC) -> epoch ms, exact."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (parsed - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


AS_OF = at("2024-05-31T12:00:00Z")  # as-of day D = 2024-05-31; the 30-day window starts 05-02
WINDOW_FIRST = at("2024-05-02T00:00:00Z")
T0 = at("2024-05-20T10:00:00Z")


def E(etype: str, ts: int, event_id: str | None = None, **fields: Any) -> Event:
    """One decoded event."""
    return Event(event_id=event_id or f"e{next(_ids)}", type=etype, user_id="u-1", ts=ts, **fields)


def run(events: list[Event], model: ProfileModel | None = None) -> tuple[ProfileModel, State]:
    model = model or ProfileModel()
    state = model.initial()
    for event in events:
        model.apply_event(state, event)
    return model, state


def tags_of(events: list[Event], as_of: int = AS_OF) -> dict[str, Any]:
    model, state = run(events)
    return model.tags(state, as_of)


def test_every_tag_is_documented_and_every_documented_tag_exists() -> None:
    assert set(tags_of([])) == documented_tags()


def test_empty_profile() -> None:
    tags = tags_of([])
    assert tags["events_total"] == 0 and tags["views_30d"] == 0 and tags["spend_total"] == 0.0
    nulls = {k for k, v in tags.items() if v is None}
    assert {"first_seen", "top_category", "rfm", "lifecycle", "shopping_type"} <= nulls
    assert tags["top_categories"] == [] and tags["peak_hours"] == []
    assert tags["timezone"] == "UTC" and tags["high_value"] is False


# --- counters ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "types,expected",
    [
        ([], {"events_total": 0, "views_total": 0}),
        (["view"], {"events_total": 1, "views_total": 1, "views_30d": 1}),
        (["view", "view", "click"], {"events_total": 3, "views_total": 2, "clicks_total": 1}),
        (["search"] * 4, {"searches_total": 4, "events_total": 4}),
        (["add_to_cart", "add_to_cart"], {"cart_adds_total": 2, "cart_adds_30d": 2}),
        (["purchase"], {"purchases_total": 1, "purchases_30d": 1}),
        # every type counts in events_total, including identify/login/register/favorite
        (sorted(EVENT_TYPES), {"events_total": len(EVENT_TYPES), "views_total": 1}),
        (["identify", "login", "register", "favorite"], {"events_total": 4, "views_total": 0}),
        (["remove_from_cart"], {"events_total": 1, "cart_adds_total": 0}),
    ],
)
def test_counters(types: list[str], expected: dict[str, Any]) -> None:
    tags = tags_of([E(t, T0) for t in types])
    assert {k: tags[k] for k in expected} == expected


@pytest.mark.parametrize(
    "event_time,counted",
    [
        ("2024-05-31T12:00:00.000Z", True),  # as-of instant
        ("2024-05-31T23:59:59.999Z", True),  # later on the as-of day: the whole day is in
        ("2024-06-01T00:00:00.000Z", False),  # the day after the as-of day
        ("2024-05-31T00:00:00.000Z", True),
        ("2024-05-15T08:00:00.000Z", True),
        ("2024-05-02T00:00:00.000Z", True),  # first instant of the first day of the window
        ("2024-05-02T23:59:59.999Z", True),
        ("2024-05-01T23:59:59.999Z", False),  # last instant of the day before the window
        ("2024-05-01T00:00:00.000Z", False),
        ("2024-01-01T00:00:00.000Z", False),
    ],
)
@pytest.mark.parametrize(
    "etype,tag",
    [
        ("view", "views_30d"),
        ("add_to_cart", "cart_adds_30d"),
        ("purchase", "purchases_30d"),
    ],
)
def test_30_day_window_edges(event_time: str, counted: bool, etype: str, tag: str) -> None:
    tags = tags_of([E(etype, at(event_time))])
    assert tags[tag] == (1 if counted else 0)
    total = {"view": "views_total", "add_to_cart": "cart_adds_total", "purchase": "purchases_total"}
    assert tags[total[etype]] == 1  # lifetime counts ignore the window


@pytest.mark.parametrize(
    "event_time,counted",
    [
        ("2024-05-02T00:00:00.000Z", True),
        ("2024-05-01T23:59:59.999Z", False),
    ],
)
def test_spend_30d_window_edges(event_time: str, counted: bool) -> None:
    tags = tags_of([E("purchase", at(event_time), revenue=10.0)])
    assert tags["spend_30d"] == (10.0 if counted else 0.0)
    assert tags["spend_total"] == 10.0


@pytest.mark.parametrize(
    "as_of,views_30d",
    [
        (at("2024-05-20T00:00:00Z"), 3),  # all three inside
        (at("2024-06-01T00:00:00Z"), 3),  # first day of the window: 05-03
        (at("2024-06-02T23:59:59.999Z"), 2),  # window starts 05-04: the 05-03 view fell out
        (at("2024-06-18T00:00:00Z"), 1),  # window 05-20 .. 06-18
        (at("2024-06-19T00:00:00Z"), 0),  # window 05-21 .. 06-19: the 05-20 view fell out
        (at("2024-05-03T10:00:00Z"), 1),  # as-of before the later events: they are in the future
    ],
)
def test_windows_fall_as_days_pass_without_events(as_of: int, views_30d: int) -> None:
    events = [
        E("view", at("2024-05-03T09:00:00Z")),
        E("view", at("2024-05-10T09:00:00Z")),
        E("view", at("2024-05-20T09:00:00Z")),
    ]
    assert tags_of(events, as_of)["views_30d"] == views_30d


def test_counter_buckets_are_utc_days() -> None:
    state = Counters().initial()
    counters = Counters()
    for text in ("2024-05-01T00:00:00Z", "2024-05-01T23:59:59.999Z", "2024-05-02T00:00:00Z"):
        counters.apply(state, E("view", at(text)))
    day = day_of(at("2024-05-01T00:00:00Z"))
    assert state["b"][day][BEHAVIOURS.index("view")] == 2
    assert state["b"][day + 1][BEHAVIOURS.index("view")] == 1


def test_counter_compaction_keeps_the_window() -> None:
    counters = Counters(keep_days=180)
    state = counters.initial()
    newest = AS_OF
    for days_back in range(0, 200):
        counters.apply(state, E("view", newest - days_back * DAY_MS), newest)
    before = counters.tags(copy.deepcopy(state), newest)
    counters.compact(state, newest)
    assert len(state["b"]) == 180
    assert counters.tags(state, newest) == before
    assert (before["views_30d"], before["views_180d"], before["views_total"]) == (30, 180, 200)


# --- spend ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields,amount",
    [
        ({"revenue": 59.97}, 59.97),
        ({"revenue": 50.0, "price": 10.0, "quantity": 3}, 50.0),  # revenue wins
        ({"revenue": 0.0, "price": 10.0, "quantity": 3}, 0.0),  # an explicit zero revenue wins
        ({"price": 19.99, "quantity": 3}, 19.99 * 3),
        ({"price": 19.99}, 19.99),  # quantity defaults to 1
        ({"price": 0.0, "quantity": 5}, 0.0),
        ({}, 0.0),  # neither: the purchase counts, the spend does not
        ({"quantity": 4}, 0.0),
    ],
)
def test_purchase_amount(fields: dict[str, Any], amount: float) -> None:
    event = E("purchase", T0, **fields)
    assert purchase_amount(event) == pytest.approx(amount, abs=1e-9)
    tags = tags_of([event])
    assert tags["spend_total"] == pytest.approx(amount, abs=1e-9)
    assert tags["spend_30d"] == pytest.approx(amount, abs=1e-9)
    assert tags["purchases_total"] == 1


@pytest.mark.parametrize("etype", sorted(EVENT_TYPES - {"purchase"}))
def test_only_purchases_spend(etype: str) -> None:
    tags = tags_of([E(etype, T0, revenue=10.0, price=5.0, quantity=2)])
    assert (tags["spend_total"], tags["spend_30d"]) == (0.0, 0.0)


def test_spend_sums_lifetime_and_window() -> None:
    tags = tags_of(
        [
            E("purchase", at("2024-05-30T10:00:00Z"), revenue=10.5),
            E("purchase", at("2024-05-02T00:00:00Z"), price=2.5, quantity=4),
            E("purchase", at("2024-04-01T10:00:00Z"), revenue=100.0),
        ]
    )
    assert tags["spend_total"] == pytest.approx(120.5, abs=1e-9)
    assert tags["spend_30d"] == pytest.approx(20.5, abs=1e-9)
    assert (tags["purchases_total"], tags["purchases_30d"]) == (3, 2)


# --- recency -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "events,expected",
    [
        ([], (None, None, None)),
        (
            [("view", "2024-05-10T10:00:00Z")],
            ("2024-05-10T10:00:00.000Z", "2024-05-10T10:00:00.000Z", None),
        ),
        # out of order: min/max by event time, not by arrival
        (
            [
                ("view", "2024-05-10T10:00:00Z"),
                ("view", "2024-05-01T10:00:00Z"),
                ("click", "2024-05-20T10:00:00.123Z"),
                ("view", "2024-05-15T10:00:00Z"),
            ],
            ("2024-05-01T10:00:00.000Z", "2024-05-20T10:00:00.123Z", None),
        ),
        (
            [
                ("purchase", "2024-05-12T10:00:00Z"),
                ("purchase", "2024-05-03T10:00:00Z"),  # late, older purchase: not the last
                ("view", "2024-05-20T10:00:00Z"),
            ],
            ("2024-05-03T10:00:00.000Z", "2024-05-20T10:00:00.000Z", "2024-05-12T10:00:00.000Z"),
        ),
        (
            [("identify", "2024-05-01T00:00:00Z"), ("purchase", "2024-05-02T00:00:00Z")],
            ("2024-05-01T00:00:00.000Z", "2024-05-02T00:00:00.000Z", "2024-05-02T00:00:00.000Z"),
        ),
    ],
)
def test_recency(events: list[tuple[str, str]], expected: tuple[str | None, ...]) -> None:
    tags = tags_of([E(t, at(ts)) for t, ts in events])
    assert (tags["first_seen"], tags["last_seen"], tags["last_purchase_at"]) == expected


@pytest.mark.parametrize(
    "ms,text",
    [
        (None, None),
        (0, "1970-01-01T00:00:00.000Z"),
        (AS_OF, "2024-05-31T12:00:00.000Z"),
        (AS_OF + 7, "2024-05-31T12:00:00.007Z"),
        (4_102_444_799_999, "2099-12-31T23:59:59.999Z"),
    ],
)
def test_rfc3339(ms: int | None, text: str | None) -> None:
    assert rfc3339(ms) == text


@given(st.integers(min_value=-62_135_596_800_000, max_value=253_402_300_799_999))
@example(-1)
@example(-62_135_596_800_000)
@example(253_402_300_799_999)
@example(946_684_799_999)
def test_rfc3339_is_datetimes_isoformat(ms: int) -> None:
    """The cached-date formatting equals datetime's own, years 1 to 9999, before 1970 too."""
    at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    assert rfc3339(ms) == at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_recency_compaction_keeps_everything() -> None:
    recency = Recency()
    state = recency.apply(recency.initial(), E("purchase", T0))
    assert recency.compact(copy.deepcopy(state), T0 + 400 * DAY_MS) == state


# --- cart ----------------------------------------------------------------------------------------

A, B, C = "sku-a", "sku-b", "sku-c"


def cart_events(rows: list[tuple[str, int, Any]]) -> list[Event]:
    """(type, minutes after T0, item or tuple of items or None) -> events."""
    events = []
    for etype, minutes, item in rows:
        ts = T0 + minutes * 60_000
        if isinstance(item, tuple):
            events.append(E(etype, ts, item_ids=item))
        else:
            events.append(E(etype, ts, item_id=item))
    return events


@pytest.mark.parametrize(
    "rows,open_items",
    [
        ([], []),
        ([("add_to_cart", 0, A)], [A]),
        ([("add_to_cart", 0, A), ("add_to_cart", 1, B)], [A, B]),
        ([("add_to_cart", 0, A), ("add_to_cart", 5, A)], [A]),  # one line per item
        # remove closes the item
        ([("add_to_cart", 0, A), ("remove_from_cart", 1, A)], []),
        ([("add_to_cart", 0, A), ("add_to_cart", 1, B), ("remove_from_cart", 2, A)], [B]),
        # re-added after the removal: open again
        ([("add_to_cart", 0, A), ("remove_from_cart", 1, A), ("add_to_cart", 2, A)], [A]),
        # a removal of something never added is harmless
        ([("remove_from_cart", 0, A)], []),
        ([("remove_from_cart", 0, A), ("add_to_cart", 1, A)], [A]),
        # a purchase naming the item closes it, and only it
        ([("add_to_cart", 0, A), ("add_to_cart", 1, B), ("purchase", 2, A)], [B]),
        # a multi-product purchase closes every product it names
        ([("add_to_cart", 0, A), ("add_to_cart", 1, B), ("purchase", 2, (A, B))], []),
        (
            [
                ("add_to_cart", 0, A),
                ("add_to_cart", 1, B),
                ("add_to_cart", 1, C),
                ("purchase", 2, (A, C)),
            ],
            [B],
        ),
        # a checkout purchase naming no item closes the whole cart
        ([("add_to_cart", 0, A), ("add_to_cart", 1, B), ("purchase", 2, None)], []),
        ([("add_to_cart", 0, A), ("purchase", 1, None), ("add_to_cart", 2, B)], [B]),
        # ... but not items added after it
        ([("purchase", 5, None), ("add_to_cart", 6, A)], [A]),
        # out of order: a late, older add must not reopen an item closed after it
        ([("remove_from_cart", 10, A), ("add_to_cart", 5, A)], []),
        ([("purchase", 10, A), ("add_to_cart", 5, A)], []),
        ([("purchase", 10, None), ("add_to_cart", 5, A), ("add_to_cart", 6, B)], []),
        ([("add_to_cart", 20, A), ("remove_from_cart", 10, A), ("add_to_cart", 5, A)], [A]),
        # a late, older removal does not close a newer add
        ([("add_to_cart", 10, A), ("remove_from_cart", 5, A)], [A]),
        ([("add_to_cart", 10, A), ("purchase", 5, None)], [A]),
        # same instant: a close at the add's time closes it
        ([("add_to_cart", 5, A), ("remove_from_cart", 5, A)], []),
        ([("remove_from_cart", 5, A), ("add_to_cart", 5, A)], []),
        # adds without an item id are ignored by the cart (still counted as cart adds)
        ([("add_to_cart", 0, None)], []),
        ([("remove_from_cart", 0, None), ("add_to_cart", 1, A)], [A]),
    ],
)
def test_cart_open_items(rows: list[tuple[str, int, Any]], open_items: list[str]) -> None:
    model, state = run(cart_events(rows))
    assert [i["item_id"] for i in model.open_cart(state)] == open_items
    assert model.tags(state, AS_OF)["cart_open_items"] == len(open_items)


def test_cart_line_keeps_the_latest_add() -> None:
    model, state = run(
        [
            E("add_to_cart", T0 + 2 * HOUR, item_id=A, quantity=3, price=9.5),
            E("add_to_cart", T0, item_id=A, quantity=1, price=10.0),  # late, older
        ]
    )
    view = model.view("u-1", state, AS_OF)
    assert view["cart"] == [
        {"item_id": A, "quantity": 3, "price": 9.5, "added_at": rfc3339(T0 + 2 * HOUR)}
    ]


def test_cart_same_instant_adds_are_order_independent() -> None:
    """Two adds of one item at the same event time must give the same cart line in any order.

    Today the first applied wins (``if event.ts > item[_ADDED]``), so the cart shown depends on
    the arrival order (see the report).
    """
    one = E("add_to_cart", T0, item_id=A, quantity=1, price=10.0)
    two = E("add_to_cart", T0, item_id=A, quantity=2, price=8.0)
    model = ProfileModel()
    _, forward = run([one, two], model)
    _, backward = run([two, one], model)
    assert model.open_cart(forward) == model.open_cart(backward)


# The cart window: the 30 UTC calendar days ending on the day of the user's newest event.
WINDOW_START_BEFORE_NEWEST = AS_OF - (AS_OF // DAY_MS - 29) * DAY_MS


@pytest.mark.parametrize(
    "last_activity_before_newest,kept",
    [
        (0, True),
        (DAY_MS, True),
        (WINDOW_START_BEFORE_NEWEST, True),  # exactly at the window's first midnight: kept
        (WINDOW_START_BEFORE_NEWEST + 1, False),  # a millisecond earlier: dropped
        (60 * DAY_MS, False),
    ],
)
@pytest.mark.parametrize("closed", [True, False])
def test_cart_compaction_drops_items_older_than_the_window(
    last_activity_before_newest: int, kept: bool, closed: bool
) -> None:
    newest = AS_OF
    last = newest - last_activity_before_newest
    model = ProfileModel()
    events = [E("view", newest)]
    if closed:
        events += [E("add_to_cart", last - HOUR, item_id=A), E("remove_from_cart", last, item_id=A)]
    else:
        events += [E("add_to_cart", last, item_id=A)]
    _, state = run(events, model)
    model.compact(state)
    assert (A in state.cart["i"]) is kept
    open_now = [i["item_id"] for i in model.open_cart(state)]
    assert open_now == ([A] if kept and not closed else [])


def test_cart_compaction_keeps_what_can_still_change() -> None:
    model = ProfileModel()
    _, state = run(
        [
            E("add_to_cart", T0, item_id=A),
            E("purchase", T0 + HOUR),  # checkout closes A
            E("add_to_cart", T0 + 2 * HOUR, item_id=B),
            E("view", T0 + 3 * DAY_MS),
        ],
        model,
    )
    model.compact(state)
    # a late add older than the checkout, inside the window, stays closed after compaction
    model.apply_event(state, E("add_to_cart", T0 + 30 * 60_000, item_id=A))
    model.compact(state)
    assert [i["item_id"] for i in model.open_cart(state)] == [B]


def test_cart_late_add_older_than_the_window_is_ignored() -> None:
    model = ProfileModel()
    newest = AS_OF
    _, state = run(
        [
            E("add_to_cart", newest - WINDOW_START_BEFORE_NEWEST - 2 * HOUR, item_id=A),
            E("remove_from_cart", newest - WINDOW_START_BEFORE_NEWEST - HOUR, item_id=A),
            E("view", newest),
        ],
        model,
    )
    model.compact(state)
    assert state.cart["i"] == {}  # the closed item is forgotten ...
    late = E("add_to_cart", newest - WINDOW_START_BEFORE_NEWEST - 3 * HOUR, item_id=A)
    model.apply_event(state, late)
    model.compact(state)
    assert model.open_cart(state) == []  # ... and a late, older add cannot reopen it


def test_cart_state_stays_bounded() -> None:
    model = ProfileModel()
    state = model.initial()
    for day in range(200):
        ts = T0 + day * DAY_MS
        model.apply_event(state, E("add_to_cart", ts, item_id=f"sku-{day}"))
        model.apply_event(state, E("remove_from_cart", ts + HOUR, item_id=f"sku-{day}"))
        model.compact(state)
    assert len(state.cart["i"]) <= 30


# --- attributes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "identifies,expected",
    [
        ([], {}),
        ([(0, {"city": "Lyon"})], {"city": "Lyon"}),
        ([(0, {"city": "Lyon"}), (1, {"city": "Paris"})], {"city": "Paris"}),
        ([(1, {"city": "Paris"}), (0, {"city": "Lyon"})], {"city": "Paris"}),  # late, older
        # per trait: each keeps its own latest
        (
            [(0, {"city": "Lyon", "gender": "f"}), (1, {"city": "Paris"})],
            {"city": "Paris", "gender": "f"},
        ),
        (
            [(2, {"birth_year": 1990}), (1, {"birth_year": 1991, "income_band": "b"})],
            {"birth_year": 1990, "income_band": "b"},
        ),
        # same instant: a deterministic winner whatever the order
        ([(0, {"city": "Lyon"}), (0, {"city": "Paris"})], {"city": "Paris"}),
        ([(0, {"city": "Paris"}), (0, {"city": "Lyon"})], {"city": "Paris"}),
    ],
)
def test_attributes_latest_by_event_time(
    identifies: list[tuple[int, dict[str, Any]]], expected: dict[str, Any]
) -> None:
    model, state = run([E("identify", T0 + m * 60_000, traits=t) for m, t in identifies])
    assert model.view("u-1", state, AS_OF)["attributes"] == expected
    tags = Attributes().tags(state.attributes, AS_OF)
    assert {k: v for k, v in tags.items() if v is not None and k != "age_band"} == {
        k: v for k, v in expected.items() if k != "birth_year"
    }


# --- the fence -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "applied,offered,outcome",
    [
        ([], (0, 0), Outcome.APPLIED),
        ([(0, 5)], (0, 6), Outcome.APPLIED),
        ([(0, 5)], (0, 5), Outcome.REPLAYED),  # at the fence: already applied
        ([(0, 5)], (0, 4), Outcome.REPLAYED),  # below the fence
        ([(0, 5)], (0, 0), Outcome.REPLAYED),
        ([(0, 5)], (1, 3), Outcome.APPLIED),  # fences are per partition
        ([(0, 5), (1, 9)], (1, 9), Outcome.REPLAYED),
        ([(0, 5), (1, 9)], (0, 6), Outcome.APPLIED),
        ([(0, 5)], (0, -1), Outcome.APPLIED),  # no offset (replay tools, tests): no fence
    ],
)
def test_fence(applied: list[tuple[int, int]], offered: tuple[int, int], outcome: Outcome) -> None:
    model = ProfileModel()
    state = model.initial()
    for partition, offset in applied:
        assert model.apply_event(state, E("view", T0), partition, offset) is Outcome.APPLIED
    before = copy.deepcopy(state)
    partition, offset = offered
    assert model.apply_event(state, E("view", T0), partition, offset) is outcome
    if outcome is Outcome.REPLAYED:
        assert state == before  # a replay changes nothing at all
    else:
        assert model.tags(state, AS_OF)["views_total"] == len(applied) + 1


def test_fence_advances_on_a_duplicate() -> None:
    model = ProfileModel()
    state = model.initial()
    assert model.apply_event(state, E("view", T0, "same"), 0, 1) is Outcome.APPLIED
    assert model.apply_event(state, E("view", T0, "same"), 0, 2) is Outcome.DUPLICATE
    assert state.fences == {"0": 2}
    assert model.apply_event(state, E("view", T0, "same"), 0, 2) is Outcome.REPLAYED


# --- dedupe --------------------------------------------------------------------------------------


NEXT_MIDNIGHT = (T0 // DAY_MS + 1) * DAY_MS


@pytest.mark.parametrize(
    "first_ts,newest_ts,compact,outcome",
    [
        (T0, T0, False, Outcome.DUPLICATE),
        (T0, T0 + 30 * DAY_MS, False, Outcome.DUPLICATE),  # no compaction: still remembered
        (T0, T0, True, Outcome.DUPLICATE),
        (T0, T0 + 24 * HOUR, True, Outcome.DUPLICATE),  # exactly the window: kept
        # the window is stretched back to a UTC midnight: kept while the newest event's day is
        # at most one day after the first one's day
        (T0, T0 + 24 * HOUR + 1, True, Outcome.DUPLICATE),
        (T0, NEXT_MIDNIGHT + DAY_MS - 1, True, Outcome.DUPLICATE),
        (T0, NEXT_MIDNIGHT + DAY_MS, True, Outcome.APPLIED),  # two days on: forgotten
        (T0, T0 + 10 * DAY_MS, True, Outcome.APPLIED),
    ],
)
def test_dedupe_window(first_ts: int, newest_ts: int, compact: bool, outcome: Outcome) -> None:
    model = ProfileModel()
    state = model.initial()
    assert model.apply_event(state, E("purchase", first_ts, "order-1", revenue=5.0)) is (
        Outcome.APPLIED
    )
    model.apply_event(state, E("view", newest_ts))
    if compact:
        model.compact(state)
    retry = E("purchase", first_ts, "order-1", revenue=5.0)
    assert model.apply_event(state, retry) is outcome
    expected = 2 if outcome is Outcome.APPLIED else 1
    assert model.tags(state, newest_ts)["purchases_total"] == expected


def test_duplicate_changes_nothing_but_the_fence() -> None:
    model = ProfileModel()
    state = model.initial()
    model.apply_event(state, E("add_to_cart", T0, "x", item_id=A, price=2.0))
    before = copy.deepcopy(state)
    assert model.apply_event(state, E("add_to_cart", T0 + 5, "x", item_id=B)) is (Outcome.DUPLICATE)
    assert state == before


@pytest.mark.parametrize("window_ms", [HOUR, 24 * HOUR, 7 * DAY_MS])
def test_dedupe_window_is_configurable(window_ms: int) -> None:
    model = ProfileModel(ModelConfig(dedupe_window_ms=window_ms))
    state = model.initial()
    model.apply_event(state, E("view", T0, "e"))
    model.apply_event(state, E("view", T0 + window_ms))
    model.compact(state)
    assert model.apply_event(state, E("view", T0, "e")) is Outcome.DUPLICATE
    # forgotten once the window, stretched back to a UTC midnight, no longer reaches T0's day
    days = -(-window_ms // DAY_MS)
    model.apply_event(state, E("view", (T0 // DAY_MS + days + 1) * DAY_MS))
    model.compact(state)
    assert model.apply_event(state, E("view", T0, "e")) is Outcome.APPLIED


@pytest.mark.parametrize("max_ids,events", [(1, 3), (10, 10), (10, 11), (10, 25), (100, 250)])
def test_dedupe_max_ids_keeps_the_newest(max_ids: int, events: int) -> None:
    model = ProfileModel(ModelConfig(dedupe_max_ids=max_ids))
    state = model.initial()
    for i in range(events):
        model.apply_event(state, E("view", T0 + i, f"id-{i}"))
    model.compact(state)
    assert remembered(state) == min(max_ids, events)
    newest = events - 1
    assert model.apply_event(state, E("view", T0 + newest, f"id-{newest}")) is Outcome.DUPLICATE
    if events > max_ids:
        assert model.apply_event(state, E("view", T0, "id-0")) is Outcome.APPLIED


def remembered(state: State) -> int:
    return sum(len(blob) for blob in state.seen.values()) // len(event_digest("x"))


def test_dedupe_stores_digests_not_ids() -> None:
    _, state = run([E("view", T0, "a-very-long-event-id-" + "x" * 200)])
    assert state.seen == {day_of(T0): event_digest("a-very-long-event-id-" + "x" * 200)}
    assert len(event_digest("x")) == 6


# --- model plumbing ------------------------------------------------------------------------------


def test_state_round_trips_through_the_codec() -> None:
    model, state = run(
        [
            E("identify", T0, traits={"city": "Lyon", "birth_year": 1990}),
            E("add_to_cart", T0 + 1, item_id=A, price=3.5, quantity=2),
            E("purchase", T0 + 2, revenue=7.0, item_id=A),
        ]
    )
    model.settle(state)
    again = model.decode(model.encode(state))
    assert again == state
    assert model.view("u-1", again, AS_OF) == model.view("u-1", state, AS_OF)


def test_aggregator_keys_are_distinct() -> None:
    model = ProfileModel()
    keys = [agg.key for agg in model.aggregators]
    assert len(set(keys)) == len(keys)
    assert set(keys) <= set(State.__struct_fields__)
    assert {Counters.key, Monetary.key, Recency.key, Cart.key, Attributes.key} <= set(keys)


# --- order independence --------------------------------------------------------------------------

ITEMS = ("sku-1", "sku-2")
TRAIT_VALUES = {"city": ("Lyon", "Paris"), "gender": ("f", "m"), "income_band": ("a", "b")}


@st.composite
def one_event(draw: st.DrawFn, base: int, times: list[int], orders: bool = True) -> Event:
    etype = draw(st.sampled_from(sorted(EVENT_TYPES)))
    ts = base + draw(st.sampled_from(times))
    fields: dict[str, Any] = {}
    if etype in ("add_to_cart", "remove_from_cart", "purchase", "view", "click", "favorite"):
        fields["item_id"] = draw(st.one_of(st.none(), st.sampled_from(ITEMS)))
    if etype != "identify":
        fields["category"] = draw(st.sampled_from((None, "women dress", "tools", "men shaver")))
        fields["brand"] = draw(st.sampled_from((None, "acme", "zeta")))
        fields["timezone"] = draw(st.sampled_from((None, "Asia/Shanghai", "America/New_York")))
        fields["device"] = draw(st.sampled_from((None, "ios", "web")))
    if etype == "search":
        fields["query"] = draw(st.sampled_from((None, "Red  Shoes", "red shoes", "lamp")))
    if etype in ("add_to_cart", "purchase"):
        fields["price"] = draw(st.one_of(st.none(), st.sampled_from((0.5, 9.99, 19.99))))
        fields["quantity"] = draw(st.integers(1, 3))
    if etype == "purchase":
        fields["revenue"] = draw(st.one_of(st.none(), st.sampled_from((5.25, 42.0))))
        fields["item_ids"] = tuple(draw(st.lists(st.sampled_from(ITEMS), max_size=2)))
        fields["order_id"] = draw(st.sampled_from((None, "o-1", "o-2"))) if orders else None
        fields["coupon"] = draw(st.sampled_from((None, "SPRING")))
    if etype == "identify":
        names = draw(st.lists(st.sampled_from(sorted(TRAIT_VALUES)), min_size=1, unique=True))
        fields["traits"] = {n: draw(st.sampled_from(TRAIT_VALUES[n])) for n in names}
    return E(etype, ts, "pending", **fields)


@st.composite
def events_strategy(
    draw: st.DrawFn, span_ms: int, retries: bool = True, orders: bool = True
) -> list[Event]:
    """Events of one user; event times come from a small set so that ties are common, and with
    ``retries`` some events are sent again (same event_id, same content)."""
    times = draw(st.lists(st.integers(0, span_ms), min_size=1, max_size=4, unique=True))
    drawn = draw(st.lists(one_event(AS_OF - span_ms, times, orders), max_size=30))
    events = [msgspec.structs.replace(e, event_id=f"ev-{i}") for i, e in enumerate(drawn)]
    if not events:
        return events
    # twins: another event at the same instant, same type and item, other quantity and price
    twins = draw(
        st.lists(
            st.tuples(
                st.integers(0, len(events) - 1),
                st.integers(1, 3),
                st.sampled_from((None, 0.5, 9.99)),
            ),
            max_size=3,
        )
    )
    for k, (i, quantity, price) in enumerate(twins):
        twin = msgspec.structs.replace(
            events[i], event_id=f"tw-{k}", quantity=quantity, price=price
        )
        events.append(twin)
    if not retries:
        return events
    copies = draw(st.lists(st.integers(0, len(events) - 1), max_size=5))
    return events + [events[i] for i in copies]


# Windows are read at several as-of times, also before the newest event: a bucket that one
# arrival order kept and another pruned would show there.
AS_OFS = (AS_OF - 200 * DAY_MS, AS_OF - 35 * DAY_MS, AS_OF - 5 * DAY_MS, AS_OF, AS_OF + 9 * DAY_MS)


def observable(model: ProfileModel, state: State) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for as_of in AS_OFS:
        out.update({f"{k}@{as_of}": v for k, v in model.tags(state, as_of).items()})
        hours = model.active_hours(state, as_of)
        out.update({f"hour{h}@{as_of}": v for h, v in hours.items()})
    attributes = model.attributes.values(state.attributes)
    return {"tags": out, "attributes": attributes, "cart": model.open_cart(state)}


def assert_same(left: dict[str, Any], right: dict[str, Any]) -> None:
    assert left.keys() == right.keys()
    for key in left:
        if key == "tags":
            assert left["tags"].keys() == right["tags"].keys()
            for name, value in left["tags"].items():
                other = right["tags"][name]
                if isinstance(value, float) or isinstance(other, float):
                    assert math.isclose(value, other, rel_tol=1e-9, abs_tol=1e-9), name
                else:
                    assert value == other, name
        else:
            assert left[key] == right[key], key


def run_batches(model: ProfileModel, events: list[Event], cuts: list[int]) -> State:
    """Apply ``events`` in batches ending at ``cuts``, compacting after each, as the worker does."""
    state = model.initial()
    start = 0
    for end in [*sorted(cuts), len(events)]:
        for event in events[start:end]:
            model.apply_event(state, event)
        model.compact(state)
        start = max(start, end)
    return state


Scenario = tuple[list[Event], list[Event], list[int]]  # events, the same shuffled, batch cuts


@st.composite
def scenarios(
    draw: st.DrawFn, span_ms: int, retries: bool = True, batches: bool = True, orders: bool = True
) -> Scenario:
    events = draw(events_strategy(span_ms, retries, orders))
    shuffled = draw(st.permutations(events))
    cuts = draw(st.lists(st.integers(0, len(events)), max_size=4)) if batches else []
    return events, shuffled, cuts


# Two adds of one item at the same instant, in both orders (always tried first).
_TWIN_ADDS = [
    E("add_to_cart", T0, "twin-1", item_id="sku-1", quantity=1, price=10.0),
    E("add_to_cart", T0, "twin-2", item_id="sku-1", quantity=2, price=8.0),
]
TWIN_ADDS: Scenario = (_TWIN_ADDS, _TWIN_ADDS[::-1], [])
TWIN_ADDS_SPLIT: Scenario = (_TWIN_ADDS, _TWIN_ADDS[::-1], [1])


def assert_order_independent(scenario: Scenario, reference_events: list[Event]) -> None:
    _, shuffled, cuts = scenario
    model = ProfileModel()
    reference = run_batches(model, reference_events, [])
    state = run_batches(model, shuffled, cuts)
    assert_same(observable(model, state), observable(model, reference))


@settings(database=None, max_examples=300, deadline=None)
@given(scenario=scenarios(span_ms=40 * DAY_MS, batches=False))
@example(scenario=TWIN_ADDS)
def test_order_independence(scenario: Scenario) -> None:
    """Any permutation of the same events (one batch) gives identical tags, attributes, cart."""
    assert_order_independent(scenario, scenario[0])


@settings(database=None, max_examples=200, deadline=None)
@given(scenario=scenarios(span_ms=40 * DAY_MS, retries=False))
@example(scenario=TWIN_ADDS_SPLIT)
def test_order_independence_across_batches(scenario: Scenario) -> None:
    """Any order and any batch boundaries (compaction after each batch) give the same profile."""
    assert_order_independent(scenario, scenario[0])


@settings(database=None, max_examples=200, deadline=None)
@given(scenario=scenarios(span_ms=400 * DAY_MS, retries=False, orders=False))
def test_order_independence_over_more_than_the_longest_window(scenario: Scenario) -> None:
    """Events spread over 400 days: pruning at the 180-day horizon, decay and the bucket
    horizons give the same profile in any order and batching (order ids are left out: an order
    named again after the horizon counts anew, which depends on arrival; docs/tags.md)."""
    assert_order_independent(scenario, scenario[0])


@settings(database=None, max_examples=200, deadline=None)
@given(scenario=scenarios(span_ms=12 * HOUR))
@example(scenario=(_TWIN_ADDS, [*_TWIN_ADDS[::-1], _TWIN_ADDS[1]], [1]))
def test_order_independence_with_retries_across_batches(scenario: Scenario) -> None:
    """Producer retries (same event_id) inside the dedupe window count once, in any order and
    across batch boundaries."""
    once = list({e.event_id: e for e in scenario[0]}.values())
    assert_order_independent(scenario, once)


def test_a_late_event_older_than_every_window_is_not_bucketed_after_compaction() -> None:
    """Compaction runs once per new day; an older event arriving later that day must not leave a
    bucket that an in-order replay would have pruned (a window read at an earlier as-of would
    show it)."""
    newest = AS_OF
    old = AS_OF - 182 * DAY_MS  # outside the 180 days ending on the newest event's day
    model = ProfileModel()
    in_order = run_batches(model, [E("view", old), E("view", newest)], [])
    late = run_batches(model, [E("view", newest), E("view", old)], [1])  # compaction between
    for as_of in (old, AS_OF - 20 * DAY_MS, AS_OF):
        assert model.tags(late, as_of) == model.tags(in_order, as_of), as_of
    assert model.tags(late, old)["views_180d"] == 0 and model.tags(late, old)["views_total"] == 2
