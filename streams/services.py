"""The services one ``portrait worker`` process runs: the event worker, and with triggers
enabled the trigger scheduler beside it (sharing the metrics registry)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import faust

from streams.metrics import WorkerMetrics
from streams.settings import Settings
from streams.trigger_metrics import TriggerMetrics
from streams.trigger_service import TriggerService
from streams.worker import EventWorker, wall_clock_ms

log = logging.getLogger("portrait")


@dataclass
class WorkerServices:
    worker: EventWorker
    extras: list[faust.Service] = field(default_factory=list)  # started after the worker

    def all(self) -> list[faust.Service]:
        return [self.worker, *self.extras]

    async def stop(self) -> None:
        """Stop the extras first (they may be publishing), then the worker."""
        for service in reversed(self.extras):
            try:
                await service.stop()
            except Exception as exc:  # stopping must go on
                log.warning("error stopping %s: %r", type(service).__name__, exc)
        await self.worker.stop()


def worker_services(settings: Settings, metrics: WorkerMetrics) -> WorkerServices:
    if not settings.triggers.enabled:
        return WorkerServices(EventWorker(settings, metrics))
    trigger_metrics = TriggerMetrics(metrics.registry, settings.triggers.cost)
    worker = EventWorker(settings, metrics, trigger_metrics=trigger_metrics)
    scheduler = TriggerService(settings, trigger_metrics, clock=wall_clock_ms)
    return WorkerServices(worker, [scheduler])
