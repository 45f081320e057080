"""The worker's periodic operations task: heartbeat, Redis ping, lag sampling, census.

It runs beside the consume loop (a faust service task of the worker), every
``lag_interval_s``; nothing here is on the event path. Each step is bounded by a timeout and
its errors are logged, never raised: observing the worker must not stop it.

Tunables come from the environment (docs/operations.md):
``PORTRAIT_LAG_INTERVAL_S`` (5), ``PORTRAIT_CENSUS_INTERVAL_S`` (60; 0 turns the census off),
``PORTRAIT_CENSUS_SAMPLE`` (2000).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from streams.census import Census
from streams.config_base import ConfigError
from streams.health import Health
from streams.lag import LagSampler

log = logging.getLogger("portrait.ops")
STEP_TIMEOUT_S = 10.0


_LAG_S, _CENSUS_S, _SAMPLE = 5.0, 60.0, 2000


@dataclass(frozen=True, slots=True)
class OpsConfig:
    lag_interval_s: float = _LAG_S
    census_interval_s: float = _CENSUS_S
    census_sample: int = _SAMPLE

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OpsConfig:
        env = os.environ if env is None else env
        return cls(
            lag_interval_s=_number(env, "PORTRAIT_LAG_INTERVAL_S", _LAG_S, 0.1),
            census_interval_s=_number(env, "PORTRAIT_CENSUS_INTERVAL_S", _CENSUS_S),
            census_sample=int(_number(env, "PORTRAIT_CENSUS_SAMPLE", _SAMPLE, 1)),
        )


def _number(env: Mapping[str, str], name: str, default: float, low: float = 0.0) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} is not a number: {raw!r}") from None
    if value < low:
        raise ConfigError(f"{name} must be at least {low}: {raw!r}")
    return value


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
