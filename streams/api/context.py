"""What the API's routes share: the settings, the Redis client, the events producer, the read
path (profiles, segments, triggers), the privacy service and the metrics observer.

:func:`open_context` builds one from the settings; the app's lifespan starts the producer (Redis
pinged and the events topic made first, each failure one line: :class:`StartupError`) and
closes everything at the end.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol

from aiokafka import AIOKafkaProducer
from fastapi import Depends, Request
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from profiles.model import ProfileModel
from profiles.rules import RuleSet
from streams.api.auth import TokenTable
from streams.connect.clients import kafka_options, redis_client
from streams.connect.lifecycle import close_all, connect
from streams.names import TOPIC_EVENTS
from streams.ops.api_metrics import ApiMetrics
from streams.privacy.service import Privacy
from streams.read.profile import ProfileReader
from streams.settings.base import ConfigError
from streams.settings.tree import Settings
from streams.store.identity import IdentityStore
from streams.store.segments import SegmentStore
from streams.store.triggers import TriggerStore


class Erasure(Protocol):
    def as_dict(self) -> dict[str, Any]: ...


class PrivacyService(Protocol):
    """streams/privacy/service.py: erase, unsuppress and export one user (GDPR)."""

    async def erase(self, user_id: str, *, suppress: bool, actor: str) -> Erasure: ...
    async def unsuppress(self, user_id: str, *, actor: str) -> dict[str, Any] | None: ...
    async def export(
        self, user_id: str, as_of_ms: int, actor: str = ""
    ) -> dict[str, Any] | None: ...


log = logging.getLogger("portrait.api")
MakePrivacy = Callable[[Redis, Settings, AIOKafkaProducer, CollectorRegistry], Any]


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class ApiContext:
    settings: Settings
    redis: Redis
    producer: AIOKafkaProducer
    metrics: ApiMetrics
    model: ProfileModel
    privacy: PrivacyService | None = None
    tokens: TokenTable = field(default_factory=lambda: TokenTable(()))
    clock: Callable[[], int] = now_ms
    started: bool = False
    _rules: tuple[object, RuleSet] | None = field(default=None, repr=False)
    _reader: tuple[RuleSet, ProfileReader] | None = field(default=None, repr=False)

    @property
    def namespace(self) -> str:
        return self.settings.topics.prefix

    @property
    def events_topic(self) -> str:
        return self.settings.topic(TOPIC_EVENTS)

    @property
    def rules(self) -> RuleSet:
        """The rules as their source holds them now: read again when the file changes (one
        stat a request); a file changed into a broken one leaves the last good rules, logged."""
        source = self.settings.rules_source
        stamp = source.stamp()
        if self._rules is None or self._rules[0] != stamp:
            try:
                self._rules = (stamp, source.load())
            except ConfigError as exc:
                if self._rules is None:
                    raise
                log.warning("keeping rules %s: %s", self._rules[1].version, exc)
                self._rules = (stamp, self._rules[1])
        return self._rules[1]

    def reader(self) -> ProfileReader:
        """The profile read path under the current rules (rebuilt when they change)."""
        rules = self.rules
        if self._reader is None or self._reader[0].version != rules.version:
            self._reader = (rules, ProfileReader(self.redis, self.namespace, self.model, rules))
        return self._reader[1]

    @property
    def segments(self) -> SegmentStore:
        return SegmentStore(self.redis, self.namespace)

    @property
    def triggers(self) -> TriggerStore:
        return TriggerStore(self.redis, self.namespace)

    @property
    def identity(self) -> IdentityStore:
        return IdentityStore(self.redis, self.namespace)

    async def start(self) -> None:
        """Redis answers, the events topic exists, the producer is started (or StartupError)."""
        await connect(self.settings, self.redis, [self.events_topic], [self.producer.start])
        self.started = True

    async def close(self) -> None:
        self.started = False
        await close_all([self.producer.stop, self.redis.aclose])


def open_context(
    settings: Settings,
    tokens: TokenTable,
    *,
    registry: CollectorRegistry | None = None,
    privacy: MakePrivacy | None = None,
    options: Mapping[str, Any] | None = None,
) -> ApiContext:
    """A context over fresh clients (not started: the app's lifespan starts it). ``privacy``:
    how to make the privacy service from the clients (default: streams.privacy's)."""
    redis = redis_client(settings, socket_connect_timeout=5, socket_timeout=10)
    producer = AIOKafkaProducer(
        **kafka_options(settings), acks="all", linger_ms=1, **dict(options or {})
    )
    metrics = ApiMetrics(registry)
    make = privacy or Privacy
    service = make(redis, settings, producer, metrics.registry)
    model = ProfileModel(settings.model)
    return ApiContext(settings, redis, producer, metrics, model, service, tokens)


async def context(request: Request) -> ApiContext:
    """The app's context (a FastAPI dependency; async, as every dependency here is: FastAPI
    runs a plain ``def`` one in a worker thread, a thread hop on every request)."""
    ctx: ApiContext = request.app.state.ctx
    return ctx


Ctx = Annotated[ApiContext, Depends(context)]
