"""The parsed form of a condition: a tree of frozen nodes (profiles/rules/conditions.py).

``All`` / ``AnyOf`` / ``Not`` combine; a ``Clause`` compares one tag (or one key of a lookup
tag) with one operand. Nothing here evaluates: compiled.py turns a tree into closures and
reference.py interprets it plainly, and a property test holds the two equal.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

ORDERING: Final = ("<", "<=", ">", ">=")
OPERATORS: Final = ("==", "!=", *ORDERING, "in", "not_in", "contains")
COMBINATORS: Final = ("all", "any", "not")
MISSING_SHARE: Final = 0.0  # a lookup key the user has no share of


@dataclass(frozen=True, slots=True)
class Clause:
    tag: str
    key: str | None  # the key of a lookup tag (category_affinity.baby), else None
    op: str
    operand: Any  # a scalar, or a tuple of scalars for in / not_in

    def label(self) -> str:
        """``spend_total >= 100``, ``category_affinity.baby > 0.5``: for explain."""
        name = self.tag if self.key is None else f"{self.tag}.{self.key}"
        return f"{name} {self.op} {show(self.operand)}"


@dataclass(frozen=True, slots=True)
class All:
    children: tuple[Node, ...]  # empty: always holds


@dataclass(frozen=True, slots=True)
class AnyOf:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    child: Node


Node = All | AnyOf | Not | Clause
ALWAYS: Final = All(())


@dataclass(frozen=True, slots=True)
class Explained:
    """One line of an explanation: a combinator or a clause, the user's value, whether it held."""

    depth: int
    text: str
    value: Any
    held: bool


def show(value: object) -> str:
    """An operand as the rules file would spell it (JSON)."""
    if isinstance(value, tuple):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def clauses(node: Node) -> Iterator[Clause]:
    """Every clause of a tree, depth first."""
    if isinstance(node, Clause):
        yield node
    elif isinstance(node, Not):
        yield from clauses(node.child)
    else:
        for child in node.children:
            yield from clauses(child)


def reads(node: Node) -> frozenset[str]:
    """The tag names a condition reads."""
    return frozenset(c.tag for c in clauses(node))


def spec(node: Node) -> object:
    """A canonical JSON-able form: the same meaning spelled differently gives the same form
    (``{a: 1}`` and ``{a: {"==": 1}}``; the order of a mapping's entries, of ``all`` / ``any``
    children and of ``in`` members): what the rules' version hashes."""
    if isinstance(node, Clause):
        operand = node.operand
        if isinstance(operand, tuple):
            operand = sorted(operand, key=_canonical)
        return {"tag": node.tag, "key": node.key, "op": node.op, "operand": operand}
    if isinstance(node, Not):
        return {"not": spec(node.child)}
    word = "all" if isinstance(node, All) else "any"
    return {word: sorted((spec(child) for child in node.children), key=_canonical)}


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)
