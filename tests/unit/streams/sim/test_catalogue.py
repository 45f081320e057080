"""The tag catalogue of docs/tags.md, family by family, as tables of events -> tag values."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from profiles.changes import SEGMENTS
from profiles.config import ModelConfig
from profiles.events import Event
from profiles.model import ProfileModel, State

_ids = itertools.count()
HOUR = 3_600_000
DAY = 86_400_000


def at(text: str) -> int:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (parsed - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


AS_OF = at("2024-05-31T12:00:00Z")  # a Friday


def E(etype: str, ts: int | str, **fields: Any) -> Event:
    ts_ms = at(ts) if isinstance(ts, str) else ts
    return Event(event_id=f"c{next(_ids)}", type=etype, user_id="u", ts=ts_ms, **fields)


def profile(events: list[Event], config: ModelConfig | None = None) -> tuple[ProfileModel, State]:
    model = ProfileModel(config)
    state = model.initial()
    for event in events:
        model.apply_event(state, event)
    model.settle(state)
    return model, state


def tags(events: list[Event], as_of: int = AS_OF, **config: Any) -> dict[str, Any]:
    model, state = profile(events, ModelConfig(**config) if config else None)
    return model.tags(state, as_of)


# --- windows -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "when,expected",
    [
        ("2024-05-31T00:00:00Z", (1, 1, 1, 1)),  # as-of day: every window
        ("2024-05-30T23:59:59Z", (0, 1, 1, 1)),
        ("2024-05-25T00:00:00Z", (0, 1, 1, 1)),  # 7d = 05-25 .. 05-31
        ("2024-05-24T23:59:59Z", (0, 0, 1, 1)),
        ("2024-05-02T00:00:00Z", (0, 0, 1, 1)),  # 30d = 05-02 .. 05-31
        ("2024-05-01T23:59:59Z", (0, 0, 0, 1)),
        ("2023-12-04T00:00:00Z", (0, 0, 0, 1)),  # 180d = 2023-12-04 .. 2024-05-31
        ("2023-12-03T23:59:59Z", (0, 0, 0, 0)),
        ("2024-06-01T00:00:00Z", (0, 0, 0, 0)),  # after the as-of day
    ],
)
@pytest.mark.parametrize("etype,prefix", [("login", "logins"), ("favorite", "favorites")])
def test_window_edges(when: str, expected: tuple[int, ...], etype: str, prefix: str) -> None:
    t = tags([E(etype, when), E("view", "2024-05-31T11:00:00Z")])
    windows = tuple(t[f"{prefix}_{w}"] for w in ("1d", "7d", "30d", "180d"))
    assert windows == expected
    assert t[f"{prefix}_total"] == 1


def test_spend_windows_and_active_days() -> None:
    t = tags(
        [
            E("purchase", "2024-05-31T08:00:00Z", revenue=10.0),
            E("purchase", "2024-05-28T08:00:00Z", revenue=20.0),
            E("purchase", "2024-05-10T08:00:00Z", revenue=40.0),
            E("purchase", "2024-01-10T08:00:00Z", revenue=80.0),
            E("purchase", "2023-01-10T08:00:00Z", revenue=160.0),
            E("view", "2024-05-28T09:00:00Z"),
        ]
    )
    assert [t[f"spend_{w}"] for w in ("1d", "7d", "30d", "180d", "total")] == [
        10.0, 30.0, 70.0, 150.0, 310.0,
    ]  # fmt: skip
    assert t["active_days_30d"] == 3


# --- recency ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "events,expected",
    [
        ([], (None, None, None, None)),
        ([("view", "2024-05-31T11:00:00Z")], (0, 0, None, None)),
        ([("view", "2024-05-30T12:00:00Z")], (1, 1, None, None)),  # exactly 24 h
        ([("view", "2024-05-30T12:00:00.001Z")], (0, 0, None, None)),  # not quite a day
        (
            [("register", "2024-01-01T00:00:00Z"), ("purchase", "2024-05-01T12:00:00Z")],
            (151, 30, 30, "2024-01-01T00:00:00.000Z"),
        ),
        ([("view", "2024-06-05T00:00:00Z")], (0, 0, None, None)),  # later than as-of: 0
    ],
)
def test_recency_days(events: list[tuple[str, str]], expected: tuple[Any, ...]) -> None:
    t = tags([E(kind, when) for kind, when in events])
    got = (t["days_since_first_seen"], t["days_since_last_seen"])
    got += (t["days_since_last_purchase"], t["registered_at"])
    assert got == expected


# --- orders ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "purchases,expected",
    [
        # (order_id, amount, coupon) -> orders_total, max, avg, coupon_share
        ([], (0, None, None, None)),
        ([(None, 10.0, None)], (1, 10.0, 10.0, 0.0)),
        ([(None, 10.0, None), (None, 30.0, "X")], (2, 30.0, 20.0, 0.5)),
        ([("o1", 10.0, None), ("o1", 30.0, None)], (1, 40.0, 40.0, 0.0)),  # one order, 2 lines
        ([("o1", 10.0, None), ("o2", 30.0, "X"), ("o1", 5.0, None)], (2, 30.0, 22.5, 1 / 3)),
    ],
)
def test_orders(purchases: list[tuple[str | None, float, str | None]], expected: tuple) -> None:
    events = [
        E("purchase", AS_OF - HOUR * (i + 1), order_id=o, revenue=amount, coupon=c)
        for i, (o, amount, c) in enumerate(purchases)
    ]
    t = tags(events)
    got = (t["orders_total"], t["max_order_value"], t["avg_order_value"], t["coupon_share"])
    assert got == pytest.approx(expected) if purchases else got == expected


def test_an_order_is_dated_by_its_earliest_event() -> None:
    late = [
        E("purchase", "2024-05-30T10:00:00Z", order_id="o1", revenue=1.0),
        E("purchase", "2024-04-20T10:00:00Z", order_id="o1", revenue=1.0),  # older, same order
    ]
    t = tags(late)
    assert (t["orders_total"], t["orders_30d"], t["orders_180d"]) == (1, 0, 1)


@pytest.mark.parametrize(
    "prices,reference,ratio,band",
    [
        ([], {"shoes": 50.0}, None, None),
        ([30.0], {"shoes": 50.0}, 0.6, "budget"),
        ([50.0, 60.0], {"shoes": 50.0}, 1.1, "mid"),
        ([100.0], {"shoes": 50.0}, 2.0, "premium"),
        ([100.0], {"bags": 50.0}, None, None),  # no reference for the category
        ([100.0], None, None, None),  # no table at all
    ],
)
def test_price_band(prices: list[float], reference: Any, ratio: Any, band: Any) -> None:
    events = [E("add_to_cart", AS_OF - HOUR, category="shoes", price=p) for p in prices]
    t = tags(events, price_reference=reference)
    assert t["price_ratio"] == (pytest.approx(ratio) if ratio else None)
    assert t["price_band"] == band


# --- interest --------------------------------------------------------------------------------


def test_affinity_is_a_decayed_weighted_sum() -> None:
    model, state = profile(
        [
            E("view", AS_OF - 30 * DAY, category="tools"),  # 1 x 1/2
            E("purchase", AS_OF, category="tools"),  # 5 x 1
            E("add_to_cart", AS_OF - 60 * DAY, category="toys"),  # 3 x 1/4
            E("remove_from_cart", AS_OF, category="toys"),  # weight 0
        ]
    )
    scores = dict(model.categories.scores(state.categories, AS_OF))
    assert scores == pytest.approx({"tools": 5.5, "toys": 0.75}, rel=1e-12)
    assert dict(model.categories.scores(state.categories, AS_OF + 30 * DAY)) == pytest.approx(
        {"tools": 2.75, "toys": 0.375}, rel=1e-12
    )
    t = model.tags(state, AS_OF)
    assert (t["top_category"], t["top_categories"]) == ("tools", ["tools", "toys"])


def test_affinity_ties_go_to_the_smaller_name_and_lists_stop_at_five() -> None:
    events = [E("view", AS_OF, category=c, brand=c.upper()) for c in "gfedcba"]
    t = tags(events)
    assert t["top_category"] == "a" and t["top_categories"] == ["a", "b", "c", "d", "e"]
    assert t["top_brand"] == "A"


@pytest.mark.parametrize(
    "searches,expected",
    [
        ([], (None, 0)),
        ([("Red Shoes", 0), ("red  shoes ", 1), ("RED SHOES", 2)], ("red shoes", 3)),
        ([("lamp", 0), ("lamp", 0), ("lamp", 1)], (None, 0)),  # 2 distinct days only
        ([("lamp", 0), ("lamp", 3), ("lamp", 7)], (None, 0)),  # day 7 is outside 7 days
        ([("a", 0), ("a", 1), ("a", 2), ("b", 0), ("b", 1), ("b", 2), ("b", 3)], ("b", 4)),
        ([("a", 1), ("a", 2), ("a", 3), ("b", 0), ("b", 1), ("b", 2)], ("b", 3)),  # b: today
    ],
)
def test_repeated_search(searches: list[tuple[str, int]], expected: tuple[Any, int]) -> None:
    t = tags([E("search", AS_OF - days * DAY, query=q) for q, days in searches])
    assert (t["repeated_search"], t["repeated_search_days"]) == expected


def test_repeated_search_by_category() -> None:
    t = tags([E("search", AS_OF - d * DAY, category="tv") for d in range(3)])
    assert t["repeated_search"] == "category:tv"


@pytest.mark.parametrize(
    "rows,expected",
    [
        # (type, item, hours before as-of) -> cart rate, favourite rate, first sight, decision h
        ([], (None, None, None, None)),
        ([("add_to_cart", "a", 10), ("purchase", "a", 4)], (1.0, None, 0.0, 6.0)),
        ([("add_to_cart", "a", 10), ("add_to_cart", "b", 9), ("purchase", "a", 1)],
         (0.5, None, 0.0, 9.0)),
        ([("purchase", "a", 1)], (None, None, 1.0, None)),  # bought at first sight
        ([("favorite", "a", 5), ("purchase", "a", 1)], (None, 1.0, 0.0, None)),
        ([("favorite", "a", 5), ("favorite", "b", 5), ("purchase", "c", 1)],
         (None, 0.0, 1.0, None)),
        ([("purchase", "a", 5), ("add_to_cart", "a", 1)], (0.0, None, 1.0, None)),  # re-added
    ],
)  # fmt: skip
def test_conversion_features(rows: list[tuple[str, str, int]], expected: tuple) -> None:
    t = tags([E(kind, AS_OF - h * HOUR, item_id=item) for kind, item, h in rows])
    got = (t["cart_to_purchase_rate"], t["favorite_to_purchase_rate"])
    got += (t["first_sight_share"], t["decision_hours"])
    assert got == expected


# --- active hours ----------------------------------------------------------------------------


def test_active_hours_in_the_events_own_zone() -> None:
    # 2024-05-27 is a Monday: 12:00 UTC is 20:00 in Shanghai, 08:00 in New York
    events = [
        E("view", "2024-05-27T12:00:00Z", timezone="Asia/Shanghai"),
        E("view", "2024-05-27T12:30:00Z", timezone="Asia/Shanghai"),
        E("view", "2024-05-27T12:00:00Z", timezone="America/New_York"),
        E("view", "2024-05-27T12:00:00Z", timezone="Not/AZone"),  # unknown: the default (UTC)
        E("identify", "2024-05-28T00:00:00Z"),  # not a behaviour event
    ]
    model, state = profile(events)
    now = at("2024-05-27T12:30:00Z")
    hist = model.active_hours(state, now)
    half_hour = 2 ** (-0.5 / (30 * 24))  # the decay of half an hour at a 30-day half-life
    assert hist == pytest.approx({8: half_hour, 12: half_hour, 20: 1 + half_hour}, rel=1e-12)
    t = model.tags(state, now)
    assert (t["peak_hours"], t["peak_hour"], t["peak_weekday"]) == ([20, 8, 12], 20, 0)
    assert t["timezone"] == "Asia/Shanghai"  # the latest event with a known zone
    assert t["active_now"] is True  # 12:30 UTC is 20:30 in Shanghai, a peak hour
    assert model.tags(state, now + 2 * HOUR)["active_now"] is False  # 22:30 is not


def test_default_timezone_is_configurable() -> None:
    t = tags([E("view", "2024-05-27T12:00:00Z")], default_timezone="Asia/Tokyo")
    assert (t["peak_hour"], t["timezone"]) == (21, "Asia/Tokyo")


# --- RFM, layers, shopping type ------------------------------------------------------------


def purchases(days_ago: list[int], amount: float) -> list[Event]:
    return [E("purchase", AS_OF - d * DAY, revenue=amount) for d in days_ago]


@pytest.mark.parametrize(
    "days_ago,amount,rfm,segment",
    [
        ([], 0.0, None, None),
        ([3], 50.0, "511", "new_customer"),
        ([10, 40], 300.0, "423", "regular"),
        ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 600.0, "555", "champion"),
        ([100, 110, 120, 130, 140], 10.0, "241", "loyal"),
        ([100, 150], 3000.0, "225", "big_spender"),
        ([100, 120, 130], 10.0, "231", "at_risk"),
        ([200], 10.0, "111", "hibernating"),
        ([7], 1.0, "511", "new_customer"),  # 7 days: still R 5
        ([8], 1.0, "411", "new_customer"),
    ],
)
def test_rfm(days_ago: list[int], amount: float, rfm: str | None, segment: str | None) -> None:
    t = tags(purchases(days_ago, amount))
    assert (t["rfm"], t["rfm_segment"]) == (rfm, segment)


@pytest.mark.parametrize(
    "events,expected",
    [
        # high_value, potential, churn_risk, churn_risk_strong, lifecycle
        ([], (False, False, False, False, None)),
        (purchases([1], 5000.0), (True, False, False, False, "new")),
        (purchases([1], 4999.0), (False, False, False, False, "new")),
        (purchases([10, 20, 30, 40, 50], 1.0), (True, False, False, False, "active")),
        ([E("purchase", AS_OF - i * HOUR, revenue=1.0) for i in range(5)],
         (False, False, False, False, "new")),  # 5 orders on one day: no repurchase
        (purchases([3], 300.0), (False, True, False, False, "new")),  # a first order 200..500
        ([E("add_to_cart", AS_OF - i * HOUR) for i in range(5)],
         (False, True, False, False, "new")),
        ([E("view", AS_OF - i * HOUR) for i in range(50)], (False, True, False, False, "new")),
        ([E("view", AS_OF - 40 * DAY)], (False, False, False, False, "dormant")),
        ([E("view", AS_OF - 200 * DAY)], (False, False, True, False, "churn_risk")),
        ([E("view", AS_OF - 400 * DAY)], (False, False, True, True, "churn_risk")),
        (purchases([400, 390], 1.0), (False, False, False, False, "dormant")),  # 2 orders
        ([E("view", AS_OF - 40 * DAY), E("view", AS_OF - DAY)],
         (False, False, False, False, "active")),
    ],
)  # fmt: skip
def test_layers(events: list[Event], expected: tuple[Any, ...]) -> None:
    t = tags(events)
    names = ("high_value", "potential", "churn_risk", "churn_risk_strong", "lifecycle")
    assert tuple(t[n] for n in names) == expected


def behaviour(**counts: int) -> list[Event]:
    """``counts`` events of each type, an hour apart, the purchases naming item ``p<i>``."""
    out = []
    for kind, n in counts.items():
        for i in range(n):
            out.append(E(kind, AS_OF - (i + 1) * HOUR, item_id=f"{kind[0]}{i}"))
    return out


@pytest.mark.parametrize(
    "events,expected",
    [
        (behaviour(view=4), None),  # fewer than 5 behaviour events
        (behaviour(view=20), "browser"),
        (behaviour(view=5, add_to_cart=3), "hesitant"),
        (behaviour(view=3, click=1, purchase=1), "impulse"),  # bought at first sight
        (behaviour(view=3, search=2, purchase=1, add_to_cart=0), "impulse"),
        (behaviour(view=8, search=2, purchase=2), "goal_directed"),
        (behaviour(view=40, purchase=2), "rational"),
        (behaviour(view=12, purchase=1), "browser"),
        (behaviour(view=2, add_to_cart=4, remove_from_cart=2, purchase=1), "hesitant"),
        ([*behaviour(view=4), E("add_to_cart", AS_OF - 100 * HOUR, item_id="x"),
          E("purchase", AS_OF - HOUR, item_id="x")], "hesitant"),  # 99 h to decide
        ([*behaviour(view=8), E("add_to_cart", AS_OF - 30 * HOUR, item_id="x"),
          E("purchase", AS_OF - HOUR, item_id="x")], "rational"),  # 29 h to decide
    ],
)  # fmt: skip
def test_shopping_type(events: list[Event], expected: str | None) -> None:
    assert tags(events)["shopping_type"] == expected


# --- attributes, devices ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "birth_year,band",
    [(None, None), (2010, "<18"), (2006, "18-24"), (1990, "25-34"), (1980, "35-44"),
     (1970, "45-54"), (1960, "55-64"), (1959, "65+"), (1800, None), ("1990", None)],
)  # fmt: skip
def test_age_band(birth_year: Any, band: str | None) -> None:
    traits = {"birth_year": birth_year} if birth_year is not None else {"city": "Lyon"}
    assert tags([E("identify", AS_OF - DAY, traits=traits)])["age_band"] == band


@pytest.mark.parametrize(
    "categories,expected",
    [
        ([], None),
        (["apparel.women.dress"], None),  # one gendered event is not enough
        (["apparel.women.dress", "beauty.makeup"], "female"),
        (["men shaver", "men shaver", "women dress"], "male"),
        (["men shaver", "women dress"], None),  # neither twice the other
        (["electronics.tv", "tools"], None),
        (["sport.boy", "lady bag", "lady bag", "lady bag", "kids"], "female"),
    ],
)
def test_purchase_gender(categories: list[str], expected: str | None) -> None:
    events = [E("purchase", AS_OF - i * HOUR, category=c) for i, c in enumerate(categories)]
    events.append(E("identify", AS_OF, traits={"gender": "m"}))
    t = tags(events)
    assert t["purchase_gender"] == expected
    assert t["gender"] == "m"  # declared, never overwritten


def test_devices_last_and_most_used() -> None:
    t = tags(
        [
            E("view", AS_OF - 3 * HOUR, device="ios", channel="app", os="iOS"),
            E("view", AS_OF - 2 * HOUR, device="ios", channel="app"),
            E("view", AS_OF - 1 * HOUR, device="desktop", channel="web", os="Linux"),
        ]
    )
    assert (t["device_last"], t["device_top"], t["channel_last"], t["channel_top"]) == (
        "desktop", "ios", "web", "app",
    )  # fmt: skip
    assert t["os_last"] == "Linux"


# --- when tags changed -----------------------------------------------------------------------


def test_changed_at() -> None:
    model, state = profile([E("view", "2024-05-01T10:00:00Z", category="tools")])
    model.apply_event(state, E("purchase", "2024-05-20T10:00:00Z", revenue=300.0))
    model.settle(state)
    view = model.view("u", state, AS_OF)
    changed = view["changed_at"]
    assert changed["purchases_total"] == "2024-05-20T10:00:00.000Z"
    assert changed["views_180d"] == "2024-05-01T10:00:00.000Z"  # the view counted
    assert changed["views_30d"] == "2024-05-31T00:00:00.000Z"  # the day it left the window
    assert changed["views_1d"] == "2024-05-02T00:00:00.000Z"
    assert changed["rfm_segment"] == "2024-05-20T10:00:00.000Z"  # recorded at the batch
    assert changed["top_category"] == "2024-05-01T10:00:00.000Z"  # unchanged since
    assert view["tags"]["lifecycle"] == "active"  # first seen 30 days before the as-of day
    assert changed["lifecycle"] == "2024-05-31T10:00:00.000Z"  # 30 days after first seen
    assert changed["active_now"] is None
    assert set(changed) == set(view["tags"])


def test_change_log_keeps_only_referenced_times() -> None:
    model, state = profile([E("view", "2024-05-01T10:00:00Z", category="a")])
    for day in range(2, 20):
        model.apply_event(state, E("view", at(f"2024-05-{day:02d}T10:00:00Z"), category="b"))
        model.settle(state)
    times, index = state.changes.times, state.changes.index
    assert len(times) <= len(SEGMENTS)
    assert sorted(set(index) - {255}) == list(range(len(times)))


# --- the lean path equals the full one --------------------------------------------------------

KINDS = ("view", "click", "search", "add_to_cart", "remove_from_cart", "purchase", "favorite")


@st.composite
def random_events(draw: st.DrawFn) -> list[Event]:
    out = []
    for _ in range(draw(st.integers(0, 40))):
        kind = draw(st.sampled_from(KINDS))
        ts = AS_OF - draw(st.integers(0, 400)) * DAY // 4 - draw(st.integers(0, DAY))
        out.append(
            E(
                kind,
                ts,
                item_id=draw(st.sampled_from(("a", "b", "c"))),
                category=draw(st.sampled_from((None, "women", "men", "tv"))),
                brand=draw(st.sampled_from((None, "x", "y"))),
                revenue=draw(st.sampled_from((None, 150.0, 2500.0))),
                query=draw(st.sampled_from((None, "lamp"))),
                device=draw(st.sampled_from((None, "ios", "web"))),
            )
        )
    return out


@settings(database=None, max_examples=150, deadline=None)
@given(events=random_events(), offset_days=st.sampled_from((-30, 0, 1, 29, 31, 200, 400)))
def test_segments_equal_the_same_tags(events: list[Event], offset_days: int) -> None:
    model, state = profile(events)
    as_of = AS_OF + offset_days * DAY
    full = model.tags(state, as_of)
    assert model.segments(state, as_of) == {name: full[name] for name in SEGMENTS}


@settings(database=None, max_examples=100, deadline=None)
@given(
    events=random_events(),
    offset_days=st.sampled_from((0, 1, 31, 400)),
    names=st.sets(st.sampled_from(SEGMENTS), min_size=1),
)
def test_some_segments_equal_the_same_of_all(
    events: list[Event], offset_days: int, names: set[str]
) -> None:
    """The change-time scan asks for a few segments only: the same values as all of them."""
    model, state = profile(events)
    as_of = AS_OF + offset_days * DAY
    some, every = model.segments(state, as_of, names), model.segments(state, as_of)
    assert {name: some[name] for name in names} == {name: every[name] for name in names}


def test_codec_round_trip_keeps_every_tag() -> None:
    model, state = profile(behaviour(view=3, add_to_cart=2, purchase=1, search=2))
    again = model.decode(model.encode(state))
    assert model.tags(again, AS_OF) == model.tags(state, AS_OF)
    assert math.isclose(sum(model.active_hours(again, AS_OF).values()), 8.0, rel_tol=0.01)
