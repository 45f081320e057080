"""One consumed batch -> decoded events -> profile states -> one fenced write per touched user.

The processor never lets an exception about one event escape (a poison event goes to the DLQ);
Redis and DLQ errors are retried with backoff until they succeed or the worker is told to stop,
in which case :class:`Stopping` is raised and the caller must not commit the batch.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any, TypeVar

from profiles.model import ProfileModel, State
from profiles.names import TAG_EVENT
from profiles.wire import decode
from streams.pipeline.apply import UserApply
from streams.pipeline.batch import (
    BatchStats,
    DeadLetter,
    DeadLetterSink,
    Located,
    Prepared,
    Record,
    reject,
    segment_label,
)
from streams.pipeline.changes import ChangePublisher
from streams.pipeline.erasure import after_erase, last_erase, suppress
from streams.pipeline.identity_hook import Forwarder, IdentityHook, Resolved
from streams.pipeline.labels import APPLY_ERROR
from streams.pipeline.retry import Backoff, retry_until_stopped
from streams.pipeline.rules_hook import RulesHook
from streams.pipeline.trigger_hook import TriggerHook
from streams.store.profiles import ProfileStore, Write

__all__ = [
    "APPLY_ERROR", "BatchProcessor", "BatchStats", "DeadLetter", "DeadLetterSink", "Prepared",
    "Record", "segment_label",
]  # fmt: skip

log = logging.getLogger("portrait.worker")
T = TypeVar("T")
_TS_SAMPLE = 256
_MANUAL = frozenset({TAG_EVENT})  # a batch of a user's manual tags alone: their cause


class BatchProcessor:
    def __init__(
        self,
        model: ProfileModel,
        store: ProfileStore,
        dlq: DeadLetterSink,
        clock: Callable[[], int],
        *,
        backoff: Backoff,
        should_stop: Callable[[], bool],
        on_retry: Callable[[str], None] = lambda op: None,
        cache_max_users: int = 200_000,
        track_changes: bool = False,
        triggers: TriggerHook | None = None,
        rules: RulesHook | None = None,
        changes: ChangePublisher | None = None,
        home: Callable[[str], int] | None = None,
        replaying: bool = False,
        identity: IdentityHook | None = None,
        forwarder: Forwarder | None = None,
    ) -> None:
        self.model = model
        self.store = store
        self.dlq = dlq
        self.clock = clock
        self.backoff = backoff
        self.should_stop = should_stop
        self.on_retry = on_retry
        self.cache_max_users = cache_max_users
        self.track_changes = track_changes
        self.triggers = triggers
        self.rules = rules
        self.changes = changes
        self.home = home  # the user's partition of the events topic, for a replay's writes
        self.replaying = replaying  # a replay: its rule transitions are recorded, not published
        self.identity = identity  # links and merges (docs/identity.md); None: identity off
        self.forwarder = forwarder  # sends a merged profile's events on to its survivor
        self.cache: OrderedDict[str, State] = OrderedDict()
        self.user = UserApply(model, self.cache, triggers, rules, track_changes, home, replaying)
        self._latest_users: Collection[str] = ()
        self._bounds = model.config.time_bounds

    def drop_cache(self) -> None:
        """Forget cached states (on partition revocation: Redis is the source of truth)."""
        self.cache.clear()
        if self.identity is not None:
            self.identity.forget()

    async def process(self, batch: Mapping[Any, Sequence[Record]]) -> BatchStats:
        """Prepare and store one batch: all that must happen before its offsets are committed."""
        return await self.store_prepared(await self.prepare(batch))

    async def prepare(self, batch: Mapping[Any, Sequence[Record]]) -> Prepared:
        """Decode, load the users not cached, apply: the CPU part, with no write yet.

        The cache then holds the new states, so the next batch may be prepared while this one's
        writes are in flight (every written state is the state of a prefix of the partition,
        and the fence keeps the prefixes in Redis growing).
        """
        prepared = Prepared(BatchStats(), [], [], self.clock())
        stats, letters = prepared.stats, prepared.letters
        by_user: dict[str, list[Located]] = {}
        bounds = self._bounds
        for records in batch.values():
            stats.records += len(records)
            for record in records:
                try:
                    event = decode(record.value, bounds)  # type: ignore[arg-type]  # None: reject
                    bounds.check_lead(event.ts, record.timestamp)
                except Exception as exc:
                    reject(record, exc, letters, stats)
                    continue
                located = by_user.get(event.user_id)
                if located is None:
                    by_user[event.user_id] = [(record, event)]
                else:
                    located.append((record, event))
        if by_user:
            prepared.by_user = by_user
            await self._apply(by_user, prepared)
        self._latest_users = by_user.keys()
        return prepared

    async def store_prepared(self, prepared: Prepared) -> BatchStats:
        """Write the states (fenced) and the dead letters, retrying until done or stopping."""
        stats, writes = prepared.stats, prepared.writes
        hook = self.triggers
        if hook is not None and prepared.ops:
            ops = prepared.ops
            stats.trigger_ops = await self._retry("triggers", lambda: hook.write_ops(ops))
        if writes:
            out = await self._retry("write", lambda: self.store.write_all(writes))
            refused = out.refused + out.suppressed + out.moved
            for uid in refused:
                self.cache.pop(uid, None)
            for uid in out.moved:  # merged meanwhile: this batch's events go to the survivor
                await self._forward_moved(uid, prepared)
            for uid in out.suppressed:  # their events go to the DLQ, reason "suppressed"
                suppress(after_erase(prepared.by_user.get(uid, ())), prepared.letters, stats)
            stats.users_written = len(writes) - len(refused)
            stats.fence_refused = len(out.refused)
            await self.publish_changes(writes, refused, prepared.outboxes)
        elif prepared.outboxes:
            await self.publish_changes((), (), prepared.outboxes)
        if prepared.forwards and self.forwarder is not None:
            forwarder, forwards = self.forwarder, prepared.forwards
            await self._retry("forward", lambda: forwarder.send_many(forwards))
            stats.forwarded += len(forwards)
        if prepared.letters:
            await self._retry("dlq", lambda: self.dlq.send_many(prepared.letters))
        if hook is not None and prepared.visits:
            visits = prepared.visits
            stats.recalls = await self._retry("recall", lambda: hook.record_visits(visits))
        self._trim_cache()
        return stats

    async def publish_changes(
        self,
        writes: Sequence[Write],
        refused: Collection[str],
        more: Collection[int | str] = (),
    ) -> int:
        """Publish the outboxes of the partitions these writes put transitions in (and
        ``more``: those identity wrote its audit into)."""
        changes = self.changes
        if changes is None:
            return 0
        gone = set(refused)
        parts = {
            w.partition if w.home is None else w.home
            for w in writes
            if ((w.rules is not None and w.rules.messages) or w.absorbed) and w.user_id not in gone
        } | set(more)
        if not parts:
            return 0
        return await self._retry("changes", lambda: changes.flush(sorted(parts, key=str)))

    async def _apply(self, by_user: dict[str, list[Located]], prepared: Prepared) -> None:
        # The batch takes its users' cached states out of the cache *before* it awaits the
        # load of the others: they are the batch's until it is written (DESIGN.md invariant 9).
        # Left in the cache, the previous batch's trim, running meanwhile, could evict one, and
        # that user would restart from nothing over its stored history.
        cache = self.cache
        owned = {uid: state for uid in by_user if (state := cache.pop(uid, None)) is not None}
        missing = [uid for uid in by_user if uid not in owned]
        identity = self.identity
        try:
            resolved = Resolved()
            if identity is not None:
                resolved = await self._retry("identity", lambda: identity.resolve(by_user))
                prepared.outboxes.update(resolved.outboxes)
            blobs = (
                await self._retry("load", lambda: self.store.load_raw(missing)) if missing else {}
            )
        except BaseException:
            cache.update(owned)  # not applied: still the newest states we have
            raise
        stats, letters, writes = prepared.stats, prepared.letters, prepared.writes
        sample_every = max(1, stats.records // _TS_SAMPLE)
        prepared.stats.identity.update(resolved.steps)
        for uid, located in by_user.items():
            survivor = resolved.forward.get(uid)
            if survivor is not None:  # merged into another profile: forwarded, not applied
                prepared.forwards.extend((uid, survivor, record) for record, _ in located)
                continue
            state = owned.get(uid)
            try:
                write: Write | None
                if last_erase(located) >= 0:
                    write = self.user.erase_user(uid, located, prepared, sample_every)
                else:
                    if state is None:
                        blob = blobs.get(uid)
                        state = self.model.decode(blob) if blob else self.model.initial()
                    handed = resolved.handed.get(uid)
                    write = self.user.apply_user(
                        uid, located, state, prepared, sample_every, handed
                    )
            except Exception as exc:  # a bug or a corrupt stored state: isolate this user
                log.exception("cannot apply %d events of user %r", len(located), uid)
                self.cache.pop(uid, None)  # the stored state stays as it was
                detail = f"{type(exc).__name__}: {exc}"[:500]
                letters.extend(DeadLetter(record, APPLY_ERROR, detail) for record, _ in located)
                stats.rejected[APPLY_ERROR] += len(located)
                continue
            if write is not None:
                writes.append(write)

    async def _forward_moved(self, uid: str, prepared: Prepared) -> None:
        """A profile merged into another while this batch was on its way: its records of the
        batch go to the survivor (the write that carried them was refused whole)."""
        identity = self.identity
        if identity is None:
            return
        survivor = await self._retry("identity", lambda: identity.survivor(uid, ""))
        if not survivor:
            return
        identity.note_moved(uid, survivor)
        prepared.stats.outcomes.subtract(prepared.tallies.get(uid, {}))  # applied where they land
        prepared.forwards.extend(
            (uid, survivor, record) for record, _ in prepared.by_user.get(uid, ())
        )

    def _trim_cache(self) -> None:
        """Evict the least recently touched states, but never one of the latest prepared batch:
        its write may still be in flight, and a reload from Redis would be stale."""
        cache = self.cache
        while len(cache) > self.cache_max_users:
            if next(iter(cache)) in self._latest_users:  # its write may be in flight: keep it
                break
            cache.popitem(last=False)

    async def retry(self, op: str, fn: Callable[[], Awaitable[T]]) -> T:
        """Retry a Redis or Kafka operation as the batch's own (until done or stopping)."""
        return await self._retry(op, fn)

    async def _retry(self, op: str, fn: Callable[[], Awaitable[T]]) -> T:
        return await retry_until_stopped(
            fn, op=op, backoff=self.backoff, should_stop=self.should_stop, on_retry=self.on_retry
        )
