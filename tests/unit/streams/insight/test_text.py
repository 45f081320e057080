"""The words of a report's numbers and tests, shared by its figures and its page."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from streams.insight.text import describe_test, number, p_value, share

MWU_NAME = "Mann\u2013Whitney U"
CHI = {"name": "chi-square", "statistic": 3.2, "df": 1, "p": 0.07, "q": 0.1,
       "effect_name": "Cramér's V", "effect": 0.15, "magnitude": "small",
       "significant": False}  # fmt: skip
MWU = {"name": MWU_NAME, "statistic": 612345.0, "df": None, "p": 1e-40, "q": 2e-40,
       "effect_name": "rank-biserial r", "effect": -0.287, "magnitude": "small",
       "significant": True}  # fmt: skip


@pytest.mark.parametrize(
    ("value", "text"),
    [(0, "0"), (1234, "1,234"), (1234.0, "1,234"), (45.678, "45.7"), (0.000123, "0.000123"),
     (612.5, "612"), (-3.14159, "-3.14"), (None, "\u2013")],
)  # fmt: skip
def test_number(value: float | None, text: str) -> None:
    assert number(value) == text


@pytest.mark.parametrize(
    ("p", "text"), [(0.07, "0.070"), (0.001, "0.001"), (0.000999, "< 0.001"), (0.0, "< 0.001")]
)
def test_p_value(p: float, text: str) -> None:
    assert p_value(p) == text


@pytest.mark.parametrize(
    ("test", "why", "text"),
    [
        (CHI, None, "chi-square 3.2, df 1 · p 0.070, q 0.100 · Cramér's V 0.15 (small) · not "
         "significant"),
        (MWU, None, f"{MWU_NAME} 612,345 · p < 0.001, q < 0.001 · rank-biserial r -0.29 "
         "(small) · significant"),
        ({**CHI, "q": None}, None, "chi-square 3.2, df 1 · p 0.070 · Cramér's V 0.15 (small) · "
         "not significant"),
        (None, "fewer than 2 audiences with known values",
         "no test: fewer than 2 audiences with known values"),
        (None, None, "no test: not enough data"),
    ],
)  # fmt: skip
def test_describe_test(test: dict[str, Any] | None, why: str | None, text: str) -> None:
    assert describe_test(test, why) == text


@given(st.floats(min_value=0, max_value=1))
@example(0.0075)  # on the half: CI drew it
def test_share_is_a_percentage_of_one_decimal(value: float) -> None:
    text = share(value)
    # one decimal is within half a tenth; a value on the half (0.75) may print either way
    assert text.endswith(" %") and float(text[:-2]) == pytest.approx(100 * value, abs=0.05 + 1e-9)
