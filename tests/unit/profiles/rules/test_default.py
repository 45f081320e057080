"""The default pack: the seeds' layers as rules equal the built-in high_value / potential /
churn_risk on random profiles, with the thresholds of profile.layers' defaults."""

from __future__ import annotations

from dataclasses import fields

from hypothesis import given, settings
from hypothesis import strategies as st

from profiles.config import LayerConfig
from profiles.model import State
from profiles.rules import default_rules, read_inputs
from profiles.rules.nodes import clauses
from tests.unit.profiles.rules.helpers import MODEL, layer_profiles, profiles

SEEN: set[str] = set()  # the layers the property met (a test below asserts it met each)


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
    SEEN.update(n for n in ("high_value", "potential", "churn_risk") if builtin[n])
    SEEN.update(s for s in segments if not s.startswith("layer_"))
    flags = {f"layer_{n}" for n in ("high_value", "potential", "churn_risk") if builtin[n]}
    assert {s for s in segments if s.startswith("layer_")} == flags
    assert ("repeat_buyers" in segments) is (builtin["orders_total"] >= 2)
    days = builtin["days_since_last_purchase"]
    lapsed = builtin["orders_total"] >= 1 and days is not None and days >= 30
    assert ("lapsed_buyers" in segments) is lapsed


def test_the_property_met_every_layer() -> None:
    """Runs after the property (file order): an equality that never met a layer proves little."""
    if not SEEN:
        test_the_pack_layers_equal_the_builtin_ones()
    assert {"high_value", "potential", "churn_risk", "repeat_buyers", "lapsed_buyers"} <= SEEN


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
