"""RuleSet: evaluate, explain, manual tags, day marks, and the cost of an evaluation."""

from __future__ import annotations

import timeit
from typing import Any

import pytest

from profiles.rules import Explained, RulesError, load_rules
from profiles.rules.catalogue import MODEL_TYPES
from profiles.rules.nodes import Clause
from profiles.rules.ruleset import day_marks

RULES = """\
tags:
  - name: big_spender
    path: consumption/value
    rule: {spend_total: {">=": 100}}
  - name: sensitivity
    path: preference/price
    buckets:
      - [high, {coupon_share: {">=": 0.5}}]
      - [medium, {price_ratio: {"<": 1.0}}]
  - name: parent
    path: attributes/family
    model: {kind: logistic, features: {"category_affinity.baby": 2.0}, intercept: -1.0}
  - name: tier
    path: marketing/manual
    manual: {}
  - name: level
    path: marketing/manual
    manual: {values: [1, 2, 3], default: 1}
segments:
  - name: vip_spenders
    where: {big_spender: true, tier: {"!=": null}}
  - name: a_first
    where: {level: {">=": 2}}
"""


@pytest.mark.parametrize(
    ("tags", "values", "segments"),
    [
        ({}, {"big_spender": False, "sensitivity": None, "parent": 0.268941, "tier": None,
              "level": 1}, []),
        ({"spend_total": 100.0, "tier": "gold", "level": 3, "coupon_share": 0.5},
         {"big_spender": True, "sensitivity": "high", "parent": 0.268941, "tier": "gold",
          "level": 3}, ["a_first", "vip_spenders"]),
        ({"tier": 7, "level": 9, "price_ratio": 0.9, "category_affinity": {"baby": 0.5}},
         {"big_spender": False, "sensitivity": "medium", "parent": 0.5, "tier": 7, "level": 1},
         []),
        ({"level": True}, {"big_spender": False, "sensitivity": None, "parent": 0.268941,
                           "tier": None, "level": 1}, []),  # a bool is not the number 1
        ({"level": [2]}, {"big_spender": False, "sensitivity": None, "parent": 0.268941,
                          "tier": None, "level": 1}, []),  # unhashable: the default
        ({"level": 2.0}, {"big_spender": False, "sensitivity": None, "parent": 0.268941,
                          "tier": None, "level": 2.0}, ["a_first"]),  # 2.0 is the number 2
        ({"tier": [1]}, {"big_spender": False, "sensitivity": None, "parent": 0.268941,
                         "tier": [1], "level": 1}, []),  # any value: kept as set
    ],
)  # fmt: skip
def test_evaluate(tags: dict[str, Any], values: dict[str, Any], segments: list[str]) -> None:
    rules = load_rules(RULES)
    assert rules.evaluate(tags) == (values, segments)
    assert rules.evaluate_closures(dict(tags)) == (values, segments)
    assert tags.get("big_spender") is None  # the input is not written to


def test_explain_a_segment_a_rule_buckets_a_model_a_manual_tag() -> None:
    rules = load_rules(RULES)
    tags = {"spend_total": 150.0, "tier": None, "price_ratio": 0.9, "category_affinity": {}}
    assert rules.explain("vip_spenders", tags) == [
        Explained(0, "all of", None, False),
        Explained(1, "big_spender == true", True, True),
        Explained(1, "tier != null", None, False),
    ]
    assert rules.explain("big_spender", tags) == [Explained(0, "spend_total >= 100", 150.0, True)]
    assert rules.explain("sensitivity", tags) == [
        Explained(0, "sensitivity: the first bucket that holds", "medium", True),
        Explained(1, "bucket high", None, False),
        Explained(2, "coupon_share >= 0.5", None, False),
        Explained(1, "bucket medium", None, True),
        Explained(2, "price_ratio < 1.0", 0.9, True),
    ]
    assert rules.explain("parent", tags) == [
        Explained(0, "parent = logistic(-1.0 + ...)", 0.268941, True),
        Explained(1, "category_affinity.baby x 2.0", 0.0, True),
    ]
    assert rules.explain("tier", tags) == [Explained(0, "tier set by hand", None, False)]
    with pytest.raises(
        RulesError, match=r"^unknown tag or segment 'big_spendr' \(did you mean 'big_spender'\?\)$"
    ):
        rules.explain("big_spendr", tags)


