"""Win-back recall: did a user come back within ``recall_window_ms`` of the message?

The feedback service registers a win-back when it is published (its window runs from the send
time) and moves the window to start at the delivery when the ``delivered`` feedback arrives;
each registration puts the user in the sorted set ``portrait:trecall`` (score: the latest
deadline; on Redis Cluster 16 such sets, sharded by user id: streams/store/feedback.py). The
event worker keeps that set in memory (:meth:`RecallTracker.refresh`, run periodically) so
that :meth:`RecallTracker.watching` costs one set lookup per user on the hot path, and hands
the watched users of each batch to :meth:`RecallTracker.returned`, which turns each pending
recall into a recalled one in one Lua call per user: exactly once, however many workers see the
user, because the state change is atomic in Redis.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Final

import faust
from redis.asyncio import Redis

from streams.connect.clients import redis_client
from streams.settings.tree import Settings
from streams.store.feedback import FeedbackStore
from triggers.config import MINUTE_MS, TriggerConfig

log = logging.getLogger("portrait.recall")

# An incremental refresh reads deadlines above (highest seen - overlap): registrations are not
# written in deadline order (a late delivery receipt, two feedback consumers), and this catches
# the ones that land a little below. Every FULL_EVERY refreshes the whole live set is read.
REFRESH_OVERLAP_MS: Final = 10 * MINUTE_MS
FULL_EVERY: Final = 60
# Watched users are dropped locally this long after their deadline (events come late).
EXPIRE_GRACE_MS: Final = 10 * MINUTE_MS
REFRESH_INTERVAL_S: Final = 5.0  # how often the worker should call refresh()


class RecallTracker:
    def __init__(
        self,
        redis: Redis,
        config: TriggerConfig,
        namespace: str,
        *,
        overlap_ms: int = REFRESH_OVERLAP_MS,
        full_every: int = FULL_EVERY,
        grace_ms: int = EXPIRE_GRACE_MS,
    ) -> None:
        self.redis = redis
        self.store = FeedbackStore(
            redis,
            namespace,
            recall_window_ms=config.recall_window_ms,
            seen_ttl_ms=config.policy.dedupe_ms,
            recall=config.recall,
        )
        self.overlap_ms = overlap_ms
        self.full_every = full_every
        self.grace_ms = grace_ms
        self._watched: dict[str, int] = {}  # user id -> deadline ms
        self._done: dict[str, int] = {}  # users with nothing pending left, at that deadline
        self._max_seen: int | None = None  # highest deadline read; None: next refresh is full
        self._refreshes = 0

    def watching(self, user_id: str) -> bool:
        return user_id in self._watched

    def __len__(self) -> int:
        return len(self._watched)

    async def refresh(self, now_ms: int) -> None:
        """Read new registrations from the index and drop locally the expired ones. On Redis
        Cluster the index is 16 keys (a user in the one its id hashes to): the read goes
        through all of them in one pipeline (``FeedbackStore.deadlines_after``), so a pending
        recall in any shard is watched."""
        full = self._max_seen is None or self._refreshes % self.full_every == 0
        self._refreshes += 1
        low = now_ms - self.grace_ms
        if not full:
            assert self._max_seen is not None
            low = max(low, self._max_seen - self.overlap_ms)
        fresh = await self.store.deadlines_after(low)  # every shard's, on a cluster
        fresh = {u: d for u, d in fresh.items() if self._done.get(u) != d}  # not re-watched
        if full:
            self._watched = fresh
        else:
            self._watched.update(fresh)
        if fresh:
            self._max_seen = max(self._max_seen or 0, *fresh.values())
        elif self._max_seen is None:
            self._max_seen = 0
        cutoff = now_ms - self.grace_ms
        for uid in [u for u, deadline in self._watched.items() if deadline < cutoff]:
            del self._watched[uid]
        for uid in [u for u, deadline in self._done.items() if deadline < cutoff]:
            del self._done[uid]

    async def returned(self, visits: Sequence[tuple[str, int]]) -> list[tuple[str, str]]:
        """Mark recalled the pending win-backs of these (user, newest event ts) whose window
        holds the ts; return (kind, channel) once per recall counted here (the caller counts
        them in ``portrait_trigger_recalled_total``). Users not watched cost no Redis call."""
        watched = [(u, ts) for u, ts in visits if u in self._watched]
        if not watched:
            return []
        counted: list[tuple[str, str]] = []
        for user, pending, pairs in await self.store.returned(watched):
            if pending == 0:  # nothing left to wait for; a new win-back comes back via refresh
                self._done[user] = self._watched.pop(user, 0)
            for kind, channel in pairs:
                log.debug("user %s recalled by %s on %s", user, kind, channel)
            counted.extend(pairs)
        return counted


class RecallRefresher(faust.Service):
    """Owns a :class:`RecallTracker` on its own Redis client and refreshes it every
    ``interval_s``. Start it before the event worker (its start does the first, full refresh)
    and hand ``refresher.tracker`` to the worker."""

    def __init__(
        self,
        settings: Settings,
        config: TriggerConfig,
        *,
        clock: Callable[[], int],
        interval_s: float = REFRESH_INTERVAL_S,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.redis = redis_client(settings, socket_connect_timeout=5, socket_timeout=30)
        self.tracker = RecallTracker(self.redis, config, settings.topics.prefix)
        self.clock = clock
        self.interval_s = interval_s

    async def on_start(self) -> None:
        await self.tracker.refresh(self.clock())

    async def on_stop(self) -> None:
        try:
            await self.redis.aclose()
        except Exception as exc:  # stopping must go on
            log.warning("error while stopping the recall refresher: %r", exc)

    @faust.Service.task
    async def _refresh(self) -> None:
        while not self.should_stop:
            await self.sleep(self.interval_s)
            if self.should_stop:
                return
            try:
                await self.tracker.refresh(self.clock())
            except Exception as exc:  # the set stays as it was; next round
                log.warning("recall refresh failed: %r", exc)
