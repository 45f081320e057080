"""The scale-out model of bench/scaleout.py: workers on N-1 cores, capped by Redis' one core."""

from __future__ import annotations

import pytest

from bench.scaleout import model


@pytest.mark.parametrize(
    ("worker_us", "redis_us", "cores", "expected"),
    [
        (50.0, 5.0, 2, 20_000),  # one worker core: 1 / 50 us
        (50.0, 5.0, 5, 80_000),  # four worker cores
        (50.0, 5.0, 32, 200_000),  # Redis saturates at 1 / 5 us
        (50.0, 0.0, 3, 40_000),  # no Redis CPU measured: workers alone
    ],
)
def test_model(worker_us: float, redis_us: float, cores: int, expected: int) -> None:
    run = {"worker_us_per_event": worker_us, "redis_us_per_event": redis_us}
    (row,) = model([run], cores=(cores,))
    assert row == {"cores": cores, "workers": cores - 1, "per_s": expected}
