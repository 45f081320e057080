"""The compiled form of a condition equals the plain reference interpreter (and explain's
verdict) on random conditions over random tag values: trees of all / any / not and clauses of
every operator, over values of every type (null, bools, ints, floats, strings, lists, lookups),
including values of the wrong type (what a manual tag or a stale value may hold)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from profiles.rules.catalogue import BUILTIN_TYPES, TagType
from profiles.rules.conditions import (
    All,
    AnyOf,
    Clause,
    Node,
    Not,
    compile_node,
    explain,
    interpret,
    parse_condition,
)
from profiles.rules.fused import fuse_node
from profiles.rules.nodes import OPERATORS, ORDERING

TAGS = ("a", "b", "c", "d")  # plain tags
LOOKUPS = ("shares",)
KEYS = ("baby", "toys", "x")
# Few distinct values, so that equal ones meet often; 1, 1.0 and True side by side.
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 3),
    st.sampled_from((0.0, 0.5, 1.0, 2.5, -1.5)),
    st.sampled_from(("", "a", "b", "2024-01-01")),
)
NUMBERS = st.one_of(st.integers(-2, 3), st.sampled_from((0.0, 0.5, 1.0, 2.5)))
VALUES = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=4),
    st.tuples(SCALARS, SCALARS),
    st.dictionaries(st.sampled_from(KEYS), NUMBERS, max_size=3),
)


@st.composite
def clauses(draw: st.DrawFn) -> Clause:
    op = draw(st.sampled_from(OPERATORS))
    if draw(st.booleans()):
        tag, key = draw(st.sampled_from(LOOKUPS)), draw(st.sampled_from(KEYS))
    else:
        tag, key = draw(st.sampled_from(TAGS)), None
    operand: Any
    if op in ORDERING:
        operand = draw(st.one_of(NUMBERS, st.sampled_from(("a", "b", "2024-01-01"))))
    elif op in ("in", "not_in"):
        operand = tuple(draw(st.lists(SCALARS, min_size=1, max_size=4)))
    else:
        operand = draw(SCALARS)
    return Clause(tag, key, op, operand)


def trees(leaves: st.SearchStrategy[Clause]) -> st.SearchStrategy[Node]:
    def extend(inner: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
        children = st.lists(inner, max_size=4).map(tuple)
        return st.one_of(children.map(All), children.map(AnyOf), inner.map(Not))

    return st.recursive(leaves, extend, max_leaves=12)


ENVS = st.dictionaries(st.sampled_from((*TAGS, *LOOKUPS)), VALUES)


@settings(max_examples=3000, deadline=None)
@given(trees(clauses()), ENVS)
def test_compiled_equals_the_reference(node: Node, tags: dict[str, Any]) -> None:
    verdict = interpret(node, tags)
    assert compile_node(node)(tags) is verdict
    assert fuse_node(node)(tags) is verdict
    assert explain(node, tags)[0].held is verdict


# The same through the parser: random specs over the built-in tags' types, random values.
TYPED = {
    "orders_total": TagType("int"),
    "spend_total": TagType("float"),
    "days_since_last_purchase": TagType("int", nullable=True),
    "high_value": TagType("bool"),
    "top_category": TagType("str", nullable=True),
    "top_categories": TagType("list", item="str"),
    "category_affinity": TagType("lookup"),
    "tier": TagType("any", nullable=True),
}
assert all(BUILTIN_TYPES[n] == t for n, t in TYPED.items() if n != "tier")


@st.composite
def typed_clause(draw: st.DrawFn) -> dict[str, Any]:
    tag = draw(st.sampled_from(sorted(TYPED)))
    kind = TYPED[tag].kind
    if kind in ("int", "float"):
        op = draw(st.sampled_from(("==", "!=", *ORDERING, "in", "not_in")))
        members = st.lists(NUMBERS, min_size=1, max_size=3)
        operand: Any = draw(members) if op in ("in", "not_in") else draw(NUMBERS)
        if tag == "days_since_last_purchase" and op in ("==", "!=") and draw(st.booleans()):
            operand = None
        return {tag: {op: operand}}
    if kind == "bool":
        return {tag: draw(st.booleans())}
    if kind == "str":
        names = st.sampled_from(("shoes", "bags", None))
        return {tag: draw(st.one_of(names, st.lists(names, min_size=1, max_size=2)))}
    if kind == "list":
        return {tag: {"contains": draw(st.sampled_from(("shoes", "bags")))}}
    if kind == "lookup":
        op = draw(st.sampled_from(("==", "!=", *ORDERING)))
        return {tag: {draw(st.sampled_from(KEYS)): {op: draw(NUMBERS)}}}
    op = draw(st.sampled_from(OPERATORS))
    if op in ORDERING:
        return {tag: {op: draw(st.one_of(NUMBERS, st.just("b")))}}
    return {
        tag: {op: draw(st.lists(SCALARS, min_size=1)) if op in ("in", "not_in") else draw(SCALARS)}
    }


def specs() -> st.SearchStrategy[dict[str, Any]]:
    def extend(inner: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
        some = st.lists(inner, min_size=1, max_size=3)
        return st.one_of(
            some.map(lambda c: {"all": c}),
            some.map(lambda c: {"any": c}),
            inner.map(lambda c: {"not": c}),
        )

    return st.recursive(typed_clause(), extend, max_leaves=8)


TYPED_ENVS = st.fixed_dictionaries(
    {},
    optional={
        "orders_total": st.integers(0, 3),
        "spend_total": NUMBERS,
        "days_since_last_purchase": st.one_of(st.none(), st.integers(0, 3)),
        "high_value": st.booleans(),
        "top_category": st.sampled_from(("shoes", "bags", None)),
        "top_categories": st.lists(st.sampled_from(("shoes", "bags", "hats")), max_size=2),
        "category_affinity": st.dictionaries(st.sampled_from(KEYS), NUMBERS, max_size=3),
        "tier": VALUES,
    },
)


@settings(max_examples=1500, deadline=None)
@given(specs(), TYPED_ENVS)
def test_parsed_conditions_compile_to_the_reference(
    spec: dict[str, Any], tags: dict[str, Any]
) -> None:
    node = parse_condition(spec, TYPED)
    verdict = interpret(node, tags)
    assert compile_node(node)(tags) is verdict
    assert fuse_node(node)(tags) is verdict


def test_a_condition_too_deep_to_fuse_falls_back_to_closures() -> None:
    node: Node = Clause("a", None, "==", 1)
    for _ in range(400):
        node = Not(node)
    holds = fuse_node(node)
    assert holds({"a": 1}) is interpret(node, {"a": 1}) is True
    assert holds({"a": 2}) is False
