"""The pure parts of the rules commands (``portrait rules|segment|explain|tag``): how a rule, an
explanation, a tag value and an export row are written, and how a command-line value is read.

Nothing here touches Redis or Kafka, so every format is unit-tested on its own
(tests/unit/streams/app/test_rules_text.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final

import orjson

from profiles.rules import All, AnyOf, Clause, Explained, Node, Not
from profiles.rules.catalogue import closest
from streams.errors import CommandError, NotFound

# The combinator lines of an explanation carry no value of the user's.
_COMBINATOR_LINES: Final = frozenset({"all of", "any of", "not", "always"})
HELD: Final = "✓"
FAILED: Final = "✗"


def unknown_name(what: str, name: str, names: Iterable[str]) -> NotFound:
    """``unknown segment 'byuers' (did you mean 'buyers'?)``: an error with the closest name."""
    known = sorted(set(names))
    guess = closest(name, known) or next(
        iter(sorted((k for k in known if name and k.startswith(name)), key=len)), None
    )  # a typo, else the shortest name it begins (vip -> vip_manual)
    if guess:
        hint = f" (did you mean {guess!r}?)"
    elif known:
        hint = f" (known: {', '.join(known[:8])}{', ...' if len(known) > 8 else ''})"
    else:
        hint = " (the rules define none)"
    return NotFound(f"unknown {what} {name!r}{hint}")


def condition_json(node: Node) -> Any:
    """A parsed condition written back in the rules' own language (JSON): what ``segment list``
    prints as ``where``, so a reader sees the rule as it would write it."""
    if isinstance(node, Clause):
        operand = list(node.operand) if isinstance(node.operand, tuple) else node.operand
        clause = {node.op: operand}
        return {node.tag: clause if node.key is None else {node.key: clause}}
    if isinstance(node, Not):
        return {"not": condition_json(node.child)}
    if isinstance(node, All):  # no children: always holds, written as the empty mapping
        return {"all": [condition_json(c) for c in node.children]} if node.children else {}
    if isinstance(node, AnyOf):
        return {"any": [condition_json(c) for c in node.children]}
    raise TypeError(f"not a condition node: {node!r}")


def show_value(value: Any) -> str:
    """A user's value as JSON, on one line (a lookup tag's mapping included)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SORT_KEYS).decode()


def explain_lines(lines: Sequence[Explained]) -> list[str]:
    """Each clause of an explanation: indented by depth, ✓ or ✗, and the user's value."""
    out = []
    for line in lines:
        mark = HELD if line.held else FAILED
        text = f"{'  ' * line.depth}{mark} {line.text}"
        if line.text not in _COMBINATOR_LINES:
            text += f"    (user: {show_value(line.value)})"
        out.append(text)
    return out


def parse_scalar(text: str) -> str | int | float | bool | None:
    """A command-line tag value: a JSON scalar when it is one (``true``, ``3``, ``null``,
    ``"3"``), else the text itself (``gold``); ``[1]`` or ``{}`` stay text, as a tag holds
    scalars only."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return text


def read_user_ids(lines: Iterable[str], source: str) -> tuple[list[str], int, int]:
    """The user ids of a ``--users`` file, one a line: (ids in first-seen order, blank lines,
    duplicates). Surrounding spaces are stripped; a line holding a space or a tab inside is
    refused (a CSV or a pasted table, not a list of ids)."""
    ids: dict[str, None] = {}
    blank = duplicates = 0
    for number, raw in enumerate(lines, 1):
        user = raw.strip()
        if not user:
            blank += 1
        elif any(c.isspace() for c in user):
            raise CommandError(f"{source}:{number}: one user id a line expected, got {user[:60]!r}")
        elif user in ids:
            duplicates += 1
        else:
            ids[user] = None
    return list(ids), blank, duplicates


def tag_event_id(tag: str, value: Any, user_id: str, request_id: str) -> str:
    """Deterministic per (tag, value, user, request): a retry of one run sends the same ids (the
    worker's dedupe drops the repeats), a later run (a new request id) applies again."""
    key = orjson.dumps([tag, value, user_id, request_id])
    return "tag-" + hashlib.sha256(key).hexdigest()[:32]


def csv_cell(value: Any) -> str:
    """An export cell: strings as they are, null as empty, anything else as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return show_value(value)


def export_rows(
    user_ids: Iterable[str], columns: Sequence[str], values: Mapping[str, Mapping[str, Any]]
) -> Iterator[dict[str, Any]]:
    """One row per member: ``user_id`` then the requested tags (null when the user has none)."""
    for user in user_ids:
        tags = values.get(user, {})
        yield {"user_id": user, **{c: tags.get(c) for c in columns}}


def file_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
