"""The audience condition language of triggers/audience.py."""

from __future__ import annotations

from typing import Any

import pytest

from profiles.model import ProfileModel
from triggers.audience import compile_condition, known_tags, tag_reader

TAGS: dict[str, Any] = {
    "high_value": True,
    "potential": False,
    "lifecycle": "active",
    "orders_180d": 3,
    "spend_30d": 250.5,
    "top_category": "shoes",
    "top_categories": ["shoes", "bags"],
    "peak_hours": [20, 12],
    "rfm_segment": None,
    "first_seen": "2024-01-02T03:04:05.000Z",
    "timezone": "Asia/Shanghai",
}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({}, True),  # no clause: everyone
        ({"high_value": True}, True),
        ({"high_value": False}, False),
        ({"high_value": 1}, False),  # a bool is not a count
        ({"orders_180d": 3}, True),
        ({"orders_180d": 3.0}, True),
        ({"lifecycle": ["active", "new"]}, True),
        ({"lifecycle": ["dormant", "churn_risk"]}, False),
        ({"rfm_segment": None}, True),
        ({"rfm_segment": [None, "loyal"]}, True),
        ({"orders_180d": {">=": 2}}, True),
        ({"orders_180d": {">=": 2, "<": 3}}, False),  # a mapping's comparisons are ANDed
        ({"orders_180d": {">": 2, "<=": 3}}, True),
        ({"spend_30d": {"<": 100}}, False),
        ({"top_category": {"!=": None}}, True),
        ({"rfm_segment": {"!=": None}}, False),
        ({"rfm_segment": {">=": "a"}}, False),  # ordering against null is false
        ({"lifecycle": {">": 3}}, False),  # ordering across types is false
        ({"first_seen": {"<": "2024-02-01"}}, True),  # RFC 3339 strings order by time
        ({"lifecycle": {"in": ["new"]}}, False),
        ({"lifecycle": {"not_in": ["new", "dormant"]}}, True),
        ({"top_categories": {"contains": "bags"}}, True),
        ({"peak_hours": {"contains": 9}}, False),
        ({"top_category": {"contains": "s"}}, False),  # contains is for list tags
        ({"high_value": True, "lifecycle": "active", "orders_180d": {">=": 5}}, False),
        ({"high_value": True, "lifecycle": "active", "orders_180d": {">=": 1}}, True),
        ({"days_since_last_purchase": {"<": 30}}, False),  # a tag absent from the map is null
    ],
)
def test_conditions(condition: dict[str, Any], expected: bool) -> None:
    assert compile_condition(condition)(TAGS) is expected


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ({"hig_value": True}, "unknown tag 'hig_value'"),
        ({"orders_180d": {"=>": 2}}, "unknown operator '=>'"),
        ({"orders_180d": {}}, "empty comparison"),
        ({"orders_180d": {">=": None}}, "needs a number or a string"),
        ({"high_value": {"<": True}}, "needs a number or a string"),
        ({"lifecycle": {"in": "active"}}, "needs a non-empty list"),
        ({"lifecycle": []}, "needs a non-empty list"),
        ({"lifecycle": [["a"]]}, "needs a scalar"),
        ({"lifecycle": {"==": {"a": 1}}}, "needs a scalar"),
        (["lifecycle"], "a condition is a mapping"),
    ],
)
def test_bad_conditions_fail_at_compile_time(condition: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compile_condition(condition)


def test_known_tags_are_the_models_and_can_be_given() -> None:
    model = ProfileModel()
    assert known_tags() == set(model.tags(model.initial(), 0))
    assert {"high_value", "lifecycle", "peak_hours", "orders_180d"} <= known_tags()
    assert compile_condition({"score": {">": 1}}, known={"score"})({"score": 2})
    with pytest.raises(ValueError, match="unknown tag 'lifecycle'"):
        compile_condition({"lifecycle": "new"}, known={"score"})


def test_a_condition_compiles_once_and_evaluates_many() -> None:
    condition = compile_condition({"lifecycle": ["new", "active"], "orders_180d": {">=": 1}})
    assert condition.tags == {"lifecycle", "orders_180d"}
    profiles = [{"lifecycle": "new", "orders_180d": n} for n in range(3)]
    assert [condition(p) for p in profiles] == [False, True, True]


def test_a_real_profile_is_evaluated_on_its_tags() -> None:
    from profiles.events import from_dict
    from tests.factories import contract_event

    model = ProfileModel()
    state = model.initial()
    t0 = 1_700_000_000_000
    for i, kind in enumerate(["view", "add_to_cart", "purchase"]):
        event = contract_event(kind, "u1", t0 + i, item_id="i1", price=300, category="shoes")
        model.apply_event(state, from_dict(event))
    tags = model.tags(state, t0 + 1000)
    assert compile_condition({"lifecycle": "new", "orders_total": 1, "top_category": "shoes"})(tags)
    assert not compile_condition({"high_value": True})(tags)


@pytest.mark.parametrize(
    "names",
    [
        (),  # only what a send time needs: peak_hours, timezone
        ("lifecycle", "high_value", "rfm_segment"),  # segments: the lean path
        ("orders_180d", "top_categories"),  # aggregator tags: those aggregators only
        ("orders_180d", "lifecycle", "cart_open_items"),  # a mix
        ("potential", "cart_to_purchase_rate"),
    ],
)
def test_the_tag_reader_reads_what_the_model_says(names: tuple[str, ...]) -> None:
    from profiles.events import from_dict
    from tests.factories import contract_event

    model = ProfileModel()
    state = model.initial()
    t0 = 1_700_000_000_000
    kinds = ["view", "view", "add_to_cart", "purchase", "search", "view", "add_to_cart"]
    for i, kind in enumerate(kinds):
        raw = contract_event(kind, "u1", t0 + i * 3_600_000, item_id=f"i{i % 3}", price=300)
        raw["context"] = {"timezone": "Asia/Shanghai"}
        model.apply_event(state, from_dict(raw))
    model.settle(state)
    as_of = t0 + 40 * 86_400_000
    full = model.tags(state, as_of)
    got = tag_reader(model, names)(state, as_of)
    for name in (*names, "peak_hours", "timezone"):
        assert got[name] == full[name], name


def test_the_tag_reader_takes_the_full_path_only_when_needed() -> None:
    model = ProfileModel()
    assert tag_reader(model, ("lifecycle", "rfm")) != model.tags  # segments
    assert tag_reader(model, ("orders_180d",)) != model.tags  # one aggregator
    assert tag_reader(model, ("lifecycle", "orders_180d")) == model.tags  # derived + other
