"""triggers/clock.py: local wall-clock arithmetic across zones and daylight-saving changes."""

from __future__ import annotations

from datetime import datetime

import pytest

from triggers.clock import calendar_starts, in_quiet, local, minute_of_day, next_local

SH, NY, SCL = "Asia/Shanghai", "America/New_York", "America/Santiago"


def at(text: str) -> int:
    """An instant written with its UTC offset, e.g. ``2024-05-31T23:00+08:00``."""
    return int(datetime.fromisoformat(text).timestamp() * 1000)


@pytest.mark.parametrize(
    "zone,now,minute,expected",
    [
        (SH, "2024-05-31T12:00+08:00", 8 * 60, "2024-06-01T08:00+08:00"),
        (SH, "2024-05-31T07:00+08:00", 8 * 60, "2024-05-31T08:00+08:00"),
        (SH, "2024-05-31T08:00+08:00", 8 * 60, "2024-05-31T08:00+08:00"),  # at: now itself
        (SH, "2024-05-31T08:00:00.001+08:00", 8 * 60, "2024-06-01T08:00+08:00"),
        (SH, "2024-05-31T23:59+08:00", 0, "2024-06-01T00:00+08:00"),
        (SH, "2024-05-31T20:00+00:00", 8 * 60, "2024-06-01T08:00+08:00"),  # UTC day != local
        ("UTC", "2024-05-31T12:00+00:00", 19 * 60 + 30, "2024-05-31T19:30+00:00"),
        (NY, "2024-03-09T12:00-05:00", 8 * 60, "2024-03-10T08:00-04:00"),  # over spring forward
        (NY, "2024-03-10T00:00-05:00", 150, "2024-03-10T03:30-04:00"),  # 02:30 skipped: forward
        (NY, "2024-11-02T12:00-04:00", 8 * 60, "2024-11-03T08:00-05:00"),  # over fall back
        (NY, "2024-11-03T00:00-04:00", 90, "2024-11-03T01:30-04:00"),  # the first 01:30
        (SCL, "2024-09-07T12:00-04:00", 0, "2024-09-08T01:00-03:00"),  # midnight skipped
        ("Not/AZone", "2024-05-31T12:00+00:00", 8 * 60, "2024-06-01T08:00+00:00"),
        ("", "2024-05-31T07:00+00:00", 8 * 60, "2024-05-31T08:00+00:00"),
    ],
)
def test_next_local(zone: str, now: str, minute: int, expected: str) -> None:
    assert next_local(at(now), zone, minute) == at(expected)


def test_next_local_in_the_repeated_hour_finds_the_second_occurrence() -> None:
    # 01:45 EDT; 01:30 comes again at 01:30 EST (06:30 UTC) the same night
    assert next_local(at("2024-11-03T01:45-04:00"), NY, 90) == at("2024-11-03T01:30-05:00")


@pytest.mark.parametrize(
    "zone,now,minute",
    [
        (SH, "2024-05-31T23:59:59+08:00", 23 * 60 + 59),
        (SH, "2024-05-31T16:00+00:00", 0),  # 00:00 in Shanghai
        (NY, "2024-03-10T03:00-04:00", 180),  # the first minute after the jump
        (NY, "2024-11-03T01:30-05:00", 90),  # the repeated 01:30
        ("Asia/Kolkata", "2024-05-31T00:00+00:00", 5 * 60 + 30),
        ("Nowhere/Land", "2024-05-31T05:07+00:00", 5 * 60 + 7),  # as UTC
    ],
)
def test_minute_of_day(zone: str, now: str, minute: int) -> None:
    assert minute_of_day(at(now), zone) == minute


def test_an_invalid_zone_is_utc() -> None:
    now = at("2024-05-31T12:34+00:00")
    for zone in ("Not/AZone", "", "../etc/passwd", "utc+8"):
        assert local(now, zone) == local(now, "UTC")
        assert calendar_starts(now, zone) == calendar_starts(now, "UTC")
    assert str(local(now, "nope").tzinfo) == "UTC"


WRAP, DAYTIME = (22 * 60, 8 * 60), (13 * 60, 14 * 60)


