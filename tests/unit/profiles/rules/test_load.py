"""Rules files: the format, the checks, errors with line and column, order and version."""

# ruff: noqa: E501  (the error tables keep one case per line: message, place, input)

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from profiles.rules import RulesError, load_rules, load_rules_file, parse_rules
from profiles.rules.catalogue import TagType
from profiles.rules.conditions import Clause

FULL = """\
tags:
  - name: big_spender            # a bool rule
    path: consumption/value
    description: Spent 100 or more.
    owner: crm
    rule: {spend_total: {">=": 100}}
  - name: price_sensitivity
    path: preference/price
    buckets:
      - [high, {coupon_share: {">=": 0.5}}]
      - [medium, {price_ratio: {"<": 1.0}}]
      - [low, {}]
  - name: new_parent
    path: attributes/family
    model: {kind: logistic, features: {"category_affinity.baby": 3.1, "spend_30d": 0.001},
            intercept: -2.0, output: probability}
  - name: vip
    path: marketing/manual
    manual: {values: [gold, silver]}
segments:
  - name: repeat_buyers
    description: Two purchases or more.
    where: {purchases_total: {">=": 2}}
  - name: sensitive_vips
    where: {vip: gold, price_sensitivity: [high, medium], big_spender: true}
"""


def test_the_contract_example_loads() -> None:
    rules = load_rules(FULL, "r.yaml")
    assert [t.name for t in rules.tags] == ["big_spender", "price_sensitivity", "new_parent", "vip"]
    assert [(t.source, t.path) for t in rules.tags] == [
        ("rule", ("consumption", "value")),
        ("rule", ("preference", "price")),
        ("model", ("attributes", "family")),
        ("manual", ("marketing", "manual")),
    ]
    assert rules.tags[0].condition == Clause("spend_total", None, ">=", 100)
    assert (rules.tags[0].description, rules.tags[0].owner) == ("Spent 100 or more.", "crm")
    assert [s.name for s in rules.segments] == ["repeat_buyers", "sensitive_vips"]
    assert rules.inputs == {"spend_total", "coupon_share", "price_ratio", "category_affinity",
                            "spend_30d", "purchases_total"}  # fmt: skip
    assert rules.manual == {"vip"}
    assert rules.types["price_sensitivity"] == TagType("str", True, ("high", "medium", "low"))
    assert rules.types["vip"] == TagType("str", True, ("gold", "silver"))
    assert len(rules.version) == 12 and int(rules.version, 16) >= 0
    assert rules.find("repeat_buyers") is rules.segments[0]
    assert rules.find("vip") is rules.tags[3] and rules.find("nope") is None


def test_evaluate_the_contract_example() -> None:
    rules = load_rules(FULL)
    tags = {"spend_total": 150.0, "coupon_share": 0.2, "price_ratio": 0.9, "spend_30d": 0.0,
            "category_affinity": {"baby": 1.0}, "purchases_total": 2, "vip": "gold"}  # fmt: skip
    values, segments = rules.evaluate(tags)
    # 1 / (1 + e^-(3.1 - 2.0)) = 0.750260...
    assert values == {"big_spender": True, "price_sensitivity": "medium", "new_parent": 0.75026,
                      "vip": "gold"}  # fmt: skip
    assert segments == ["repeat_buyers", "sensitive_vips"]
    values, segments = rules.evaluate({"vip": "bronze"})  # not an allowed value: unset
    assert values == {"big_spender": False, "price_sensitivity": "low", "new_parent": 0.119203,
                      "vip": None}  # fmt: skip
    assert segments == []


def test_formatting_and_comments_keep_the_version() -> None:
    base = load_rules(FULL).version
    reformatted = FULL.replace("# a bool rule", "").replace(
        'rule: {spend_total: {">=": 100}}', "rule:\n      spend_total:\n        '>=': 100"
    )
    assert load_rules(reformatted).version == base
    assert load_rules("# nothing\n" + FULL).version == base
    assert load_rules(FULL.replace('">=": 100', '">=": 101')).version != base
    assert load_rules(FULL.replace("Spent 100", "Spent 1OO")).version != base


