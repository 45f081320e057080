"""The services one ``portrait worker`` process runs: the event worker and, with triggers
enabled, the trigger scheduler, the feedback consumer, the campaign consumer and the recall
tracker's refresher beside it, sharing one metrics registry."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import faust
from aiokafka.errors import KafkaError
from redis.exceptions import RedisError

from streams.campaigns.service import CampaignService
from streams.connect.lifecycle import StartupError
from streams.feedback.recall import RecallRefresher
from streams.feedback.service import FeedbackService
from streams.ops.feedback_metrics import FeedbackMetrics
from streams.ops.trigger_metrics import TriggerMetrics
from streams.ops.worker_metrics import WorkerMetrics
from streams.pipeline.retry import wall_clock_ms
from streams.settings.tree import Settings
from streams.triggers.service import TriggerService
from streams.worker.service import EventWorker

log = logging.getLogger("portrait")


@dataclass
class WorkerServices:
    worker: EventWorker
    # Started after the worker, in order: the worker's start checks Kafka and Redis with a clear
    # error, and its first batch waits for a group join, by when the recall refresher (first
    # here) has loaded its watch list.
    extras: list[faust.Service] = field(default_factory=list)

    def all(self) -> list[faust.Service]:
        return [self.worker, *self.extras]

    async def start(self) -> None:
        await self.worker.start()
        for service in self.extras:
            try:
                await service.start()
            except StartupError:
                raise
            except (RedisError, KafkaError, OSError) as exc:
                name = type(service).__name__
                raise StartupError(f"{name} cannot start: {exc!r}") from exc

    async def stop(self) -> None:
        """Stop in reverse order: what publishes first, the worker, then what it relies on."""
        for service in reversed(self.all()):
            try:
                await service.stop()
            except Exception as exc:  # stopping must go on
                log.warning("error stopping %s: %r", type(service).__name__, exc)


def worker_services(settings: Settings, metrics: WorkerMetrics) -> WorkerServices:
    if not settings.triggers.enabled:
        return WorkerServices(EventWorker(settings, metrics, registry=metrics.registry))
    config = settings.triggers
    trigger_metrics = TriggerMetrics(metrics.registry, config.cost, config.experiments)
    refresher = RecallRefresher(settings, config, clock=wall_clock_ms)
    worker = EventWorker(
        settings,
        metrics,
        trigger_metrics=trigger_metrics,
        recall=refresher.tracker,
        registry=metrics.registry,
    )
    extras: list[faust.Service] = [
        refresher,
        TriggerService(settings, trigger_metrics, clock=wall_clock_ms),
        FeedbackService(settings, config, FeedbackMetrics(metrics.registry, config.experiments)),
    ]
    if config.kind("campaign").enabled:
        extras.append(CampaignService(settings, config, metrics.registry))
    return WorkerServices(worker, extras)
