"""The pure parts of the rules commands: rule and explanation text, tag values, user files,
event ids, export rows and the manual tagging's events (no Redis, no Kafka)."""

from __future__ import annotations

import io
import time
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from profiles.events import decode
from profiles.rules import BUILTIN_TYPES, Explained, load_rules, parse_condition
from streams.app.rules_text import (
    condition_json,
    csv_cell,
    explain_lines,
    export_rows,
    parse_scalar,
    read_user_ids,
    tag_event_id,
    unknown_name,
)
from streams.app.segment_export import Writer, tag_columns
from streams.app.tag_cli import manual_value, tag_events
from streams.errors import EXIT_NOT_FOUND, EXIT_USAGE, CommandError

RULES = load_rules(
    """
tags:
  - name: vip_manual
    path: marketing/manual
    manual: {values: [gold, silver]}
  - name: score_manual
    path: marketing/manual
    manual: {values: [1, 2]}
  - name: note_manual
    path: marketing/manual
    manual: {}
  - name: big_spender
    path: consumption/value
    rule: {spend_total: {">=": 100}}
segments:
  - name: repeat_buyers
    where: {orders_total: {">=": 2}}
""",
    "test.yaml",
)


@pytest.mark.parametrize(
    "spec",
    [
        {"spend_total": {">=": 100}},
        {"orders_total": 2},
        {"lifecycle": ["active", "new"]},
        {"category_affinity": {"baby": {">": 0.5}}},
        {"any": [{"orders_total": 0}, {"not": {"spend_total": {"<": 10}}}]},
        {"all": [{"views_30d": {">=": 1, "<": 50}}], "orders_total": {"!=": 3}},
        {},
    ],
)
def test_a_condition_written_back_parses_to_the_same_tree(spec: dict[str, Any]) -> None:
    tree = parse_condition(spec, BUILTIN_TYPES)
    written = condition_json(tree)
    assert orjson.loads(orjson.dumps(written)) == written  # plain JSON
    assert parse_condition(written, BUILTIN_TYPES) == tree


def test_condition_json_spells_lookup_keys_and_operators() -> None:
    tree = parse_condition({"category_affinity": {"baby": {">": 0.5}}}, BUILTIN_TYPES)
    assert "baby" in orjson.dumps(condition_json(tree)).decode()


def test_explain_lines_indent_mark_and_show_the_value() -> None:
    lines = [
        Explained(0, "any of", None, True),
        Explained(1, "orders_total >= 2", 3, True),
        Explained(1, "not", None, False),
        Explained(2, 'lifecycle == "new"', None, True),
    ]
    assert explain_lines(lines) == [
        "✓ any of",
        "  ✓ orders_total >= 2    (user: 3)",
        "  ✗ not",
        '    ✓ lifecycle == "new"    (user: null)',
    ]


@pytest.mark.parametrize(
    "text,value",
    [("gold", "gold"), ("true", True), ("false", False), ("3", 3), ("2.5", 2.5), ("null", None),
     ('"3"', "3"), ("[1]", "[1]"), ("{}", "{}"), ("NaN", "NaN"), ("", ""),
     ("gold silver", "gold silver")],
)  # fmt: skip
def test_parse_scalar(text: str, value: Any) -> None:
    got = parse_scalar(text)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize(
    "lines,ids,blank,duplicates",
    [
        ([], [], 0, 0),
        (["u1", "u2", "u1"], ["u1", "u2"], 0, 1),
        (["  u1  ", "", "\t", "u1", "anon:a"], ["u1", "anon:a"], 2, 1),
    ],
)
def test_read_user_ids(lines: list[str], ids: list[str], blank: int, duplicates: int) -> None:
    assert read_user_ids(lines, "f") == (ids, blank, duplicates)


def test_a_line_with_two_fields_is_refused_with_its_place() -> None:
    with pytest.raises(CommandError, match=r"^users.txt:2: one user id a line"):
        read_user_ids(["u1", "u2,gold x"], "users.txt")


@given(st.text(max_size=5), st.text(max_size=5))
def test_tag_event_ids_are_deterministic_and_differ_by_request(user: str, request: str) -> None:
    one = tag_event_id("vip", "gold", user, request)
    assert one == tag_event_id("vip", "gold", user, request)
    assert one != tag_event_id("vip", "gold", user, request + "x")
    assert one != tag_event_id("vip", "silver", user, request)
    assert one != tag_event_id("vip", True, user, request) != tag_event_id("vip", 1, user, request)