@pytest.mark.parametrize(
    ("clauses", "marks"),
    [
        ([Clause("days_since_last_purchase", None, ">=", 30)], {30, 31}),
        ([Clause("days_since_last_seen", None, "<", 7)], {7, 8}),
        ([Clause("days_since_first_seen", None, ">", 2.5)], {2, 3}),
        ([Clause("days_since_first_seen", None, "==", 3)], {3, 4}),
        ([Clause("days_since_first_seen", None, "==", 3.5)], set()),  # never equal a day count
        ([Clause("days_since_first_seen", None, "in", (1, None, 5))], {1, 2, 5, 6}),
        ([Clause("days_since_first_seen", None, "!=", None)], set()),
        ([Clause("days_since_first_seen", None, "<=", -3)], set()),
        ([Clause("orders_total", None, ">=", 30)], set()),  # not a day count
        ([Clause("days_since_last_seen", None, ">=", 180),
          Clause("days_since_last_purchase", None, "<", 30)], {180, 181, 30, 31}),
    ],
)  # fmt: skip
def test_day_marks(clauses: list[Clause], marks: set[int]) -> None:
    assert day_marks(clauses) == marks


def test_day_marks_of_a_rule_set_cover_tags_buckets_and_segments() -> None:
    text = """\
tags:
  - {name: a, path: x, rule: {days_since_last_seen: {">": 10}}}
  - name: b
    path: x
    buckets: [[x, {days_since_first_seen: {"<": 3}}], [y, {not: {days_since_last_purchase: 5}}]]
segments:
  - {name: s, where: {any: [{days_since_last_purchase: {">=": 90}}, {a: true}]}}
"""
    assert load_rules(text).day_marks == {10, 11, 3, 4, 5, 6, 90, 91}
    assert load_rules(text).daily == frozenset()


def test_models_fed_a_day_count_move_daily() -> None:
    text = """\
tags:
  - {name: m, path: x, model: {kind: logistic, features: {days_since_last_seen: -0.1}}}
  - {name: n, path: x, model: {kind: logistic, features: {views_30d: 0.1}}}
  - {name: likely, path: x, rule: {m: {">": 0.5}}}
segments:
  - {name: s, where: {likely: true}}
  - {name: t, where: {n: {">": 0.5}}}
"""
    rules = load_rules(text)
    assert (rules.daily, rules.day_marks) == ({"m", "likely", "s"}, frozenset())


def bench_rules(tags: int = 50, segments: int = 20) -> str:
    """A rules file of ``tags`` rule tags and ``segments`` segments of 2 to 4 clauses each,
    over a spread of built-in tags (a realistic pack; docs/rules.md "Cost")."""
    numbers = [n for n, t in MODEL_TYPES.items() if t.kind in ("int", "float")]
    lines = ["tags:"]
    for i in range(tags):
        a, b = numbers[i % len(numbers)], numbers[(i * 7 + 3) % len(numbers)]
        if i % 5 == 4:
            buckets = f"[[hi, {{{a}: {{'>=': {i}}}}}], [lo, {{{b}: {{'<': 3}}}}], [none, {{}}]]"
            lines.append(f"  - {{name: t{i}, path: x, buckets: {buckets}}}")
        else:
            either = f"[{{{b}: {{'<': 5}}}}, {{lifecycle: [active, new]}}]"
            rule = f"{{{a}: {{'>=': {i % 4}}}, any: {either}}}"
            lines.append(f"  - {{name: t{i}, path: x, rule: {rule}}}")
    lines.append("segments:")
    for j in range(segments):
        flag = (j // 4) * 5 + j % 4  # a bool tag (every fifth one is buckets)
        lines.append(f"  - {{name: s{j}, where: {{t{flag}: true, high_value: false, "
                     f"not: {{days_since_last_purchase: {{'>=': 30}}}}}}}}")  # fmt: skip
    return "\n".join(lines) + "\n"


def test_a_realistic_pack_evaluates_in_microseconds() -> None:
    """50 tags + 20 segments: report the cost per evaluate (printed; -s shows it). The bound
    is loose (shared CI cores); docs/rules.md gives the measured figure."""
    from profiles.model import ProfileModel

    rules = load_rules(bench_rules())
    assert (len(rules.tags), len(rules.segments)) == (50, 20)
    model = ProfileModel()
    tags = model.tags(model.initial(), 0) | {"views_30d": 3, "lifecycle": "active"}
    assert rules.evaluate(tags) == rules.evaluate_closures(dict(tags))
    values, _ = rules.evaluate(tags)
    assert {True, False} <= set(values.values())  # both outcomes: no trivial short-circuit
    runs = 2000
    seconds = min(timeit.repeat(lambda: rules.evaluate(tags), number=runs, repeat=3))
    micros = seconds / runs * 1e6
    print(f"\nevaluate: {micros:.1f} us for 50 tags + 20 segments")
    assert micros < 500
