"""What every section of the YAML configuration shares: the error type and typed sections."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

_T = TypeVar("_T")


class ConfigError(ValueError):
    """The configuration file or environment holds a value Portrait cannot use."""


def section(kind: type[_T], raw: object) -> _T:
    if raw is None:
        return kind()
    if not isinstance(raw, dict):
        raise ConfigError(f"{kind.__name__}: expected a mapping, got {type(raw).__name__}")
    names = {f.name: f for f in dataclasses.fields(kind)}  # type: ignore[arg-type]
    unknown = set(raw) - set(names)
    if unknown:
        raise ConfigError(f"unknown keys for {kind.__name__}: {sorted(unknown)}")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            values[key] = coerce(names[key].default, value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{kind.__name__}.{key}: {exc}") from exc
    return kind(**values)


def coerce(default: object, value: object) -> object:
    """Convert ``value`` to the type of the field's default (int, float, str or bool)."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise TypeError(f"expected true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)  # a quoted number in YAML
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"expected a whole number, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"expected a number, got {value!r}")
        return float(value)
    if isinstance(default, str):
        return str(value)
    return value
