"""``portrait replay PATH``: a historical event log through the worker's own pipeline.

``via="direct"`` (default) needs no Kafka: the log's messages go, in batches, through the
worker's :class:`~streams.processor.BatchProcessor` (decode, group by user, model, one fenced
write per user) with records made here: topic ``replay``, partition = a fence id of the file,
offset = the message's index. Re-running a replay is therefore a no-op, and an interrupted one
resumes. The clock is stream time (the newest event time replayed so far), never wall-clock.
``via="kafka"`` produces the messages to the events topic for a running ``portrait worker``.
docs/replay.md is the user's side of all this.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, cast

import xxhash
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from profiles.constants import TOPIC_EVENTS
from profiles.model import ModelConfig, ProfileModel
from profiles.store import ProfileStore
from streams.metrics import serve
from streams.processor import BatchProcessor, BatchStats, Record
from streams.progress import Progress, RejectLog, ReplayMetrics, report, summary
from streams.reference import load_price_reference
from streams.reference import price_reference as reference_from
from streams.retry import Backoff
from streams.runner import tune_gc
from streams.settings import Settings
from streams.sources import FORMATS, PRICELESS_FORMATS, Feed, Message, detect_format
from streams.topics import ensure_topics

VIAS = ("direct", "kafka")
REPLAY_TOPIC = "replay"


class ReplayError(RuntimeError):
    """The replay cannot start (no such file, unknown format, a service unreachable)."""


@dataclass(slots=True)
class ReplayResult:
    rows: int = 0  # messages read (data rows; blank lines and headers are not rows)
    events_applied: int = 0
    duplicates: int = 0  # dropped by the event-id dedupe (e.g. exact duplicate rows)
    rejected: Counter[str] = field(default_factory=Counter)  # reason -> rows
    users: int = 0  # distinct users of the accepted events
    first_ts: int | None = None  # event time range of the accepted events, epoch ms
    last_ts: int | None = None
    seconds: float = 0.0
    replayed: int = 0  # skipped by the fence: applied by an earlier run of the same replay
    produced: int = 0  # via kafka: messages acknowledged by the broker
    examples: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # reason -> lines


class ReplayRecord(NamedTuple):
    """A log message as the processor's consumed record; ``partition`` is the fence id.

    A tuple: built once per row, and a frozen dataclass costs ten times more to build."""

    topic: str
    partition: str
    offset: int
    key: bytes | None
    value: bytes | None
    line: int


async def replay(
    settings: Settings,
    path: Path,
    *,
    fmt: str = "auto",
    via: str = "direct",
    sort: bool = False,
    progress: bool = True,
    price_reference: Mapping[str, float] | None = None,
    registry: CollectorRegistry | None = None,
    rejected_to: Path | None = None,
) -> ReplayResult:
    """Replay the log at ``path``; :class:`ReplayError` when it cannot start."""
    started = time.perf_counter()
    fmt = _check(path, fmt, via, price_reference)
    try:
        rejects = RejectLog(rejected_to)
    except OSError as exc:
        raise ReplayError(f"cannot write {rejected_to}: {exc.strerror}") from exc
    on_reject = _on_reject(rejects) if via == "kafka" else None  # direct: the processor's
    run = _Run(
        Feed(path, fmt, sort=sort, on_reject=on_reject),
        ReplayResult(),
        Progress(f"replay {path.name}", enabled=progress),
        ReplayMetrics(registry),
    )
    try:
        if via == "direct":
            await _direct(settings, run, _fence_id(path, fmt, sort), rejects, price_reference)
        else:
            await _produce(settings, run)
    finally:
        rejects.close()
    result, feed = run.result, run.feed
    result.rejected, result.examples = rejects.reasons, rejects.examples
    result.users, result.first_ts, result.last_ts = len(feed.users), feed.first_ts, feed.last_ts
    result.seconds = time.perf_counter() - started
    run.shown.finish(summary(result, via))
    return result


@dataclass(slots=True)
class _Run:
    """One replay under way: its log, its counts and where it reports them."""

    feed: Feed
    result: ReplayResult
    shown: Progress
    metrics: ReplayMetrics

    def account(
        self, rows: int, outcomes: Mapping[str, int], rejected: Mapping[str, int], done: float
    ) -> None:
        """``rows`` more rows replayed (``done``: the share of the log behind them)."""
        r = self.result
        r.rows += rows
        r.events_applied += outcomes.get("applied", 0)
        r.duplicates += outcomes.get("duplicate", 0)
        r.replayed += outcomes.get("replayed", 0)
        r.produced += outcomes.get("produced", 0)
        rate = self.shown.rate(r.rows)
        self.metrics.on_rows(rows, outcomes, rejected, rate=rate, fraction=done,
                             newest_ms=self.feed.newest)  # fmt: skip
        self.shown.update(r.rows, done)


def _on_reject(rejects: RejectLog) -> Callable[[Message, Exception], None]:
    return lambda message, exc: rejects.add_error(message.line, message.value, exc)


def _check(path: Path, fmt: str, via: str, table: Mapping[str, float] | None) -> str:
    """The format to read ``path`` with; ReplayError for what cannot work."""
    if via not in VIAS:
        raise ReplayError(f"unknown mode {via!r}; expected one of {', '.join(VIAS)}")
    if via == "kafka" and table is not None:
        raise ReplayError(
            "a price reference applies to direct replays; a worker reads "
            "profile.price_reference from its own configuration"
        )
    if not path.is_file():
        raise ReplayError(f"no such file: {path}")
    if fmt == "auto":
        try:
            return detect_format(path)
        except (ValueError, OSError) as exc:
            raise ReplayError(str(exc)) from exc
    if fmt not in FORMATS:
        raise ReplayError(f"unknown format {fmt!r}; expected auto or one of {', '.join(FORMATS)}")
    return fmt


def _fence_id(path: Path, fmt: str, sort: bool) -> str:
    """The fence of one replay: the same file (path, size, mtime) read the same way."""
    stat = path.stat()
    source = f"{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\0{fmt}\0{sort}"
    return "r" + xxhash.xxh3_64_hexdigest(source.encode())[:8]


async def _direct(
    settings: Settings,
    run: _Run,
    fence: str,
    rejects: RejectLog,
    table: Mapping[str, float] | None,
) -> None:
    """The worker's pipeline without Kafka: batch N+1 is read and applied while N is written."""
    redis = await _redis(settings)
    pending: tuple[asyncio.Future[BatchStats], float] | None = None
    try:
        processor = _processor(settings, run.feed, redis, rejects, table)
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
) -> BatchProcessor:
    w = settings.worker
    return BatchProcessor(
        ProfileModel(_model_config(settings, feed, table)),
        ProfileStore(redis),
        rejects,
        lambda: feed.newest,  # stream time
        backoff=Backoff(w.redis_retry_initial_ms / 1000, w.redis_retry_max_ms / 1000),
        should_stop=lambda: False,  # Redis errors are retried; Ctrl-C ends the process
        cache_max_users=w.cache_max_users,
    )