def test_order_follows_what_a_tag_reads() -> None:
    text = """\
segments: []
tags:
  - {name: c, path: x, rule: {b: true, a: true}}
  - {name: b, path: x, rule: {a: true}}
  - {name: a, path: x, rule: {orders_total: {">": 0}}}
"""
    rules = load_rules(text)
    assert [t.name for t in rules.tags] == ["a", "b", "c"]
    assert rules.evaluate({"orders_total": 1})[0] == {"a": True, "b": True, "c": True}
    assert rules.evaluate({"orders_total": 0})[0] == {"a": False, "b": False, "c": False}


def test_an_empty_file_is_an_empty_rule_set() -> None:
    rules = load_rules("")
    assert (rules.tags, rules.segments, rules.inputs) == ((), (), frozenset())
    assert rules.evaluate({"x": 1}) == ({}, [])


def T(body: str) -> str:
    return textwrap.dedent(body)


# (text, line, column, message)
ERRORS = [
    ("tags: [\n", 2, 1, "while parsing a flow node expected the node content, but found '<stream end>'"),
    ("- a\n", 1, 1, "a rules file is a mapping with tags and segments, not list"),
    ("tag: []\n", 1, 1, "unknown key 'tag' (did you mean 'tags'?)"),
    ("tags: {}\n", 1, 7, "tags is a list of mappings"),
    ("tags:\n  - x\n", 2, 5, "each of tags is a mapping with a name"),
    (T("""\
        tags:
          - name: big_spender
            path: consumption/value
            rule: {spend_totl: {">=": 100}}
        """), 4, 12, "unknown tag 'spend_totl' (did you mean 'spend_total'?)"),
    (T("""\
        tags:
          - name: a
            path: x
            rule:
              any:
                - {orders_total: 1}
                - not: {lifecycle: {"<": 3}}
        """), 7, 34, "lifecycle: < needs a number tag; lifecycle is str (new, active, dormant, churn_risk) or null"),
    (T("""\
        tags:
          - name: a
            path: x
            rule: {spend_total: {"=>": 1}}
        """), 4, 26, "spend_total: unknown operator '=>' (did you mean '>='?)"),
    (T("""\
        tags:
          - name: Big
            path: x
            rule: {}
        """), 2, 11, "a name is [a-z][a-z0-9_]{0,63}, not 'Big'"),
    (T("""\
        tags:
          - name: high_value
            path: x
            rule: {}
        """), 2, 11, "'high_value' is already a built-in tag"),
    (T("""\
        tags:
          - {name: a, path: x, rule: {}}
        segments:
          - {name: a, where: {}}
        """), 2, 12, "'a' is already a segment"),
    (T("""\
        tags:
          - {name: a, path: x, rule: {}}
          - {name: a, path: x, rule: {}}
        """), 3, 12, "'a' is defined twice"),
    (T("""\
        tags:
          - {name: a, path: x, rule: {}, buckets: [[x, {}]]}
        """), 2, 12, "a tag has exactly one of rule, buckets, model, manual (found rule, buckets)"),
    (T("""\
        tags:
          - {name: a, path: x}
        """), 2, 12, "a tag has exactly one of rule, buckets, model, manual (found none)"),
    (T("""\
        tags:
          - {name: a, path: x, rule: {}, ownr: me}
        """), 2, 34, "unknown key 'ownr' (did you mean 'owner'?)"),
    (T("""\
        tags:
          - {name: a, rule: {}}
        """), 2, 5, "path is the tag's place in the taxonomy, e.g. consumption/value"),
    (T("""\
        tags:
          - {name: a, path: Consumption/x, rule: {}}
        """), 2, 21, "a path level is [a-z][a-z0-9_]*, not 'Consumption'"),
    (T("""\
        tags:
          - {name: a, path: x, rule: {b: true}}
          - {name: b, path: x, rule: {c: true}}
          - {name: c, path: x, rule: {a: true}}
        """), 2, 12, "tags read each other in a cycle: a -> b -> c -> a"),
    (T("""\
        tags:
          - {name: a, path: x, rule: {a: true}}
        """), 2, 12, "tags read each other in a cycle: a -> a"),
    (T("""\
        tags:
          - name: a
            path: x
            buckets:
              - [high, {}]
              - [high, {}]
        """), 6, 10, "bucket 'high' is listed twice"),
    (T("""\
        tags:
          - name: a
            path: x
            buckets:
              - [high]
        """), 5, 9, "a bucket is [value, condition]"),
    (T("""\
        tags:
          - name: a
            path: x
            buckets:
              - [high, {spend_totl: 1}]
        """), 5, 17, "unknown tag 'spend_totl' (did you mean 'spend_total'?)"),
    (T("""\
        tags:
          - name: a
            path: x
            buckets: [[high, {}]]
        segments:
          - {name: s, where: {a: hihg}}
        """), 6, 26, "a: \"hihg\" is not a value of a (did you mean 'high'?)"),
    (T("""\
        tags:
          - name: m
            path: x
            model: {kind: logistic, features: {spend_totl: 1.0}}
        """), 4, 40, "unknown tag 'spend_totl' (did you mean 'spend_total'?)"),
    (T("""\
        tags:
          - name: m
            path: x
            model: {kind: logistic, features: {category_affinity: 1.0}}
        """), 4, 40, "category_affinity is a lookup tag: name a key, e.g. category_affinity.some_key"),
    (T("""\
        tags:
          - name: m
            path: x
            model: {kind: logistic, features: {lifecycle: 1.0}}
        """), 4, 40, "feature lifecycle must be a number or bool tag; it is str (new, active, dormant, churn_risk) or null"),
    (T("""\
        tags:
          - name: m
            path: x
            model: {kind: logistic, features: {spend_30d: x}}
        """), 4, 51, "spend_30d needs a finite number, not 'x'"),
    (T("""\
        tags:
          - name: m
            path: x
            model: {kind: tree, features: {spend_30d: 1}}
        """), 4, 19, "model kind must be logistic, not 'tree'"),
    (T("""\
        tags:
          - name: m
            path: x
            model: {kind: logistic, features: {spend_30d: 1}, output: label, labels: [a, a]}
        """), 4, 78, "labels needs two different strings: [below, at or above threshold]"),
    (T("""\
        tags:
          - name: m
            path: x
            model: {kind: logistic, features: {spend_30d: 1}, treshold: 0.3}
        """), 4, 55, "unknown model key 'treshold' (did you mean 'threshold'?)"),
    (T("""\
        tags:
          - name: v
            path: x
            manual: {values: [gold, 1]}
        """), 4, 22, "values are all strings, all numbers or all bools"),
    (T("""\
        tags:
          - name: v
            path: x
            manual: {values: [gold], default: silver}
        """), 4, 39, "default 'silver' is not one of values"),
    (T("""\
        segments:
          - {name: s}
        """), 2, 12, "a segment needs a where condition"),
    (T("""\
        segments:
          - {name: buyers, where: {orders_total: {">=": 1}}}
          - {name: vip_buyers, where: {buyers: true, high_value: true}}
        """), 3, 32, "'buyers' is a segment: conditions read tags (make it a rule tag)"),
    (T("""\
        segments:
          - name: s
            where: {orders_total: 1}
            where: {orders_total: 2}
        """), 4, 5, "duplicate key 'where'"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "line", "column", "message"), ERRORS)
