"""The rules' work between batches (docs/rules.md, "Segments in the stream").

Run by the worker under its batch lock, with no batch in flight, for the partitions it owns:

* publish what a crash or a rebalance left in the partitions' outboxes;
* evaluate the users whose due moment has come: time alone flipped a rule (30 days without a
  purchase), with no event to carry it;
* reload the rules when their file changes and re-evaluate every stored profile of the owned
  partitions under the new version, in chunks between batches, emitting the transitions once.

Only the owner of a partition evaluates its users, with the state its batches left (in the
cache or in Redis), and its write is fenced like a batch's (an ``exact`` write at the same
offset): a zombie owner's late write is refused once the new owner has written.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from profiles.rules import RuleSet
from profiles.rules.engine import RulesEngine, Transition
from profiles.state import State
from streams.pipeline.processor import BatchProcessor
from streams.pipeline.rules_hook import delta
from streams.settings.base import ConfigError
from streams.settings.rules import RulesSource
from streams.store.profiles import Write
from streams.store.segments import ScanCursor, SegmentStore

log = logging.getLogger("portrait.rules")
T = TypeVar("T")


@dataclass(slots=True)
class UpkeepStats:
    due_users: int = 0
    rescored_users: int = 0  # re-evaluated after a rules change
    transitions: list[Transition] = field(default_factory=list)
    reloads: int = 0
    reload_errors: int = 0
    follow_ups: int = 0  # users whose shared writes a crash had left (Redis Cluster)


@dataclass(slots=True)
class _Scan:
    """A re-evaluation pass over every stored profile, one SCAN chunk per round. The cursor
    lives here only, in memory (a restarted worker starts the pass again); on Redis Cluster it
    stands for one primary's SCAN and the primaries done (streams/store/segments.py)."""

    version: str
    partitions: set[str]
    cursor: ScanCursor = field(default_factory=ScanCursor)
    scanned: int = 0
    started: float = field(default_factory=time.monotonic)
    logged: float = field(default_factory=time.monotonic)


