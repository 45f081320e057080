"""The built-in tag table equals what the model produces: names, order and value types."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings

from profiles.model import ProfileModel, State
from profiles.rules.catalogue import (
    BUILTIN_TYPES,
    LOOKUP_TAGS,
    MODEL_TYPES,
    RulesError,
    TagType,
    closest,
    unknown,
)
from tests.unit.profiles.rules.helpers import profiles, tags_of


def fits(t: TagType, value: Any) -> bool:
    """Whether ``value`` is a value of type ``t`` (exact types: a bool is not an int)."""
    if value is None:
        return t.nullable
    kind = t.kind
    if kind == "int":
        return type(value) is int
    if kind == "float":
        return type(value) is float
    if kind == "number":
        return type(value) in (int, float)
    if kind == "bool":
        return type(value) is bool
    if kind == "str":
        return type(value) is str and (t.values is None or value in t.values)
    if kind == "list":
        item = TagType(t.item or "any")
        return type(value) is list and all(fits(item, v) for v in value)
    return kind == "any"


def test_the_table_names_every_model_tag_in_order() -> None:
    model = ProfileModel()
    assert list(MODEL_TYPES) == list(model.tags(model.initial(), 0))
    assert len(MODEL_TYPES) == 102
    assert set(BUILTIN_TYPES) == set(MODEL_TYPES) | set(LOOKUP_TAGS)
    assert all(BUILTIN_TYPES[n].kind == "lookup" for n in LOOKUP_TAGS)


@settings(max_examples=150, deadline=None)
@given(profiles())
def test_every_model_tag_has_its_declared_type(profile: tuple[State, int]) -> None:
    tags = tags_of(*profile)
    assert list(tags) == list(MODEL_TYPES)
    wrong = {n: v for n, v in tags.items() if not fits(MODEL_TYPES[n], v)}
    assert wrong == {}


def test_the_initial_profile_fits_too() -> None:
    model = ProfileModel()
    tags = model.tags(model.initial(), 0)
    assert {n: v for n, v in tags.items() if not fits(MODEL_TYPES[n], v)} == {}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("spend_totl", "spend_total"),
        ("lifecyle", "lifecycle"),
        ("purchases_30", "purchases_30d"),
        ("zzzz", None),
    ],
)
def test_closest_names_a_typo(name: str, expected: str | None) -> None:
    assert closest(name, BUILTIN_TYPES) == expected


def test_unknown_message() -> None:
    assert unknown("tag", "spend_totl", BUILTIN_TYPES) == (
        "unknown tag 'spend_totl' (did you mean 'spend_total'?)"
    )
    assert unknown("tag", "zzzz", BUILTIN_TYPES) == "unknown tag 'zzzz'"


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (RulesError("bad", "r.yaml", 3, 7), "r.yaml:3:7: bad"),
        (RulesError("bad", "r.yaml"), "r.yaml: bad"),
        (RulesError("bad"), "bad"),
        (RulesError("bad", "r.yaml", 3), "r.yaml:3: bad"),
    ],
)
def test_rules_error_is_one_line_with_its_place(error: RulesError, text: str) -> None:
    assert str(error) == text
    assert isinstance(error, ValueError)
