"""read_inputs: the built-in tags of ProfileModel.tags by the cheapest path, lookup shares,
manual values."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings

from profiles.model import State
from profiles.names import SEGMENTS
from profiles.rules import read_inputs
from profiles.rules.inputs import LEAN_FIELDS, reader
from profiles.timeutil import DAY_MS
from tests.unit.profiles.rules.helpers import MODEL, profiles

NAME_SETS = [
    frozenset({"high_value", "lifecycle", "top_category"}),  # recorded tags: the lean path
    frozenset({"views_30d", "spend_total", "days_since_last_seen"}),  # aggregators alone
    frozenset({"rfm_segment", "peak_hours", "views_7d"}),  # derived + plain: every tag
    frozenset(SEGMENTS),
    frozenset(),
    LEAN_FIELDS,  # the aggregators' lean methods alone
    LEAN_FIELDS | {"lifecycle", "top_brand"},  # lean methods and the lean path
    frozenset(SEGMENTS) | LEAN_FIELDS,
]


@settings(max_examples=150, deadline=None)
@given(profiles())
@pytest.mark.parametrize("names", NAME_SETS)
def test_inputs_equal_the_model_tags(names: frozenset[str], profile: tuple[State, int]) -> None:
    state, as_of = profile
    got = read_inputs(MODEL, state, as_of, names)
    full = MODEL.tags(state, as_of)
    assert {n: got[n] for n in names} == {n: full[n] for n in names}


@settings(max_examples=150, deadline=None)
@given(profiles())
def test_lookup_shares(profile: tuple[State, int]) -> None:
    state, as_of = profile
    got = read_inputs(MODEL, state, as_of, frozenset({"category_affinity", "brand_affinity"}))
    for name, agg in (("category_affinity", MODEL.categories), ("brand_affinity", MODEL.brands)):
        shares = got[name]
        scores = dict(agg.scores(getattr(state, agg.key), as_of))
        total = sum(scores.values())
        assert set(shares) == (set(scores) if total > 0 else set())
        if shares:
            assert math.isclose(sum(shares.values()), 1.0)
            assert all(0 <= s <= 1 for s in shares.values())
            assert all(math.isclose(shares[k], scores[k] / total) for k in shares)
    later = read_inputs(MODEL, state, as_of + 800 * DAY_MS, frozenset({"category_affinity"}))
    assert later["category_affinity"] == got["category_affinity"]  # exactly: no rounding drift


def test_the_lean_path_is_taken_when_it_covers_the_names() -> None:
    assert reader(MODEL, frozenset({"high_value", "lifecycle"})) == MODEL.segments
    assert reader(MODEL, frozenset({"rfm_segment", "peak_hours"})) == MODEL.tags
    assert reader(MODEL, LEAN_FIELDS) not in (MODEL.tags, MODEL.segments)


def test_manual_values_come_from_the_rules_state() -> None:
    state = MODEL.initial()
    state.rules.manual = {"vip": ["gold", 1_700_000_000_000], "score": [3, 1]}
    got = read_inputs(MODEL, state, 0, frozenset({"high_value"}))
    assert (got["vip"], got["score"], got["high_value"]) == ("gold", 3, False)


def test_tag_reader_without_names_reads_the_lean_path_and_the_hours() -> None:
    """triggers/audience.py delegates its plan here; with no names it keeps its lean read."""
    from profiles.rules.inputs import made_by, segment_tags
    from triggers.audience import tag_reader

    state = MODEL.initial()
    got = tag_reader(MODEL, ())(state, 0)
    assert set(got) == segment_tags(MODEL) | made_by(MODEL.hours)
    full = MODEL.tags(state, 0)
    assert got == {n: full[n] for n in got}
