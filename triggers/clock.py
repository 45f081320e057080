"""Local wall-clock arithmetic for the decision point: quiet hours, calendar days and weeks,
the next occurrence of a local time (pure; zoneinfo makes daylight-saving changes safe)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from profiles.timeutil import valid_zone


def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name if valid_zone(name) else "UTC")


def local(now_ms: int, zone: str) -> datetime:
    return datetime.fromtimestamp(now_ms / 1000, tz=UTC).astimezone(_zone(zone))


def minute_of_day(now_ms: int, zone: str) -> int:
    t = local(now_ms, zone)
    return t.hour * 60 + t.minute


def _epoch_ms(day: date, minute: int, zone: str, fold: int = 0) -> int:
    wall = datetime.combine(day, time(minute // 60, minute % 60, fold=fold), tzinfo=_zone(zone))
    # a wall time skipped by a DST jump resolves forward through UTC and back
    return int(wall.astimezone(UTC).timestamp() * 1000)


def next_local(now_ms: int, zone: str, minute: int) -> int:
    """The first moment at or after ``now_ms`` whose local time is ``minute`` past midnight."""
    today = local(now_ms, zone).date()
    for offset in range(3):
        day = today + timedelta(days=offset)
        # fold=1: the second of a wall time repeated when clocks fall back
        times = {_epoch_ms(day, minute, zone, f) for f in (0, 1)}
        if len(times) == 2 and minute_of_day(max(times), zone) != minute:
            times = {min(times, key=lambda t: minute_of_day(t, zone) != minute)}  # a gap
        later = [t for t in times if t >= now_ms]
        if later:
            return min(later)
    raise AssertionError("unreachable: a local time recurs within two days")


def in_quiet(now_ms: int, zone: str, start: int | None, end: int) -> bool:
    """Whether ``now_ms`` lies in the quiet hours [start, end) local (wrapping past midnight)."""
    if start is None or start == end:
        return False
    m = minute_of_day(now_ms, zone)
    return start <= m < end if start < end else m >= start or m < end


def calendar_starts(now_ms: int, zone: str) -> tuple[int, int]:
    """Start of the local calendar day and of the local ISO week (Monday) holding ``now_ms``."""
    today = local(now_ms, zone).date()
    monday = today - timedelta(days=today.weekday())
    return _epoch_ms(today, 0, zone), _epoch_ms(monday, 0, zone)
