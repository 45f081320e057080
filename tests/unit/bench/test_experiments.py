"""bench/experiments.py's table: coverage per variant from the runs, the exactness check against
each run's oracle, and the exit condition (>= 95 % coverage, every count exact)."""

from __future__ import annotations

from typing import Any

import pytest

from bench.experiments import parse_args, table
from tests.integration.experiments.harness import Run


def run(diff: float, low: float, high: float, outcomes: int = 5, oracle: int = 5) -> Run:
    arms = [
        {"arm": "holdout", "outcomes": outcomes},
        {"arm": "plain", "outcomes": outcomes, "uplift": {"diff": diff, "low": low, "high": high}},
    ]
    report: dict[str, Any] = {"arms": arms, "interval": 0.975}
    truth_oracle = {"holdout": {"outcomes": oracle}, "plain": {"outcomes": oracle}}
    return Run("e", report, truth_oracle, [], {"plain": 0.1})


def test_every_run_covering_and_exact_passes() -> None:
    text, ok = table([run(0.12, 0.05, 0.2) for _ in range(20)], 400, 12.0)
    assert ok
    assert "counts equal to the oracle in 20 of 20 runs" in text
    assert "| plain | +10.00 pts | +12.00 pts | 15.00 pts | 20/20 = 100.0 % |" in text


@pytest.mark.parametrize(
    ("covering", "exact", "ok"),
    [(20, 20, True), (19, 20, True), (18, 20, False), (20, 19, False)],
)
def test_coverage_below_95_percent_or_a_count_off_fails(
    covering: int, exact: int, ok: bool
) -> None:
    runs = [run(0.1, 0.0, 0.2) if i < covering else run(0.3, 0.25, 0.35) for i in range(20)]
    runs = [r if i < exact else run(0.1, 0.0, 0.2, oracle=6) for i, r in enumerate(runs)]
    text, passed = table(runs, 100, 1.0)
    assert passed is ok, text
    assert f"{covering}/20 = {100 * covering / 20:.1f} %" in text


def test_the_arguments_are_checked() -> None:
    assert (parse_args([]).runs, parse_args([]).users) == (200, 400)
    with pytest.raises(SystemExit):
        parse_args(["--runs", "0"])
