"""The condition language of the rules: the campaigns' one (docs/campaigns.md), extended.

A condition is a mapping, an AND of its entries; an entry is a tag and its clause, or a
combinator: ``all: [cond, ...]``, ``any: [cond, ...]``, ``not: cond``, nested at any depth. A
clause is a scalar (``==``), a list (``in``) or a mapping of operators (``==, !=, <, <=, >, >=,
in, not_in, contains``), all of which must hold. A lookup tag takes ``{key: clause}``:
``category_affinity: {baby: {">": 0.5}}``. Every name and type is checked here, against the
tags' types, so an evaluation never meets a type error: an unknown tag names the closest valid
one, an ordering needs a number (or an RFC 3339 time), a string is compared with a string tag.

parse_condition gives a tree (nodes.py); compile_node (compiled.py) makes closures of it once;
interpret and explain (reference.py) walk it plainly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from profiles.rules.catalogue import (
    LOOKUP_TAGS,
    NUMERIC,
    RulesError,
    TagType,
    bool_hint,
    closest,
    unknown,
)
from profiles.rules.compiled import Predicate, compile_node
from profiles.rules.nodes import (
    ALWAYS,
    COMBINATORS,
    OPERATORS,
    ORDERING,
    All,
    AnyOf,
    Clause,
    Explained,
    Node,
    Not,
    clauses,
    reads,
    show,
)
from profiles.rules.reference import explain, interpret

__all__ = [
    "ALWAYS", "All", "AnyOf", "Clause", "Explained", "Node", "Not", "Predicate", "clauses",
    "compile_node", "explain", "interpret", "parse_condition", "reads",
]  # fmt: skip

Path = tuple[str | int, ...]
SHARE: TagType = TagType("float")  # the value under a key of a lookup tag
_SCALARS = (str, int, float, bool, type(None))


def parse_condition(spec: object, types: Mapping[str, TagType], where: str = "") -> Node:
    """The tree of a condition; :class:`RulesError` (with the ``path`` of the bad part inside
    ``spec``) on any bad name, operator or operand. ``where`` prefixes the messages."""
    try:
        return _condition(spec, types, ())
    except RulesError as e:
        if not where:
            raise
        raise RulesError(f"{where}: {e.message}", path=e.path, at_key=e.at_key) from None


def _condition(spec: object, types: Mapping[str, TagType], path: Path) -> Node:
    if not isinstance(spec, Mapping):
        raise RulesError(
            f"a condition is a mapping of tag to clause (or all/any/not), not {_kind(spec)}",
            path=path,
        )
    nodes: list[Node] = []
    for name, value in spec.items():
        here = (*path, name)
        if name in ("all", "any"):
            if not isinstance(value, list) or not value:
                raise RulesError(f"{name} needs a non-empty list of conditions", path=here)
            children = tuple(_condition(v, types, (*here, i)) for i, v in enumerate(value))
            nodes.append(All(children) if name == "all" else AnyOf(children))
        elif name == "not":
            nodes.append(Not(_condition(value, types, here)))
        elif not isinstance(name, str) or name not in types:
            raise RulesError(unknown("tag", name, [*types, *COMBINATORS]), path=here, at_key=True)
        elif types[name].kind == "lookup":
            nodes.append(_lookup(name, value, here))
        else:
            nodes.append(_clauses(name, None, value, types[name], here))
    return nodes[0] if len(nodes) == 1 else All(tuple(nodes))


def _lookup(tag: str, value: object, path: Path) -> Node:
    example = f'{{{tag}: {{some_key: {{">": 0.5}}}}}}'
    if not isinstance(value, Mapping) or not value:
        raise RulesError(
            f"{tag} is a lookup tag: give a key and a clause, e.g. {example}", path=path
        )
    nodes: list[Node] = []
    for key, clause in value.items():
        if not isinstance(key, str) or key in OPERATORS:
            raise RulesError(
                f"{tag} is a lookup tag: name a key before the operator, e.g. {example}",
                path=(*path, key),
                at_key=True,
            )
        nodes.append(_clauses(tag, key, clause, SHARE, (*path, key)))
    return nodes[0] if len(nodes) == 1 else All(tuple(nodes))


def _clauses(tag: str, key: str | None, spec: object, t: TagType, path: Path) -> Node:
    name = tag if key is None else f"{tag}.{key}"
    if isinstance(spec, Mapping):
        if not spec:
            raise RulesError(f"{name}: an empty mapping of operators", path=path)
        parts: list[Node] = []
        for op, operand in spec.items():
            if op not in OPERATORS:
                raise RulesError(_bad_operator(name, op, t), path=(*path, op), at_key=True)
            parts.append(_clause(tag, key, str(op), operand, t, (*path, op)))
        return parts[0] if len(parts) == 1 else All(tuple(parts))
    op = "in" if isinstance(spec, list) else "=="
    return _clause(tag, key, op, spec, t, path)


def _bad_operator(name: str, op: object, t: TagType) -> str:
    hint = _operator_like(op) if isinstance(op, str) else None
    text = f"{name}: unknown operator {op!r}"
    if hint:
        return f"{text} (did you mean {hint!r}?)"
    if t.kind != "lookup" and isinstance(op, str) and op.isidentifier():
        return f"{text}: {name} is not a lookup tag (lookup tags: {', '.join(LOOKUP_TAGS)})"
    return f"{text} (one of {', '.join(OPERATORS)})"


def _operator_like(op: str) -> str | None:
    """The operator a typo meant: the same characters in another order (``=>``), else the
    closest spelling (``not in``, ``contain``)."""
    for known in OPERATORS:
        if sorted(known) == sorted(op):
            return known
    return closest(op.replace(" ", "_"), OPERATORS)


def _clause(tag: str, key: str | None, op: str, operand: object, t: TagType, path: Path) -> Clause:
    name = tag if key is None else f"{tag}.{key}"
    if t.kind == "list" and op != "contains":
        raise RulesError(f"{name} is a list: use contains (and not: for its negation)", path=path)
    if op in ("in", "not_in"):
        if not isinstance(operand, list) or not operand:
            raise RulesError(
                f"{name}: {op} needs a non-empty list, not {show_any(operand)}", path=path
            )
        for i, member in enumerate(operand):
            _equal_operand(name, op, member, t, (*path, i))
        return Clause(tag, key, op, tuple(operand))
    if op == "contains":
        if t.kind not in ("list", "any"):
            raise RulesError(
                f"{name}: contains needs a list tag; {name} is {t.describe()}", path=path
            )
        item = TagType(t.item or "any", nullable=t.item is None)
        _equal_operand(name, op, operand, item, path)
        return Clause(tag, key, op, operand)
    if op in ORDERING:
        _order_operand(name, op, operand, t, path)
        return Clause(tag, key, op, operand)
    _equal_operand(name, op, operand, t, path)
    return Clause(tag, key, op, operand)


def _equal_operand(name: str, op: str, x: object, t: TagType, path: Path) -> None:
    if not isinstance(x, _SCALARS) or _nan(x):  # NaN equals nothing, not even itself
        raise RulesError(f"{name}: {op} needs a scalar, not {show_any(x)}", path=path)
    if t.kind == "any":
        return
    if x is None:
        if not t.nullable:
            raise RulesError(f"{name}: {op} null never holds, {name} is {t.describe()}", path=path)
        return
    fits = {
        "bool": isinstance(x, bool),
        "str": isinstance(x, str),
        "number": isinstance(x, int | float) and not isinstance(x, bool),
    }[_family(t)]
    if not fits:
        hint = bool_hint(x) if t.kind == "str" else _number_hint(x)
        what = f"compares {_kind(x)} with {t.describe()}{hint}"
        raise RulesError(f"{name}: {op} {show(x)} {what}", path=path)
    if t.values is not None and x not in t.values:
        guess = closest(str(x), t.values)
        hint = f" (did you mean {guess!r}?)" if guess else f" (one of {', '.join(t.values)})"
        raise RulesError(f"{name}: {show(x)} is not a value of {name}{hint}", path=path)


def _order_operand(name: str, op: str, x: object, t: TagType, path: Path) -> None:
    if _nan(x):  # NaN orders with nothing
        raise RulesError(f"{name}: {op} needs a number, not NaN", path=path)
    number = isinstance(x, int | float) and not isinstance(x, bool)
    if t.kind in NUMERIC and number:
        return
    if t.kind == "any" and (number or isinstance(x, str)):
        return
    if t.kind == "str" and t.ordered and isinstance(x, str):
        return
    if t.kind in NUMERIC or (t.kind == "str" and t.ordered):
        raise RulesError(
            f"{name}: {op} {show_any(x)} compares {_kind(x)} with {t.describe()}", path=path
        )
    raise RulesError(f"{name}: {op} needs a number tag; {name} is {t.describe()}", path=path)


def _number_hint(x: object) -> str:
    """A quoted number where a number belongs: say so."""
    if not isinstance(x, str):
        return ""
    try:
        float(x)
    except ValueError:
        return ""
    return " (write the number without quotes)"


def _nan(x: object) -> bool:
    return isinstance(x, float) and math.isnan(x)


def _family(t: TagType) -> str:
    return "number" if t.kind in NUMERIC else t.kind


def _kind(x: object) -> str:
    if x is None:
        return "null"
    if isinstance(x, bool):
        return "a bool"
    if isinstance(x, int | float):
        return "a number"
    if isinstance(x, str):
        return "a string"
    return (
        "a list"
        if isinstance(x, list)
        else "a mapping"
        if isinstance(x, Mapping)
        else type(x).__name__
    )


def show_any(x: Any) -> str:
    try:
        return show(x)
    except TypeError:
        return repr(x)
