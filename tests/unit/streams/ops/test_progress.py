"""The one progress line: rate-limited, redrawn in place on a terminal, plain lines elsewhere,
a final line always, nothing when disabled."""

from __future__ import annotations

import io

import pytest

from streams.ops.progress import ProgressLine, count_text, duration_text, rate_text


class Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def line(tty: bool, **kwargs: object) -> tuple[ProgressLine, Stream, Clock]:
    stream, clock = Stream(tty), Clock()
    options: dict[str, object] = {"interval": 0.25, "log_interval": 10.0, **kwargs}
    shown = ProgressLine("job", stream=stream, clock=clock, **options)  # type: ignore[arg-type]
    return shown, stream, clock


@pytest.mark.parametrize(
    ("tty", "steps", "expected"),
    [
        # a terminal: at most every 0.25 s, redrawn in place (padded over a longer line)
        (True, [(0.1, "a"), (0.3, "bbb"), (0.4, "c"), (0.6, "d")], "\rbbb\rd  "),
        # a pipe: a plain line at most every 10 s
        (False, [(0.3, "a"), (9.9, "b"), (10.0, "c"), (15.0, "d"), (20.0, "e")], "c\ne\n"),
    ],
)
def test_status_lines_are_rate_limited(
    tty: bool, steps: list[tuple[float, str]], expected: str
) -> None:
    shown, stream, clock = line(tty)
    for at, text in steps:
        clock.now = 100.0 + at
        shown.status(text)
    assert stream.getvalue() == expected


@pytest.mark.parametrize(
    ("tty", "expected"),
    [(True, "\rlong line\rjob: 3 done in 1.0 s\n"), (False, "long line\njob: 3 done in 1.0 s\n")],
)
def test_the_final_line_is_always_shown_and_ends_the_line(tty: bool, expected: str) -> None:
    shown, stream, clock = line(tty, log_interval=0.25)
    clock.now += 0.5
    shown.status("long line")
    clock.now += 0.5  # within neither interval of the last line: final lines are not limited
    shown.finish("3 done")
    assert stream.getvalue() == expected


def test_a_disabled_line_prints_nothing() -> None:
    shown, stream, clock = line(True, enabled=False)
    clock.now += 60
    shown.update(10, 0.5)
    shown.status("x", final=True)
    shown.finish("done")
    assert stream.getvalue() == ""
    assert not shown.due(final=True)


def test_a_sink_takes_plain_lines_at_the_log_pace() -> None:
    got: list[str] = []
    shown, stream, clock = line(True, sink=got.append)
    assert not shown.tty
    clock.now += 5
    shown.status("early")
    clock.now += 5
    shown.status("on time")
    shown.status("final", final=True)
    assert got == ["on time", "final"]
    assert stream.getvalue() == ""


def test_in_place_can_be_declined_on_a_terminal() -> None:
    shown, stream, clock = line(True, in_place=False, log_interval=1.0)
    clock.now += 1
    shown.status("plain")
    assert stream.getvalue() == "plain\n"


def test_update_shows_rows_share_rate_and_eta() -> None:
    shown, stream, clock = line(False)
    clock.now += 10
    shown.update(25_000, 0.25)
    clock.now += 30
    shown.update(100_000, 1.0)
    assert stream.getvalue().splitlines() == [
        "job: 25k rows   25.0%  2,500/s  ETA 0:00:30",
        "job: 100k rows  100.0%  2,500/s  ETA 0:00:00",
    ]


def test_update_without_a_share_has_no_eta() -> None:
    shown, stream, clock = line(False)
    clock.now += 10
    shown.update(5, 0.0)
    assert stream.getvalue() == "job: 5 rows    0.0%  0/s  ETA ?\n"


def test_recent_rate_is_since_the_previous_line_shown() -> None:
    shown, _stream, clock = line(False)
    clock.now += 10
    assert shown.recent_rate(1_000) == 100.0
    shown.status("x", done=1_000)
    clock.now += 10
    assert shown.recent_rate(1_500) == 50.0
    assert shown.since_shown() == 10.0
    assert shown.rate(1_500) == 75.0


@pytest.mark.parametrize(
    ("fn", "value", "text"),
    [
        (count_text, 9_876, "9,876"),
        (count_text, 85_000, "85k"),
        (count_text, 1_234_567, "1.2M"),
        (rate_text, 950, "950/s"),
        (rate_text, 2_500, "2.5k/s"),
        (rate_text, 85_000, "85k/s"),
        (duration_text, 3_725.4, "1:02:05"),
    ],
)
def test_numbers_as_text(fn: object, value: float, text: str) -> None:
    assert fn(value) == text  # type: ignore[operator]