class RulesUpkeep:
    def __init__(
        self,
        processor: BatchProcessor,
        segments: SegmentStore,
        source: RulesSource | None = None,
        *,
        due_batch: int = 1000,
        scan_chunk: int = 1000,
        reload_every_s: float = 2.0,
        budget_s: float = 0.25,
    ) -> None:
        assert processor.rules is not None
        self.processor = processor
        self.hook = processor.rules
        self.segments = segments
        self.source = source
        self.due_batch = due_batch
        self.scan_chunk = scan_chunk
        self.reload_every_s = reload_every_s
        self.budget_s = budget_s  # time a round may take before it leaves the rest for later
        self._turn = 0
        self._stamp = source.stamp() if source is not None else None
        self._checked = time.monotonic()
        self._scan: _Scan | None = None

    @property
    def engine(self) -> RulesEngine:
        return self.hook.engine

    @property
    def source_name(self) -> str:
        return self.source.name if self.source is not None else "given"

    @property
    def scanning(self) -> bool:
        return self._scan is not None

    async def assigned(self, partitions: Collection[int]) -> None:
        """New partitions: publish their leftovers, re-evaluate them if their profiles were
        last evaluated under other rules."""
        names = {str(p) for p in partitions}  # their outboxes: every round flushes them
        stale = await self.segments.stale_partitions(names, self.engine.version)
        if stale:
            self._start_scan(stale)

    async def run(self, owned: Collection[int], now_ms: int) -> UpkeepStats:
        stats = UpkeepStats()
        parts = {str(p) for p in owned}
        self._reload(stats)
        # Redis Cluster: the shared writes a crash left after their states (none on one Redis)
        store = self.processor.store
        stats.follow_ups = await self._retry(lambda: store.finish_follow_ups(sorted(parts)))
        changes = self.processor.changes
        if changes is not None:  # leftovers of a crash, a rebalance or a replay
            await self._retry(lambda: changes.flush(sorted(parts)))
        # a round is bounded, so batches keep flowing: due users beyond it wait for the next
        # round (their transitions keep the moment they happened), in turn across partitions
        started = time.monotonic()
        order = sorted(parts)
        if order:
            turn = self._turn % len(order)
            order = order[turn:] + order[:turn]
            self._turn += 1
        share = max(50, self.due_batch // max(1, len(order)))
        for partition in order:
            if time.monotonic() - started > self.budget_s:
                break
            users = await self._retry(
                lambda p=partition: self.segments.due(p, now_ms, share)  # type: ignore[misc]
            )
            if users:
                stats.due_users += len(users)
                await self._evaluate([(u, partition) for u in users], now_ms, stats)
        if self._scan is not None and time.monotonic() - started <= self.budget_s:
            await self._scan_round(self._scan, parts, now_ms, stats)
        return stats

    def _reload(self, stats: UpkeepStats) -> None:
        source = self.source
        if source is None or time.monotonic() - self._checked < self.reload_every_s:
            return
        self._checked = time.monotonic()
        stamp = source.stamp()
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            rules = source.load()
        except ConfigError as exc:
            stats.reload_errors += 1
            log.error("rules not reloaded, version %s stays: %s", self.engine.version, exc)
            return
        if rules.version == self.engine.version:
            return
        self.replace(rules)
        stats.reloads += 1

    def replace(self, rules: RuleSet) -> None:
        """Evaluate with ``rules`` from now on and re-evaluate every stored profile."""
        old = self.engine.version
        self.hook.engine = RulesEngine(self.processor.model, rules)
        log.info(
            "rules %s -> %s (%d tags, %d segments): re-evaluating the stored profiles",
            old, rules.version, len(rules.tags), len(rules.segments),
        )  # fmt: skip
        self._start_scan(None)

    def _start_scan(self, partitions: set[str] | None) -> None:
        """(Re)start the pass from the first key: over every owned partition (None), or over
        these ones too. An empty set of partitions means every owned one."""
        scan, version = self._scan, self.engine.version
        wanted: set[str] = set() if partitions is None else set(partitions)
        if partitions is not None and scan is not None and scan.version == version:
            wanted = scan.partitions | wanted if scan.partitions else set()
        self._scan = _Scan(version, wanted)

    async def _scan_round(
        self, scan: _Scan, owned: set[str], now_ms: int, stats: UpkeepStats
    ) -> None:
        cursor, users = await self._retry(
            lambda: self.segments.scan_profiles(scan.cursor, self.scan_chunk)
        )
        scan.cursor = cursor
        scan.scanned += len(users)
        targets = (scan.partitions & owned) if scan.partitions else owned
        before = len(stats.transitions)
        await self._evaluate_stored(users, targets, now_ms, stats)
        stats.rescored_users += len(users)
        if time.monotonic() - scan.logged >= 10 or cursor.done:
            scan.logged = time.monotonic()
            log.info(
                "re-evaluating under rules %s: %d profiles scanned, %d transitions this round",
                scan.version, scan.scanned, len(stats.transitions) - before,
            )  # fmt: skip
        if cursor.done:
            await self._retry(lambda: self.segments.mark_version(targets, scan.version))
            log.info(
                "rules %s: re-evaluation done (%d profiles in %.1f s)",
                scan.version, scan.scanned, time.monotonic() - scan.started,
            )  # fmt: skip
            self._scan = None

    async def _evaluate_stored(
        self, users: Sequence[str], targets: set[str], now_ms: int, stats: UpkeepStats
    ) -> None:
        states = await self._states(users)
        chosen = []
        for uid, state in states.items():
            home = _home(state, targets)
            if home is not None and state.rules.version != self.engine.version:
                chosen.append((uid, home))
        await self._evaluate(chosen, now_ms, stats, states)

    async def _evaluate(
        self,
        users: Sequence[tuple[str, str]],
        now_ms: int,
        stats: UpkeepStats,
        states: dict[str, State] | None = None,
    ) -> None:
        if states is None:
            states = await self._states([u for u, _ in users])
        engine, cache = self.engine, self.processor.cache
        writes = []
        for uid, partition in users:
            state = states.get(uid)
            if state is None:
                continue
            transitions = engine.catch_up(uid, state, now_ms)
            stats.transitions.extend(transitions)
            rules = state.rules
            offset = state.fences.get(partition, -1)
            change = delta(transitions, rules.quiet, rules.due)
            encoded = self.processor.model.encode(state)
            writes.append(Write(uid, partition, offset, encoded, change, exact=True))
            cache[uid] = state
        if not writes:
            return
        refused = await self._retry(lambda: self.processor.store.write(writes))
        for uid in refused:
            cache.pop(uid, None)
        await self.processor.publish_changes(writes, refused)

    async def _states(self, users: Sequence[str]) -> dict[str, State]:
        """The users' states: the cached (newest) ones, else the stored ones."""
        cache, model = self.processor.cache, self.processor.model
        out = {u: cache[u] for u in users if u in cache}
        missing = [u for u in users if u not in out]
        if missing:
            blobs = await self._retry(lambda: self.processor.store.load_raw(missing))
            for uid, blob in blobs.items():
                try:
                    out[uid] = model.decode(blob)
                except ValueError as exc:  # corrupt: the batch path isolates it the same way
                    log.warning("cannot re-evaluate user %r: %s", uid, exc)
        return out

    async def _retry(self, fn: Callable[[], Awaitable[T]]) -> T:
        return await self.processor.retry("rules", fn)


def _home(state: State, targets: set[str]) -> str | None:
    """The owned partition the user's events come from (its fence), if any."""
    for partition in state.fences:
        if partition in targets:
            return partition
    return None