def _batches(feed: Feed, fence: str, size: int) -> Iterator[tuple[Sequence[Record], float]]:
    """The log as the processor's records, ``size`` at a time, with the share done after each."""
    batch: list[ReplayRecord] = []
    for offset, (message, done) in enumerate(feed):
        batch.append(ReplayRecord(REPLAY_TOPIC, fence, offset, *message))
        if len(batch) >= size:
            yield cast(Sequence[Record], batch), done
            batch = []
    if batch:
        yield cast(Sequence[Record], batch), 1.0


def _account_stored(run: _Run, stats: BatchStats, done: float) -> None:
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
    redis = Redis.from_url(settings.redis_url, socket_connect_timeout=5, socket_timeout=30)
    try:
        await asyncio.wait_for(redis.ping(), settings.worker.startup_timeout_s)
    except Exception as exc:  # refused, timed out, auth, DNS: all one line for the user
        await redis.aclose()
        raise ReplayError(f"cannot reach Redis at {settings.redis_url}: {exc}") from exc
    return redis


async def _produce(settings: Settings, run: _Run) -> None:
    """Every message to the events topic, keyed by user; return once the broker has them all."""
    producer = await _producer(settings)
    topic = settings.topic(TOPIC_EVENTS)
    window: list[asyncio.Future[Any]] = []
    previous: asyncio.Future[None] | None = None
    try:
        for message, done in run.feed:
            window.append(await producer.send(topic, message.value, key=message.key))
            if len(window) >= settings.worker.batch_max_records:
                if previous is not None:
                    await previous  # one window in flight while the next one fills
                previous = asyncio.ensure_future(_acknowledged(run, window, done))
                window = []
        if previous is not None:
            await previous
        await _acknowledged(run, window, 1.0)
    except KafkaError as exc:
        raise ReplayError(f"producing to {topic} failed: {exc!r}") from exc
    finally:
        await producer.stop()


async def _acknowledged(run: _Run, window: list[asyncio.Future[Any]], done: float) -> None:
    await asyncio.gather(*window)
    run.account(len(window), {"produced": len(window)}, {}, done)


async def _producer(settings: Settings) -> AIOKafkaProducer:
    s = settings
    producer = AIOKafkaProducer(bootstrap_servers=s.kafka_bootstrap_servers, acks="all",
                                linger_ms=20, max_batch_size=1 << 20)  # fmt: skip
    try:
        await asyncio.wait_for(
            ensure_topics(s.kafka_bootstrap_servers, [s.topic(TOPIC_EVENTS)],
                          partitions=s.topics.partitions,
                          replication_factor=s.topics.replication_factor),
            s.worker.startup_timeout_s,
        )  # fmt: skip
        await asyncio.wait_for(producer.start(), s.worker.startup_timeout_s)
    except (TimeoutError, KafkaError, OSError) as exc:
        await producer.stop()
        raise ReplayError(f"cannot reach Kafka at {s.kafka_bootstrap_servers}: {exc!r}") from exc
    return producer


def replay_main(settings: Settings, args: argparse.Namespace) -> int:
    """``portrait replay PATH ...``: 0 when replayed (rejected rows are reported), else 2."""
    path = Path(args.path)
    try:
        table = load_price_reference(Path(args.price_reference)) if args.price_reference else None
    except ValueError as exc:
        print(f"portrait replay: {exc}", file=sys.stderr)
        return 2
    try:
        registry = CollectorRegistry()
        if "PORTRAIT_METRICS_PORT" in os.environ:
            port = serve(registry, settings.metrics_port)
            print(f"# metrics on http://127.0.0.1:{port}/metrics", file=sys.stderr)
        tune_gc()
        result = asyncio.run(
            replay(settings, path, fmt=args.format, via=args.via, sort=args.sort,
                   progress=not args.quiet, price_reference=table, registry=registry,
                   rejected_to=Path(args.rejected) if args.rejected else None)
        )  # fmt: skip
    except (ReplayError, OSError) as exc:  # OSError: the metrics port taken, the file unreadable
        print(f"portrait replay: {exc}", file=sys.stderr)
        return 2
    print(report(result, path, args.via))
    return 0
