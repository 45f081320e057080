"""The condition language: each operator and combinator (compiled and interpreted), the parse
errors, and explain."""

# ruff: noqa: E501  (the error tables keep one case per line: message, place, input)

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import pytest

from profiles.rules.catalogue import BUILTIN_TYPES, RulesError, TagType
from profiles.rules.conditions import (
    All,
    AnyOf,
    Clause,
    Explained,
    Not,
    compile_node,
    explain,
    interpret,
    parse_condition,
)
from profiles.rules.fused import fuse_node

TYPES: dict[str, TagType] = {
    **BUILTIN_TYPES,
    "tier": TagType("any", nullable=True),  # a manual tag without declared values
}


def check(spec: object, tags: dict[str, Any]) -> bool:
    """The verdict, after asserting that the closures, the fused function, the reference
    interpreter and explain agree."""
    node = parse_condition(spec, TYPES)
    verdict = compile_node(node)(tags)
    assert interpret(node, tags) is verdict
    assert fuse_node(node)(tags) is verdict
    assert explain(node, tags)[0].held is verdict
    return verdict


# (condition, tags, holds)
OPERATORS = [
    # == : scalars, null; a bool is not a number
    ({"high_value": True}, {"high_value": True}, True),
    ({"high_value": True}, {"high_value": False}, False),
    ({"high_value": {"==": False}}, {"high_value": False}, True),
    ({"orders_total": 1}, {"orders_total": 1}, True),
    ({"orders_total": 1}, {"orders_total": True}, False),
    ({"spend_total": 100}, {"spend_total": 100.0}, True),
    ({"tier": 1}, {"tier": True}, False),
    ({"tier": True}, {"tier": 1}, False),
    ({"top_category": None}, {"top_category": None}, True),
    ({"top_category": None}, {}, True),
    ({"top_category": None}, {"top_category": "shoes"}, False),
    ({"lifecycle": "new"}, {"lifecycle": "new"}, True),
    ({"lifecycle": "new"}, {"lifecycle": "active"}, False),
    # != : the negation, true with null and other types
    ({"top_category": {"!=": None}}, {"top_category": "shoes"}, True),
    ({"top_category": {"!=": None}}, {"top_category": None}, False),
    ({"orders_total": {"!=": 1}}, {"orders_total": True}, True),
    ({"lifecycle": {"!=": "new"}}, {"lifecycle": None}, True),
    # ordering: numbers with numbers; null, bools and strings are false
    ({"orders_180d": {">=": 2}}, {"orders_180d": 2}, True),
    ({"orders_180d": {">=": 2}}, {"orders_180d": 1}, False),
    ({"orders_180d": {">": 2}}, {"orders_180d": 2}, False),
    ({"orders_180d": {"<": 2}}, {"orders_180d": 1}, True),
    ({"orders_180d": {"<=": 2}}, {"orders_180d": 2}, True),
    ({"days_since_last_purchase": {"<": 30}}, {"days_since_last_purchase": None}, False),
    ({"days_since_last_purchase": {">=": 30}}, {"days_since_last_purchase": None}, False),
    ({"tier": {">": 0}}, {"tier": True}, False),
    ({"tier": {">": 0}}, {"tier": "1"}, False),
    ({"spend_30d": {">": 0.5}}, {"spend_30d": 1}, True),
    # ordering of RFC 3339 times: strings with strings
    ({"first_seen": {"<": "2024-01-01"}}, {"first_seen": "2023-12-31T10:00:00Z"}, True),
    ({"first_seen": {"<": "2024-01-01"}}, {"first_seen": None}, False),
    ({"tier": {">=": "b"}}, {"tier": "c"}, True),
    ({"tier": {">=": "b"}}, {"tier": 3}, False),
    # in / not_in (a list is in)
    ({"lifecycle": ["active", "new"]}, {"lifecycle": "new"}, True),
    ({"lifecycle": {"in": ["active", "new"]}}, {"lifecycle": "dormant"}, False),
    ({"lifecycle": {"in": ["active", None]}}, {"lifecycle": None}, True),
    ({"lifecycle": {"not_in": ["active", "new"]}}, {"lifecycle": None}, True),
    ({"lifecycle": {"not_in": ["active", "new"]}}, {"lifecycle": "new"}, False),
    ({"rfm_r": [4, 5]}, {"rfm_r": 5}, True),
    ({"tier": [1, 2]}, {"tier": True}, False),
    ({"tier": [True]}, {"tier": 1}, False),
    ({"tier": [True]}, {"tier": True}, True),
    ({"tier": [1]}, {"tier": 1.0}, True),
    ({"tier": ["a"]}, {"tier": ["a"]}, False),
    ({"tier": {"not_in": ["a"]}}, {"tier": {"a": 1}}, True),
    # contains: list tags
    ({"top_categories": {"contains": "shoes"}}, {"top_categories": ["bags", "shoes"]}, True),
    ({"top_categories": {"contains": "shoes"}}, {"top_categories": []}, False),
    ({"peak_hours": {"contains": 20}}, {"peak_hours": [9, 20]}, True),
    ({"peak_hours": {"contains": 1}}, {"peak_hours": [True]}, False),
    ({"tier": {"contains": True}}, {"tier": [1, True]}, True),
    ({"tier": {"contains": "a"}}, {"tier": "a"}, False),
    ({"tier": {"contains": None}}, {"tier": [None]}, True),
    # several operators of one tag: all hold
    ({"orders_180d": {">=": 2, "<": 10}}, {"orders_180d": 5}, True),
    ({"orders_180d": {">=": 2, "<": 10}}, {"orders_180d": 10}, False),
    # lookup tags: a key's share, 0 when missing
    ({"category_affinity": {"baby": {">": 0.5}}}, {"category_affinity": {"baby": 0.6}}, True),
    ({"category_affinity": {"baby": {">": 0.5}}}, {"category_affinity": {"toys": 0.9}}, False),
    ({"category_affinity": {"baby": {"<": 0.1}}}, {"category_affinity": {}}, True),
    ({"category_affinity": {"baby": 0}}, {"category_affinity": {}}, True),
    ({"category_affinity": {"baby": {"<": 0.1}}}, {}, False),
    (
        {"category_affinity": {"baby": {">": 0.5}}},
        {"category_affinity": OrderedDict(baby=0.9)},
        True,
    ),
    (
        {"brand_affinity": {"acme": {">=": 0.2}, "zeta": {"<": 0.2}}},
        {"brand_affinity": {"acme": 0.5, "zeta": 0.1}},
        True,
    ),
]


