"""``portrait replay --via direct``: a log through the worker's own pipeline, without Kafka.

The log's messages go, in batches, through the worker's :class:`~streams.pipeline.processor.
BatchProcessor` (decode, group by user, model, one fenced write per user) with records made
here: topic ``replay``, partition = a fence id of the file, offset = the message's index.
Re-running a replay is therefore a no-op, and an interrupted one resumes. The clock is stream
time (the newest event time replayed so far), never wall-clock.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import xxhash
from redis.asyncio import Redis

from profiles.model import ModelConfig, ProfileModel
from profiles.rules.engine import RulesEngine
from streams.connect.clients import redis_client
from streams.connect.lifecycle import cluster_refusal
from streams.errors import redis_unreachable
from streams.pipeline.processor import BatchProcessor, BatchStats, Record
from streams.pipeline.retry import Backoff
from streams.pipeline.rules_hook import RulesHook, partitioner
from streams.replay.progress import RejectLog
from streams.replay.reference import price_reference as reference_from
from streams.replay.run import ReplayError, Run
from streams.replay.sources import PRICELESS_FORMATS, Feed
from streams.settings.tree import Settings
from streams.store.profiles import ProfileStore

REPLAY_TOPIC = "replay"


class ReplayRecord(NamedTuple):
    """A log message as the processor's consumed record; ``partition`` is the fence id.

    A tuple: built once per row, and a frozen dataclass costs ten times more to build."""

    topic: str
    partition: str
    offset: int
    key: bytes | None
    value: bytes | None
    line: int
    timestamp: int = -1  # no arrival time: the dedupe window falls back to the event's own


def fence_id(path: Path, fmt: str, sort: bool) -> str:
    """The fence of one replay: the same file (path, size, mtime) read the same way."""
    stat = path.stat()
    source = f"{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\0{fmt}\0{sort}"
    return "r" + xxhash.xxh3_64_hexdigest(source.encode())[:8]


async def direct(
    settings: Settings,
    run: Run,
    fence: str,
    rejects: RejectLog,
    table: Mapping[str, float] | None,
    emit_changes: bool = False,
) -> None:
    """The worker's pipeline without Kafka: batch N+1 is read and applied while N is written."""
    redis = await _redis(settings)
    pending: tuple[asyncio.Future[BatchStats], float] | None = None
    try:
        processor = _processor(settings, run.feed, redis, rejects, table, emit_changes)
        size = settings.worker.batch_max_records
        for batch, done in _batches(run.feed, fence, size):
            prepared = await processor.prepare({fence: batch})
            if pending is not None:
                _account_stored(run, await pending[0], pending[1])
            pending = (asyncio.ensure_future(processor.store_prepared(prepared)), done)
            await asyncio.sleep(0)  # send the writes before reading on
        if pending is not None:
            _account_stored(run, await pending[0], pending[1])
    finally:
        if pending is not None and not pending[0].done():
            pending[0].cancel()  # interrupted: the fence makes a re-run finish the job
        await redis.aclose()


def _processor(
    settings: Settings,
    feed: Feed,
    redis: Redis,
    rejects: RejectLog,
    table: Mapping[str, float] | None,
    emit_changes: bool,
) -> BatchProcessor:
    """The worker's processor; the rule transitions go to the outbox of the user's partition
    only when asked, for the running worker that owns it to publish."""
    w = settings.worker
    model = ProfileModel(_model_config(settings, feed, table))
    return BatchProcessor(
        model,
        ProfileStore(redis, settings.topics.prefix),
        rejects,
        lambda: feed.newest,  # stream time
        backoff=Backoff(w.redis_retry_initial_ms / 1000, w.redis_retry_max_ms / 1000),
        should_stop=lambda: False,  # Redis errors are retried; Ctrl-C ends the process
        cache_max_users=w.cache_max_users,
        rules=RulesHook(RulesEngine(model, settings.rules)),
        home=partitioner(settings.topics.partitions),
        replaying=not emit_changes,
    )


def _batches(feed: Feed, fence: str, size: int) -> Iterator[tuple[Sequence[Record], float]]:
    """The log as the processor's records, ``size`` at a time, with the share done after each."""
    batch: list[ReplayRecord] = []
    for offset, (message, done) in enumerate(feed):
        batch.append(ReplayRecord(REPLAY_TOPIC, fence, offset, *message))
        if len(batch) >= size:
            yield batch, done
            batch = []
    if batch:
        yield batch, 1.0


def _account_stored(run: Run, stats: BatchStats, done: float) -> None:
    outcomes: Counter[str] = Counter()
    for (_, outcome), n in stats.outcomes.items():
        outcomes[str(outcome)] += n
    run.account(stats.records, outcomes, stats.rejected, done)


def _model_config(settings: Settings, feed: Feed, table: Mapping[str, float] | None) -> ModelConfig:
    """The worker's model config, with the price reference given, configured or computed."""
    if table is None:
        table = settings.model.price_reference or _computed_reference(feed)
    return dataclasses.replace(settings.model, price_reference=table)


def _computed_reference(feed: Feed) -> dict[str, float]:
    """The price reference of the replayed log: a first pass, but for a log with no prices."""
    return {} if feed.fmt in PRICELESS_FORMATS else reference_from(feed.messages())


async def _redis(settings: Settings) -> Redis:
    redis = redis_client(settings, socket_connect_timeout=5, socket_timeout=30)
    try:
        await asyncio.wait_for(redis.ping(), settings.worker.startup_timeout_s)
    except Exception as exc:  # refused, timed out, auth, DNS: all one line for the user
        await redis.aclose()
        raise ReplayError(redis_unreachable(settings.redis_url, exc)) from exc
    refusal = await cluster_refusal(redis, settings.redis_url, settings.worker.startup_timeout_s)
    if refusal:
        await redis.aclose()
        raise ReplayError(refusal)
    return redis
