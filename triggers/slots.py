"""When to send a campaign message to one user: their own peak hour, in their zone (pure).

The rule (docs/campaigns.md): the first occurrence, at HH:00 local time, of the best-ranked peak
hour that falls inside the window and outside quiet hours; else of the next ranked hour; a user
without history ranks the population's peak hours instead; when no peak hour fits, the window's
first moment outside quiet hours; None when the window has none.

Local times go through zoneinfo: an HH:00 that a DST change skips is taken at the instant the
clock jumps (02:00 on a spring-forward day in New York is 03:00 EDT); one that happens twice is
taken the first time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from profiles.timeutil import valid_zone
from triggers.clock import QuietHours

# Evening, lunch, morning commute: the population's peaks when nothing is known at all.
DEFAULT_POPULATION_PEAKS: Final = (20, 12, 9)


def _local(ts_ms: int, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).astimezone(zone)


def _epoch_ms(local: datetime) -> int:
    return int(local.timestamp() * 1000)


def _is_quiet(ts_ms: int, zone: ZoneInfo, quiet: QuietHours | None) -> bool:
    if quiet is None:
        return False
    local = _local(ts_ms, zone)
    return quiet.covers(local.hour * 60 + local.minute)


def _days(start_ms: int, end_ms: int, zone: ZoneInfo) -> list[datetime]:
    """Local midnights (naive dates in ``zone``) of every local day the window touches."""
    first = _local(start_ms, zone).replace(hour=0, minute=0, second=0, microsecond=0)
    last = _local(end_ms, zone).date()
    out = []
    day = first
    while day.date() <= last:
        out.append(day)
        day = day + timedelta(days=1)  # aware + timedelta: wall-clock days, not 24 h
    return out


def first_at(hour: int, minute: int, start_ms: int, end_ms: int, zone: ZoneInfo) -> list[int]:
    """Every instant in [start, end) when the local clock of ``zone`` shows hour:minute."""
    out = []
    for midnight in _days(start_ms, end_ms, zone):
        at = _epoch_ms(midnight.replace(hour=hour, minute=minute, fold=0))
        if start_ms <= at < end_ms:
            out.append(at)
    return out


def first_outside_quiet(
    start_ms: int, end_ms: int, zone: ZoneInfo, quiet: QuietHours | None
) -> int | None:
    """The window's first moment outside quiet hours, or None."""
    if start_ms >= end_ms:
        return None
    if quiet is None or not _is_quiet(start_ms, zone, quiet):
        return start_ms
    ends = first_at(quiet.end_min // 60, quiet.end_min % 60, start_ms, end_ms, zone)
    return next((t for t in ends if not _is_quiet(t, zone, quiet)), None)


def send_time(
    peak_hours: Sequence[int],
    zone: str | ZoneInfo,
    start_ms: int,
    end_ms: int,
    quiet: QuietHours | None,
    population: Sequence[int] = DEFAULT_POPULATION_PEAKS,
) -> int | None:
    """The send time for one user (module docstring); ``peak_hours`` ranked, best first; an
    unknown zone name counts as UTC (as for the decision point, triggers/clock.py)."""
    tz = zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone if valid_zone(zone) else "UTC")
    for hour in peak_hours or population:
        for at in first_at(hour, 0, start_ms, end_ms, tz):
            if not _is_quiet(at, tz, quiet):
                return at
    return first_outside_quiet(start_ms, end_ms, tz, quiet)


class PopulationPeaks:
    """The hours of day when most users are active: each user's hour-of-week histogram
    (``ProfileModel.view()["active_hours"]``, local hours) folded to hours of day and scaled to
    one vote per user, so that a few heavy users do not make the population's peak."""

    def __init__(self) -> None:
        self.scores = [0.0] * 24
        self.users = 0

    def add(self, histogram: Mapping[int, float]) -> None:
        by_hour = [0.0] * 24
        for how, score in histogram.items():
            by_hour[int(how) % 24] += max(0.0, score)
        total = sum(by_hour)
        if total <= 0:
            return
        self.users += 1
        for h in range(24):
            self.scores[h] += by_hour[h] / total

    def add_all(self, histograms: Iterable[Mapping[int, float]]) -> PopulationPeaks:
        for histogram in histograms:
            self.add(histogram)
        return self

    def peaks(self, n: int = 3) -> tuple[int, ...]:
        """The ``n`` best hours (ties: the earlier hour); the defaults without any user."""
        if not self.users:
            return DEFAULT_POPULATION_PEAKS[:n]
        ranked = sorted(range(24), key=lambda h: (-round(self.scores[h], 9), h))
        return tuple(h for h in ranked[:n] if self.scores[h] > 0)
