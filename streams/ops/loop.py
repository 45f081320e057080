"""The worker's periodic operations task: heartbeat, Redis ping, lag sampling, census.

It runs beside the consume loop (a faust service task of the worker), every
``lag_interval_s``; nothing here is on the event path. Each step is bounded by a timeout and
its errors are logged, never raised: observing the worker must not stop it.

Tunables: ``Settings.ops`` (streams/settings/ops.py: the ``ops:`` YAML section, overridden by
``PORTRAIT_LAG_INTERVAL_S``, ``PORTRAIT_CENSUS_INTERVAL_S`` and ``PORTRAIT_CENSUS_SAMPLE``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis

from streams.ops.census import Census
from streams.ops.health import Health
from streams.ops.lag import LagSampler
from streams.settings.ops import OpsConfig

log = logging.getLogger("portrait.ops")
STEP_TIMEOUT_S = 10.0


class OpsLoop:
    def __init__(
        self,
        config: OpsConfig,
        health: Health,
        redis: Redis,
        lag: LagSampler,
        census: Census | None,
    ) -> None:
        self.config = config
        self.health = health
        self.redis = redis
        self.lag = lag
        self.census = census if config.census_interval_s > 0 else None
        self._next_census = 0.0

    async def run(
        self, sleep: Callable[[float], Awaitable[Any]], should_stop: Callable[[], bool]
    ) -> None:
        while not should_stop():
            await self.tick()
            await sleep(self.config.lag_interval_s)

    async def tick(self) -> None:
        health = self.health
        health.beat()
        health.redis_ok = await self._step("redis ping", self.redis.ping()) is not None
        health.beat()
        if health.started:
            await self._step("lag sample", self.lag.sample())
        census = self.census
        if census is not None and health.redis_ok and time.monotonic() >= self._next_census:
            interval = self.config.census_interval_s
            self._next_census = time.monotonic() + interval
            health.beat()
            await self._step("census", census.run(interval), limit_s=2 * STEP_TIMEOUT_S)
        health.beat()

    async def _step(self, what: str, step: Awaitable[Any], limit_s: float = STEP_TIMEOUT_S) -> Any:
        try:
            return await asyncio.wait_for(step, limit_s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("%s failed: %r", what, exc)
            return None
