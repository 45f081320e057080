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

from profiles.codec import decode
from profiles.model import ProfileModel, State
from streams.store.experiments import ExperimentStore
from streams.store.profiles import ProfileStore
from streams.store.triggers import Limits, TriggerStore
from triggers.clock import calendar_starts
from triggers.config import Cap, Experiment, TriggerConfig
from triggers.experiment_outcome import Exposure, baseline
from triggers.experiments import assign, enrol, find
from triggers.model import Trigger, message
from triggers.policy import Defer, Drop, Policy, UserContext
from triggers.rules import TriggerRules
from triggers.sensitivity import parse_counts

log = logging.getLogger("portrait.triggers")


class Publisher(Protocol):
    async def publish(self, messages: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
        """Publish ``(channel, user_id, message)`` triples; return once all are acknowledged."""


class Observer(Protocol):
    def on_fired(self, kind: str) -> None: ...
    def on_deferred(self, kind: str, reason: str) -> None: ...
    def on_dropped(self, kind: str, outcome: str, reason: str) -> None: ...
    def on_published(self, kind: str, channel: str, latency_s: float) -> None: ...
    def on_experiment(self, experiment: str, arm: str, event: str, channel: str = "") -> None:
        """A user ``assigned`` to an arm, or an arm's message ``sent`` on ``channel``."""

    def on_message(self, body: dict[str, Any]) -> None:
        """A published message (for a sample log line); the default does nothing."""


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
        self.profiles = ProfileStore(redis, namespace)
        self.experiments = ExperimentStore(redis, namespace)
        self.model = model
        self.rules = TriggerRules(model, policy.config)
        self.policy = policy
        self.config: TriggerConfig = policy.config
        self.publisher = publisher
        self.observer = observer
        self.clock = clock

    async def run_once(self) -> int:
        """One round; returns the number of triggers claimed."""
        s = self.config.scheduler
        now = self.clock()
        claimed = await self.store.claim(now, s.lease_ms, s.batch, self.rules.rebuild)
        if not claimed:
            return 0
        queues: dict[str, list[Trigger]] = defaultdict(list)
        for t in claimed:
            queues[t.user_id].append(t)
        for triggers in queues.values():
            triggers.sort(key=lambda t: (-t.priority, t.due_at, t.trigger_id), reverse=True)
        contexts = await self._contexts(list(queues), now)
        used: dict[str, set[str]] = defaultdict(set)  # channels given a message this round
        out: list[tuple[Trigger, str]] = []
        while queues:  # wave k: every user's k-th trigger by priority, in one round trip each
            wave = [triggers.pop() for triggers in queues.values()]
            queues = {u: ts for u, ts in queues.items() if ts}
            await self._wave(wave, contexts, now, used, out)
        if out:
            await self._publish(out)
        return len(claimed)

    async def _wave(
        self,
        wave: list[Trigger],
        contexts: Mapping[str, UserContext],
        now: int,
        used: dict[str, set[str]],
        out: list[tuple[Trigger, str]],
    ) -> None:
        finish: list[tuple[Trigger, str, str]] = []  # (trigger, outcome, reason)
        asks: list[tuple[Trigger, list[str], str | None]] = []  # channels left, first cap hit
        for t in wave:
            self.observer.on_fired(t.kind)
        for t in await self._enrol(wave, contexts, now):
            d = self.policy.decide(t, contexts[t.user_id], now)
            if isinstance(d, Drop):
                finish.append((t, d.outcome, d.reason))
            elif isinstance(d, Defer):
                finish.append((d.trigger, "deferred", d.reason))
            else:
                asks.append((d.trigger, list(d.channels), None))
        while asks:  # a capped channel falls through to the next one
            replies = await self.store.reserve_many(
                [(t, chs[0], now, self._limits(chs[0], contexts[t.user_id], now))
                 for t, chs, _ in asks]
            )  # fmt: skip
            retry: list[tuple[Trigger, list[str], str | None]] = []
            for (t, chs, capped), r in zip(asks, replies, strict=True):
                channel = chs[0]
                if r.outcome in ("ok", "resend"):
                    used[t.user_id].add(channel)
                    out.append((t, channel))
                elif r.outcome == "min_gap":  # a message went out lately: wait for the gap
                    reason = "priority" if channel in used[t.user_id] else "min_gap"
                    at = r.last_sent + self.config.policy.min_gap_ms
                    if at < t.expires_at:
                        finish.append((t.deferred(at), "deferred", reason))
                    else:
                        finish.append((t, "suppressed", reason))
                elif r.outcome != "gone":  # cap_day / cap_week ("gone": replaced meanwhile)
                    if len(chs) > 1:
                        retry.append((t, chs[1:], capped or r.outcome))
                    else:
                        finish.append((t, "suppressed", capped or r.outcome))
            asks = retry
        await self._finish(finish)

    async def _enrol(
        self, wave: list[Trigger], contexts: Mapping[str, UserContext], now: int
    ) -> list[Trigger]:
        """Put each trigger of an experiment that holds now in its user's arm: the recorded one,
        else the drawn one, recorded now with the exposure (one round trip for the wave)."""
        asks: list[tuple[int, Experiment]] = []
        for i, t in enumerate(wave):
            if t.arm is None and self.config.experiments:
                e = find(self.config.experiments, t.kind, t.campaign_id)
                if e is not None and self.policy.screen(t, contexts[t.user_id], now) is None:
                    asks.append((i, e))
        if not asks:
            return wave
        items = []
        for i, e in asks:
            ctx = contexts[wave[i].user_id]
            base = ctx.orders_today if e.metric == "converted" else ctx.events_today
            items.append((wave[i].user_id, e.name, Exposure(assign(e, wave[i].user_id), now, base)))
        out = list(wave)
        for (i, e), (exposure, new) in zip(
            asks, await self.experiments.assign_many(items), strict=True
        ):
            if new:
                self.observer.on_experiment(e.name, exposure.arm, "assigned")
            out[i] = enrol(wave[i], e, exposure.arm)
        return out

    async def _finish(self, finish: list[tuple[Trigger, str, str]]) -> None:
        done = await self.store.finish_many([(t, o == "deferred") for t, o, _ in finish])
        for (t, outcome, reason), still_ours in zip(finish, done, strict=True):
            if not still_ours:
                continue
            if outcome == "deferred":
                self.observer.on_deferred(t.kind, reason)
            else:
                self.observer.on_dropped(t.kind, outcome, reason)

    async def _publish(self, out: list[tuple[Trigger, str]]) -> None:
        """Publish, then finish: a crash in between re-sends with the same trigger_id."""
        sent_at = self.clock()
        await self.publisher.publish([(ch, t.user_id, message(t, ch, sent_at)) for t, ch in out])
        published = self.clock()
        await self.store.finish_many([(t, False) for t, _ in out])
        for t, ch in out:
            self.observer.on_published(t.kind, ch, max(0.0, (published - t.due_at) / 1000))
            if t.arm is not None:
                self.observer.on_experiment(t.arm[0], t.arm[1], "sent", ch)
        self.observer.on_message(message(out[0][0], out[0][1], sent_at))

    def _limits(self, channel: str, ctx: UserContext, now: int) -> Limits:
        p = self.config.policy
        cap = p.caps.get(channel) or Cap()
        day, week = calendar_starts(now, ctx.timezone)
        return Limits(day, week, cap.day, cap.week, p.min_gap_ms, now - p.dedupe_ms, p.dedupe_ms)

    async def _contexts(self, user_ids: list[str], now: int) -> dict[str, UserContext]:
        blobs = await self.profiles.load_raw(user_ids)
        pipe = self.redis.pipeline(transaction=False)
        for uid in user_ids:
            pipe.hgetall(self.store.keys.sensitivity(uid))
        counts = await pipe.execute()
        return {
            uid: self.context(blobs.get(uid), parse_counts(raw), now)
            for uid, raw in zip(user_ids, counts, strict=True)
        }

    def context(self, blob: bytes | None, sensitivity: dict[str, int], now: int) -> UserContext:
        m = self.model
        if not blob:
            zone = m.config.default_timezone
            return UserContext(False, zone, None, {}, [], None, None, sensitivity)
        try:
            state = decode(blob)  # not model.decode: the change log's tags are not needed
        except Exception:  # a corrupt profile must not stop the scheduler: decide without it
            log.exception("cannot decode a stored profile; deciding without it")
            return UserContext(False, m.config.default_timezone, None, {}, [], None, None)
        return UserContext(
            True,
            m.timezone(state),
            m.peak_hour(state, now),
            m.segments(state, now),
            m.open_cart(state),
            state.last_purchase,
            state.last_seen,
            sensitivity,
            state.fences,
            *self._baselines(state, now),
        )

    def _baselines(self, state: State, now: int) -> tuple[int, int]:
        """Today's orders and events (an exposure's baseline), read only when experiments run."""
        if not self.config.experiments:
            return 0, 0
        return baseline(state, "converted", now), baseline(state, "recalled", now)

    async def backlog(self) -> tuple[int, int]:
        return await self.store.backlog(self.clock(), self.config.scheduler.overdue_ms)