@pytest.mark.parametrize(("spec", "tags", "holds"), OPERATORS)
def test_operators(spec: object, tags: dict[str, Any], holds: bool) -> None:
    assert check(spec, tags) is holds


A = {"orders_total": {">=": 2}}
B = {"lifecycle": "active"}
YES = {"orders_total": 3, "lifecycle": "active"}
HALF = {"orders_total": 3, "lifecycle": "new"}
NO = {"orders_total": 0, "lifecycle": "new"}
COMBINATORS = [
    ({}, NO, True),  # the empty condition always holds
    ({**A, **B}, YES, True),  # a mapping is an AND
    ({**A, **B}, HALF, False),
    ({"all": [A, B]}, YES, True),
    ({"all": [A, B]}, HALF, False),
    ({"any": [A, B]}, HALF, True),
    ({"any": [A, B]}, NO, False),
    ({"not": A}, NO, True),
    ({"not": A}, YES, False),
    ({"not": {"not": A}}, YES, True),
    ({"any": [{"all": [A, B]}, {"not": B}]}, HALF, True),
    ({"any": [{"all": [A, B]}, {"not": A}]}, HALF, False),
    ({"all": [A, {"any": [B, {"not": {"any": [A]}}]}]}, YES, True),
    ({"all": [A, B, {"not": {"lifecycle": "new"}}]}, YES, True),
    ({"any": [B, {"lifecycle": "dormant"}, {"orders_total": 7}]}, NO, False),
    ({**A, "not": B}, HALF, True),
    ({**A, "any": [B], "all": [A]}, YES, True),
]


@pytest.mark.parametrize(("spec", "tags", "holds"), COMBINATORS)
def test_combinators(spec: object, tags: dict[str, Any], holds: bool) -> None:
    assert check(spec, tags) is holds


def test_the_tree() -> None:
    node = parse_condition({"spend_total": {">=": 100}, "not": {"lifecycle": ["new"]}}, TYPES)
    assert node == All(
        (Clause("spend_total", None, ">=", 100), Not(Clause("lifecycle", None, "in", ("new",))))
    )
    lookup = parse_condition({"any": [{"category_affinity": {"baby": {">": 0.5}}}]}, TYPES)
    assert lookup == AnyOf((Clause("category_affinity", "baby", ">", 0.5),))


