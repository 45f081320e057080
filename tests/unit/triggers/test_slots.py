"""The send-time rule of triggers/slots.py, in several zones and across DST changes."""

from __future__ import annotations

from datetime import datetime

import pytest

from triggers.clock import QuietHours
from triggers.slots import DEFAULT_POPULATION_PEAKS, PopulationPeaks, send_time

H = 3_600_000
QUIET = QuietHours(22 * 60, 8 * 60)


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


@pytest.mark.parametrize(
    ("peaks", "zone", "start", "hours", "quiet", "expected"),
    [
        # UTC: the best peak hour later today, or tomorrow when today's is past
        ([14], "UTC", "2024-03-05T10:30:00Z", 24, QUIET, "2024-03-05T14:00:00Z"),
        ([9], "UTC", "2024-03-05T10:30:00Z", 24, QUIET, "2024-03-06T09:00:00Z"),
        # a peak hour at the start instant counts; the window's end does not
        ([10], "UTC", "2024-03-05T10:00:00Z", 24, QUIET, "2024-03-05T10:00:00Z"),
        ([10], "UTC", "2024-03-04T10:00:01Z", 24, QUIET, "2024-03-05T10:00:00Z"),
        # the best hour is quiet: the next ranked one
        ([23, 12], "UTC", "2024-03-05T10:30:00Z", 24, QUIET, "2024-03-05T12:00:00Z"),
        ([7, 23, 21], "UTC", "2024-03-05T10:30:00Z", 24, QUIET, "2024-03-05T21:00:00Z"),
        # no quiet hours: 23:00 is fine
        ([23, 12], "UTC", "2024-03-05T10:30:00Z", 24, None, "2024-03-05T23:00:00Z"),
        # no peak hour fits: the window's first moment outside quiet hours
        ([23], "UTC", "2024-03-05T10:30:00Z", 24, QUIET, "2024-03-05T10:30:00Z"),
        ([14], "UTC", "2024-03-05T10:30:00Z", 1, QUIET, "2024-03-05T10:30:00Z"),
        ([23], "UTC", "2024-03-05T23:00:00Z", 11, QUIET, "2024-03-06T08:00:00Z"),
        # the window lies in quiet hours: no slot
        ([23], "UTC", "2024-03-05T23:00:00Z", 8, QUIET, None),
        # Asia/Shanghai, UTC+8 all year
        ([20], "Asia/Shanghai", "2024-03-05T00:00:00Z", 24, QUIET, "2024-03-05T12:00:00Z"),
        ([7, 9], "Asia/Shanghai", "2024-03-05T00:00:00Z", 24, QUIET, "2024-03-05T01:00:00Z"),
        ([8], "Asia/Shanghai", "2024-03-05T01:00:00Z", 24, QUIET, "2024-03-06T00:00:00Z"),
        # New York in winter (UTC-5)
        ([20], "America/New_York", "2024-01-15T12:00:00Z", 24, QUIET, "2024-01-16T01:00:00Z"),
        # New York, spring forward on 2024-03-10: 02:00 EST does not exist (03:00 EDT instead)
        ([2], "America/New_York", "2024-03-10T05:00:00Z", 24, None, "2024-03-10T07:00:00Z"),
        ([9], "America/New_York", "2024-03-10T05:00:00Z", 24, QUIET, "2024-03-10T13:00:00Z"),
        ([20], "America/New_York", "2024-03-10T05:00:00Z", 24, QUIET, "2024-03-11T00:00:00Z"),
        # quiet hours end at 08:00 EDT (12:00Z) on the day of the change
        ([23], "America/New_York", "2024-03-10T05:00:00Z", 24, QUIET, "2024-03-10T12:00:00Z"),
        # fall back on 2024-11-03: 01:00 happens twice, the first (EDT) is taken
        ([1], "America/New_York", "2024-11-03T04:00:00Z", 24, None, "2024-11-03T05:00:00Z"),
        ([20], "America/New_York", "2024-11-03T04:00:00Z", 24, QUIET, "2024-11-04T01:00:00Z"),
        # an unknown zone counts as UTC
        ([14], "Mars/Olympus", "2024-03-05T10:30:00Z", 24, QUIET, "2024-03-05T14:00:00Z"),
    ],
)
def test_send_time(
    peaks: list[int],
    zone: str,
    start: str,
    hours: int,
    quiet: QuietHours | None,
    expected: str | None,
) -> None:
    begin = ms(start)
    got = send_time(peaks, zone, begin, begin + hours * H, quiet)
    assert got == (None if expected is None else ms(expected))


@pytest.mark.parametrize(
    ("population", "expected"),
    [
        ((20, 12), "2024-03-05T12:00:00Z"),  # 20:00 in Shanghai
        ((23, 12), "2024-03-05T04:00:00Z"),  # 23:00 is outside the window: 12:00 local
        ((7,), "2024-03-05T03:00:00Z"),  # 07:00 is outside: the window's start
    ],
)
def test_users_without_history_take_the_population_peak(
    population: tuple[int, ...], expected: str
) -> None:
    start = ms("2024-03-05T03:00:00Z")  # 11:00 in Shanghai; the window ends at 21:00 there
    got = send_time([], "Asia/Shanghai", start, start + 10 * H, QUIET, population)
    assert got == ms(expected)


def test_default_population_peaks_are_used_when_none_given() -> None:
    start = ms("2024-03-05T00:00:00Z")
    got = send_time([], "UTC", start, start + 24 * H, QUIET)
    assert got == start + DEFAULT_POPULATION_PEAKS[0] * H


@pytest.mark.parametrize(
    ("start", "end", "expected", "covered", "free"),
    [
        (None, 480, None, [], [0, 1320]),
        (1320, 480, QuietHours(1320, 480), [1320, 1439, 0, 479], [480, 1319, 720]),
        (600, 720, QuietHours(600, 720), [600, 719], [599, 720, 0]),
        (480, 480, None, [], [480]),
    ],
)
def test_quiet_hours(
    start: int | None, end: int, expected: QuietHours | None, covered: list[int], free: list[int]
) -> None:
    quiet = QuietHours.of(start, end)
    assert quiet == expected
    assert all(quiet is not None and quiet.covers(m) for m in covered)
    assert not any(quiet is not None and quiet.covers(m) for m in free)


def test_population_peaks_give_each_user_one_vote() -> None:
    population = PopulationPeaks().add_all(
        [
            {20: 100.0},  # one heavy user at Monday 20:00
            {12: 1.0},  # Monday 12:00
            {24 + 12: 0.5, 24 + 9: 0.5},  # Tuesday 12:00 and 09:00
            {},  # no history: no vote
        ]
    )
    assert population.users == 3
    assert population.peaks() == (12, 20, 9)
    assert population.peaks(1) == (12,)
    assert PopulationPeaks().peaks() == DEFAULT_POPULATION_PEAKS
