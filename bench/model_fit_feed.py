"""bench.model_fit's traffic: simulated users, some declaring their gender, through the worker's
batch processor into Redis without Kafka (as ``portrait replay --via direct`` does).

Records are made here: one fence id for the whole run, offsets counting on across calls, so a
later day continues the same log. The clock is stream time (the newest event fed), never the
wall clock, so the run is the same at any hour.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
from redis.asyncio import Redis

from profiles.model import ProfileModel
from profiles.rules import RuleSet
from profiles.rules.engine import RulesEngine
from streams.pipeline.processor import BatchProcessor, Record
from streams.pipeline.retry import Backoff
from streams.pipeline.rules_hook import RulesHook, partitioner
from streams.replay.direct import ReplayRecord
from streams.replay.progress import RejectLog
from streams.settings.tree import Settings
from streams.sim.personas import TrafficModel
from streams.store.profiles import ProfileStore

HOUR: Final = 3_600_000
FENCE: Final = "modelfit"
TOPIC: Final = "model-fit"


@dataclass
class Truth:
    """What the simulator knows: every seen user's gender, and who declares it."""

    declared: frozenset[str]
    gender: dict[str, str] = field(default_factory=dict)


@dataclass
class Feeder:
    traffic: TrafficModel
    truth: Truth
    clock: int  # stream time: the end of the hours fed so far
    offset: int = 0

    def hour(self) -> list[dict[str, Any]]:
        """The next simulated hour, with the undeclared users' gender taken out of identify."""
        events = self.traffic.events_between(self.clock, self.clock + HOUR)
        self.clock += HOUR
        for event in events:
            traits = event.get("traits")
            if event["type"] != "identify" or not traits or "gender" not in traits:
                continue
            uid = event["user_id"]
            self.truth.gender.setdefault(uid, traits["gender"])
            if uid not in self.truth.declared:
                event["traits"] = {k: v for k, v in traits.items() if k != "gender"}
        return events

    def records(self, events: Sequence[dict[str, Any]]) -> list[Record]:
        out: list[Record] = []
        for event in events:
            key = event["user_id"].encode()
            out.append(ReplayRecord(TOPIC, FENCE, self.offset, key, orjson.dumps(event), 0))
            self.offset += 1
        return out

    async def feed(self, redis: Redis, settings: Settings, rules: RuleSet | None, days: int) -> int:
        """``days`` more simulated days through a processor (running ``rules`` if given)."""
        processor = _processor(settings, redis, rules, lambda: self.clock)
        rejects = processor.dlq
        size, fed = settings.worker.batch_max_records, 0
        for _ in range(days * 24):
            records = self.records(self.hour())
            for start in range(0, len(records), size):
                await processor.process({FENCE: records[start : start + size]})
            fed += len(records)
        if isinstance(rejects, RejectLog) and rejects.reasons:
            raise SystemExit(f"bench.model_fit: simulated events rejected: {dict(rejects.reasons)}")
        return fed


def simulate(users: int, seed: int, declared: float, t0: int) -> tuple[Truth, Feeder]:
    """The traffic model and who declares (a seeded ``declared`` share of the users)."""
    traffic = TrafficModel(users, seed=seed)
    rng = random.Random(seed ^ 0x6E4DE5)
    truth = Truth(frozenset(u for u in traffic.user_ids if rng.random() < declared))
    return truth, Feeder(traffic, truth, t0)


def _processor(
    settings: Settings, redis: Redis, rules: RuleSet | None, clock: Any
) -> BatchProcessor:
    """The worker's processor; with ``rules``, its rules hook evaluates them for every touched
    user (transitions recorded, not published: a replay's)."""
    w = settings.worker
    model = ProfileModel(settings.model)
    hook = None if rules is None else RulesHook(RulesEngine(model, rules))
    return BatchProcessor(
        model,
        ProfileStore(redis, settings.topics.prefix),
        RejectLog(),
        clock,
        backoff=Backoff(w.redis_retry_initial_ms / 1000, w.redis_retry_max_ms / 1000),
        should_stop=lambda: False,
        cache_max_users=w.cache_max_users,
        rules=hook,
        home=partitioner(settings.topics.partitions),
        replaying=True,
    )