ERRORS = [
    ({"spend_totl": {">=": 1}}, ("spend_totl",), "unknown tag 'spend_totl' (did you mean 'spend_total'?)"),
    ({"zzz": 1}, ("zzz",), "unknown tag 'zzz'"),
    ([{"a": 1}], (), "a condition is a mapping of tag to clause (or all/any/not), not a list"),
    ({"high_value": {">": 1}}, ("high_value", ">"), "high_value: > needs a number tag; high_value is bool"),
    ({"lifecycle": {"<": "new"}}, ("lifecycle", "<"), "lifecycle: < needs a number tag; lifecycle is str (new, active, dormant, churn_risk) or null"),
    ({"spend_total": "a"}, ("spend_total",), 'spend_total: == "a" compares a string with float'),
    ({"spend_total": {">": "a"}}, ("spend_total", ">"), 'spend_total: > "a" compares a string with float'),
    ({"spend_total": {">": None}}, ("spend_total", ">"), "spend_total: > null compares null with float"),
    ({"spend_total": {">": True}}, ("spend_total", ">"), "spend_total: > true compares a bool with float"),
    ({"high_value": 1}, ("high_value",), "high_value: == 1 compares a number with bool"),
    ({"city": 3}, ("city",), "city: == 3 compares a number with str or null"),
    ({"spend_total": None}, ("spend_total",), "spend_total: == null never holds, spend_total is float"),
    ({"lifecycle": "actve"}, ("lifecycle",), "lifecycle: \"actve\" is not a value of lifecycle (did you mean 'active'?)"),
    ({"lifecycle": ["new", "x"]}, ("lifecycle", 1), 'lifecycle: "x" is not a value of lifecycle (one of new, active, dormant, churn_risk)'),
    ({"lifecycle": []}, ("lifecycle",), "lifecycle: in needs a non-empty list, not []"),
    ({"lifecycle": {"in": "new"}}, ("lifecycle", "in"), 'lifecycle: in needs a non-empty list, not "new"'),
    ({"lifecycle": {"==": ["new"]}}, ("lifecycle", "=="), 'lifecycle: == needs a scalar, not ["new"]'),
    ({"spend_total": {"foo": 1}}, ("spend_total", "foo"), "spend_total: unknown operator 'foo': spend_total is not a lookup tag (lookup tags: category_affinity, brand_affinity)"),
    ({"spend_total": {"=>": 1}}, ("spend_total", "=>"), "spend_total: unknown operator '=>' (did you mean '>='?)"),
    ({"spend_total": {}}, ("spend_total",), "spend_total: an empty mapping of operators"),
    ({"top_categories": "shoes"}, ("top_categories",), "top_categories is a list: use contains (and not: for its negation)"),
    ({"top_categories": {"contains": 3}}, ("top_categories", "contains"), "top_categories: contains 3 compares a number with str"),
    ({"lifecycle": {"contains": "new"}}, ("lifecycle", "contains"), "lifecycle: contains needs a list tag; lifecycle is str (new, active, dormant, churn_risk) or null"),
    ({"category_affinity": {">": 0.5}}, ("category_affinity", ">"), 'category_affinity is a lookup tag: name a key before the operator, e.g. {category_affinity: {some_key: {">": 0.5}}}'),
    ({"category_affinity": 0.5}, ("category_affinity",), 'category_affinity is a lookup tag: give a key and a clause, e.g. {category_affinity: {some_key: {">": 0.5}}}'),
    ({"category_affinity": {"baby": "x"}}, ("category_affinity", "baby"), 'category_affinity.baby: == "x" compares a string with float'),
    ({"category_affinity": {"baby": {"contains": 1}}}, ("category_affinity", "baby", "contains"), "category_affinity.baby: contains needs a list tag; category_affinity.baby is float"),
    ({"all": []}, ("all",), "all needs a non-empty list of conditions"),
    ({"any": {"a": 1}}, ("any",), "any needs a non-empty list of conditions"),
    ({"any": [A, "x"]}, ("any", 1), "a condition is a mapping of tag to clause (or all/any/not), not a string"),
    ({"not": [A]}, ("not",), "a condition is a mapping of tag to clause (or all/any/not), not a list"),
    ({"all": [{"not": {"spend_totl": 1}}]}, ("all", 0, "not", "spend_totl"), "unknown tag 'spend_totl' (did you mean 'spend_total'?)"),
    ({"anyy": [A]}, ("anyy",), "unknown tag 'anyy' (did you mean 'any'?)"),
]  # fmt: skip


@pytest.mark.parametrize(("spec", "path", "message"), ERRORS)
def test_errors(spec: object, path: tuple[Any, ...], message: str) -> None:
    with pytest.raises(RulesError) as caught:
        parse_condition(spec, TYPES)
    assert caught.value.message == message
    assert caught.value.path == path
    assert str(caught.value) == message  # no source, no line: the message alone


def test_where_prefixes_the_message() -> None:
    with pytest.raises(RulesError, match=r"^segment x: unknown tag 'zzz'$"):
        parse_condition({"zzz": 1}, TYPES, "segment x")


def test_explain_shows_every_clause_with_the_value() -> None:
    spec = {"spend_total": {">=": 100}, "any": [{"lifecycle": ["active", "new"]},
            {"not": {"category_affinity": {"baby": {">": 0.5}}}}]}  # fmt: skip
    tags = {"spend_total": 200.0, "lifecycle": "dormant", "category_affinity": {"baby": 0.2}}
    assert explain(parse_condition(spec, TYPES), tags) == [
        Explained(0, "all of", None, True),
        Explained(1, "spend_total >= 100", 200.0, True),
        Explained(1, "any of", None, True),
        Explained(2, 'lifecycle in ["active", "new"]', "dormant", False),
        Explained(2, "not", None, True),
        Explained(3, "category_affinity.baby > 0.5", 0.2, False),
    ]
    assert explain(parse_condition({}, TYPES), {}) == [Explained(0, "always", None, True)]