def test_errors_name_line_and_column(
    text: str, line: int | None, column: int | None, message: str
) -> None:
    with pytest.raises(RulesError) as caught:
        load_rules(text, "r.yaml")
    error = caught.value
    assert (error.message, error.line, error.column) == (message, line, column)
    place = ":".join(str(p) for p in ("r.yaml", line, column) if p is not None)
    assert str(error) == f"{place}: {message}"
    assert "\n" not in str(error)


def test_parse_rules_names_the_path_without_lines() -> None:
    data = {"tags": [{"name": "a", "path": "x", "rule": {"any": [{"spend_totl": 1}]}}]}
    with pytest.raises(RulesError) as caught:
        parse_rules(data, "portrait.yaml")
    assert str(caught.value) == (
        "portrait.yaml: tags[0].rule.any[0].spend_totl: unknown tag 'spend_totl' "
        "(did you mean 'spend_total'?)"
    )
    assert parse_rules({"tags": [{"name": "a", "path": "x", "rule": {}}]}).version


def test_load_rules_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(FULL, encoding="utf-8")
    assert load_rules_file(path).version == load_rules(FULL).version
    with pytest.raises(
        RulesError, match=r"^.*missing\.yaml: cannot read the rules file: No such file"
    ):
        load_rules_file(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_bytes(b"\xff\xfe")
    with pytest.raises(RulesError, match=r"bad\.yaml: the rules file is not UTF-8 text$"):
        load_rules_file(tmp_path / "bad.yaml")


def test_yes_no_on_off_are_strings_true_false_are_bools() -> None:
    text = """\
tags:
  - name: parent
    path: attributes/family
    model: {kind: logistic, features: {spend_30d: 0.001}, output: label, labels: [no, yes]}
  - name: switch
    path: marketing/manual
    manual: {values: [on, off]}
segments:
  - {name: s, where: {parent: yes, switch: "on", high_value: true, potential: False}}
"""
    rules = load_rules(text)
    assert rules.types["parent"].values == ("no", "yes")
    assert rules.types["switch"].values == ("on", "off")
    values, segments = rules.evaluate({"spend_30d": 5000.0, "switch": "on", "high_value": True,
                                       "potential": False})  # fmt: skip
    assert (values, segments) == ({"parent": "yes", "switch": "on"}, ["s"])


def test_a_yaml_1_1_reader_gets_a_hint_about_booleans() -> None:
    data = {"tags": [{"name": "p", "path": "x", "buckets": [[True, {}]]}]}
    with pytest.raises(RulesError) as caught:
        parse_rules(data, "c.yaml")
    assert str(caught.value) == (
        "c.yaml: tags[0].buckets[0][0]: a bucket's value is a non-empty string, not True "
        "(a YAML 1.1 reader takes unquoted yes/no/on/off for booleans: quote them)"
    )


CONFIG = """\
topics:
  prefix: x
rules:
  tags:
    - name: a
      path: x
      rule: {orders_totl: 1}
"""


def test_rules_inside_another_document_have_lines_too() -> None:
    with pytest.raises(RulesError) as caught:
        load_rules(CONFIG, "portrait.yaml", at=("rules",))
    assert str(caught.value) == (
        "portrait.yaml:7:14: unknown tag 'orders_totl' (did you mean 'orders_total'?)"
    )
    fixed = load_rules(CONFIG.replace("orders_totl", "orders_total"), "p.yaml", at=("rules",))
    assert [t.name for t in fixed.tags] == ["a"]
    assert load_rules("topics: {}\n", "p.yaml", at=("rules",)).tags == ()


@pytest.mark.parametrize(
    ("manual", "message"),
    [
        ("{values: [1, true]}", "values are all strings, all numbers or all bools"),
        ("{values: [1, 1.0]}", "values are distinct strings, numbers or bools; not 1.0"),
        ("{values: [[1]]}", "values are distinct strings, numbers or bools; not [1]"),
        ("{values: []}", "values is a non-empty list of scalars"),
        ("{default: [1]}", "default is a scalar, not [1]"),
        ("{values: [1, 2], default: true}", "default True is not one of values"),
        ("[gold]", "manual is a mapping: {values: [...], default: ...} (both optional)"),
        ("{value: [gold]}", "unknown key 'value' (did you mean 'values'?)"),
    ],
)
def test_manual_errors(manual: str, message: str) -> None:
    with pytest.raises(RulesError) as caught:
        load_rules(f"tags:\n  - {{name: m, path: x, manual: {manual}}}\n")
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [
        ("{lifecycle: new}", '{lifecycle: {"==": new}}', True),
        ("{lifecycle: [new, active]}", '{lifecycle: {"in": [new, active]}}', True),
        (
            '{orders_total: {">=": 1}, high_value: true}',
            '{high_value: true, orders_total: {">=": 1}}',
            True,
        ),
        ("{lifecycle: [new, active]}", "{lifecycle: [active, new]}", True),
        (
            "{any: [{lifecycle: new}, {high_value: true}]}",
            "{any: [{high_value: true}, {lifecycle: new}]}",
            True,
        ),
        (
            "{any: [{lifecycle: new}, {high_value: true}]}",
            "{all: [{high_value: true}, {lifecycle: new}]}",
            False,
        ),
        ("{lifecycle: new}", "{lifecycle: active}", False),
    ],
)
def test_the_version_hashes_the_meaning_not_the_spelling(one: str, other: str, same: bool) -> None:
    def text(rule: str) -> str:
        return (
            f"tags:\n  - {{name: a, path: x, rule: {rule}}}\n  - {{name: b, path: y, rule: {{}}}}\n"
        )

    swapped = (
        "tags:\n  - {name: b, path: y, rule: {}}\n" + f"  - {{name: a, path: x, rule: {other}}}\n"
    )
    assert (load_rules(text(one)).version == load_rules(text(other)).version) is same
    assert load_rules(text(other)).version == load_rules(swapped).version  # file order


