"""Local wall-clock arithmetic for the decision point: quiet hours, calendar days and weeks,
the next occurrence of a local time (pure; zoneinfo makes daylight-saving changes safe)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final
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


DAY_MINUTES: Final = 1440


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Local minutes after midnight; ``start > end`` wraps midnight (22:00-08:00)."""

    start_min: int
    end_min: int

    @classmethod
    def of(cls, start_min: int | None, end_min: int) -> QuietHours | None:
        """From ``PolicyConfig.quiet_start_min / quiet_end_min`` (None or empty: no quiet)."""
        if start_min is None or start_min % DAY_MINUTES == end_min % DAY_MINUTES:
            return None
        return cls(start_min % DAY_MINUTES, end_min % DAY_MINUTES)

    def covers(self, minute: int) -> bool:
        if self.start_min < self.end_min:
            return self.start_min <= minute < self.end_min
        return minute >= self.start_min or minute < self.end_min


def in_quiet(now_ms: int, zone: str, start: int | None, end: int) -> bool:
    """Whether ``now_ms`` lies in the quiet hours [start, end) local (wrapping past midnight)."""
    quiet = QuietHours.of(start, end)
    return quiet is not None and quiet.covers(minute_of_day(now_ms, zone))


def calendar_starts(now_ms: int, zone: str) -> tuple[int, int]:
    """Start of the local calendar day and of the local ISO week (Monday) holding ``now_ms``."""
    today = local(now_ms, zone).date()
    monday = today - timedelta(days=today.weekday())
    return _epoch_ms(today, 0, zone), _epoch_ms(monday, 0, zone)
