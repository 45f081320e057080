"""Manual tags: values set by hand (``portrait tag set``, or a ``tag`` event), read by the rules.

``manual: {values: [gold, silver], default: null}``, both optional: ``values`` are the allowed
values (all strings, all numbers or all bools), the tag's type follows from them (any scalar
when none are listed); a value set by hand outside them, or none, reads as ``default``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from profiles.rules.catalogue import RulesError, TagType, unknown

Path = tuple[str | int, ...]
KEYS = ("values", "default")


def family(value: object) -> str:
    """``bool``, ``str``, ``number`` or ``other``: what a manual value is compared as."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "str"
    return "number" if isinstance(value, int | float) else "other"


def parse_manual(spec: object, path: Path) -> tuple[tuple[Any, ...] | None, Any]:
    """The allowed values (None: any scalar) and the default of a ``manual:`` mapping."""
    if spec is None:
        return None, None
    if not isinstance(spec, Mapping):
        raise RulesError(
            "manual is a mapping: {values: [...], default: ...} (both optional)", path=path
        )
    for key in spec:
        if key not in KEYS:
            raise RulesError(unknown("key", key, KEYS), path=(*path, key), at_key=True)
    values, default = spec.get("values"), spec.get("default")
    if default is not None and family(default) == "other":
        raise RulesError(f"default is a scalar, not {default!r}", path=(*path, "default"))
    if values is None:
        return None, default
    if not isinstance(values, list) or not values:
        raise RulesError("values is a non-empty list of scalars", path=(*path, "values"))
    seen: set[tuple[str, Any]] = set()
    for i, v in enumerate(values):
        if family(v) == "other" or (family(v), v) in seen:
            raise RulesError(f"values are distinct strings, numbers or bools; not {v!r}",
                             path=(*path, "values", i))  # fmt: skip
        seen.add((family(v), v))
    if len({f for f, _ in seen}) > 1:
        raise RulesError("values are all strings, all numbers or all bools", path=(*path, "values"))
    if default is not None and (family(default), default) not in seen:
        raise RulesError(f"default {default!r} is not one of values", path=(*path, "default"))
    return tuple(values), default


def manual_type(values: tuple[Any, ...] | None, default: Any) -> TagType:
    """The type conditions check a manual tag against."""
    if values is None:
        return TagType("any", nullable=True)
    nullable = default is None
    kind = family(values[0])
    if kind == "str":
        return TagType("str", nullable=nullable, values=tuple(values))
    return TagType("number" if kind == "number" else "bool", nullable=nullable)


def manual_value(
    name: str, values: tuple[Any, ...] | None, default: Any
) -> Callable[[Mapping[str, Any]], Any]:
    """A manual tag's value in an evaluation: the one set by hand if allowed (``1.0`` is the
    number 1, ``true`` is not), else the default."""
    if values is None:
        return lambda tags: default if (v := tags.get(name)) is None else v
    allowed = frozenset((family(v), v) for v in values)

    def check(tags: Mapping[str, Any]) -> Any:
        v = tags.get(name)
        kind = family(v)
        return v if kind != "other" and (kind, v) in allowed else default

    return check
