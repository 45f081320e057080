"""bench/api_load.py's timing, with stand-in calls (no sockets): an open loop charges a stall to
every request that was due during it (no coordinated omission); a closed loop counts what it did."""

from __future__ import annotations

import asyncio

from bench.api_load import Call, Result, closed_loop, open_loop


def _stalling(stall_s: float) -> tuple[Call, list[str]]:
    """A call that answers at once, except the first, which takes ``stall_s``."""
    seen: list[str] = []

    async def call(key: str) -> bool:
        seen.append(key)
        await asyncio.sleep(stall_s if len(seen) == 1 else 0)
        return key != "bad"

    return call, seen


async def test_an_open_loop_charges_a_stall_to_the_requests_it_kept_waiting() -> None:
    call, seen = _stalling(0.3)
    result = await open_loop([call], ["a", "b"], rate=100, seconds=1.0)
    assert result.requests == len(seen) == 100
    assert result.errors == 0
    # ~30 requests were due while the one connection was stuck: their wait is their latency ...
    assert result.p50 < 50 < 150 < result.p99 < 400
    assert result.max >= 290
    # ... while the time from their (late) send stays small: what a closed-loop client reports
    assert result.service_p99 < 50 < result.p99
    assert 90 < result.rate <= 101


async def test_a_closed_loop_runs_for_its_time_and_counts_errors() -> None:
    call, seen = _stalling(0.0)
    result = await closed_loop([call, call], ["a", "bad"], seconds=0.2)
    assert result.requests == len(seen) > 100
    assert result.errors == seen.count("bad") > 0
    assert result.mode == "closed" and result.target_rate == 0


def test_a_rate_is_sustained_when_it_keeps_up_within_the_p99_bound() -> None:
    def run(rate: float, p99: float, errors: int = 0) -> Result:
        return Result("open", 1000, rate, 1000, errors, 1, p99, p99, p99, 1, 1)

    assert run(995, 4).sustains(5)
    assert not run(950, 4).sustains(5)  # fell behind the schedule
    assert not run(1000, 6).sustains(5)
    assert not run(1000, 4, errors=1).sustains(5)