def test_aliases_that_expand_enormously_are_refused() -> None:
    """Each level names the one below twice: 2^19 clauses once expanded (a "billion laughs")."""
    lines = ["defs:", "  - &l0 {orders_total: 1}"]
    lines += [f"  - &l{i} {{any: [*l{i - 1}, *l{i - 1}]}}" for i in range(1, 20)]
    doc = "\n".join(lines) + "\ntags:\n  - {name: a, path: x, rule: *l19}\n"
    with pytest.raises(
        RulesError, match=r"^r\.yaml:\d+:\d+: the rules expand to over 200000 nodes"
    ):
        load_rules(doc, "r.yaml")


def test_an_alias_used_a_few_times_is_fine() -> None:
    text = """\
tags:
  - {name: a, path: x, rule: &buyer {orders_total: {">=": 1}}}
segments:
  - {name: s, where: *buyer}
"""
    rules = load_rules(text)
    assert rules.evaluate({"orders_total": 2}) == ({"a": True}, ["s"])


def test_too_deep_nesting_is_one_line() -> None:
    deep = "{not: " * 3000 + "{orders_total: 1}" + "}" * 3000
    with pytest.raises(RulesError, match=r"^r\.yaml: the rules nest too deeply$"):
        load_rules(f"tags:\n  - {{name: a, path: x, rule: {deep}}}\n", "r.yaml")
    data: dict[str, object] = {"orders_total": 1}
    for _ in range(5000):
        data = {"not": data}
    with pytest.raises(RulesError, match=r"^c\.yaml: the rules nest too deeply$"):
        parse_rules({"tags": [{"name": "a", "path": "x", "rule": data}]}, "c.yaml")


