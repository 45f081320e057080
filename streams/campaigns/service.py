"""The campaigns consumer: plans each request on the ``campaigns`` topic (docs/campaigns.md).

A faust ``Service`` driving an aiokafka consumer, like the event worker: ``getmany``, plan each
request in offset order, commit after each. A malformed request (or one the planner fails on
with a bug) is logged, counted and sent to ``campaigns.dlq`` with its reason, and the consumer
goes on; Redis or Kafka being away is retried with backoff, never skipped. Planning is
idempotent (trigger ids depend on user and campaign only), so a request redelivered after a
crash or rebalance is planned again harmlessly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Final

import faust
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import ConsumerRecord, TopicPartition
from prometheus_client import CollectorRegistry

from profiles.model import ProfileModel
from streams.campaigns.planner import (
    CAMPAIGN_TOPICS,
    CampaignPlanner,
)
from streams.campaigns.report import CampaignMetrics
from streams.connect.clients import kafka_options, redis_client
from streams.connect.lifecycle import close_all, connect, run_until_stopped
from streams.names import CAMPAIGN_GROUP, TOPIC_CAMPAIGNS, TOPIC_CAMPAIGNS_DLQ
from streams.pipeline.dlq import KafkaDeadLetters
from streams.pipeline.processor import DeadLetter
from streams.pipeline.retry import Backoff, Stopping, retry_until_stopped, wall_clock_ms
from streams.settings.tree import Settings
from triggers.campaign import CampaignError, load_campaign
from triggers.config import TriggerConfig

log = logging.getLogger("portrait.campaigns")

MAX_PLAN_INTERVAL_MS: Final = 3_600_000  # a scan of millions of profiles between two polls


class CampaignService(faust.Service):
    def __init__(
        self,
        settings: Settings,
        config: TriggerConfig | None = None,
        registry: CollectorRegistry | None = None,
        *,
        clock: Callable[[], int] = wall_clock_ms,
        user_prefix: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.clock = clock
        self.metrics = CampaignMetrics(registry)
        self.redis = redis_client(settings, socket_connect_timeout=5, socket_timeout=30)
        self.producer = AIOKafkaProducer(**kafka_options(settings), acks="all")
        self.consumer = AIOKafkaConsumer(
            **kafka_options(settings),
            group_id=settings.topics.prefix + CAMPAIGN_GROUP,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_interval_ms=MAX_PLAN_INTERVAL_MS,
        )
        self.planner = CampaignPlanner(
            self.redis,
            ProfileModel(settings.model),
            config or settings.triggers,
            metrics=self.metrics,
            namespace=settings.topics.prefix,
            user_prefix=user_prefix,
        )
        self.dlq = KafkaDeadLetters(self.producer, settings.topic(TOPIC_CAMPAIGNS_DLQ))
        w = settings.worker
        self.backoff = Backoff(w.redis_retry_initial_ms / 1000, w.redis_retry_max_ms / 1000)

    async def on_start(self) -> None:
        s = self.settings
        topics = [s.topic(name) for name in CAMPAIGN_TOPICS]
        # requests are few; one partition keeps them in order
        await connect(s, self.redis, topics, [self.producer.start, self.consumer.start],
                      partitions=1)  # fmt: skip
        self.consumer.subscribe([s.topic(TOPIC_CAMPAIGNS)])

    async def on_stop(self) -> None:
        await self.close_clients()

    async def close_clients(self) -> None:
        await close_all((self.consumer.stop, self.producer.stop, self.redis.aclose))

    @faust.Service.task
    async def _consume(self) -> None:
        poll_ms = self.settings.worker.poll_timeout_ms
        while not self.should_stop:
            batch = await self.consumer.getmany(timeout_ms=poll_ms, max_records=10)
            for tp, records in batch.items():
                for record in records:
                    try:
                        await self.handle(record)
                    except Stopping as exc:
                        log.warning("stopped while planning, not committing: %s", exc)
                        return
                    await self._commit(tp, record.offset + 1)

    async def handle(self, record: ConsumerRecord[bytes, bytes]) -> None:
        """Plan one request; a bad one goes to the DLQ. Raises only :class:`Stopping`."""
        value = record.value or b""
        try:
            campaign = load_campaign(value)
            summary = await self._retry(lambda: self.planner.plan(campaign, self.clock()), "plan")
        except CampaignError as exc:
            log.warning("campaign request at offset %d rejected: %s", record.offset, exc)
            self.metrics.on_rejected(exc.reason)
            await self._dead_letter(record, exc.reason, exc.detail)
            return
        except Stopping:
            raise
        except Exception as exc:  # a bug: this request must not block the ones behind it
            log.exception("planning the request at offset %d failed", record.offset)
            self.metrics.on_failed()
            await self._dead_letter(record, "plan_failed", f"{type(exc).__name__}: {exc}")
            return
        log.info("campaign %s planned: %s", campaign.campaign_id, summary.as_dict())

    async def _dead_letter(
        self, record: ConsumerRecord[bytes, bytes], reason: str, detail: str
    ) -> None:
        letter = DeadLetter(record, reason, detail)
        await self._retry(lambda: self.dlq.send_many([letter]), "campaign dlq")

    async def _retry(self, fn: Callable[[], Any], op: str) -> Any:
        return await retry_until_stopped(
            fn,
            op=op,
            backoff=self.backoff,
            should_stop=lambda: bool(self.should_stop),
            on_retry=lambda _op: None,
        )

    async def _commit(self, tp: TopicPartition, offset: int) -> None:
        try:
            await self.consumer.commit({tp: offset})
        except (CommitFailedError, KafkaError) as exc:  # replanning is idempotent
            log.warning("campaign commit failed (%r); the request may be planned again", exc)


async def run_campaigns(
    settings: Settings,
    *,
    config: TriggerConfig | None = None,
    registry: CollectorRegistry | None = None,
    stop: asyncio.Event | None = None,
    clock: Callable[[], int] = wall_clock_ms,
    user_prefix: str = "",
) -> None:
    """Run a :class:`CampaignService` until ``stop`` is set or it crashes (re-raised)."""
    stop = stop or asyncio.Event()
    service = CampaignService(settings, config, registry, clock=clock, user_prefix=user_prefix)
    await run_until_stopped(service, stop, service.close_clients)
