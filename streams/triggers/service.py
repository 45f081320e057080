"""The trigger scheduler as a faust ``Service``: claims due triggers and publishes them.

Every worker process runs one; they share the due index in Redis and the atomic claim keeps them
from sending a trigger twice. The loop sleeps until the earliest due time (at most
``scheduler.poll_ms``), so a trigger is published within a poll interval of its due time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import faust
from aiokafka import AIOKafkaProducer

from profiles.model import ProfileModel
from streams.connect.clients import kafka_options, redis_client
from streams.connect.lifecycle import close_all
from streams.connect.topics import ensure_topics
from streams.ops.trigger_metrics import TriggerMetrics
from streams.pipeline.retry import TRANSIENT
from streams.settings.tree import Settings
from streams.triggers.publisher import KafkaPublisher
from streams.triggers.scheduler import Scheduler
from triggers.policy import Policy
from triggers.sensitivity import preferred_channels

log = logging.getLogger("portrait.triggers")
_BACKLOG_EVERY_S = 1.0
_ERROR_PAUSE_S = 1.0


class TriggerService(faust.Service):
    def __init__(
        self,
        settings: Settings,
        metrics: TriggerMetrics,
        *,
        clock: Callable[[], int],
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.metrics = metrics
        self.clock = clock
        cfg = settings.triggers
        self.topics = {ch: settings.topic(name) for ch, name in cfg.topics.items()}
        self.redis = redis_client(settings, socket_connect_timeout=5, socket_timeout=30)
        self.producer = AIOKafkaProducer(**kafka_options(settings), acks="all", linger_ms=1)
        self.scheduler = Scheduler(
            self.redis,
            ProfileModel(settings.model),
            Policy(cfg, preferred_channels),
            KafkaPublisher(self.producer, self.topics),
            metrics,
            clock,
            settings.topics.prefix,
        )

    async def on_start(self) -> None:
        s = self.settings
        await ensure_topics(
            s,
            sorted(set(self.topics.values())),
            partitions=s.topics.partitions,
            replication_factor=s.topics.replication_factor,
        )
        await self.producer.start()

    async def on_stop(self) -> None:
        await close_all((self.producer.stop, self.redis.aclose))

    @faust.Service.task
    async def _run(self) -> None:
        poll_s = self.settings.triggers.scheduler.poll_ms / 1000
        while not self.should_stop:
            try:
                claimed = await self.scheduler.run_once()
                if claimed:
                    continue  # more may be due: look again at once
                await self.sleep(await self._idle_for(poll_s))
            except asyncio.CancelledError:
                raise
            except TRANSIENT as exc:  # Redis or Kafka down: what was claimed is due after its lease
                if self.should_stop:  # stopping: on_stop closed the clients under this round
                    return
                log.warning("trigger round failed (%s: %s); retrying", type(exc).__name__, exc)
                await self.sleep(_ERROR_PAUSE_S)
            except Exception:  # a bug: say where, and keep the scheduler alive
                log.exception("trigger round failed; retrying")
                await self.sleep(_ERROR_PAUSE_S)

    async def _idle_for(self, poll_s: float) -> float:
        due = await self.scheduler.store.next_due()
        if due is None:
            return poll_s
        return min(poll_s, max(0.0, (due - self.clock()) / 1000))

    @faust.Service.task
    async def _backlog(self) -> None:
        while not self.should_stop:
            try:
                self.metrics.on_backlog(*await self.scheduler.backlog())
            except Exception as exc:  # a gauge may go stale; the loop above reports errors
                log.debug("backlog not read: %r", exc)
            await self.sleep(_BACKLOG_EVERY_S)
