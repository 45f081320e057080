"""The default pack: the seeds' layers as rules equal the built-in high_value / potential /
churn_risk on random profiles, with the thresholds of profile.layers' defaults."""

from __future__ import annotations

from dataclasses import fields

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from profiles.config import LayerConfig
from profiles.model import State
from profiles.rules import default_rules, read_inputs
from profiles.rules.nodes import clauses
from profiles.timeutil import DAY_MS
from tests.unit.profiles.rules.helpers import MODEL, layer_profiles, profiles
from tests.unit.profiles.test_model import T0, E


@settings(max_examples=400, deadline=None)
@given(st.one_of(profiles(), layer_profiles()))
def test_the_pack_layers_equal_the_builtin_ones(profile: tuple[State, int]) -> None:
    state, as_of = profile
    rules = default_rules()
    builtin = MODEL.tags(state, as_of)
    inputs = read_inputs(MODEL, state, as_of, rules.inputs)
    values, segments = rules.evaluate(inputs)
    assert rules.evaluate_closures(dict(inputs)) == (values, segments)  # fused == closures
    assert values["is_high_value"] is builtin["high_value"]
    assert values["is_potential"] is builtin["potential"]
    assert values["is_churn_risk"] is builtin["churn_risk"]
    first = next((n for n in ("high_value", "potential", "churn_risk") if builtin[n]), "regular")
    assert values["value_layer"] == first
    flags = {f"layer_{n}" for n in ("high_value", "potential", "churn_risk") if builtin[n]}
    assert {s for s in segments if s.startswith("layer_")} == flags
    assert ("repeat_buyers" in segments) is (builtin["orders_total"] >= 2)
    days = builtin["days_since_last_purchase"]
    lapsed = builtin["orders_total"] >= 1 and days is not None and days >= 30
    assert ("lapsed_buyers" in segments) is lapsed


def hand_made(kind: str) -> tuple[State, int]:
    """A profile in one layer, built by hand (the property may not meet every layer)."""
    events = {
        "high_value": [E("purchase", T0, revenue=3000.0, order_id="a"),
                       E("purchase", T0 + DAY_MS, revenue=2500.0, order_id="b")],
        "first_order": [E("purchase", T0, revenue=300.0, order_id="a")],
        "cart_adds": [E("add_to_cart", T0 + i, item_id=f"s{i}") for i in range(5)],
        "churn_risk": [E("view", T0)],
        "repeat": [E("purchase", T0, revenue=50.0, order_id="a"),
                   E("purchase", T0 + DAY_MS, revenue=60.0, order_id="b")],
    }[kind]  # fmt: skip
    state = MODEL.initial()
    for event in events:
        MODEL.apply_event(state, event)
    MODEL.settle(state)
    return state, T0 + (200 * DAY_MS if kind == "churn_risk" else DAY_MS)


@pytest.mark.parametrize(
    ("kind", "layer", "segments"),
    [
        ("high_value", "high_value", ["layer_high_value", "repeat_buyers"]),
        ("first_order", "potential", ["layer_potential"]),
        ("cart_adds", "potential", ["layer_potential"]),
        ("churn_risk", "churn_risk", ["layer_churn_risk"]),
        ("repeat", "regular", ["repeat_buyers"]),
    ],
)
def test_each_layer_by_hand(kind: str, layer: str, segments: list[str]) -> None:
    state, as_of = hand_made(kind)
    builtin = MODEL.tags(state, as_of)
    rules = default_rules()
    values, members = rules.evaluate(read_inputs(MODEL, state, as_of, rules.inputs))
    assert values["value_layer"] == layer
    assert layer == "regular" or builtin[layer] is True
    assert members == sorted(segments)
    later = as_of + 40 * DAY_MS  # no purchase for 30 days: lapsed, by time alone
    _, members = rules.evaluate(read_inputs(MODEL, state, later, rules.inputs))
    assert ("lapsed_buyers" in members) is (builtin["orders_total"] >= 1)


def test_the_pack_spells_the_default_thresholds() -> None:
    """Every default threshold of LayerConfig the layers read appears in the pack (the
    equality above holds them in meaning; this that the numbers are the config's)."""
    rules = default_rules()
    operands = {
        c.operand
        for t in rules.tags
        for node in t.conditions()
        for c in clauses(node)
        if isinstance(c.operand, int | float)
    }
    config = LayerConfig()
    read = {"high_value_spend_30d", "high_value_orders_180d", "potential_first_order_min",
            "potential_first_order_max", "potential_cart_adds_30d", "potential_views_30d",
            "churn_risk_days", "churn_risk_max_orders"}  # fmt: skip
    assert read <= {f.name for f in fields(LayerConfig)}
    assert {getattr(config, name) for name in read} <= operands


def test_the_pack_loads_with_its_taxonomy_and_day_marks() -> None:
    rules = default_rules()
    assert [t.name for t in rules.tags] == ["is_high_value", "is_potential", "is_churn_risk",
                                            "value_layer"]  # fmt: skip
    assert {t.path for t in rules.tags} == {("consumption", "layer")}
    assert [s.name for s in rules.segments] == ["layer_high_value", "layer_potential",
        "layer_churn_risk", "repeat_buyers", "lapsed_buyers"]  # fmt: skip
    assert rules.day_marks == {180, 181, 30, 31}
    assert default_rules() is rules  # loaded once
