"""docs/events.md and docs/events.schema.json agree with the decoder.

Every ```json block of docs/events.md is an example message value. The HTML comment before it says
what it is: ``<!-- example: accepted [field=value ...] -->`` (native shape: decodes, and is valid
under the schema), ``<!-- example: segment [field=value ...] -->`` (a Segment shape: decodes by
mapping; not described by the schema) or ``<!-- example: rejected reason=REASON -->`` (the decoder
raises Rejected with that reason; the schema refuses it too). A block without a comment is an
accepted native example. ``field=value`` pairs are checked against the decoded Event.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from profiles.events import (
    CONTEXT_NAMES,
    EVENT_TYPES,
    REJECT_REASONS,
    SEGMENT_NAMES,
    TRAIT_NAMES,
    Rejected,
    decode,
)
from profiles.names import ADMIN_TYPES
from streams.names import TOPIC_DLQ, TOPIC_EVENTS
from streams.pipeline.dlq import dlq_headers
from streams.pipeline.processor import DeadLetter

DOCS = Path(__file__).resolve().parents[3] / "docs"
EVENTS_MD = DOCS / "events.md"
SCHEMA_PATH = DOCS / "events.schema.json"

_BLOCK = re.compile(r"^```json[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
_MARKER = re.compile(r"<!--\s*example:\s*(accepted|segment|rejected)((?:\s+[\w.]+=\S+)*)\s*-->")
_HEADING = re.compile(r"^#{1,6} +(.+?)\s*$", re.M)


@dataclass(frozen=True)
class Example:
    line: int
    kind: str  # accepted | segment | rejected
    expect: dict[str, str]
    heading: str
    text: str

    @property
    def id(self) -> str:
        return f"events.md:{self.line}:{self.kind}"


def load_examples(text: str) -> list[Example]:
    examples = []
    previous_end = 0
    for match in _BLOCK.finditer(text):
        before = text[previous_end : match.start()]
        markers = list(_MARKER.finditer(before))
        headings = list(_HEADING.finditer(text[: match.start()]))
        kind, expect = "accepted", {}
        if markers:
            kind = markers[-1].group(1)
            pairs = markers[-1].group(2).split()
            expect = dict(pair.split("=", 1) for pair in pairs)
        examples.append(
            Example(
                line=text.count("\n", 0, match.start()) + 1,
                kind=kind,
                expect=expect,
                heading=headings[-1].group(1) if headings else "",
                text=match.group(1),
            )
        )
        previous_end = match.end()
    return examples


DOC_TEXT = EVENTS_MD.read_text(encoding="utf-8")
EXAMPLES = load_examples(DOC_TEXT)
SCHEMA: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def by_kind(*kinds: str) -> list[Any]:
    return [pytest.param(e, id=e.id) for e in EXAMPLES if e.kind in kinds]


def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(SCHEMA)


def test_the_doc_has_examples_of_every_kind() -> None:
    kinds = [e.kind for e in EXAMPLES]
    assert kinds.count("accepted") >= 10
    assert kinds.count("segment") >= 2
    assert kinds.count("rejected") >= len(REJECT_REASONS)


def test_every_reject_reason_has_an_example() -> None:
    shown = {e.expect.get("reason") for e in EXAMPLES if e.kind == "rejected"}
    assert shown == set(REJECT_REASONS)


def test_every_event_type_has_an_accepted_example() -> None:
    decoded = {decode(e.text).type for e in EXAMPLES if e.kind == "accepted"}
    assert decoded == EVENT_TYPES | ADMIN_TYPES


@pytest.mark.parametrize("example", by_kind("accepted", "segment"))
def test_accepted_example_decodes(example: Example) -> None:
    assert "reject" not in example.heading.lower(), "an accepted example under a Rejected heading"
    event = decode(example.text.encode())
    for name, want in example.expect.items():
        assert str(getattr(event, name)) == want, name


@pytest.mark.parametrize("example", by_kind("rejected"))
def test_rejected_example_is_rejected_with_its_reason(example: Example) -> None:
    assert "reject" in example.heading.lower(), "a rejected example outside the Rejected section"
    assert example.expect.get("reason") in REJECT_REASONS, "name the reason: reason=..."
    with pytest.raises(Rejected) as info:
        decode(example.text.encode())
    assert info.value.reason == example.expect["reason"]


# --- the schema ----------------------------------------------------------------------------------


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_schema_type_enum_is_the_contract() -> None:
    types = EVENT_TYPES | ADMIN_TYPES
    assert set(SCHEMA["properties"]["type"]["enum"]) == types
    assert len(SCHEMA["properties"]["type"]["enum"]) == len(types)


def test_schema_names_the_context_and_traits_fields() -> None:
    props = SCHEMA["properties"]
    assert set(props["context"]["properties"]) == set(CONTEXT_NAMES)
    assert set(props["traits"]["properties"]) == set(TRAIT_NAMES)
    assert set(SCHEMA["required"]) == {"event_id", "type", "ts"}
    assert "Segment" in SCHEMA["description"]


@pytest.mark.parametrize("example", by_kind("accepted"))
def test_accepted_example_is_valid_under_the_schema(example: Example) -> None:
    errors = [e.message for e in validator().iter_errors(json.loads(example.text))]
    assert errors == []


@pytest.mark.parametrize("example", by_kind("rejected"))
def test_rejected_example_is_invalid_under_the_schema(example: Example) -> None:
    try:
        instance = json.loads(example.text)
    except json.JSONDecodeError:
        return  # not JSON at all: no schema can say anything about it
    assert not validator().is_valid(instance)


@pytest.mark.parametrize(
    "instance,valid",
    [
        ({"event_id": "e", "type": "view", "user_id": "u", "ts": 1717156800000}, True),
        ({"event_id": "e", "type": "view", "anonymous_id": 7, "ts": "2024-05-31T12:00:00Z"}, True),
        ({"event_id": "e", "type": "view", "user_id": "", "anonymous_id": "a", "ts": 1e12}, True),
        (
            {"event_id": "e", "type": "view", "user_id": "u", "ts": "2024-05-31T12:00:00+05:30"},
            True,
        ),
        ({"event_id": "e", "type": "view", "user_id": "u", "ts": 1717156800000, "x": 1}, True),
        ({"event_id": "e", "type": "Product Viewed", "user_id": "u", "ts": 1717156800000}, False),
        ({"event_id": "", "type": "view", "user_id": "u", "ts": 1717156800000}, False),
        ({"event_id": "e", "type": "view", "user_id": "", "ts": 1717156800000}, False),
        ({"event_id": "e", "type": "view", "user_id": "a{b}", "ts": 1717156800000}, False),
        ({"event_id": "e", "type": "view", "user_id": True, "ts": 1717156800000}, False),
        ({"event_id": "e", "type": "view", "user_id": "u", "ts": 4102444800000}, False),
        ({"event_id": "e", "type": "view", "user_id": "u", "ts": "1999-12-31T23:59:59Z"}, True),
        ({"event_id": "e", "type": "view", "user_id": "u", "ts": "1969-12-31T23:59:59Z"}, False),
        ({"event_id": "e", "type": "view", "user_id": "u", "ts": 889000000000}, True),  # 1998
        ({"event_id": "e", "type": "view", "user_id": "u", "ts": 1717156800}, False),  # seconds
        ({"event_id": "e", "type": "view", "user_id": "u" * 512, "ts": 1717156800000}, True),
        ({"event_id": "e", "type": "view", "user_id": "u" * 513, "ts": 1717156800000}, False),
        ({"event_id": "e" * 513, "type": "view", "user_id": "u", "ts": 1717156800000}, False),
        (
            {
                "event_id": "e",
                "type": "view",
                "user_id": "u",
                "ts": 1717156800000,
                "properties": {"category": "c" * 513},
            },
            False,
        ),
        ({"event_id": "e", "type": "view", "user_id": "u", "ts": "2024-05-31 12:00"}, False),
        (
            {
                "event_id": "e",
                "type": "add_to_cart",
                "user_id": "u",
                "ts": 1717156800000,
                "properties": {"quantity": 1000001},
            },
            False,
        ),
        (
            {
                "event_id": "e",
                "type": "purchase",
                "user_id": "u",
                "ts": 1717156800000,
                "properties": {"revenue": -1},
            },
            False,
        ),
        (
            {
                "event_id": "e",
                "type": "view",
                "user_id": "u",
                "ts": 1717156800000,
                "context": {"device": {"type": "ios"}},
            },
            True,
        ),
    ],
)
def test_schema_and_decoder_agree(instance: dict[str, Any], valid: bool) -> None:
    assert validator().is_valid(instance) is valid
    raw = json.dumps(instance).encode()
    if valid:
        decode(raw)
    elif instance["type"] != "Product Viewed":  # a Segment name: the decoder maps it
        with pytest.raises(Rejected):
            decode(raw)


# --- the rest of the doc -------------------------------------------------------------------------


def test_doc_segment_table_is_the_mapping() -> None:
    rows = re.findall(r"^\|\s*`([A-Z][^`]*)`\s*\|\s*`([a-z_]+)`\s*\|\s*$", DOC_TEXT, re.M)
    assert dict(rows) == SEGMENT_NAMES
    assert len(rows) == len(SEGMENT_NAMES)


def test_doc_lists_every_reject_reason_and_type() -> None:
    for reason in REJECT_REASONS:
        assert re.search(rf"^\|\s*`{reason}`\s*\|", DOC_TEXT, re.M), reason
    for etype in EVENT_TYPES | ADMIN_TYPES:
        assert f"`{etype}`" in DOC_TEXT, etype


def test_doc_names_the_topics_and_dlq_headers() -> None:
    assert f"`{TOPIC_EVENTS}`" in DOC_TEXT and f"`{TOPIC_DLQ}`" in DOC_TEXT

    @dataclass
    class _Record:
        topic: str
        partition: int
        offset: int
        key: bytes | None
        value: bytes | None

    headers = dlq_headers(
        DeadLetter(_Record(TOPIC_EVENTS, 3, 42, b"u", b"{"), "invalid_json", "x"), 0
    )
    for name, _ in headers:
        assert f"`{name}`" in DOC_TEXT, name


def test_doc_states_the_keying_rule() -> None:
    assert "partitioner=murmur2_random" in DOC_TEXT
    assert "UTF-8" in DOC_TEXT
