"""One user's part of a batch: fold in what identity handed over, apply the events, settle,
hand the rules and the triggers their part, and make the fenced write; or end the user's
history at an erase event (streams/pipeline/erasure.py). Pure CPU: no await."""

from __future__ import annotations

import logging
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from profiles.events import ANON_PREFIX
from profiles.model import APPLIED, REPLAYED, ProfileModel, State
from profiles.names import TAG_EVENT
from streams.pipeline.batch import Located, Prepared, quiet, replayed, segment_label
from streams.pipeline.erasure import after_erase, last_erase, suppress
from streams.pipeline.identity_hook import fold
from streams.pipeline.retry import wall_clock_ms
from streams.pipeline.rules_hook import RulesHook
from streams.pipeline.trigger_hook import TriggerHook
from streams.store.profiles import Write

log = logging.getLogger("portrait.worker")
_MANUAL = frozenset({TAG_EVENT})  # a batch of a user's manual tags alone: their cause


@dataclass
class UserApply:
    """What applying one user needs of the processor (its cache is shared: the applied state
    goes back into it)."""

    model: ProfileModel
    cache: OrderedDict[str, State]
    triggers: TriggerHook | None
    rules: RulesHook | None
    track_changes: bool
    home: Callable[[str], int] | None
    replaying: bool

    def version(self) -> str:
        return self.rules.engine.version if self.rules is not None else ""

    def erase_user(
        self, uid: str, located: list[Located], prepared: Prepared, sample_every: int
    ) -> Write:
        """The user's history ends at the erase event: what follows starts from nothing (or,
        for a suppressed user, goes to the DLQ); the write completes the erasure in the store."""
        erase = located[last_erase(located)][1]
        traits = erase.traits or {}
        after = list(after_erase(located))
        prepared.stats.erased += 1
        if traits.get("suppress") and after:
            suppress(after, prepared.letters, prepared.stats)
            after = []
        write = None
        if after:
            write = self.apply_user(uid, after, self.model.initial(), prepared, sample_every)
        else:
            self.cache.pop(uid, None)
        erase_id = str(traits.get("erase_id", ""))
        if write is not None:
            return replace(write, erase=erase_id)
        last = located[-1][0]
        home = self.home(uid) if self.home is not None else None
        return Write(uid, last.partition, last.offset, b"", home=home, erase=erase_id)

    def apply_user(
        self,
        uid: str,
        located: list[Located],
        state: State,
        prepared: Prepared,
        sample_every: int,
        handed: Mapping[str, bytes] | None = None,
    ) -> Write | None:
        stats = prepared.stats
        hook = self.triggers
        before = hook.before(state) if hook is not None else None
        absorbed, applied = (
            fold(self.model, state, handed, self.version()) if handed else ((), set())
        )
        moved = False
        apply = self.model.apply_event
        # this user's outcomes apart, then added to the batch's: a write refused because the
        # profile was merged meanwhile takes them back (its events are counted where they land)
        outcomes: Counter[tuple[str, str]] = Counter()
        # Events not keyed by their user id: such a user may be spread over partitions and so
        # over owners, which the per-partition fence cannot order (producers must key by user).
        key = uid.removeprefix(ANON_PREFIX).encode()
        for record, event in located:
            offset = record.offset
            late = event.ts < state.newest
            outcome = apply(state, event, record.partition, offset, record.timestamp)
            outcomes[(event.type, outcome)] += 1
            if record.key != key:
                stats.key_mismatch += 1
            if outcome is not REPLAYED:
                moved = True
                if outcome is APPLIED:
                    applied.add(event.type)
                    if late:
                        stats.late[event.type] += 1
                    if offset % sample_every == 0:
                        stats.applied_ts_sample.append(event.ts)
        stats.outcomes.update(outcomes)
        prepared.tallies[uid] = outcomes
        self.cache[uid] = state
        # every event was already applied (and nothing handed over): the stored state is current
        if not moved and not absorbed:
            return None
        changed = self.model.settle(state)
        if changed:
            stats.segment_changes.update(
                segment_label(name, new) for name, (_, new) in changed.items()
            )
            stats.note_changed(changed, state.newest)
            if self.track_changes:
                stats.changes.append((uid, changed))
        last = located[-1][0]
        is_replay = any(map(replayed, located))
        delta = None
        if self.rules is not None:
            until = wall_clock_ms() if self.replaying or quiet(located) else None
            cause = "manual" if applied == _MANUAL else "event"
            delta = self.rules.collect(uid, state, until, stats.transitions, cause)
        if hook is not None and before is not None and not is_replay:
            source = (str(last.partition), last.offset)
            hook.collect(
                uid, before, state, applied, changed, prepared.now, prepared.ops,
                prepared.visits, source,
            )  # fmt: skip
        home = self.home(uid) if self.home is not None else None
        state_blob = self.model.encode(state)
        return Write(
            uid, last.partition, last.offset, state_blob, delta, home=home, absorbed=absorbed
        )
