"""Identity in a batch (docs/identity.md, "The worker's step"): link the identifiers the
batch's events carry, fold in the profiles merged into its users, and name the users whose
profile was merged into another (their events are forwarded, never applied here).

Only events that carry links (logins, identifies, the first events of a new device) and users
whose profile has moved cost Redis round trips: a link this worker has already seen applied is
remembered (bounded, dropped on revocation with the cache).
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import orjson

from profiles.aggregators import TOTAL_SLOT
from profiles.events import Event
from profiles.identity import Identifier, IdentityRules, plan
from profiles.model import ProfileModel, State
from profiles.names import ERASE_EVENT
from profiles.rules.engine import SEGMENT, Transition
from streams.pipeline.batch import Located, Record
from streams.store.identity import IdentityStore
from streams.store.profiles import Absorbed

ATTEMPTS = 8  # plans in a row that another worker's change made stale before giving up


@dataclass
class Resolved:
    """What identity decided for one batch."""

    handed: dict[str, dict[str, bytes]] = field(default_factory=dict)  # user -> states to fold
    forward: dict[str, str] = field(default_factory=dict)  # moved user -> the survivor
    steps: Counter[tuple[str, str]] = field(default_factory=Counter)  # (action, reason)
    outboxes: set[int | str] = field(default_factory=set)  # partitions audited into


class Forwarder(Protocol):
    """Sends records on to the survivor of their profile (streams/pipeline/forward.py)."""

    async def send_many(self, items: Sequence[tuple[str, str, Record]]) -> None: ...


class IdentityHook:
    def __init__(
        self,
        store: IdentityStore,
        rules: IdentityRules,
        outbox: Callable[[int | str], str],
        remember: int = 100_000,
    ) -> None:
        self.store = store
        self.rules = rules
        self.outbox = outbox  # partition -> its profile.changes outbox key
        self.remember = remember
        self.moved: OrderedDict[str, str] = OrderedDict()  # absorbed profile -> survivor
        self._linked: OrderedDict[str, set[str]] = OrderedDict()  # user -> links applied

    def forget(self) -> None:
        """On revocation, with the cache: another owner may change what we remembered."""
        self.moved.clear()
        self._linked.clear()

    async def resolve(self, by_user: Mapping[str, Sequence[Located]]) -> Resolved:
        out = Resolved()
        for uid, located in by_user.items():
            if any(e.type == ERASE_EVENT for _, e in located):  # the person was erased
                self.moved.pop(uid, None)  # (docs/privacy.md): what we knew of it is gone
                self._linked.pop(uid, None)
            target = self.moved.get(uid)
            if target is not None:
                out.forward[uid] = await self.survivor(uid, target)
                continue
            linking = [(r.partition, e) for r, e in located if e.links]
            if not linking:
                continue
            gone = await self._link(uid, linking, out)
            if gone is not None:
                out.forward[uid] = gone
                continue
            handed = await self.store.absorbing(uid)
            if handed:
                out.handed[uid] = handed
        return out

    async def survivor(self, uid: str, hint: str) -> str:
        """The profile that holds ``uid``'s person now (a survivor may itself merge later);
        ``hint`` if the graph no longer says (the person was erased meanwhile)."""
        return await self.store.survivor(uid) or hint

    def note_moved(self, uid: str, survivor: str) -> None:
        self.moved[uid] = survivor
        while len(self.moved) > self.remember:
            self.moved.popitem(last=False)

    async def _link(
        self, uid: str, linking: Sequence[tuple[int | str, Event]], out: Resolved
    ) -> str | None:
        """Apply each event's links in order; the survivor if ``uid`` itself was absorbed."""
        key = Identifier.of_profile(uid)
        for partition, event in linking:
            known_links = self._linked.get(uid, ())
            fresh = [t for t in event.links if t not in known_links]
            if not fresh:
                continue
            links = [Identifier.parse(t) for t in fresh]
            read = [key, *links]
            for _ in range(ATTEMPTS):
                known = await self.store.persons(read)
                steps = plan(self.rules, key, links, known)
                applied = await self.store.apply(
                    steps, known, read, event.ts, event.type, self.outbox(partition)
                )
                if applied.ok:
                    break
            else:
                raise RuntimeError(f"identity of {uid!r}: the graph kept changing under it")
            if any(step.action != "refused" for step in steps):
                out.outboxes.add(partition)
            for step in steps:
                out.steps[(step.action, step.reason or "")] += 1
                if step.action != "refused":
                    self._remember(uid, step.ident.text)
                if step.action == "merge" and step.absorbed == key:
                    survivor = step.into.profile or uid
                    self.note_moved(uid, survivor)
                    return survivor
            for t in fresh:  # refused or already linked: nothing to do again
                self._remember(uid, t)
        return None

    def _remember(self, uid: str, text: str) -> None:
        links = self._linked.get(uid)
        if links is None:
            links = self._linked[uid] = set()
            while len(self._linked) > self.remember:
                self._linked.popitem(last=False)
        links.add(text)


def fold(
    model: ProfileModel, state: State, handed: Mapping[str, bytes], version: str
) -> tuple[tuple[Absorbed, ...], set[str]]:
    """Merge the handed-over states into ``state`` (each profile once: ``state.absorbed``
    remembers); return what the write must do for each (drop the hand-over, take the absorbed
    profile out of its segments with an exit message per segment) and the event types the
    merged history brought (the trigger rules look at them as at a batch's applied types: an
    anonymous cart becomes the person's)."""
    out = []
    types: set[str] = set()
    for profile, blob in sorted(handed.items()):
        if profile in state.absorbed:  # folded by a write that landed: only the hand-over stays
            out.append(Absorbed(profile))
            continue
        other = model.decode(blob)
        at = max(state.newest, other.newest)
        exits = tuple(
            orjson.dumps(
                Transition(profile, SEGMENT, name, True, False, at, version, "merged").message()
            )
            for name in other.rules.members
        )
        types.update(t for t, slot in TOTAL_SLOT.items() if other.counters["t"][slot])
        model.merge(state, other)
        state.absorbed.append(profile)
        out.append(Absorbed(profile, tuple(other.rules.members), exits))
    return tuple(out), types
