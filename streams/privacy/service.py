"""Erase and export everything stored about a user (GDPR), for the API and the CLI.

Erase (docs/privacy.md): one atomic Lua call deletes what the store holds and marks the erasure
*pending*; then an ``erase`` event, keyed by the user, goes to the events topic (acks=all) so the
worker, reaching it in the user's partition, forgets whatever it still held. Until then the
store refuses every write of that user (a batch in flight, a re-evaluation, a zombie owner).
With ``suppress`` the marker stays and later events of the user go to the DLQ (``suppressed``)
until ``unsuppress`` lifts it.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from profiles import codec
from profiles.events import ANON_PREFIX
from profiles.model import ProfileModel
from profiles.names import ERASE_EVENT
from profiles.rules.engine import SEGMENT, Transition
from profiles.timeutil import rfc3339
from streams.errors import CommandError
from streams.names import TOPIC_EVENTS
from streams.ops.privacy_metrics import PrivacyMetrics
from streams.pipeline.rules_hook import partitioner
from streams.privacy.export import state_dict
from streams.read.profile import ProfileReader
from streams.settings.tree import Settings
from streams.store.identity import IdentityStore
from streams.store.privacy import PrivacyStore
from triggers.model import Trigger

ERASE_CAUSE = "erase"  # the cause of the segment exits an erasure publishes


@dataclass(frozen=True, slots=True)
class Erasure:
    """What one erasure did (the API's reply, the CLI's output, the audit entry)."""

    user_id: str
    erase_id: str
    erased_at: str
    actor: str
    found: bool  # anything was stored about the user
    suppressed: bool
    keys_deleted: int
    triggers_cancelled: int
    segments_exited: list[str] = field(default_factory=list)
    tombstone_s: float = 0.0  # how long the tombstone stays (0: kept, the user is suppressed)
    linked: list[str] = field(default_factory=list)  # the person's other profiles, erased too

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Privacy:
    def __init__(
        self,
        redis: Redis,
        settings: Settings,
        producer: AIOKafkaProducer,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.store = PrivacyStore(redis, settings.topics.prefix)
        self.identity = IdentityStore(redis, settings.topics.prefix)
        self.producer = producer
        self.metrics = PrivacyMetrics(registry)
        self.rules = settings.rules
        self.reader = ProfileReader(
            redis, settings.topics.prefix, ProfileModel(settings.model), self.rules
        )
        self.topic = settings.topic(TOPIC_EVENTS)

    async def erase(self, user_id: str, *, suppress: bool, actor: str) -> Erasure:
        """Erase the whole person now: the user's profile and every profile linked to it
        (docs/identity.md), each as :meth:`erase_profile` does, then the person's identity
        graph."""
        profiles = await self.identity.profiles_of(user_id)
        first = await self.erase_profile(user_id, suppress=suppress, actor=actor)
        others = [await self.erase_profile(p, suppress=suppress, actor=actor) for p in profiles[1:]]
        forgotten = await self.identity.forget(user_id)
        return replace(
            first,
            found=first.found or any(o.found for o in others) or forgotten > 0,
            keys_deleted=first.keys_deleted + sum(o.keys_deleted for o in others) + forgotten,
            triggers_cancelled=first.triggers_cancelled + sum(o.triggers_cancelled for o in others),
            segments_exited=sorted(
                {*first.segments_exited, *(s for o in others for s in o.segments_exited)}
            ),
            linked=profiles[1:],
        )

    async def erase_profile(self, user_id: str, *, suppress: bool, actor: str) -> Erasure:
        """Erase one profile now and send the erase event through the stream (acks=all)."""
        started = time.perf_counter()
        partitions = await self._partitions()
        now_ms = int(time.time() * 1000)
        erase_id = uuid.uuid4().hex[:16]
        exits = await self._exits(user_id, now_ms)
        home = partitioner(partitions)(user_id)
        erased = await self.store.erase(
            user_id, erase_id, now_ms, suppress=suppress, home=home, exits=exits
        )
        await self.producer.send_and_wait(
            self.topic, erase_event(user_id, erase_id, now_ms, suppress), key=event_key(user_id)
        )
        found = bool(erased.keys_deleted or erased.segments_exited)
        tombstone = 0.0 if suppress else self.settings.worker.erase_tombstone_s
        out = Erasure(
            user_id, erase_id, rfc3339(now_ms) or "", actor, found, suppress, erased.keys_deleted,
            erased.triggers_cancelled, erased.segments_exited, tombstone,
        )  # fmt: skip
        await self.store.audit(
            {"op": "erase", "user_id": user_id, "actor": actor, "at": out.erased_at,
             "erase_id": erase_id, "suppress": int(suppress), "found": int(found)}
        )  # fmt: skip
        self.metrics.on_erased(
            suppress, erased.keys_deleted, erased.triggers_cancelled, time.perf_counter() - started
        )
        return out

    async def unsuppress(self, user_id: str, *, actor: str) -> dict[str, Any] | None:
        """Lift the user's suppression (consent given again): their later events build a new
        profile from nothing; what was erased stays erased, events sent meanwhile stay in the
        DLQ. None when the user was not suppressed."""
        now = rfc3339(int(time.time() * 1000)) or ""
        tombstone_ms = int(self.settings.worker.erase_tombstone_s * 1000)
        lifted = await self.store.unsuppress(user_id, tombstone_ms)
        self.metrics.on_unsuppressed(lifted)
        if not lifted:
            return None
        await self.store.audit({"op": "unsuppress", "user_id": user_id, "actor": actor, "at": now})
        return {"user_id": user_id, "unsuppressed_at": now, "actor": actor}

    async def export(self, user_id: str, as_of_ms: int, actor: str = "") -> dict[str, Any] | None:
        """Everything stored about the user as JSON-ready data; None if nothing is."""
        started = time.perf_counter()
        stored = await self.store.read(user_id, await self._candidates(user_id))
        found = not stored.empty or bool(stored.privacy)
        self.metrics.on_exported(found, time.perf_counter() - started)
        if not found:
            return None
        await self.store.audit(
            {"op": "export", "user_id": user_id, "actor": actor, "at": rfc3339(as_of_ms) or ""}
        )
        state = codec.decode(stored.profile) if stored.profile else None
        pending = [asdict(Trigger.decode(blob)) for blob in stored.pending.values()]
        return {
            "user_id": user_id,
            "exported_at": rfc3339(as_of_ms),
            "profile": (
                self.reader.view(user_id, state, stored.sensitivity, as_of_ms, stored.experiments)
                if state
                else None
            ),
            "stored_state": state_dict(state) if state else None,
            "segments": stored.segments,
            "triggers": {"pending": pending, "sent": stored.sent},
            "feedback": {"counts": stored.sensitivity, "seen": stored.feedback_seen},
            "recall": stored.recall,
            "experiments": stored.experiments,
            "privacy": stored.privacy,
        }

    async def _candidates(self, user_id: str) -> list[str]:
        """The segments the user may be a member of: the rules' own and those its stored
        state remembers (segments of older rules included)."""
        names = [s.name for s in self.rules.segments]
        state = await self.reader_state(user_id)
        if state is not None:
            names += state.rules.members
        return list(dict.fromkeys(names))

    async def reader_state(self, user_id: str) -> Any:
        blob = await self.store.redis.get(self.store.keys.profile(user_id))
        return codec.decode(blob) if isinstance(blob, bytes) and blob else None

    async def _exits(self, user_id: str, now_ms: int) -> list[tuple[str, bytes]]:
        version = self.rules.version
        return [
            (name, orjson.dumps(exit_transition(user_id, name, now_ms, version).message()))
            for name in await self._candidates(user_id)
        ]

    async def _partitions(self) -> int:
        metadata = await self.producer.client.fetch_all_metadata()
        parts = metadata.partitions_for_topic(self.topic)
        if not parts:
            raise CommandError(f"topic {self.topic} does not exist: start the worker first")
        return len(parts)


def exit_transition(user_id: str, segment: str, at_ms: int, version: str) -> Transition:
    return Transition(user_id, SEGMENT, segment, True, False, at_ms, version, ERASE_CAUSE)


def event_key(user_id: str) -> bytes:
    """The events topic's key of a user (its id without the anonymous prefix: docs/events.md)."""
    return user_id.removeprefix(ANON_PREFIX).encode()


def erase_event(user_id: str, erase_id: str, now_ms: int, suppress: bool) -> bytes:
    who = (
        {"anonymous_id": user_id.removeprefix(ANON_PREFIX)}
        if user_id.startswith(ANON_PREFIX)
        else {"user_id": user_id}
    )
    return orjson.dumps(
        {
            "event_id": f"erase:{erase_id}", "type": ERASE_EVENT, **who, "ts": now_ms,
            "properties": {"erase_id": erase_id, "suppress": suppress},
        }
    )  # fmt: skip
