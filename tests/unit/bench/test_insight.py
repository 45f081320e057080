"""bench/insight.py's pure parts: the audiences it expects, the report check, the ratios, its
rules file; bench/insight_measure.py's RSS readings, and the helper measuring a child."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from bench.insight import RULES, SEGMENTS, check, expected, ratios
from bench.insight_measure import Series, peak_at, vm_rss_kib
from profiles.rules import load_rules

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("profiles", "sizes"),
    [(0, (0, 0)), (1, (1, 0)), (10, (5, 5)), (1_000_001, (500_001, 500_000))],
)
def test_expected_alternates(profiles: int, sizes: tuple[int, int]) -> None:
    assert expected(profiles) == dict(zip(SEGMENTS, sizes, strict=True))


def report(a: int, b: int, notes: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"audiences": [{"name": "half_a", "users": a}, {"name": "half_b", "users": b}],
            "notes": list(notes)}  # fmt: skip


def test_check_names_wrong_audiences_and_lost_states() -> None:
    assert check(report(50, 50, ("half_a: 3 of 50 members left out by where",)), 100) == []
    assert check(report(50, 49), 100) == [
        "audiences {'half_a': 50, 'half_b': 49}, expected {'half_a': 50, 'half_b': 50}"
    ]
    lost = ("half_b: 2 stored states did not decode (skipped)",)
    assert check(report(50, 50, lost), 100) == [f"note: {lost[0]}"]


def test_ratios_of_the_largest_run_to_the_smallest() -> None:
    small = {"profiles": 100, "seconds": 5.0, "peak_rss_mib": 200.0}
    large = {"profiles": 1000, "seconds": 14.0, "peak_rss_mib": 250.0}
    assert ratios([small, large]) == {"rss_ratio": 1.25, "size_ratio": 10.0, "marginal_per_s": 100}
    assert ratios([small])["marginal_per_s"] == 0  # one size: no rate between two


def test_peak_at_is_the_first_top_reading_as_a_share_of_the_run() -> None:
    series = [[0.0, 10.0], [2.0, 80.0], [6.0, 200.0], [9.0, 200.0], [9.5, 150.0]]
    assert peak_at(series, 10.0) == 0.6
    assert peak_at([], 10.0) == 0.0


def test_rules_define_the_two_segments() -> None:
    rules = load_rules(RULES)
    assert [s.name for s in rules.segments] == list(SEGMENTS)
    assert rules.tags == ()


def test_vm_rss_of_a_status_text() -> None:
    status = "Name:\tpython\nVmPeak:\t  300000 kB\nVmRSS:\t   20480 kB\nThreads:\t1\n"
    assert vm_rss_kib(status) == 20480
    assert vm_rss_kib("Name:\tzombie\nState:\tZ (zombie)\n") is None


def test_series_keeps_moves_of_a_mib_and_the_last_reading() -> None:
    series = Series()
    for seconds, kib in [(0.0, 10240), (0.1, 10500), (0.2, 11400), (0.3, 11500), (0.4, 11600)]:
        series.add(seconds, kib)
    assert series.close() == [[0.0, 10.0], [0.2, 11.1], [0.4, 11.3]]
    one = Series()
    one.add(0.0, 2048)
    assert one.close() == [[0.0, 2.0]]
    assert Series().close() == []


def test_measure_reports_the_child_alone(tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    child = "import time; b = bytearray(300 << 20); b[::4096] = b'x' * (75 << 10); time.sleep(0.3)"
    helper = [sys.executable, "-m", "bench.insight_measure", str(out)]
    subprocess.run([*helper, sys.executable, "-c", child], check=True, cwd=ROOT)
    run = orjson.loads(out.read_bytes())
    assert run["code"] == 0
    assert 300 * 1024 <= run["peak_rss_kib"] < 400 * 1024  # the child's 300 MiB, not the helper's
    assert 0.3 < run["seconds"] < 30
    assert run["cpu_seconds"] > 0
    assert 300 <= max(mib for _, mib in run["rss_mib"]) < 400
