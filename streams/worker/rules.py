"""The business rules' side of the worker (docs/rules.md, "Segments in the stream"): the hook
its batches evaluate the rules with, the publisher of ``profile.changes``, the upkeep it runs
between batches (time flips, outbox leftovers, reloads, re-evaluation) and their metrics."""

from __future__ import annotations

import logging
from collections.abc import Collection

from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from redis.exceptions import RedisError

from profiles.model import ProfileModel
from profiles.rules.engine import RulesEngine, Transition
from streams.names import TOPIC_PROFILE_CHANGES
from streams.ops.rules_metrics import RulesMetrics
from streams.ops.segments import SegmentSizes
from streams.pipeline.changes import ChangePublisher, KafkaChanges
from streams.pipeline.processor import BatchProcessor
from streams.pipeline.rules_hook import RulesHook
from streams.pipeline.rules_upkeep import RulesUpkeep
from streams.settings.tree import Settings
from streams.store.segments import SegmentStore

log = logging.getLogger("portrait.rules")


class WorkerRules:
    def __init__(
        self,
        settings: Settings,
        model: ProfileModel,
        redis: Redis,
        producer: AIOKafkaProducer,
        registry: CollectorRegistry | None,
    ) -> None:
        rules = settings.rules
        prefix = settings.topics.prefix
        self.settings = settings
        self.segments = SegmentStore(redis, prefix)
        self.hook = RulesHook(RulesEngine(model, rules))
        self.publisher = ChangePublisher(
            self.segments, KafkaChanges(producer, settings.topic(TOPIC_PROFILE_CHANGES))
        )
        self.metrics = RulesMetrics(registry)
        self.metrics.on_rules(
            rules.version, len(rules.tags), len(rules.segments), settings.rules_source.name
        )
        self.sizes = SegmentSizes(
            self.segments, lambda: [s.name for s in self.hook.engine.rules.segments],
            registry=self.metrics.registry,
        )  # fmt: skip
        self._upkeep: RulesUpkeep | None = None
        self._published = 0  # the publisher's count at the last metrics update

    def attach(self, processor: BatchProcessor) -> None:
        """The processor the hook and publisher were given to: the upkeep works through it."""
        self._upkeep = RulesUpkeep(processor, self.segments, self.settings.rules_source)

    @property
    def upkeep(self) -> RulesUpkeep:
        assert self._upkeep is not None, "attach() the processor first"
        return self._upkeep

    async def assigned(self, partitions: Collection[int]) -> None:
        """Publish what the partitions' outboxes hold; re-evaluate them under other rules."""
        try:
            await self.upkeep.assigned(partitions)
        except Exception as exc:  # Redis down: the next upkeep round retries the outboxes
            log.warning("rules upkeep of the new partitions deferred: %r", exc)

    async def between_batches(self, owned: Collection[int], now_ms: int) -> None:
        """One upkeep round (no batch may be in flight), then the metrics."""
        upkeep = self.upkeep
        stats = await upkeep.run(owned, now_ms)
        self.metrics.on_upkeep(stats, upkeep.scanning)
        sent = self.publisher.published  # after batches and upkeep alike
        self.metrics.on_published(sent - self._published)
        self._published = sent
        self.sizes.observe(stats.transitions)
        if stats.reloads:
            rules = upkeep.engine.rules
            self.metrics.on_rules(
                rules.version, len(rules.tags), len(rules.segments), upkeep.source_name
            )
        try:
            await self.sizes.refresh()
        except (RedisError, OSError) as exc:  # a gauge: Redis down, the next round reads again
            log.warning("segment sizes not refreshed: %r", exc)

    def observe(self, transitions: list[Transition]) -> None:
        self.sizes.observe(transitions)
