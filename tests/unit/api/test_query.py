"""The shared query parameters: ``as_of``, ``fields`` and the members' ``cursor``."""

from __future__ import annotations

import pytest

from streams.api.errors import ApiError
from streams.api.query import parse_as_of, parse_cursor, parse_fields

NOW = 1_750_000_000_000


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, NOW),
        ("1700000000000", 1_700_000_000_000),
        ("2023-11-14T22:13:20Z", 1_700_000_000_000),
        ("2023-11-14T23:13:20+01:00", 1_700_000_000_000),
        (" 1700000000000 ", 1_700_000_000_000),
    ],
)
def test_as_of_is_rfc3339_or_epoch_ms(value: str | None, expected: int) -> None:
    assert parse_as_of(value, NOW) == expected


@pytest.mark.parametrize(
    "value",
    ["yesterday", "", "1700000000", "-5", "2023-13-01T00:00:00Z", "1" * 40, "\u0661\u0662\u0663"],
)
def test_a_bad_as_of_is_a_400_in_one_line(value: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_as_of(value, NOW)
    assert caught.value.status == 400 and caught.value.message.startswith("as_of: ")
    assert "\n" not in caught.value.message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        (" , ", None),
        ("tags", ["tags"]),
        ("tags.rfm_segment, cart,,segments", ["tags.rfm_segment", "cart", "segments"]),
    ],
)
def test_fields(value: str | None, expected: list[str] | None) -> None:
    assert parse_fields(value) == expected


def test_too_many_fields_is_a_400() -> None:
    with pytest.raises(ApiError, match="at most 200"):
        parse_fields(",".join(f"f{i}" for i in range(201)))


@pytest.mark.parametrize(("value", "expected"), [(None, 0), ("", 0), ("0", 0), ("17", 17)])
def test_cursor(value: str | None, expected: int) -> None:
    assert parse_cursor(value) == expected


@pytest.mark.parametrize("value", ["-1", "x", "1.5", str(2**64), "\u0661"])
def test_a_bad_cursor_is_a_400(value: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_cursor(value)
    assert caught.value.status == 400
