"""The compiled and fused forms equal the reference interpreter on random *profiles* (generated
events applied to the model, read through read_inputs) and random conditions over every
built-in tag, typed as the catalogue says; and a rule set built of such a condition evaluates
as the interpreter does."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from profiles.model import State
from profiles.rules import BUILTIN_TYPES, TagType, compile_node, interpret, parse_condition
from profiles.rules.fused import fuse_node
from profiles.rules.nodes import ORDERING
from profiles.rules.parse import parse_mapping
from tests.unit.profiles.rules.helpers import MODEL, layer_profiles, profiles

NAMES = frozenset(BUILTIN_TYPES)
NUMBERS = st.one_of(st.integers(0, 6), st.sampled_from((0.0, 0.5, 1.0, 9.99, 42.0, 180.0)))
WORDS = ("tools", "women dress", "men shaver", "acme", "zeta", "web", "ios", "UTC", "Lyon", "f")
TIMES = ("2024-01-01", "2024-05-20T10:00:00.000Z", "2025")


def _nullable(t: TagType, value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), value) if t.nullable else value


@st.composite
def clause(draw: st.DrawFn) -> dict[str, Any]:
    tag = draw(st.sampled_from(sorted(NAMES)))
    t = BUILTIN_TYPES[tag]
    if t.kind in ("int", "float", "number"):
        op = draw(st.sampled_from(("==", "!=", *ORDERING, "in", "not_in")))
        if op in ("in", "not_in"):
            return {tag: {op: draw(st.lists(_nullable(t, NUMBERS), min_size=1, max_size=3))}}
        if op in ORDERING:
            return {tag: {op: draw(NUMBERS)}}
        return {tag: {op: draw(_nullable(t, NUMBERS))}}
    if t.kind == "bool":
        return {tag: draw(_nullable(t, st.booleans()))}
    if t.kind == "list":
        item = NUMBERS if t.item == "int" else st.sampled_from(WORDS)
        return {tag: {"contains": draw(item)}}
    if t.kind == "lookup":
        op = draw(st.sampled_from(("==", "!=", *ORDERING)))
        return {tag: {draw(st.sampled_from(WORDS)): {op: draw(NUMBERS)}}}
    words = st.sampled_from(t.values or WORDS)
    if t.ordered and draw(st.booleans()):
        return {tag: {draw(st.sampled_from(ORDERING)): draw(st.sampled_from(TIMES))}}
    op = draw(st.sampled_from(("==", "!=", "in", "not_in")))
    if op in ("in", "not_in"):
        return {tag: {op: draw(st.lists(_nullable(t, words), min_size=1, max_size=3))}}
    return {tag: {op: draw(_nullable(t, words))}}


def conditions() -> st.SearchStrategy[dict[str, Any]]:
    def extend(inner: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
        some = st.lists(inner, min_size=1, max_size=3)
        return st.one_of(
            some.map(lambda c: {"all": c}),
            some.map(lambda c: {"any": c}),
            inner.map(lambda c: {"not": c}),
            st.tuples(inner, inner).map(lambda p: {**p[0], **p[1]}),
        )

    return st.recursive(clause(), extend, max_leaves=10)


@settings(max_examples=600, deadline=None)
@given(conditions(), st.one_of(profiles(), layer_profiles()))
def test_compiled_equals_the_reference_on_profiles(
    spec: dict[str, Any], profile: tuple[State, int]
) -> None:
    from profiles.rules import read_inputs

    node = parse_condition(spec, BUILTIN_TYPES)
    tags = read_inputs(MODEL, profile[0], profile[1], NAMES)
    verdict = interpret(node, tags)
    assert compile_node(node)(tags) is verdict
    assert fuse_node(node)(tags) is verdict
    rules = parse_mapping(
        {
            "tags": [{"name": "t", "path": "x", "rule": spec}],
            "segments": [{"name": "s", "where": {"t": True}}],
        }
    )
    assert rules.evaluate(tags) == ({"t": verdict}, ["s"] if verdict else [])