def test_unknown_names_get_the_closest_one() -> None:
    err = unknown_name("segment", "repeat_buyer", ["repeat_buyers", "lapsed_buyers"])
    assert str(err) == "unknown segment 'repeat_buyer' (did you mean 'repeat_buyers'?)"
    assert err.code == EXIT_NOT_FOUND
    assert "known: a, b" in str(unknown_name("segment", "zzz", ["b", "a"]))
    assert "define none" in str(unknown_name("segment", "zzz", []))


@pytest.mark.parametrize(
    "value,cell",
    [(None, ""), ("gold", "gold"), (True, "true"), (3, "3"), (0.25, "0.25"),
     ({"b": 1, "a": 2}, '{"a":2,"b":1}')],
)  # fmt: skip
def test_csv_cell(value: Any, cell: str) -> None:
    assert csv_cell(value) == cell


def test_writer_csv_and_jsonl() -> None:
    rows = list(export_rows(["u1", "u,2"], ["vip"], {"u1": {"vip": "gold"}}))
    out = io.StringIO()
    Writer(out, "csv", ["vip"]).rows(rows)
    assert out.getvalue() == 'user_id,vip\nu1,gold\n"u,2",\n'
    out = io.StringIO()
    Writer(out, "jsonl", ["vip"]).rows(rows)
    assert [orjson.loads(line) for line in out.getvalue().splitlines()] == [
        {"user_id": "u1", "vip": "gold"}, {"user_id": "u,2", "vip": None},
    ]  # fmt: skip
    out = io.StringIO()
    Writer(out, "csv", []).rows(list(export_rows(["u1"], [], {})))
    assert out.getvalue() == "user_id\nu1\n"  # the contract: a header, one id a line


def test_tag_columns_keep_order_once_and_refuse_unknown_names() -> None:
    assert tag_columns(" vip_manual,spend_total,,vip_manual", RULES) == [
        "vip_manual",
        "spend_total",
    ]
    with pytest.raises(CommandError, match="did you mean 'big_spender'"):
        tag_columns("big_spendr", RULES)


@pytest.mark.parametrize(
    "name,text,value",
    [("vip_manual", "gold", "gold"), ("vip_manual", "null", None), ("score_manual", "2", 2),
     ("note_manual", "anything at all", "anything at all"), ("note_manual", "true", True)],
)  # fmt: skip
def test_manual_value(name: str, text: str, value: Any) -> None:
    assert manual_value(RULES, name, text) == value


@pytest.mark.parametrize(
    "name,text,message,code",
    [
        ("vip_manul", "gold", "did you mean 'vip_manual'", EXIT_NOT_FOUND),
        ("big_spender", "true", "is a rule tag", EXIT_USAGE),
        ("repeat_buyers", "true", "unknown manual tag", EXIT_NOT_FOUND),
        ("vip_manual", "bronze", "takes one of", EXIT_USAGE),
        ("score_manual", "true", "takes one of", EXIT_USAGE),  # true is not 1
        ("note_manual", "x" * 513, "longer than", EXIT_USAGE),
    ],
)
def test_manual_value_refusals(name: str, text: str, message: str, code: int) -> None:
    with pytest.raises(CommandError, match=message) as info:
        manual_value(RULES, name, text)
    assert info.value.code == code


def test_tag_events_decode_as_tag_events_keyed_by_user() -> None:
    events = tag_events("vip_manual", "gold", ["u1", "anon:a7", "42"], 1_717_156_800_000, "f")
    keys = [key for key, _ in events]
    assert keys == [b"u1", b"a7", b"42"]
    decoded = [decode(orjson.dumps(event)) for _, event in events]
    assert [e.user_id for e in decoded] == ["u1", "anon:a7", "42"]
    assert {e.type for e in decoded} == {"tag"}
    assert all(e.traits == {"tag": "vip_manual", "value": "gold"} for e in decoded)
    assert all(e.ts == 1_717_156_800_000 for e in decoded)
    assert len({e.event_id for e in decoded}) == 3


def test_tag_events_refuse_a_bad_user_id_before_sending_anything() -> None:
    with pytest.raises(CommandError, match=r"^users: user id 'a\{b\}': .*braces"):
        tag_events("vip_manual", "gold", ["ok", "a{b}"], 1_717_156_800_000, "users")


@pytest.mark.parametrize(
    "at,message",
    [
        (int(time.time() * 1000) + 2 * 86_400_000, "--at: ts .* h after the record reached Kafka"),
        (4_102_444_800_000, "--at: ts 4102444800000 "),  # 2100: the bounds
        (1_000_000_000, "--at: ts .* looks like seconds"),
    ],
)
def test_tag_events_refuse_a_time_the_worker_would_refuse(at: int, message: str) -> None:
    with pytest.raises(CommandError, match=message):
        tag_events("vip_manual", "gold", ["u1"], at, "users")
