"""The scheduler: claim due triggers, decide, reserve a channel, publish, finish.

One round (:meth:`Scheduler.run_once`) claims up to ``scheduler.batch`` due triggers under a
lease, loads their users' profiles and response counts in two round trips, and takes each user's
triggers highest priority first. The pure policy decides (triggers/policy.py); the Lua
reservation applies caps and the minimum gap atomically; messages are published before the
triggers are finished, so a crash in between re-sends (same ``trigger_id``) instead of losing.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from redis.asyncio import Redis

from profiles.constants import sensitivity_key
from profiles.model import ProfileModel
from profiles.store import ProfileStore
from triggers.clock import calendar_starts
from triggers.config import Cap, TriggerConfig
from triggers.model import Trigger, message
from triggers.policy import Defer, Drop, Policy, Send, UserContext
from triggers.store import Limits, TriggerStore

log = logging.getLogger("portrait.triggers")


class Publisher(Protocol):
    async def publish(self, messages: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
        """Publish ``(channel, user_id, message)`` triples; return once all are acknowledged."""


class Observer(Protocol):
    def on_fired(self, kind: str) -> None: ...
    def on_deferred(self, kind: str, reason: str) -> None: ...
    def on_dropped(self, kind: str, outcome: str, reason: str) -> None: ...
    def on_published(self, kind: str, channel: str, latency_s: float) -> None: ...


class Scheduler:
    def __init__(
        self,
        redis: Redis,
        model: ProfileModel,
        policy: Policy,
        publisher: Publisher,
        observer: Observer,
        clock: Callable[[], int],
        namespace: str = "",
    ) -> None:
        self.redis = redis
        self.store = TriggerStore(redis, namespace)
        self.profiles = ProfileStore(redis)
        self.model = model
        self.policy = policy
        self.config: TriggerConfig = policy.config
        self.publisher = publisher
        self.observer = observer
        self.clock = clock

    async def run_once(self) -> int:
        """One round; returns the number of triggers claimed."""
        s = self.config.scheduler
        now = self.clock()
        claimed = await self.store.claim(now, s.lease_ms, s.batch)
        if not claimed:
            return 0
        by_user: dict[str, list[Trigger]] = defaultdict(list)
        for t in claimed:
            by_user[t.user_id].append(t)
        contexts = await self._contexts(list(by_user), now)
        out: list[tuple[Trigger, str]] = []
        for user_id, triggers in by_user.items():
            triggers.sort(key=lambda t: (-t.priority, t.due_at, t.trigger_id))
            await self._user(triggers, contexts[user_id], now, out)
        if out:
            sent_at = self.clock()
            await self.publisher.publish(
                [(ch, t.user_id, message(t, ch, sent_at)) for t, ch in out]
            )
            published = self.clock()
            for t, ch in out:
                await self.store.done(t)
                self.observer.on_published(t.kind, ch, max(0.0, (published - t.due_at) / 1000))
        return len(claimed)

    async def _user(
        self, triggers: list[Trigger], ctx: UserContext, now: int, out: list[tuple[Trigger, str]]
    ) -> None:
        used: set[str] = set()  # channels this user was given a message on in this round
        for t in triggers:
            self.observer.on_fired(t.kind)
            decision = self.policy.decide(t, ctx, now)
            if isinstance(decision, Drop):
                await self._drop(t, decision.outcome, decision.reason)
            elif isinstance(decision, Defer):
                await self._defer(decision.trigger, decision.reason)
            else:
                await self._reserve(decision, ctx, now, used, out)

    async def _reserve(
        self,
        d: Send,
        ctx: UserContext,
        now: int,
        used: set[str],
        out: list[tuple[Trigger, str]],
    ) -> None:
        t = d.trigger
        capped: str | None = None
        for channel in d.channels:
            r = await self.store.reserve(t, channel, now, self._limits(channel, ctx, now))
            if r.outcome in ("ok", "resend"):
                used.add(channel)
                out.append((t, channel))
                return
            if r.outcome == "gone":  # replaced or cancelled since it was claimed
                return
            if r.outcome == "min_gap":  # a message went out lately: wait for the gap
                reason = "priority" if channel in used else "min_gap"
                at = r.last_sent + self.config.policy.min_gap_ms
                if at < t.expires_at:
                    await self._defer(t.deferred(at), reason)
                else:
                    await self._drop(t, "suppressed", reason)
                return
            capped = capped or r.outcome  # cap_day / cap_week: try the next channel
        await self._drop(t, "suppressed", capped or "no_channel")

    def _limits(self, channel: str, ctx: UserContext, now: int) -> Limits:
        p = self.config.policy
        cap = p.caps.get(channel) or Cap()
        day, week = calendar_starts(now, ctx.timezone)
        return Limits(day, week, cap.day, cap.week, p.min_gap_ms, now - p.dedupe_ms, p.dedupe_ms)

    async def _drop(self, t: Trigger, outcome: str, reason: str) -> None:
        if await self.store.done(t):
            self.observer.on_dropped(t.kind, outcome, reason)

    async def _defer(self, t: Trigger, reason: str) -> None:
        if await self.store.defer(t):
            self.observer.on_deferred(t.kind, reason)

    async def _contexts(self, user_ids: list[str], now: int) -> dict[str, UserContext]:
        blobs = await self.profiles.load_raw(user_ids)
        pipe = self.redis.pipeline(transaction=False)
        for uid in user_ids:
            pipe.hgetall(sensitivity_key(uid))
        counts = await pipe.execute()
        return {
            uid: self.context(blobs.get(uid), _ints(raw), now)
            for uid, raw in zip(user_ids, counts, strict=True)
        }

    def context(self, blob: bytes | None, sensitivity: dict[str, int], now: int) -> UserContext:
        m = self.model
        if not blob:
            zone = m.config.default_timezone
            return UserContext(False, zone, None, {}, [], None, None, sensitivity)
        try:
            state = m.decode(blob)
        except Exception:  # a corrupt profile must not stop the scheduler: decide without it
            log.exception("cannot decode a stored profile; deciding without it")
            return UserContext(False, m.config.default_timezone, None, {}, [], None, None)
        return UserContext(
            True,
            m.hours.timezone(state["h"]),
            m.hours.peak_hour(state["h"], now),
            m.segments(state, now),
            m.cart.open_items(state["k"]),
            state["r"][2],
            state["r"][1],
            sensitivity,
        )

    async def backlog(self) -> tuple[int, int]:
        return await self.store.backlog(self.clock(), self.config.scheduler.overdue_ms)


def _ints(raw: Mapping[Any, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for k, v in raw.items():
        try:
            out[k.decode() if isinstance(k, bytes) else str(k)] = int(v)
        except (TypeError, ValueError):
            continue
    return out
