"""The event worker: a faust ``Service`` that drives an aiokafka consumer with ``getmany``.

Why not a faust agent: a faust agent doing nothing but ``take()`` + decode reached 6.3k msg/s
here, against 193-297k/s for a plain ``getmany`` loop on the same topic (``bench/``;
docs/design.md explains the choice). The worker keeps faust's service model (start/stop,
supervised tasks, crash propagation) and does the hot path in batches: one ``getmany`` ->
decode -> model -> one fenced Redis write per touched user -> DLQ -> commit, with at-least-once
delivery made effectively-once by the fence.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import TopicPartition
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from profiles.model import ProfileModel
from streams.connect.clients import kafka_options
from streams.connect.lifecycle import close_all, connect
from streams.connect.topics import WORKER_TOPICS
from streams.names import TOPIC_DLQ, TOPIC_EVENTS, Keys
from streams.ops.census import Census
from streams.ops.health import Health
from streams.ops.lag import LagSampler
from streams.ops.loop import OpsLoop
from streams.ops.redis_timing import timed_redis
from streams.ops.sensor import Sensor, SensorDelegate
from streams.pipeline.dlq import KafkaDeadLetters
from streams.pipeline.forward import KafkaForwarder
from streams.pipeline.identity_hook import IdentityHook
from streams.pipeline.processor import BatchProcessor, BatchStats, Prepared
from streams.pipeline.retry import Backoff, Stopping, wall_clock_ms
from streams.pipeline.trigger_hook import ReturnWatch, TriggerHook
from streams.settings.ops import OpsConfig
from streams.settings.tree import Settings
from streams.store.identity import IdentityStore
from streams.store.profiles import ProfileStore
from streams.store.triggers import TriggerStore
from streams.worker.rules import WorkerRules
from triggers.rules import TriggerRules

log = logging.getLogger("portrait.worker")


# Tags that change with every event: left out of the change log lines to keep them readable.
_QUIET_TAGS = frozenset({"last_seen", "first_seen"})


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, worker: EventWorker) -> None:
        self.worker = worker

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        """Let the batch in flight be stored and committed first, but not for longer than
        ``worker.revoke_timeout_s``: while Redis is down its retries would never end and the
        whole group would wait. Then the batch is given up uncommitted; the next owner re-reads
        it and the fence skips what landed."""
        worker = self.worker
        timeout = worker.settings.worker.revoke_timeout_s
        deadline = asyncio.get_running_loop().call_later(timeout, worker.give_up_batch)
        try:
            async with worker.batch_lock:
                try:
                    await worker._finish_pending()
                except Stopping as exc:
                    log.warning("rebalance: the batch in flight is given up uncommitted (%s)", exc)
                except Exception as exc:  # a bug: stop before anything else is committed
                    await worker.crash(exc)
                worker.processor.drop_cache()
        finally:
            worker.forget_stored()  # a batch given up above leaves them to the next owner
            deadline.cancel()
            worker.giving_up = False

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.worker.sensor.on_assigned(len(assigned))
        await self.worker.partitions_assigned([tp.partition for tp in assigned])
        log.info(
            "assigned %d partitions: %s", len(assigned), sorted(tp.partition for tp in assigned)
        )


class EventWorker(faust.Service):
    def __init__(
        self,
        settings: Settings,
        sensor: Sensor,
        *,
        clock: Callable[[], int] = wall_clock_ms,
        ops: OpsConfig | None = None,
        trigger_metrics: Sensor | None = None,
        recall: ReturnWatch | None = None,
        registry: CollectorRegistry | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        # every hook the worker calls goes through a delegate: a sensor that raises is logged
        # and skipped, it never stops the worker (streams/ops/sensor.py)
        self.sensor = SensorDelegate(s for s in (sensor, trigger_metrics) if s is not None)
        self.clock = clock
        self.batch_lock = asyncio.Lock()
        self.giving_up = False  # set when a revocation's deadline passed: retries give up
        self._pending: tuple[asyncio.Future[BatchStats], dict[TopicPartition, int], float] | None
        self._pending = None
        self.redis: Redis = timed_redis(
            settings, self.sensor, socket_connect_timeout=5, socket_timeout=30
        )
        self.producer = AIOKafkaProducer(
            **kafka_options(settings), acks="all", linger_ms=settings.worker.producer_linger_ms
        )
        self.consumer = AIOKafkaConsumer(
            **kafka_options(settings),
            group_id=settings.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=8 * 1024 * 1024,
            fetch_max_bytes=64 * 1024 * 1024,
            fetch_max_wait_ms=settings.worker.fetch_max_wait_ms,
        )
        w = settings.worker
        model = ProfileModel(settings.model)
        hook = None
        if settings.triggers.enabled:  # the rules schedule; the scheduler service sends
            trigger_rules = TriggerRules(model, settings.triggers)
            hook = TriggerHook(
                trigger_rules, TriggerStore(self.redis, settings.topics.prefix), recall
            )
        prefix = settings.topics.prefix
        self.rules = WorkerRules(settings, model, self.redis, self.producer, registry)
        identity, forwarder = None, None
        if settings.identity.enabled:  # docs/identity.md
            identity = IdentityHook(
                IdentityStore(self.redis, prefix),
                settings.identity.rules(),
                Keys(prefix).changes_outbox,
            )
            forwarder = KafkaForwarder(self.producer, settings.topic(TOPIC_EVENTS))
        self.processor = BatchProcessor(
            model,
            ProfileStore(
                self.redis, prefix, tombstone_ms=int(settings.worker.erase_tombstone_s * 1000)
            ),
            KafkaDeadLetters(self.producer, settings.topic(TOPIC_DLQ)),
            clock,
            backoff=Backoff(w.redis_retry_initial_ms / 1000, w.redis_retry_max_ms / 1000),
            should_stop=lambda: bool(self.should_stop) or self.giving_up,
            on_retry=self.sensor.on_redis_retry,
            cache_max_users=w.cache_max_users,
            track_changes=w.show_changes_per_s > 0,
            triggers=hook,
            rules=self.rules.hook,
            changes=self.rules.publisher,
            identity=identity,
            forwarder=forwarder,
        )
        self.rules.attach(self.processor)
        self._next_upkeep = 0.0
        self._last_change_log = 0.0
        self._stored: dict[TopicPartition, int] = {}  # stored, not yet committed
        self._commit_due = 0.0
        self.health = Health()
        ops = ops or settings.ops
        census = Census(
            self.redis, model, self.sensor, key_prefix=settings.topics.prefix,
            sample=ops.census_sample,
        )  # fmt: skip
        self.ops = OpsLoop(
            ops, self.health, self.redis, LagSampler(self.consumer, self.sensor), census
        )

    async def on_start(self) -> None:
        s = self.settings
        await connect(
            s,
            self.redis,
            [s.topic(name) for name in WORKER_TOPICS],
            [self.producer.start, self.consumer.start],
        )
        self.consumer.subscribe([s.topic(TOPIC_EVENTS)], listener=_Rebalance(self))
        self.sensor.on_worker_up(True)
        self.health.started = True

    async def on_stop(self) -> None:
        self.sensor.on_worker_up(False)
        self.health.stopping = True
        async with self.batch_lock:
            try:
                await self._finish_pending()
            except Exception as exc:  # stopping: the next owner re-reads what was not committed
                log.warning("batch in flight not committed at stop: %r", exc)
            await self.close_clients()

    async def close_clients(self) -> None:
        await close_all((self.consumer.stop, self.producer.stop, self.redis.aclose))

    @faust.Service.task
    async def _ops(self) -> None:
        """Heartbeat, Redis ping, lag and census, every few seconds (streams/ops/loop.py)."""
        await self.ops.run(self.sleep, lambda: bool(self.should_stop))

    @faust.Service.task
    async def _consume(self) -> None:
        """getmany -> prepare (CPU) while the previous batch's write is in flight -> store.

        Batch N+1 is decoded and applied while batch N's profile writes run in Redis (on its
        own core); N's offsets are committed only after its writes and dead letters landed,
        and at most every ``worker.commit_interval_ms`` (always on a rebalance and at stop).
        """
        timeout_ms = self.settings.worker.poll_timeout_ms
        max_records = self.settings.worker.batch_max_records
        while not self.should_stop:
            batch = await self.consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
            async with self.batch_lock:
                if self.should_stop:
                    return
                try:
                    started = time.perf_counter()
                    prepared = await self.processor.prepare(batch) if batch else None
                    await self._finish_pending(commit_now=False)
                    if prepared is not None:
                        self._start_storing(batch, prepared, started)
                    await self._upkeep()
                except Stopping as exc:
                    if self.should_stop:
                        log.warning("stopped mid-batch, not committing: %s", exc)
                        return
                    # given up on a rebalance (revoke_timeout_s): the revocation settles the
                    # batch still pending, if any; the next owner re-reads both uncommitted
                    log.warning("batch given up uncommitted on a rebalance: %s", exc)

    async def partitions_assigned(self, partitions: list[int]) -> None:
        await self.rules.assigned(partitions)
        self._next_upkeep = 0.0

    async def _upkeep(self) -> None:
        """Between batches, at most every ``worker.rules_upkeep_interval_s``: the rules' time
        flips, outbox leftovers, reloads and re-evaluations (streams/pipeline/rules_upkeep.py).
        The batch in flight is stored first: the upkeep writes from the newest states."""
        now = time.monotonic()
        if now < self._next_upkeep:
            return
        self._next_upkeep = now + self.settings.worker.rules_upkeep_interval_s
        await self._finish_pending(commit_now=False)
        owned = [tp.partition for tp in self.consumer.assignment()]
        await self.rules.between_batches(owned, self.clock())

    def give_up_batch(self) -> None:
        """A revocation's deadline passed: the batch in flight stops retrying (uncommitted)."""
        if self._pending is not None or self.batch_lock.locked():
            log.warning(
                "rebalance: the batch in flight was not stored within %.0f s (Redis down?)",
                self.settings.worker.revoke_timeout_s,
            )
            self.sensor.on_commit_failed()
        self.giving_up = True

    def _start_storing(
        self, batch: dict[TopicPartition, list[Any]], prepared: Prepared, started: float
    ) -> None:
        offsets = {tp: records[-1].offset + 1 for tp, records in batch.items()}
        task = asyncio.ensure_future(self.processor.store_prepared(prepared))
        self._pending = (task, offsets, started)

    async def _finish_pending(self, commit_now: bool = True) -> None:
        """Wait for the batch in flight to be stored, then commit the stored offsets: now
        (a rebalance, a stop), or once ``worker.commit_interval_ms`` has passed since the last
        commit (between batches)."""
        if self._pending is not None:
            task, offsets, started = self._pending
            self._pending = None
            stats = await task  # Stopping propagates: then nothing is committed
            self._stored.update(offsets)
            self._observe(stats, started)
        await self._commit(commit_now)

    async def _commit(self, now: bool) -> None:
        if not self._stored:
            return
        moment = time.monotonic()
        if not now and moment < self._commit_due:
            return
        offsets, self._stored = self._stored, {}
        self._commit_due = moment + self.settings.worker.commit_interval_ms / 1000
        try:
            await self.consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            # The fence makes the redelivery to the next owner harmless.
            log.warning("commit failed (%r); the next owner re-reads and the fence skips", exc)
            self.sensor.on_commit_failed()

    def forget_stored(self) -> None:
        """Offsets stored but not committed are not committed any more (a revocation: the
        next owner re-reads them, and the fence skips what is stored)."""
        self._stored = {}

    def _observe(self, stats: BatchStats, started: float) -> None:
        self.sensor.on_batch_written(stats, time.perf_counter() - started, self.clock())
        self.rules.observe(stats.transitions)
        self.sensor.on_cache_size(len(self.processor.cache))
        self._log_changes(stats)
        if stats.rejected:
            log.warning(
                "sent %d malformed events to the DLQ: %s",
                sum(stats.rejected.values()),
                dict(stats.rejected),
            )

    def _log_changes(self, stats: BatchStats) -> None:
        per_s = self.settings.worker.show_changes_per_s
        if per_s <= 0 or not stats.changes:
            return
        now = time.monotonic()
        budget = int((now - self._last_change_log) * per_s)
        if budget < 1:
            return
        self._last_change_log = now
        for user_id, changed in stats.changes[: min(budget, 5)]:
            shown = sorted((k, v) for k, v in changed.items() if k not in _QUIET_TAGS)
            parts = ", ".join(f"{k} {old}→{new}" for k, (old, new) in shown)
            log.info("profile %s: %s", user_id, parts)
