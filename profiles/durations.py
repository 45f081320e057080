"""Durations as written in the YAML config: ``45s``, ``30m``, ``24h``, ``7d``, ``250ms`` or a number
of seconds."""

from __future__ import annotations

import re

_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")


def parse_duration_ms(value: str | int | float) -> int:
    """Return the duration in milliseconds; a bare number means seconds.

    >>> parse_duration_ms("30m")
    1800000
    """
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        if not 0 <= value < 1e15:  # also false for NaN and infinity
            raise ValueError(f"not a duration in seconds: {value!r}")
        return round(value * 1000)
    if not isinstance(value, str):
        raise ValueError(f"not a duration: {value!r} (use e.g. 45s, 30m, 24h, 7d)")
    match = _PATTERN.match(value)
    if match is None:
        raise ValueError(f"not a duration: {value!r} (use e.g. 45s, 30m, 24h, 7d)")
    number, unit = match.groups()
    return round(float(number) * _UNITS_MS[unit or "s"])
