"""Audience conditions: a small, safe language over a profile's tags (pure; docs/campaigns.md).

A condition is a mapping of tag name to a clause, all clauses ANDed, friendly to YAML and JSON:

    {"high_value": true,                 # a scalar (or null): equality
     "lifecycle": ["active", "new"],     # a list: membership
     "orders_180d": {">=": 2},           # a mapping: comparisons, ANDed
     "top_category": {"!=": null},
     "top_categories": {"contains": "shoes"}}

Operators: ``==, !=, <, <=, >, >=, in, not_in, contains``. Nothing is evaluated as code: a
condition compiles once into a tuple of (tag, operator, operand) checks, and unknown tag names,
operators or operand types are a :class:`ValueError` at compile time, never at evaluation.
An ordering comparison with a tag that is null or of another type is false (``!=`` and
``not_in`` are true), so ``{"days_since_last_purchase": {"<": 30}}`` leaves out non-buyers.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from profiles.aggregators import Tags
    from profiles.model import ProfileModel, State

Scalar = str | int | float | bool | None
_ORDER: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
OPERATORS: Final = ("==", "!=", *_ORDER, "in", "not_in", "contains")


@lru_cache(maxsize=1)
def known_tags() -> frozenset[str]:
    """Every tag name the profile model produces (docs/tags.md)."""
    from profiles.model import ProfileModel

    model = ProfileModel()
    return frozenset(model.tags(model.initial(), 0))


def _same(a: object, b: object) -> bool:
    """Equality that does not take ``True`` for ``1`` (a bool tag is not a count)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def _ordered(a: object, b: object) -> bool:
    """Whether ``a`` and ``b`` compare meaningfully: both numbers, or both strings."""
    if isinstance(a, bool) or isinstance(b, bool):
        return False
    if isinstance(a, int | float) and isinstance(b, int | float):
        return True
    return isinstance(a, str) and isinstance(b, str)


@dataclass(frozen=True, slots=True)
class Clause:
    tag: str
    op: str
    operand: Any  # a scalar, or a tuple of scalars for in / not_in

    def holds(self, value: object) -> bool:
        op, operand = self.op, self.operand
        if op == "==":
            return _same(value, operand)
        if op == "!=":
            return not _same(value, operand)
        if op == "in":
            return any(_same(value, o) for o in operand)
        if op == "not_in":
            return not any(_same(value, o) for o in operand)
        if op == "contains":
            return isinstance(value, list | tuple) and any(_same(v, operand) for v in value)
        return _ordered(value, operand) and bool(_ORDER[op](value, operand))


@dataclass(frozen=True, slots=True)
class Condition:
    clauses: tuple[Clause, ...]

    def __call__(self, tags: Mapping[str, Any]) -> bool:
        return all(c.holds(tags.get(c.tag)) for c in self.clauses)

    @property
    def tags(self) -> frozenset[str]:
        return frozenset(c.tag for c in self.clauses)


def _scalar(tag: str, op: str, value: object) -> Scalar:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise ValueError(f"{tag}: {op} needs a scalar (string, number, boolean or null), not {value!r}")


def _clause(tag: str, op: str, operand: object) -> Clause:
    if op not in OPERATORS:
        raise ValueError(f"{tag}: unknown operator {op!r} (one of {', '.join(OPERATORS)})")
    if op in ("in", "not_in"):
        if not isinstance(operand, list | tuple) or not operand:
            raise ValueError(f"{tag}: {op} needs a non-empty list, not {operand!r}")
        return Clause(tag, op, tuple(_scalar(tag, op, o) for o in operand))
    value = _scalar(tag, op, operand)
    if op in _ORDER and (value is None or isinstance(value, bool)):
        raise ValueError(f"{tag}: {op} needs a number or a string, not {operand!r}")
    return Clause(tag, op, value)


def compile_condition(spec: object, known: Collection[str] | None = None) -> Condition:
    """Compile a condition; ``known``: the tag names allowed (default: the model's)."""
    if not isinstance(spec, Mapping):
        raise ValueError(f"a condition is a mapping of tag to clause, not {type(spec).__name__}")
    names = known_tags() if known is None else known
    clauses: list[Clause] = []
    for tag, rule in spec.items():
        if not isinstance(tag, str) or tag not in names:
            raise ValueError(f"unknown tag {tag!r} (docs/tags.md lists them)")
        if isinstance(rule, Mapping):
            if not rule:
                raise ValueError(f"{tag}: an empty comparison mapping")
            clauses.extend(_clause(tag, str(op), operand) for op, operand in rule.items())
        elif isinstance(rule, list | tuple):
            clauses.append(_clause(tag, "in", rule))
        else:
            clauses.append(_clause(tag, "==", rule))
    return Condition(tuple(clauses))


def tag_reader(model: ProfileModel, names: Collection[str]) -> Callable[[State, int], Tags]:
    """The cheapest way to read ``names`` (plus the active-hour tags a send time needs) of a
    state as of a time: the segments' lean path and the active hours when they suffice, the
    aggregators that make them when no derived tag is needed, else :meth:`ProfileModel.tags`.
    The values are those of :meth:`ProfileModel.tags` (the model holds segments equal to it).
    The plan is the business rules' one (profiles/rules/inputs.py), plus the active hours."""
    from profiles.rules.inputs import builtin_reader, made_by, segment_tags

    hours = model.hours
    wanted = frozenset(names) - made_by(hours)
    base = builtin_reader(model, wanted or segment_tags(model), fields=False)  # none: lean path
    if base == model.tags:
        return model.tags

    def read(state: State, as_of_ms: int) -> Tags:
        out = base(state, as_of_ms)
        out.update(model.tags_of(hours, state, as_of_ms))
        return out

    return read
