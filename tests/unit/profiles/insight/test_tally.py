"""Tallies: value rules, caps, hours per user, merge and JSON (profiles/insight/tally.py)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from profiles.insight import tally as tally_module
from profiles.insight.dimensions import (
    DIMENSIONS,
    OTHER,
    UNKNOWN,
    Dimension,
    category_value,
    list_values,
    number_value,
)
from profiles.insight.tally import MAX_VALUES, Hours, Numbers, Tally, Values

DIMS = (
    Dimension("gender", "Gender", "category"),
    Dimension("high_value", "High value", "category"),
    Dimension("spend_total", "Total spend", "number"),
    Dimension("top_categories", "Top categories", "list"),
    Dimension("active_hours", "Active hours", "hours"),
)


@pytest.mark.parametrize(
    "value,expected",
    [
        (5, 5.0),
        (999, 999.0),  # integers below 1000 exactly
        (1000, 1000.0),
        (1234, 1230.0),
        (98765, 98800.0),
        (12.345, 12.3),
        (0.012345, 0.0123),
        (-1234.5, -1230.0),
        (999.5, 1000.0),
        (1e-7, 1e-7),
        (0.1 + 0.2, 0.3),
        (-0.0, 0.0),
        (True, None),  # a bool is not a number here
        (None, None),
        ("12", None),
        (math.nan, None),
        (math.inf, None),
        (10**400, None),
    ],
)
def test_number_value(value: Any, expected: float | None) -> None:
    got = number_value(value)
    assert got == expected
    if got is not None:
        assert math.copysign(1, got) == math.copysign(1, expected or 1.0)


@pytest.mark.parametrize(
    "value,expected",
    [
        (None, UNKNOWN),
        (True, "yes"),
        (False, "no"),
        (19, "19"),
        (19.0, "19"),
        (2.5, "2.5"),
        ("female", "female"),
        ("", ""),
    ],
)
def test_category_value(value: Any, expected: str) -> None:
    assert category_value(value) == expected


@pytest.mark.parametrize(
    "value,expected",
    [
        (None, []),
        ("apparel", []),
        ([], []),
        (["a", "b", "a"], ["a", "b"]),  # a user counts once per item
        ([1, None, 2], ["1", "2"]),
        (("x",), ["x"]),
    ],
)
def test_list_values(value: Any, expected: list[str]) -> None:
    assert list_values(value) == expected


def test_add_counts_each_kind() -> None:
    t = Tally("a", DIMS)
    t.add(
        {
            "gender": "female",
            "high_value": True,
            "spend_total": 12.345,
            "top_categories": ["shoes", "bags"],
        },
        {0: 2.0, 1: 6.0},
    )
    t.add({"high_value": False, "spend_total": None}, {})
    t.add({"gender": None, "high_value": False, "spend_total": 7, "top_categories": []}, {5: 0.0})
    assert t.users == 3
    gender, value, spend = t.parts["gender"], t.parts["high_value"], t.parts["spend_total"]
    assert isinstance(gender, Values) and gender.counts == {"female": 1, UNKNOWN: 2}
    assert gender.known == 1
    assert isinstance(value, Values) and value.counts == {"yes": 1, "no": 2}
    assert isinstance(spend, Numbers) and spend.counts == {12.3: 1, 7.0: 1}
    assert spend.known == 2 and spend.rounded  # 12.345 became 12.3
    cats = t.parts["top_categories"]
    assert isinstance(cats, Values) and cats.counts == {"shoes": 1, "bags": 1} and cats.known == 1
    hours = t.parts["active_hours"]
    assert isinstance(hours, Hours) and hours.users == 1  # the others had no activity
    assert hours.sums[0] == 0.25 and hours.sums[1] == 0.75 and sum(hours.sums) == 1.0


def test_exact_numbers_are_not_rounded() -> None:
    t = Tally("a", DIMS)
    for spend in (0, 5, 999, 12.5):
        t.add({"spend_total": spend}, {})
    spend_part = t.parts["spend_total"]
    assert isinstance(spend_part, Numbers) and not spend_part.rounded


@pytest.mark.parametrize(
    "hours,expected,users",
    [
        ({}, {}, 0),
        ({3: 0.0}, {}, 0),
        ({3: 4.0}, {3: 1.0}, 1),
        ({0: 1.0, 167: 3.0}, {0: 0.25, 167: 0.75}, 1),
        ({0: 1.0, 168: 5.0, -1: 5.0}, {0: 1.0}, 1),  # outside the week: ignored
        ({0: 1.0, 1: -2.0, 2: math.nan, 3: math.inf}, {0: 1.0}, 1),
        ({10: 1e-300, 11: 1e-300}, {10: 0.5, 11: 0.5}, 1),
    ],
)
def test_hours_are_shares_per_user(
    hours: dict[int, float], expected: dict[int, float], users: int
) -> None:
    part = Hours()
    part.add(hours)
    assert part.users == users
    assert {h: s for h, s in enumerate(part.sums) if s} == expected


@pytest.mark.parametrize(
    "stream,expected",
    [
        (["a", "b", "c"], {"a": 1, "b": 1, "c": 1}),
        (["a", "b", "c", "d", "a", "e"], {"a": 2, "b": 1, "c": 1, OTHER: 2}),
        ([UNKNOWN, "a", "b", UNKNOWN, "c", "d"], {UNKNOWN: 2, "a": 1, "b": 1, "c": 1, OTHER: 1}),
        (["a", "b", "c", "c", "z", "z"], {"a": 1, "b": 1, "c": 2, OTHER: 2}),
    ],
)
def test_category_cap(
    monkeypatch: pytest.MonkeyPatch, stream: list[str], expected: dict[str, int]
) -> None:
    monkeypatch.setattr(tally_module, "MAX_VALUES", 3)
    part = Values()
    for value in stream:
        part.add(value)
    assert part.counts == expected
    assert part.known == sum(v != UNKNOWN for v in stream)


@pytest.mark.parametrize(
    "lists,expected",
    [
        ([["a", "b"], ["c"]], {"a": 1, "b": 1, "c": 1}),
        ([["a", "b", "c"], ["d", "e", "a"]], {"a": 2, "b": 1, "c": 1, OTHER: 1}),  # once a user
        ([["a"], ["b"], ["c"], ["d"], ["e"]], {"a": 1, "b": 1, "c": 1, OTHER: 2}),
    ],
)
def test_list_cap(
    monkeypatch: pytest.MonkeyPatch, lists: list[list[str]], expected: dict[str, int]
) -> None:
    monkeypatch.setattr(tally_module, "MAX_VALUES", 3)
    part = Values()
    for items in lists:
        part.add_list(items)
    assert part.counts == expected


def test_the_real_cap() -> None:
    t = Tally("cities", [Dimension("city", "City", "category")])
    for i in range(MAX_VALUES + 5):
        t.add({"city": f"c{i}"}, {})
    part = t.parts["city"]
    assert isinstance(part, Values)
    assert len(part.counts) == MAX_VALUES + 1 and part.counts[OTHER] == 5
    assert part.known == MAX_VALUES + 5


USERS = st.lists(
    st.tuples(
        st.fixed_dictionaries(
            {},
            optional={
                "gender": st.sampled_from(["female", "male", None]),
                "high_value": st.booleans(),
                "spend_total": st.one_of(st.none(), st.floats(-1e6, 1e6), st.integers(0, 2000)),
                "top_categories": st.lists(st.sampled_from("abcdef"), max_size=4),
            },
        ),
        st.dictionaries(st.integers(-2, 170), st.floats(0, 100), max_size=6),
    ),
    max_size=12,
)


def _fed(name: str, users: list[tuple[dict[str, Any], dict[int, float]]]) -> Tally:
    t = Tally(name, DIMS)
    for tags, hours in users:
        t.add(tags, hours)
    return t


def _same(left: Tally, right: Tally) -> None:
    a, b = left.to_json(), right.to_json()
    sums_a = a["parts"]["active_hours"].pop("sums")
    sums_b = b["parts"]["active_hours"].pop("sums")
    assert a == b
    assert sums_a == pytest.approx(sums_b, abs=1e-12)  # float sums in another order


@settings(max_examples=200, deadline=None)
@given(USERS, USERS)
def test_merge_is_one_tally_of_both_streams(first: Any, second: Any) -> None:
    a, b = _fed("a", first), _fed("b", second)
    before = a.to_json()
    _same(a.merge(b), _fed("a", first + second))
    assert a.to_json() == before  # merge makes a new tally


@settings(max_examples=100, deadline=None)
@given(USERS)
def test_json_round_trip_is_lossless(users: Any) -> None:
    t = _fed("a", users)
    back = Tally.from_json(json.loads(json.dumps(t.to_json(), allow_nan=False)))
    assert back == t and back.to_json() == t.to_json()
    assert back.dimensions == t.dimensions


def test_json_round_trip_keeps_the_cap_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tally_module, "MAX_VALUES", 2)
    t = Tally("a", DIMS)
    for g in ("male", "female"):
        t.add({"gender": g}, {})
    back = Tally.from_json(json.loads(json.dumps(t.to_json())))
    back.add({"gender": "other"}, {})
    t.add({"gender": "other"}, {})
    assert back == t


def test_merge_past_the_cap_keeps_others_other(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tally_module, "MAX_VALUES", 2)
    a, b = Tally("a", DIMS), Tally("b", DIMS)
    for g in ("x", "y"):
        a.add({"gender": g}, {})
    for g in ("z", "w", "x"):
        b.add({"gender": g}, {})  # x comes past b's cap: (other)
    part = a.merge(b).parts["gender"]
    assert isinstance(part, Values) and part.counts == {"x": 1, "y": 1, OTHER: 3}


def test_default_dimensions_take_a_model_user() -> None:
    t = Tally("all")
    assert t.dimensions == DIMENSIONS
    t.add(
        {"age_band": "25-34", "peak_hour": 19, "orders_total": 2, "top_brands": ["acme"]}, {30: 1.0}
    )
    assert Tally.from_json(t.to_json()) == t
    peak = t.parts["peak_hour"]
    assert isinstance(peak, Values) and peak.counts == {"19": 1}


def _bad_version(data: dict[str, Any]) -> None:
    data["version"] = 2


def _bad_kind(data: dict[str, Any]) -> None:
    data["dimensions"].append(["x", "X", "pie"])
    data["parts"]["x"] = {}


def _bad_hours(data: dict[str, Any]) -> None:
    data["parts"]["active_hours"]["sums"] = [0.0] * 24


@pytest.mark.parametrize("spoil", [_bad_version, _bad_kind, _bad_hours])
def test_from_json_rejects(spoil: Any) -> None:
    data = Tally("a", DIMS).to_json()
    spoil(data)
    with pytest.raises(ValueError):
        Tally.from_json(data)


def test_merge_needs_the_same_dimensions() -> None:
    with pytest.raises(ValueError):
        Tally("a", DIMS).merge(Tally("b"))
    with pytest.raises(ValueError):
        Tally("a", [DIMS[0], DIMS[0]])
