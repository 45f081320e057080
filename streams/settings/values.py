"""The value types a YAML file writes as text: durations, clock times and instants.

Each is an ``int`` (milliseconds or minutes) once decoded; :func:`dec_hook` reads it and
:func:`schema_hook` describes it in the JSON Schema.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Final

from profiles.durations import parse_duration_ms

_CLOCK: Final = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_RFC3339: Final = r"^\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d(:\d\d(\.\d+)?)?([Zz]|[+-]\d\d:\d\d)$"
_DURATION_PATTERN: Final = r"^\s*\d+(\.\d+)?\s*(ms|s|m|h|d|w)?\s*$"


class Duration(int):
    """Milliseconds, written ``250ms``, ``45s``, ``30m``, ``24h``, ``7d``, ``2w`` or seconds."""


class Clock(int):
    """Minutes after local midnight, written ``"22:30"`` (YAML 1.1 reads an unquoted 22:30 as
    the base-60 number 1350, which is the same minute)."""


class Instant(int):
    """Epoch milliseconds, written as an RFC 3339 time with a UTC offset or as epoch ms."""


def dec_hook(kind: type, value: Any) -> Any:
    if kind is Duration:
        try:
            return Duration(parse_duration_ms(value))
        except (TypeError, ValueError) as exc:
            raise ValueError(str(exc)) from None
    if kind is Clock:
        return Clock(_clock(value))
    if kind is Instant:
        return Instant(_instant(value))
    raise NotImplementedError(kind)


def _clock(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        return value
    match = _CLOCK.match(str(value))
    if match is None:
        raise ValueError(f"expected HH:MM, got {value!r}")
    return int(match.group(1)) * 60 + int(match.group(2))


def _instant(value: object) -> int:
    if isinstance(value, datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=UTC)
        return int(stamp.timestamp() * 1000)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return int(parsed.timestamp() * 1000)
    raise ValueError("expected an RFC 3339 time with a UTC offset or epoch ms")


def schema_hook(kind: type) -> dict[str, Any]:
    if kind is Duration:
        return {
            "anyOf": [
                {"type": "string", "pattern": _DURATION_PATTERN},
                {"type": "number", "minimum": 0},
            ],
            "description": "a duration: 250ms, 45s, 30m, 24h, 7d, 2w, or a number of seconds",
        }
    if kind is Clock:
        return {
            "anyOf": [
                {"type": "string", "pattern": _CLOCK.pattern},
                {"type": "integer", "minimum": 0, "maximum": 24 * 60 - 1},
            ],
            "description": "a local time of day, HH:MM",
        }
    if kind is Instant:
        return {
            "anyOf": [{"type": "string", "pattern": _RFC3339}, {"type": "integer"}],
            "description": "an RFC 3339 time with a UTC offset, or epoch milliseconds",
        }
    raise NotImplementedError(kind)
