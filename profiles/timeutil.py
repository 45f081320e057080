"""Time arithmetic of the model: UTC day windows, decay, local hours of the week (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Final, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_MS: Final = 86_400_000
HOUR_MS: Final = 3_600_000
_EPOCH_DATE: Final = date(1970, 1, 1)
_EPOCH_WEEKDAY: Final = 3  # 1970-01-01 was a Thursday (Monday = 0)
K = TypeVar("K")


def day_of(ts_ms: int) -> int:
    return ts_ms // DAY_MS


def window_start(ts_ms: int, days: int) -> int:
    """The first UTC day number of the ``days``-day window that ends on the day of ``ts_ms``.

    Every window and horizon of the model is one of these (docs/tags.md)."""
    return ts_ms // DAY_MS - days + 1


def whole_days(duration_ms: int) -> int:
    """A configured duration as whole UTC days, rounded up (at least one)."""
    return max(1, -(-duration_ms // DAY_MS))


def days_since(as_of_ms: int, ts_ms: int | None) -> int | None:
    """Whole days from ``ts_ms`` to ``as_of_ms``, at least 0; None if ``ts_ms`` is."""
    if ts_ms is None:
        return None
    return max(0, (as_of_ms - ts_ms) // DAY_MS)


def latest(*times: int | None) -> int | None:
    """The latest of the known times; None if none is known."""
    known = [t for t in times if t is not None]
    return max(known) if known else None


def earliest(*times: int | None) -> int | None:
    """The earliest of the known times; None if none is known."""
    known = [t for t in times if t is not None]
    return min(known) if known else None


@lru_cache(maxsize=65_536)
def rfc3339(ts_ms: int | None) -> str | None:
    """``2026-01-01T12:00:00.000Z``: the UTC time of epoch milliseconds.

    A document holds a hundred of these, most of them repeated (the change times of tags that
    changed together), so they are cached, each day's date too, and the time of day is integer
    arithmetic; equal to datetime's isoformat (a property test holds it)."""
    if ts_ms is None:
        return None
    if type(ts_ms) is not int:
        return _rfc3339_datetime(ts_ms)
    day, ms = divmod(ts_ms, DAY_MS)
    seconds, milli = divmod(ms, 1000)
    hour, rest = divmod(seconds, 3600)
    minute, second = divmod(rest, 60)
    return f"{_date_text(day)}T{hour:02d}:{minute:02d}:{second:02d}.{milli:03d}Z"


@lru_cache(maxsize=4096)
def _date_text(day: int) -> str:
    return (_EPOCH_DATE + timedelta(days=day)).isoformat()


def _rfc3339_datetime(ts_ms: float) -> str:
    return (
        datetime.fromtimestamp(ts_ms / 1000, tz=UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def decay(from_ms: int, to_ms: int, half_life_ms: int) -> float:
    """The factor ``2^(-(to - from) / half_life)`` a score decays by from one time to another."""
    return float(2.0 ** ((from_ms - to_ms) / half_life_ms))


def rescaled(scores: Mapping[K, float], ref: int, to: int, half_life_ms: int) -> dict[K, float]:
    """Decayed scores as of ``ref`` moved to be as of ``to``."""
    if ref == to:
        return dict(scores)
    factor = decay(ref, to, half_life_ms)
    return {name: score * factor for name, score in scores.items()}


@lru_cache(maxsize=512)
def valid_zone(name: str | None) -> bool:
    """Whether ``name`` is an IANA zone this machine knows."""
    if not name:
        return False
    try:
        _zone(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Europe" (a directory),
        return False  # a name longer than the file system allows
    return True


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@lru_cache(maxsize=65_536)
def _offset_ms(zone: str, hour_epoch: int) -> int:
    """The UTC offset of ``zone`` during one UTC hour (no zone changes offset mid-hour except
    a few historical ones at half hours, which we accept)."""
    if zone == "UTC":
        return 0
    try:
        tz = _zone(zone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return 0
    offset = datetime.fromtimestamp(hour_epoch * 3600, UTC).astimezone(tz).utcoffset()
    return 0 if offset is None else int(offset.total_seconds() * 1000)


def local_ms(ts_ms: int, zone: str) -> int:
    """Epoch ms shifted by the UTC offset of ``zone`` at that instant (local wall time)."""
    return ts_ms + _offset_ms(zone, ts_ms // HOUR_MS)


def hour_of_week(ts_ms: int, zone: str) -> int:
    """Local hour of the week, Monday 00:00-00:59 = 0 .. Sunday 23:00 = 167."""
    local = local_ms(ts_ms, zone)
    weekday = (local // DAY_MS + _EPOCH_WEEKDAY) % 7
    return weekday * 24 + local // HOUR_MS % 24


def local_year(ts_ms: int, zone: str = "UTC") -> int:
    return datetime.fromtimestamp(local_ms(ts_ms, zone) / 1000, tz=UTC).year