def test_nan_operands_are_refused() -> None:
    with pytest.raises(RulesError, match=r"spend_total: > needs a number, not NaN"):
        load_rules('tags:\n  - {name: a, path: x, rule: {spend_total: {">": .nan}}}\n')
    with pytest.raises(RulesError, match=r"spend_total: == needs a scalar, not NaN"):
        load_rules("tags:\n  - {name: a, path: x, rule: {spend_total: .nan}}\n")


@pytest.mark.parametrize(
    ("operand", "holds"),
    [("1e3", True), ("1.5e3", True), ("2E+2", False), ("-1e-2", True), ("1_000", True)],
)
def test_exponents_are_numbers(operand: str, holds: bool) -> None:
    rules = load_rules(
        f'tags:\n  - {{name: a, path: x, rule: {{spend_total: {{"<=": {operand}}}}}}}\n'
    )
    assert rules.evaluate({"spend_total": -0.01 if operand.startswith("-") else 1000.0})[0] == {
        "a": holds
    }


def test_a_quoted_number_says_so() -> None:
    with pytest.raises(RulesError) as caught:
        load_rules('tags:\n  - {name: a, path: x, rule: {orders_total: "2"}}\n')
    assert caught.value.message == (
        'orders_total: == "2" compares a string with int (write the number without quotes)'
    )
