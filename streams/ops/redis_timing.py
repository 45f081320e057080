"""Redis command latency and errors, observed at the client (no change to the store's code).

:class:`TimedRedis` (and :class:`TimedRedisCluster`, for a ``redis+cluster://`` URL) is
redis-py's asyncio client with ``execute_command`` timed: every command
the worker sends (the store's EVALSHA per chunk of users written, its MGET per chunk loaded, the
census's SCAN and GET, pings) is one observation of ``portrait_redis_command_seconds{command}``,
and every failed one counts in ``portrait_redis_errors_total{kind}``. Pipelines (feedback,
trigger reservations, a cluster's per-user writes) are not timed. The cost is two clock reads
and one histogram observation per command, i.e. per chunk of up to 1000 users, not per event.
"""

from __future__ import annotations

import time
from typing import Any, cast

from prometheus_client import CollectorRegistry, Counter, Histogram
from redis import exceptions as rx
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from streams.connect.clients import redis_client
from streams.ops.sensor import Sensor
from streams.settings.tree import Settings

# Millisecond-scale buckets, in seconds: a Lua write of 1000 users takes a few ms.
REDIS_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
)  # fmt: skip
ERROR_KINDS = ("connection", "timeout", "response", "other")
# What a worker sends in its first minutes (fenced writes and triggers, loads, the ops loop's
# ping and census): their latency series exist at 0 from the first scrape.
WORKER_COMMANDS = ("EVALSHA", "MGET", "GET", "PING", "SET", "SCAN", "DBSIZE")


def error_kind(exc: BaseException) -> str:
    if isinstance(exc, rx.TimeoutError | TimeoutError):
        return "timeout"
    if isinstance(exc, rx.ConnectionError | ConnectionError | OSError):
        return "connection"
    if isinstance(exc, rx.ResponseError):
        return "response"
    return "other"


class RedisMetrics(Sensor):
    def __init__(self, registry: CollectorRegistry) -> None:
        self.seconds = Histogram(
            "portrait_redis_command_seconds",
            "Redis command latency at the worker's client (round trip), by command",
            ["command"],
            buckets=REDIS_BUCKETS,
            registry=registry,
        )
        self.errors = Counter(
            "portrait_redis_errors_total",
            "Redis commands that failed, by kind (connection, timeout, response, other)",
            ["kind"],
            registry=registry,
        )
        for kind in ERROR_KINDS:  # every series exists from the start: rate() and alerts work
            self.errors.labels(kind)
        for command in WORKER_COMMANDS:
            self.seconds.labels(command)

    def on_redis_command(self, command: str, seconds: float) -> None:
        self.seconds.labels(command).observe(seconds)

    def on_redis_error(self, exc: BaseException) -> None:
        if isinstance(exc, rx.NoScriptError):
            return  # a script's first EVALSHA on this server: redis-py loads it, calls it again
        self.errors.labels(error_kind(exc)).inc()


class _Timed:
    """``execute_command`` timed and its errors counted, for a client class below."""

    timing: Sensor | None = None

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        run = super().execute_command  # type: ignore[misc]
        timing = self.timing
        if timing is None:
            return await run(*args, **options)
        command = str(args[0]).split(" ", 1)[0].upper() if args else "?"
        started = time.perf_counter()
        try:
            result = await run(*args, **options)
        except BaseException as exc:
            if isinstance(exc, Exception):
                timing.on_redis_error(exc)
            raise
        timing.on_redis_command(command, time.perf_counter() - started)
        return result


class TimedRedis(_Timed, Redis):  # type: ignore[misc]  # redis-py's own bases disagree
    """``Redis`` whose commands report to a :class:`Sensor` (set ``timing`` after
    construction: ``from_url`` passes its keyword arguments on to the connection pool)."""


class TimedRedisCluster(_Timed, RedisCluster):  # type: ignore[misc]
    """``RedisCluster`` (a ``redis+cluster://`` URL) whose commands report the same way."""


def timed_redis(settings: Settings, timing: Sensor, **kwargs: Any) -> Redis:
    """The worker's client for ``settings``' Redis (its credentials and TLS included)."""
    client = redis_client(settings, kind=TimedRedis, cluster_kind=TimedRedisCluster, **kwargs)
    cast(_Timed, client).timing = timing
    return client
