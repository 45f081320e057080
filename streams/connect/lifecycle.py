"""What every long-running service of a worker process shares: reaching Kafka and Redis at
start with a one-line reason when it cannot, closing its clients whatever happens, and running
until told to stop or until it crashes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

import faust
from aiokafka.errors import KafkaError
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from streams.connect.topics import ensure_topics
from streams.errors import kafka_unreachable, redis_unreachable
from streams.settings.security import mask_url
from streams.settings.tree import Settings

log = logging.getLogger("portrait")


class StartupError(RuntimeError):
    """A service the worker needs cannot be reached; the message is one line for the user."""


async def connect(
    settings: Settings,
    redis: Redis,
    topics: Sequence[str],
    clients: Sequence[Callable[[], Awaitable[object]]],
    *,
    partitions: int | None = None,
) -> None:
    """Ping Redis, create the missing ``topics``, then start the Kafka ``clients`` (their
    ``start`` methods); any failure is a :class:`StartupError` naming the service."""
    s = settings
    try:
        await asyncio.wait_for(redis.ping(), s.worker.startup_timeout_s)
    except Exception as exc:  # refused, timed out, auth, DNS: all one line for the user
        raise StartupError(redis_unreachable(s.redis_url, exc)) from exc
    refusal = await cluster_refusal(redis, s.redis_url, s.worker.startup_timeout_s)
    if refusal:
        raise StartupError(refusal)
    try:
        await asyncio.wait_for(
            ensure_topics(
                s,
                list(topics),
                partitions=s.topics.partitions if partitions is None else partitions,
                replication_factor=s.topics.replication_factor,
            ),
            s.worker.startup_timeout_s,
        )
        for start in clients:
            await start()
    except (TimeoutError, KafkaError, OSError) as exc:
        raise StartupError(kafka_unreachable(s.kafka_bootstrap_servers, exc)) from exc


async def cluster_refusal(redis: Redis, url: str, timeout_s: float) -> str | None:
    """Why the store cannot run on this Redis: a Redis Cluster node named by a plain URL (the
    single-node client would send calls over several slots to one node, refused mid-run with
    ``CROSSSLOT`` or ``MOVED``: a ``redis+cluster://`` URL sends each call to its slot's node,
    docs/cluster.md). None otherwise, or when ``INFO`` is not allowed."""
    if isinstance(redis, RedisCluster):  # a redis+cluster:// URL
        return None
    try:
        info = await asyncio.wait_for(redis.info("cluster"), timeout_s)
    except Exception:  # an ACL user without INFO, a slow answer: the calls themselves will tell
        return None
    if int(info.get("cluster_enabled", 0)) != 1:
        return None
    return _refusal(url)


def _refusal(url: str) -> str:
    scheme, _, rest = mask_url(url).partition("://")
    return (
        f"Redis at {mask_url(url)} (REDIS_URL) is a Redis Cluster node; name the cluster as"
        f" {scheme}+cluster://{rest} so the store sends each call to its slot's node"
        " (docs/cluster.md)"
    )


async def close_all(closers: Sequence[Callable[[], Awaitable[object]]]) -> None:
    """Call every closer; one failing does not keep the others from running."""
    for close in closers:
        try:
            await close()
        except Exception as exc:  # stopping must go on
            log.warning("error while stopping: %r", exc)


async def run_until_stopped(
    service: faust.Service,
    stop: asyncio.Event | None,
    on_failed_start: Callable[[], Awaitable[None]],
) -> None:
    """Start ``service``, run it until ``stop`` is set or it crashes (the crash is re-raised);
    a start that fails calls ``on_failed_start`` (to close what it opened) and re-raises."""
    stop = stop or asyncio.Event()
    try:
        await service.start()
    except BaseException:
        await on_failed_start()
        raise
    crashed = asyncio.ensure_future(service._crashed.wait())
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({crashed, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        crashed.cancel()
        stopped.cancel()
        await service.stop()
    if service.crash_reason is not None:
        raise service.crash_reason
