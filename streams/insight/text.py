"""Numbers and tests of an insight report in words, the same in a figure's subtitle, in the HTML
and wherever else a report is shown (plain text: the caller escapes it for its medium)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

NONE: Final = "\u2013"  # an en dash where a value is missing


def number(value: float | None) -> str:
    """A count with thousands separators, any other value to 3 significant digits."""
    if value is None:
        return NONE
    x = float(value)
    if x.is_integer() and abs(x) < 1e15:
        return f"{int(x):,}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def share(value: float | None) -> str:
    """A share of 0..1 as a percentage with one decimal (``28.6 %``)."""
    return NONE if value is None else f"{100.0 * float(value):.1f} %"


def p_value(p: float | None) -> str:
    """``< 0.001`` below it (a million users make every p tiny), else three decimals."""
    if p is None:
        return NONE
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def effect(test: Mapping[str, Any]) -> str:
    """``Cramér's V 0.15 (small)``."""
    return f"{test['effect_name']} {float(test['effect']):.2f} ({test['magnitude']})"


def describe_test(test: Mapping[str, Any] | None, why_no_test: str | None = None) -> str:
    """One line: the test named with its statistic, p, q, effect size and verdict; or why there
    is none."""
    if test is None:
        return f"no test: {why_no_test or 'not enough data'}"
    statistic = f"{test['name']} {number(test['statistic'])}"
    if test.get("df") is not None:
        statistic += f", df {test['df']}"
    p = f"p {p_value(test['p'])}"
    if test.get("q") is not None:
        p += f", q {p_value(test['q'])}"
    verdict = "significant" if test.get("significant") else "not significant"
    return " · ".join((statistic, p, effect(test), verdict))
