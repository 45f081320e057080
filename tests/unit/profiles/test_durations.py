"""Durations as written in the YAML config (pure)."""

from __future__ import annotations

import pytest

from profiles.durations import parse_duration_ms


@pytest.mark.parametrize(
    "value,expected",
    [
        ("250ms", 250),
        ("0ms", 0),
        ("1s", 1_000),
        ("45s", 45_000),
        ("30m", 1_800_000),
        ("1h", 3_600_000),
        ("24h", 86_400_000),
        ("7d", 604_800_000),
        ("2w", 1_209_600_000),
        ("1.5h", 5_400_000),
        ("0.5s", 500),
        ("0.25d", 21_600_000),
        ("90", 90_000),  # a bare number is seconds
        ("0", 0),
        ("2.5", 2_500),
        (" 30m ", 1_800_000),
        ("30 m", 1_800_000),
        ("\t7d\n", 604_800_000),
        ("000012s", 12_000),
        ("365d", 31_536_000_000),
        ("1.0005s", 1_000),  # rounded to the millisecond
        ("1.0006s", 1_001),
        # YAML gives ints and floats for bare numbers: seconds too
        (0, 0),
        (45, 45_000),
        (1.5, 1_500),
        (0.001, 1),
        (86_400, 86_400_000),
    ],
)
def test_parse_duration_ms(value: str | int | float, expected: int) -> None:
    result = parse_duration_ms(value)
    assert result == expected
    assert isinstance(result, int)


@pytest.mark.parametrize(
    "value",
    [
        "",
        " ",
        "ms",
        "h",
        "abc",
        "-5s",
        "-1",
        "+5s",
        "5 sec",
        "5min",
        "5S",  # units are lower case
        "5H",
        "1e3",
        "1,5h",
        ".5h",
        "5.s",
        "5m5s",  # no compound durations
        "1h30m",
        "5 s s",
        "PT5M",  # ISO 8601 durations are not supported
        "inf",
        "nan",
        True,
        False,
        -1,
        -0.5,
        float("nan"),
        float("inf"),  # must be a ValueError (settings turns ValueError into ConfigError)
    ],
)
def test_parse_duration_ms_rejects(value: str | int | float) -> None:
    with pytest.raises(ValueError):
        parse_duration_ms(value)
