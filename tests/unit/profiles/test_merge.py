"""Merging two profiles of one person (docs/identity.md, "Merging state").

The oracle: one profile that saw every event of both. Tables pin each aggregator's merge; the
properties split a user's events in two at random, apply each half (shuffled, in batches) to
its own state, merge, and compare everything a reader can see with the one-profile state.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from profiles import codec
from profiles.changes import SEGMENTS
from profiles.events import Event
from profiles.merge import merge_rules, merge_seen
from profiles.model import ProfileModel, State, event_digest
from profiles.state import RuleState
from profiles.timeutil import DAY_MS
from tests.unit.profiles.test_model import (
    AS_OF,
    HOUR,
    T0,
    E,
    assert_same,
    events_strategy,
    observable,
    run_batches,
)

MODEL = ProfileModel()


def merged(left: list[Event], right: list[Event], model: ProfileModel = MODEL) -> State:
    a, b = run_batches(model, left, []), run_batches(model, right, [])
    return model.merge(a, b)


def one(events: list[Event], model: ProfileModel = MODEL) -> State:
    return run_batches(model, events, [])


# --- tables: one aggregator at a time -----------------------------------------------------------

D1, D2 = T0 - 3 * DAY_MS, T0 - DAY_MS


@pytest.mark.parametrize(
    "left,right,expected",
    [
        # counters add, windows see both halves
        ([E("view", D1)], [E("view", D2)], {"views_total": 2, "views_7d": 2, "events_total": 2}),
        ([], [E("purchase", D2)], {"purchases_total": 1, "purchases_1d": 0}),
        ([E("view", D1)], [], {"views_total": 1, "active_days_30d": 1}),
        ([E("view", D1)], [E("click", D1)], {"active_days_30d": 1, "clicks_30d": 1}),
        # recency: first is the earlier, last the later
        (
            [E("view", D2)],
            [E("view", D1), E("register", D1)],
            {"days_since_first_seen": 3, "days_since_last_seen": 1},
        ),
        # money: one order named by both halves counts once, at its combined value
        (
            [E("purchase", D1, order_id="o-1", revenue=10.0)],
            [E("purchase", D2, order_id="o-1", revenue=5.0)],
            {"orders_total": 1, "orders_30d": 1, "spend_total": 15.0, "max_order_value": 15.0},
        ),
        (
            [E("purchase", D1, order_id="o-1", revenue=10.0)],
            [E("purchase", D2, order_id="o-2", revenue=5.0, coupon="X")],
            {"orders_total": 2, "avg_order_value": 7.5, "coupon_share": 0.5},
        ),
        # affinity and hours: scores add once both are as of one day
        (
            [E("view", D1, category="tools")] * 1,
            [E("view", D2, category="shoes"), E("view", D2, category="shoes")],
            {"top_category": "shoes", "top_categories": ["shoes", "tools"]},
        ),
        # declared traits: the later identify wins
        (
            [E("identify", D2, traits={"city": "Lyon"})],
            [E("identify", D1, traits={"city": "Paris", "gender": "f"})],
            {"city": "Lyon", "gender": "f"},
        ),
        # purchase gender counts add; devices count and the later is the last
        (
            [E("purchase", D1, category="women dress", device="web")],
            [E("add_to_cart", D2, category="women dress", device="ios")],
            {"purchase_gender": "female", "device_last": "ios"},
        ),
        # search: days of one key unite
        (
            [E("search", D1, query="lamp"), E("search", D2, query="lamp")],
            [E("search", T0 - 2 * DAY_MS, query="Lamp")],
            {"repeated_search": "lamp", "repeated_search_days": 3},
        ),
        (  # one day searched on both sides counts once
            [E("search", D1, query="lamp"), E("search", D2, query="lamp")],
            [E("search", D1 + HOUR, query="lamp"), E("search", D2 + HOUR, query="lamp")],
            {"repeated_search": None, "repeated_search_days": 0},
        ),
        # cart: an add in one half, its purchase in the other closes it
        (
            [E("add_to_cart", D1, item_id="sku-1", price=9.0)],
            [E("purchase", D2, item_ids=("sku-1",))],
            {"cart_open_items": 0, "cart_to_purchase_rate": 1.0},
        ),
        (
            [E("add_to_cart", D1, item_id="sku-1", price=9.0)],
            [E("add_to_cart", D2, item_id="sku-2", price=4.0)],
            {"cart_open_items": 2},
        ),
    ],
)
def test_merge_reads_as_one_profile(
    left: list[Event], right: list[Event], expected: dict[str, Any]
) -> None:
    as_of = T0
    for state in (merged(left, right), merged(right, left), one(left + right)):
        tags = MODEL.tags(state, as_of)
        assert {k: tags[k] for k in expected} == expected


def test_merge_keeps_the_cart_lines_of_both() -> None:
    state = merged(
        [E("add_to_cart", D1, item_id="sku-1", price=9.0, quantity=2)],
        [E("add_to_cart", D2, item_id="sku-1", price=8.0), E("favorite", D2, item_id="sku-9")],
    )
    assert MODEL.open_cart(state) == [
        {"item_id": "sku-1", "quantity": 1, "price": 8.0, "added_at": D2}
    ]
    assert state.cart["f"] == {"sku-9": D2}


def test_merge_of_an_empty_profile_changes_nothing() -> None:
    events = [E("view", D1, category="tools", timezone="Asia/Shanghai"), E("purchase", D2)]
    alone = one(events)
    for state in (MODEL.merge(one(events), MODEL.initial()), MODEL.merge(MODEL.initial(), alone)):
        assert_same(observable(MODEL, state), observable(MODEL, alone))
        assert state.newest == alone.newest


def test_merge_drops_what_the_newer_half_has_left_behind() -> None:
    """A view 200 days before the other half's newest event leaves every window: the merged
    state keeps no bucket for it (a single profile would have pruned it)."""
    old = AS_OF - 200 * DAY_MS
    for state in (
        merged([E("view", old)], [E("view", AS_OF)]),
        merged([E("view", AS_OF)], [E("view", old)]),
    ):
        assert sorted(state.counters["b"]) == [AS_OF // DAY_MS]
        assert MODEL.tags(state, AS_OF)["views_total"] == 2


def test_merge_keeps_the_surviving_fences_and_the_later_zone() -> None:
    a, b = MODEL.initial(), MODEL.initial()
    MODEL.apply_event(a, E("view", D1, timezone="Asia/Shanghai"), partition=3, offset=7)
    MODEL.apply_event(b, E("view", D2, timezone="America/New_York"), partition=5, offset=9)
    state = MODEL.merge(a, b)
    assert state.fences == {"3": 7}
    assert MODEL.timezone(state) == "America/New_York"


def test_merge_seen_unites_each_digest_once() -> None:
    x, y, z = (event_digest(i) for i in ("x", "y", "z"))
    assert merge_seen({1: x + y}, {1: y + z, 2: x}) == {1: x + y + z}
    assert merge_seen({}, {2: z}) == {2: z}


def test_merged_dedupe_window_refuses_a_retry_from_either_half() -> None:
    state = merged([E("view", T0 - 2 * HOUR, "ev-a")], [E("view", T0 - HOUR, "ev-b")])
    for event_id in ("ev-a", "ev-b"):
        assert MODEL.apply_event(state, E("view", T0, event_id)).value == "duplicate"


@pytest.mark.parametrize(
    "mine,theirs,expected",
    [
        ({}, {"vip": [True, 5]}, {"vip": [True, 5]}),
        ({"vip": [True, 9]}, {"vip": [False, 5]}, {"vip": [True, 9]}),
        ({"vip": [True, 5]}, {"vip": [None, 9]}, {"vip": [None, 9]}),  # a later clear wins
    ],
)
def test_merge_rules_keeps_the_later_manual_setting(
    mine: dict[str, list[Any]], theirs: dict[str, list[Any]], expected: dict[str, list[Any]]
) -> None:
    rules = merge_rules(
        RuleState("v1", 1, {"a": 1}, ["s"], {"s": 1}, mine, 10, 0),
        RuleState("v2", 2, {"b": 2}, ["t"], {"t": 2}, theirs, 20, 30),
    )
    assert rules.manual == expected
    assert (rules.version, rules.members, rules.due, rules.quiet) == ("v1", ["s"], 10, 30)


# --- properties: any split of a user's events --------------------------------------------------

Split = tuple[list[Event], list[Event], list[Event]]  # all (each id once), left, right


@st.composite
def splits(draw: st.DrawFn, span_ms: int, retries: bool = False, orders: bool = True) -> Split:
    """A user's events split in two by event id (with ``retries``, some sent twice: every copy
    goes to one side, as the forwarding protocol sees to), each side shuffled."""
    events = draw(events_strategy(span_ms, retries=retries, orders=orders))
    ids = sorted({e.event_id for e in events})
    left_ids = set(draw(st.lists(st.sampled_from(ids), unique=True))) if ids else set()
    left = draw(st.permutations([e for e in events if e.event_id in left_ids]))
    right = draw(st.permutations([e for e in events if e.event_id not in left_ids]))
    once = list({e.event_id: e for e in events}.values())
    return once, left, right


def batched(model: ProfileModel, events: list[Event], cuts: list[int]) -> State:
    state = run_batches(model, events, cuts)
    model.settle(state)
    return state


def check_split(split: Split, cuts: list[int]) -> None:
    once, left, right = split
    reference = one(once)
    state = MODEL.merge(batched(MODEL, left, cuts), batched(MODEL, right, cuts))
    assert_same(observable(MODEL, state), observable(MODEL, reference))
    assert state.newest == reference.newest
    assert input_times(state) == input_times(reference)


def input_times(state: State) -> dict[str, int | None]:
    """When each tag that moves with its inputs last changed (the segments' log records the
    merge itself as a change: docs/identity.md)."""
    tags = MODEL.tags(state, AS_OF)
    times = MODEL.changes.changed_at(state, AS_OF, tags)
    return {name: t for name, t in times.items() if name not in SEGMENTS}


@settings(database=None, max_examples=300, deadline=None)
@given(split=splits(span_ms=40 * DAY_MS), cuts=st.lists(st.integers(0, 40), max_size=3))
def test_merging_two_halves_equals_one_profile(split: Split, cuts: list[int]) -> None:
    check_split(split, cuts)


@settings(database=None, max_examples=150, deadline=None)
@given(split=splits(span_ms=12 * HOUR, retries=True), cuts=st.lists(st.integers(0, 40)))
def test_merging_halves_with_retries_counts_each_event_once(split: Split, cuts: list[int]) -> None:
    """Retries inside the dedupe window, across batches, on either side."""
    check_split(split, cuts)


@settings(database=None, max_examples=150, deadline=None)
@given(split=splits(span_ms=400 * DAY_MS, orders=False), cuts=st.lists(st.integers(0, 40)))
def test_merging_halves_across_more_than_the_longest_window(split: Split, cuts: list[int]) -> None:
    """Halves that lie a year apart: the older half's buckets, cart and search days fall out
    of the merged windows, its decayed scores rescale to the later day."""
    check_split(split, cuts)


@settings(database=None, max_examples=150, deadline=None)
@given(split=splits(span_ms=12 * HOUR))
def test_merge_is_commutative(split: Split) -> None:
    _, left, right = split
    ab = MODEL.merge(one(left), one(right))
    ba = MODEL.merge(one(right), one(left))
    assert_same(observable(MODEL, ab), observable(MODEL, ba))


@settings(database=None, max_examples=100, deadline=None)
@given(
    events=events_strategy(40 * DAY_MS, retries=False),
    thirds=st.lists(st.integers(0, 2), min_size=60, max_size=60),
)
def test_merge_is_associative(events: list[Event], thirds: list[int]) -> None:
    parts: list[list[Event]] = [[], [], []]
    for event, k in zip(events, thirds, strict=False):
        parts[k].append(event)
    a, b, c = (codec.encode(one(p)) for p in parts)
    left = MODEL.merge(MODEL.merge(codec.decode(a), codec.decode(b)), codec.decode(c))
    right = MODEL.merge(codec.decode(a), MODEL.merge(codec.decode(b), codec.decode(c)))
    assert_same(observable(MODEL, left), observable(MODEL, right))