@pytest.mark.parametrize(
    "local_time,window,quiet",
    [
        ("21:59", WRAP, False),
        ("22:00", WRAP, True),
        ("23:59", WRAP, True),
        ("00:00", WRAP, True),
        ("07:59", WRAP, True),
        ("08:00", WRAP, False),  # the end is exclusive
        ("12:00", WRAP, False),
        ("12:59", DAYTIME, False),
        ("13:00", DAYTIME, True),
        ("13:59", DAYTIME, True),
        ("14:00", DAYTIME, False),
        ("23:00", DAYTIME, False),
        ("03:00", (8 * 60, 8 * 60), False),  # start == end: no quiet hours
        ("08:00", (8 * 60, 8 * 60), False),
        ("03:00", (None, 8 * 60), False),  # disabled
    ],
)
def test_in_quiet(local_time: str, window: tuple[int | None, int], quiet: bool) -> None:
    for zone, offset in ((SH, "+08:00"), ("UTC", "+00:00"), ("America/Sao_Paulo", "-03:00")):
        now = at(f"2024-05-31T{local_time}{offset}")
        assert in_quiet(now, zone, *window) is quiet, zone


def test_in_quiet_reads_local_time_not_utc() -> None:
    now = at("2024-05-31T15:00+00:00")  # 23:00 in Shanghai, 11:00 in New York
    assert (in_quiet(now, SH, *WRAP), in_quiet(now, NY, *WRAP), in_quiet(now, "UTC", *WRAP)) == (
        True, False, False,
    )  # fmt: skip


# (zone, now, start of the local day, start of the local ISO week (Monday 00:00))
CALENDAR = [
    ("UTC", "2024-05-31T12:00+00:00", "2024-05-31T00:00+00:00", "2024-05-27T00:00+00:00"),
    (SH, "2024-05-31T12:00+08:00", "2024-05-31T00:00+08:00", "2024-05-27T00:00+08:00"),
    (SH, "2024-06-02T23:30+08:00", "2024-06-02T00:00+08:00", "2024-05-27T00:00+08:00"),  # Sun
    (SH, "2024-06-03T00:30+08:00", "2024-06-03T00:00+08:00", "2024-06-03T00:00+08:00"),  # Mon
    (SH, "2024-06-02T16:00+00:00", "2024-06-03T00:00+08:00", "2024-06-03T00:00+08:00"),  # UTC Sun
    (NY, "2024-06-02T22:00-04:00", "2024-06-02T00:00-04:00", "2024-05-27T00:00-04:00"),  # UTC Mon
    (NY, "2024-06-03T00:00-04:00", "2024-06-03T00:00-04:00", "2024-06-03T00:00-04:00"),
    (NY, "2024-06-02T23:59:59.999-04:00", "2024-06-02T00:00-04:00", "2024-05-27T00:00-04:00"),
    (NY, "2024-03-10T12:00-04:00", "2024-03-10T00:00-05:00", "2024-03-04T00:00-05:00"),  # DST on
    (NY, "2024-03-11T10:00-04:00", "2024-03-11T00:00-04:00", "2024-03-11T00:00-04:00"),
    (NY, "2024-11-03T23:00-05:00", "2024-11-03T00:00-04:00", "2024-10-28T00:00-04:00"),  # DST off
    (NY, "2024-11-04T01:00-05:00", "2024-11-04T00:00-05:00", "2024-11-04T00:00-05:00"),
    (SCL, "2024-09-08T12:00-03:00", "2024-09-08T01:00-03:00", "2024-09-02T00:00-04:00"),
]


@pytest.mark.parametrize("zone,now,day,week", CALENDAR)
def test_calendar_starts(zone: str, now: str, day: str, week: str) -> None:
    assert calendar_starts(at(now), zone) == (at(day), at(week))


@pytest.mark.parametrize("zone,now,day,week", CALENDAR)
def test_calendar_starts_hold_now(zone: str, now: str, day: str, week: str) -> None:
    day_start, week_start = calendar_starts(at(now), zone)
    assert week_start <= day_start <= at(now) < day_start + 25 * 3_600_000
    assert local(week_start, zone).weekday() == 0
