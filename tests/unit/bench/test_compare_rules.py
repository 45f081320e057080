"""bench.throughput --compare-rules (bench/rules_run.py): the two ratios against one ceiling,
the slowdown and the CPU per event, from the two worker runs' windows (worked out by hand)."""

from __future__ import annotations

from typing import Any

import pytest

from bench.rules_run import compare, per_thousand, rules_lines


def runs(ceiling: float | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "worker_no_rules": {"per_s": 8000, "events": 180_000, "cpu_seconds": 9.0},
        "worker": {"per_s": 1000, "events": 180_000, "cpu_seconds": 63.0},
    }
    if ceiling is not None:
        out["ceiling"] = {"per_s": ceiling}
    return out


@pytest.mark.parametrize(
    ("ceiling", "ratios", "shown"),
    [(160_000, (0.05, 0.006), "0.050 without -> 0.006 with"), (None, (None, None), "- without")],
)
def test_compare(ceiling: float | None, ratios: tuple[Any, Any], shown: str) -> None:
    result = runs(ceiling)
    c = compare(result)
    assert c is not None
    assert (c["ratio_no_rules"], c["ratio_rules"]) == ratios
    assert (c["slowdown"], c["cpu_us_per_event_no_rules"], c["cpu_us_per_event_rules"]) == (
        8.0,
        50.0,
        350.0,
    )
    result["rules_compare"] = c
    assert shown in rules_lines(result)[-1]


def test_single_run_has_no_comparison() -> None:
    assert compare({"worker": {"per_s": 1000, "events": 10}}) is None


@pytest.mark.parametrize(
    ("count", "events", "out"), [(5214, 1000, 5214.0), (3, 200, 15.0), (7, 0, 0.0)]
)
def test_per_thousand(count: int, events: int, out: float) -> None:
    assert per_thousand(count, events) == out
