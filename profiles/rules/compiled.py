"""Conditions compiled once into closures: the hot path of every touched user of every batch.

Each clause becomes one closure chosen by its operator and operand type when the rules load,
so an evaluation never dispatches on an operator string; combinators of one or two children
skip the loop. Semantics are those of reference.py (a property test holds them equal): a
bool is not a number (``v.__class__`` is checked, so ``True`` never equals ``1``), an ordering
with null or another type is false, ``contains`` needs a list or a tuple.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from profiles.rules.nodes import MISSING_SHARE, All, AnyOf, Clause, Node, Not

Tags = Mapping[str, Any]
Predicate = Callable[[Tags], bool]
_NUMBERS: Final = frozenset({int, float})
_HASHABLE: Final = frozenset({int, float, str, type(None)})


def _true(tags: Tags) -> bool:
    return True


def _false(tags: Tags) -> bool:
    return False


def compile_node(node: Node) -> Predicate:
    """A closure equal to ``interpret(node, tags)``; build it once per rules version."""
    if isinstance(node, Clause):
        test = _compile_clause(node)
        return test if node.key is None else _lookup(node.tag, node.key, test)
    if isinstance(node, Not):
        inner = compile_node(node.child)
        return lambda tags: not inner(tags)
    parts = tuple(compile_node(child) for child in node.children)
    if isinstance(node, All):
        return _every(parts)
    return _some(parts)


def _every(parts: tuple[Predicate, ...]) -> Predicate:
    if not parts:
        return _true
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        a, b = parts
        return lambda tags: a(tags) and b(tags)

    def every(tags: Tags) -> bool:
        for part in parts:  # noqa: SIM110  # a loop: no generator frame per call
            if not part(tags):
                return False
        return True

    return every


def _some(parts: tuple[Predicate, ...]) -> Predicate:
    if not parts:
        return _false
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        a, b = parts
        return lambda tags: a(tags) or b(tags)

    def some(tags: Tags) -> bool:
        for part in parts:  # noqa: SIM110  # a loop: no generator frame per call
            if part(tags):
                return True
        return False

    return some


def _lookup(tag: str, key: str, test: Predicate) -> Predicate:
    """A clause on one key of a lookup tag: the test reads the share under the tag's name."""

    def read(tags: Tags) -> bool:
        value = tags.get(tag)
        share = value.get(key, MISSING_SHARE) if isinstance(value, dict) else None
        return test({tag: share})

    return read


def _compile_clause(c: Clause) -> Predicate:
    op = c.op
    if op in ("==", "!="):
        test = _equals(c.tag, c.operand)
    elif op in ("in", "not_in"):
        test = _member(c.tag, c.operand)
    elif op == "contains":
        test = _contains(c.tag, c.operand)
    else:
        return _order(c.tag, op, c.operand)
    if op in ("!=", "not_in"):
        return lambda tags: not test(tags)
    return test


def _equals(tag: str, x: Any) -> Predicate:
    if x is None or x is True or x is False:
        return lambda tags: tags.get(tag) is x
    if x.__class__ is str:
        return lambda tags: tags.get(tag) == x

    def number(tags: Tags) -> bool:
        v = tags.get(tag)
        return v.__class__ in _NUMBERS and v == x

    return number


def _member(tag: str, operands: tuple[Any, ...]) -> Predicate:
    bools = frozenset(o for o in operands if o is True or o is False)
    others = frozenset(o for o in operands if not (o is True or o is False))

    def member(tags: Tags) -> bool:
        v = tags.get(tag)
        cls = v.__class__
        if cls is bool:
            return v in bools
        return cls in _HASHABLE and v in others

    return member


def _contains(tag: str, x: Any) -> Predicate:
    if x is None or x is True or x is False:

        def same(tags: Tags) -> bool:
            v = tags.get(tag)
            return isinstance(v, list | tuple) and any(e is x for e in v)

        return same
    if x.__class__ is str:

        def text(tags: Tags) -> bool:
            v = tags.get(tag)
            return isinstance(v, list | tuple) and x in v

        return text

    def number(tags: Tags) -> bool:
        v = tags.get(tag)
        return isinstance(v, list | tuple) and any(e.__class__ in _NUMBERS and e == x for e in v)

    return number


def _order(tag: str, op: str, x: Any) -> Predicate:
    kinds = _NUMBERS if x.__class__ in _NUMBERS else frozenset({str})
    if op == "<":
        return lambda tags: (v := tags.get(tag)).__class__ in kinds and v < x
    if op == "<=":
        return lambda tags: (v := tags.get(tag)).__class__ in kinds and v <= x
    if op == ">":
        return lambda tags: (v := tags.get(tag)).__class__ in kinds and v > x
    return lambda tags: (v := tags.get(tag)).__class__ in kinds and v >= x


__all__ = ["All", "AnyOf", "Predicate", "compile_node"]
