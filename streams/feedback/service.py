"""The feedback service: counts what became of the sent triggers, and watches win-back recalls.

A faust ``Service`` driving an aiokafka ``getmany`` loop, like streams/worker/service.py.
It consumes

- ``feedback`` (delivered / opened / clicked / converted, from the push, SMS and e-mail
  services; docs/feedback.md): each (trigger_id, status) is counted once, attributed to the
  kind and channel of the scheduler's sent record, into metrics and the user's sensitivity
  counts; a malformed message goes to ``feedback.dlq`` with its reason in headers;
- the trigger topics (``triggers.push|sms|email``): each win-back sent is registered for recall
  from its send time (the delivered feedback later moves its window to the delivery time).

Offsets are committed after the batch's Redis writes and dead letters; redelivery is harmless
because every write is idempotent. Redis and Kafka errors are retried with backoff without
committing, as in the worker.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import TopicPartition
from prometheus_client import CollectorRegistry

from streams.connect.clients import kafka_options, redis_client
from streams.connect.lifecycle import close_all, connect, run_until_stopped
from streams.names import FEEDBACK_GROUP, TOPIC_FEEDBACK, TOPIC_FEEDBACK_DLQ
from streams.ops.feedback_metrics import FeedbackMetrics
from streams.pipeline.dlq import KafkaDeadLetters
from streams.pipeline.processor import DeadLetter, Record
from streams.pipeline.retry import Backoff, Stopping, retry_until_stopped, wall_clock_ms
from streams.settings.tree import Settings
from streams.store.feedback import FeedbackStore
from triggers.config import HOUR_MS, TriggerConfig
from triggers.feedback import BadFeedback, Feedback, Sent, decode_feedback, decode_sent

log = logging.getLogger("portrait.feedback")

INDEX_CLEANUP_S = 60.0  # how often users whose recall windows all ended leave the index
INDEX_GRACE_MS = HOUR_MS  # ... this long after their last deadline


class FeedbackService(faust.Service):
    def __init__(
        self,
        settings: Settings,
        config: TriggerConfig,
        metrics: FeedbackMetrics,
        *,
        clock: Callable[[], int] = wall_clock_ms,
        group_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        """``group_id``: default ``portrait-feedback`` with ``topics.prefix`` prepended."""
        super().__init__(**kwargs)
        self.settings = settings
        self.config = config
        self.metrics = metrics
        self.clock = clock
        self.feedback_topic = settings.topic(TOPIC_FEEDBACK)
        self.trigger_topics = sorted({settings.topic(t) for t in config.topics.values()})
        self.channels = tuple(config.topics)
        self.redis = redis_client(settings, socket_connect_timeout=5, socket_timeout=30)
        self.store = FeedbackStore(
            self.redis,
            settings.topics.prefix,
            recall_window_ms=config.recall_window_ms,
            seen_ttl_ms=config.policy.dedupe_ms,
            recall=config.recall,
        )
        self.producer = AIOKafkaProducer(**kafka_options(settings), acks="all", linger_ms=5)
        self.dlq = KafkaDeadLetters(self.producer, settings.topic(TOPIC_FEEDBACK_DLQ))
        self.consumer = AIOKafkaConsumer(
            **kafka_options(settings),
            group_id=group_id or settings.topics.prefix + FEEDBACK_GROUP,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        w = settings.worker
        self.backoff = Backoff(w.redis_retry_initial_ms / 1000, w.redis_retry_max_ms / 1000)

    async def on_start(self) -> None:
        s = self.settings
        topics = [self.feedback_topic, s.topic(TOPIC_FEEDBACK_DLQ), *self.trigger_topics]
        await connect(s, self.redis, topics, [self.producer.start, self.consumer.start])
        self.consumer.subscribe([self.feedback_topic, *self.trigger_topics])
        self.metrics.on_feedback_up(True)

    async def on_stop(self) -> None:
        self.metrics.on_feedback_up(False)
        await self.close_clients()

    async def close_clients(self) -> None:
        await close_all((self.consumer.stop, self.producer.stop, self.redis.aclose))

    @faust.Service.task
    async def _consume(self) -> None:
        timeout_ms = self.settings.worker.poll_timeout_ms
        while not self.should_stop:
            batch = await self.consumer.getmany(timeout_ms=timeout_ms, max_records=5_000)
            if not batch or self.should_stop:
                continue
            try:
                await self.handle(batch)
            except Stopping as exc:
                log.warning("stopped mid-batch, not committing: %s", exc)
                return
            offsets = {tp: records[-1].offset + 1 for tp, records in batch.items()}
            try:
                await self.consumer.commit(offsets)
            except (CommitFailedError, KafkaError) as exc:  # redelivery is idempotent
                log.warning("commit failed (%r); the next owner re-reads harmlessly", exc)

    @faust.Service.task
    async def _cleanup_index(self) -> None:
        while not self.should_stop:
            await self.sleep(INDEX_CLEANUP_S)
            if self.should_stop:
                return
            try:
                await self.store.forget_expired(self.clock() - INDEX_GRACE_MS)
                await self.store.trim_ledger(self.clock())
            except Exception as exc:  # next round; the index only grows meanwhile
                log.warning("recall index cleanup failed: %r", exc)

    async def handle(self, batch: dict[TopicPartition, list[Any]]) -> None:
        """Decode, count, register and dead-letter one batch (everything before its commit)."""
        now = self.clock()
        feedback: list[Feedback] = []
        sent: list[Sent] = []
        letters: list[DeadLetter] = []
        for records in batch.values():
            for record in records:
                if record.topic == self.feedback_topic:
                    self._decode_feedback(record, now, feedback, letters)
                else:
                    self._decode_sent(record, sent)
        counted = await self._retry("feedback", lambda: self.store.count(feedback))
        registered = await self._retry("register", lambda: self.store.register(sent))
        if letters:
            await self._retry("dlq", lambda: self.dlq.send_many(letters))
        self.metrics.on_feedback_counted(counted)
        self.metrics.on_recall_registered(registered.pending)
        listed = registered.listed + [(c.kind, c.channel) for c in counted if c.listed]
        self.metrics.on_recall_listed(listed)
        for letter in letters:
            self.metrics.on_feedback_rejected(letter.reason)

    def _decode_feedback(
        self, record: Record, now: int, out: list[Feedback], letters: list[DeadLetter]
    ) -> None:
        try:
            out.append(decode_feedback(record.value, now, self.channels))
        except BadFeedback as exc:
            letters.append(DeadLetter(record, exc.reason, exc.detail))
        except Exception as exc:  # never let one message stop the consumer
            letters.append(DeadLetter(record, "bad_field", f"{type(exc).__name__}: {exc}"[:500]))

    def _decode_sent(self, record: Record, out: list[Sent]) -> None:
        try:
            out.append(decode_sent(record.value))
        except Exception as exc:  # our own scheduler's output: count it, the push service DLQs
            log.warning("unreadable trigger message at %s:%s: %r", record.topic, record.offset, exc)
            self.metrics.on_feedback_rejected("bad_trigger_message")

    async def _retry(self, op: str, fn: Callable[[], Any]) -> Any:
        return await retry_until_stopped(
            fn,
            op=op,
            backoff=self.backoff,
            should_stop=lambda: bool(self.should_stop),
            on_retry=self.metrics.on_feedback_retry,
        )


async def run_feedback(
    settings: Settings,
    config: TriggerConfig,
    *,
    registry: CollectorRegistry | None = None,
    metrics: FeedbackMetrics | None = None,
    stop: asyncio.Event | None = None,
    clock: Callable[[], int] = wall_clock_ms,
    group_id: str | None = None,
) -> None:
    """Run a :class:`FeedbackService` until ``stop`` is set or it crashes (re-raised).

    Its metrics go to ``metrics`` if given, else to a new :class:`FeedbackMetrics` on
    ``registry``."""
    stop = stop or asyncio.Event()
    metrics = metrics or FeedbackMetrics(registry)
    service = FeedbackService(settings, config, metrics, clock=clock, group_id=group_id)
    await run_until_stopped(service, stop, service.close_clients)
