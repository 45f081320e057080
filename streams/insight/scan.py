"""Reading audiences out of Redis into tallies: a segment's members by SSCAN (the member set the
worker's fenced write keeps exact), or every profile by SCAN, in chunks of states loaded with one
MGET each, so that an audience of millions streams through a tally of bounded size.

Each member's tags are what ``portrait profile get`` shows as of the report's moment: the model's
built-in tags and the business rules' tags, and its active hours by hour of the week. ``where``
narrows every audience by a condition written as a segment's ``where`` (docs/rules.md). A state
that does not decode is counted and skipped (a report of a million profiles does not stop on
one), and named in the report's notes.

SSCAN and SCAN may return an item twice while Redis rehashes; each member is tallied once (a
64-bit digest per member seen: ~76 bytes each in a Python set, the one part of the memory that
grows with the audience, measured by ``python -m bench.insight``: ~50 MiB per million members).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Final

import xxhash
from redis.asyncio import Redis

from profiles.codec import decode
from profiles.insight.dimensions import DIMENSIONS, Dimension
from profiles.insight.tally import Tally
from profiles.model import ProfileModel
from profiles.rules.engine import RulesEngine
from profiles.rules.ruleset import RuleSet
from streams.ops.progress import ProgressLine
from streams.store.profiles import ProfileStore
from streams.store.segments import ScanCursor, SegmentStore

CHUNK: Final = 1000  # members per SSCAN/SCAN step and states per MGET
EVERYONE: Final = "all"  # the audience of every profile (a SCAN of the profile keys)
Predicate = Callable[[dict[str, Any]], bool]


@dataclass(slots=True)
class Scanned:
    """One audience's tally and what the scan met on the way."""

    tally: Tally
    listed: int = 0  # members listed (a member without a profile is listed, not tallied)
    unreadable: int = 0  # states that did not decode
    filtered: int = 0  # members the ``where`` condition left out
    seen: set[int] = field(default_factory=set)


def dimensions(rules: RuleSet) -> tuple[Dimension, ...]:
    """The default dimensions, then the business rules' tags that split users into groups (a
    bool or a text tag), in the rules' order."""
    extra = tuple(
        Dimension(t.name, t.name.replace("_", " ").capitalize(), "category")
        for t in rules.tags
        if rules.types[t.name].kind in ("bool", "str")
    )
    return (*DIMENSIONS, *extra)


class Scanner:
    """Tallies audiences as of one moment."""

    def __init__(
        self,
        redis: Redis,
        namespace: str,
        model: ProfileModel,
        rules: RuleSet,
        as_of_ms: int,
        where: Predicate | None = None,
        chunk: int = CHUNK,
    ) -> None:
        self.segments = SegmentStore(redis, namespace)
        self.store = ProfileStore(redis, namespace, chunk=chunk)
        self.model = model
        self.engine = RulesEngine(model, rules)
        self.dimensions = dimensions(rules)
        self.rule_tags = bool(rules.tags)
        self.as_of = as_of_ms
        self.where = where
        self.chunk = chunk

    async def size(self, audience: str) -> int:
        """How many members the audience lists (every profile: the keyspace's size is not
        known without a scan, so 0: the progress shows counts without a fraction)."""
        return 0 if audience == EVERYONE else await self.segments.size(audience)

    async def scan(self, audience: str, progress: ProgressLine) -> Scanned:
        out = Scanned(Tally(audience, self.dimensions))
        total = await self.size(audience)
        async for ids in self._members(audience):
            fresh = [u for u in ids if _digest(u) not in out.seen]
            out.seen.update(_digest(u) for u in fresh)
            out.listed += len(fresh)
            await self._add(fresh, out)
            progress.update(out.listed, min(1.0, out.listed / total) if total else 0.0)
        out.seen.clear()
        return out

    async def _members(self, audience: str) -> AsyncIterator[list[str]]:
        if audience != EVERYONE:
            async for ids in self.segments.members(audience, self.chunk):
                yield ids
            return
        cursor = ScanCursor()  # on Redis Cluster: one primary after the other
        while not cursor.done:
            cursor, ids = await self.segments.scan_profiles(cursor, self.chunk)
            if ids:
                yield ids

    async def _add(self, ids: list[str], out: Scanned) -> None:
        raw = await self.store.load_raw(ids)
        for blob in raw.values():
            try:
                state = decode(blob)
            except Exception:  # a state that does not decode: counted, named in the notes
                out.unreadable += 1
                continue
            tags: dict[str, Any] = self.model.tags(state, self.as_of)
            if self.rule_tags:  # rules of segments alone add no tag to tally
                tags.update(self.engine.evaluate(state, self.as_of).values)
            if self.where is not None and not self.where(tags):
                out.filtered += 1
                continue
            out.tally.add(tags, self.model.hours.histogram(state.hours, self.as_of))


def _digest(user_id: str) -> int:
    return xxhash.xxh3_64_intdigest(user_id.encode())
