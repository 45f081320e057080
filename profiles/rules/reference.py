"""The plain reference interpreter and the explanation of a condition.

Deliberately separate code from compiled.py (a property test holds them equal), written to
read like the semantics of docs/rules.md rather than to be fast: the semantics of
triggers/audience.py ``Clause.holds`` — a bool is not a number, an ordering with null or with
another type is false (``!=`` and ``not_in`` are then true), ``contains`` needs a list.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any, Final

from profiles.rules.nodes import MISSING_SHARE, All, AnyOf, Clause, Explained, Node, Not

_ORDER: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def same(a: object, b: object) -> bool:
    """Equality that does not take ``True`` for ``1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def ordered(a: object, b: object) -> bool:
    """Whether ``a`` and ``b`` compare meaningfully: both numbers, or both strings."""
    if isinstance(a, bool) or isinstance(b, bool):
        return False
    if isinstance(a, int | float) and isinstance(b, int | float):
        return True
    return isinstance(a, str) and isinstance(b, str)


def value_of(clause: Clause, tags: Mapping[str, Any]) -> Any:
    """The value a clause compares: the tag, or the share of its key for a lookup tag."""
    value = tags.get(clause.tag)
    if clause.key is None:
        return value
    if isinstance(value, dict):
        return value.get(clause.key, MISSING_SHARE)
    return None


def holds(clause: Clause, value: object) -> bool:
    op, operand = clause.op, clause.operand
    if op == "==":
        return same(value, operand)
    if op == "!=":
        return not same(value, operand)
    if op == "in":
        return any(same(value, o) for o in operand)
    if op == "not_in":
        return not any(same(value, o) for o in operand)
    if op == "contains":
        return isinstance(value, list | tuple) and any(same(v, operand) for v in value)
    return ordered(value, operand) and bool(_ORDER[op](value, operand))


def interpret(node: Node, tags: Mapping[str, Any]) -> bool:
    """Whether ``node`` holds for ``tags``, walking the tree."""
    if isinstance(node, Clause):
        return holds(node, value_of(node, tags))
    if isinstance(node, Not):
        return not interpret(node.child, tags)
    if isinstance(node, All):
        return all(interpret(child, tags) for child in node.children)
    return any(interpret(child, tags) for child in node.children)


def explain(node: Node, tags: Mapping[str, Any], depth: int = 0) -> list[Explained]:
    """Every combinator and clause of ``node`` as a line, depth first, with the user's value
    and whether it held (every child is shown, not only up to the first that decided)."""
    if isinstance(node, Clause):
        value = value_of(node, tags)
        return [Explained(depth, node.label(), value, holds(node, value))]
    if isinstance(node, Not):
        inner = explain(node.child, tags, depth + 1)
        return [Explained(depth, "not", None, not inner[0].held), *inner]
    lines: list[Explained] = []
    heads: list[bool] = []
    for child in node.children:
        part = explain(child, tags, depth + 1)
        heads.append(part[0].held)
        lines.extend(part)
    if isinstance(node, All):
        text, held = ("always" if not heads else "all of"), all(heads)
    else:
        text, held = "any of", any(heads)
    return [Explained(depth, text, None, held), *lines]


__all__ = ["AnyOf", "explain", "holds", "interpret", "ordered", "same", "value_of"]
