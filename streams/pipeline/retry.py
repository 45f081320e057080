"""Retry with exponential backoff until success or until the worker is told to stop."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from aiokafka.errors import KafkaError
from redis.exceptions import (
    AskError,
    ClusterError,
    RedisClusterUnreachableError,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger("portrait.retry")
T = TypeVar("T")

# A Redis Cluster that is moving slots or failing over: a call whose keys are half-moved is told
# TRYAGAIN, ASK and MOVED in turn until redis-py gives up ("TTL exhausted", a ClusterError, as
# is CLUSTERDOWN); a slot no node serves yet, a topology no node answers. The same call succeeds
# once the cluster settles, and every write is safe to repeat (the fences: docs/cluster.md).
# A cross-slot call (ClusterCrossSlotError) stays a bug.
CLUSTER_TRANSIENT: tuple[type[BaseException], ...] = (
    ClusterError,
    TryAgainError,
    AskError,
    SlotNotCoveredError,
    RedisClusterUnreachableError,
)
# Errors worth retrying: the service (or the cluster) may come back. Anything else is a bug and
# stops the worker (before it commits), which is safer than skipping the batch.
TRANSIENT: tuple[type[BaseException], ...] = (
    KafkaError,
    RedisConnectionError,
    RedisTimeoutError,
    ConnectionError,
    TimeoutError,
    OSError,
    *CLUSTER_TRANSIENT,
)


class Stopping(Exception):
    """Raised instead of retrying once the worker is stopping: do not commit the batch."""


@dataclass(frozen=True, slots=True)
class Backoff:
    initial_s: float = 0.1
    max_s: float = 5.0
    factor: float = 2.0

    def delay(self, attempt: int) -> float:
        base = min(self.max_s, self.initial_s * self.factor**attempt)
        return base * (0.5 + random.random() / 2)  # jitter: 50..100 % of the step


async def retry_until_stopped(
    fn: Callable[[], Awaitable[T]],
    *,
    op: str,
    backoff: Backoff,
    should_stop: Callable[[], bool],
    on_retry: Callable[[str], None],
    transient: tuple[type[BaseException], ...] = TRANSIENT,
) -> T:
    attempt = 0
    while True:
        try:
            return await fn()
        except transient as exc:
            if should_stop():
                raise Stopping(f"{op} failed while stopping: {exc}") from exc
            delay = backoff.delay(attempt)
            log.warning(
                "%s failed (%s: %s); retry %d in %.2fs",
                op,
                type(exc).__name__,
                exc,
                attempt + 1,
                delay,
            )
            on_retry(op)
            attempt += 1
            await asyncio.sleep(delay)


def wall_clock_ms() -> int:
    return int(time.time() * 1000)
