"""The rules' Redis side besides the profile write (streams/store/profiles.py writes all of it
atomically with the state): the ``profile.changes`` outbox of each partition, the index of
users due for a time re-evaluation, and the segments' member sets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis

from streams.names import PROFILE, Keys, user_id_from_key


@dataclass(frozen=True, slots=True)
class Outboxed:
    """One unpublished ``profile.changes`` message: its stream entry id, key and JSON value."""

    entry_id: bytes
    user_id: str
    value: bytes


class SegmentStore:
    def __init__(self, redis: Redis, namespace: str) -> None:
        self.redis = redis
        self.keys = Keys(namespace)

    async def outbox(self, partition: int | str, count: int = 1000) -> list[Outboxed]:
        """The oldest unpublished messages of a partition, in the order they were written."""
        entries: Any = await self.redis.xrange(self.keys.changes_outbox(partition), count=count)
        out = []
        for entry_id, fields in entries:
            value = fields[b"m"]
            out.append(Outboxed(entry_id, orjson.loads(value)["user_id"], value))
        return out

    async def published(self, partition: int | str, entries: Sequence[Outboxed]) -> None:
        if entries:
            await self.redis.xdel(
                self.keys.changes_outbox(partition), *(e.entry_id for e in entries)
            )

    async def due(self, partition: int | str, now_ms: int, count: int) -> list[str]:
        """Users of a partition whose next time re-evaluation is due, oldest first."""
        raw: Any = await self.redis.zrangebyscore(
            self.keys.rules_due(partition), "-inf", now_ms, start=0, num=count
        )
        return [u.decode() for u in raw]

    async def scan_profiles(self, cursor: int, count: int) -> tuple[int, list[str]]:
        """One SCAN step over every profile: the next cursor (0: done) and the user ids."""
        keys: Any
        cursor, keys = await self.redis.scan(
            cursor, match=self.keys.user_pattern(PROFILE), count=count
        )
        return int(cursor), [user_id_from_key(k.decode()) for k in keys]

    async def stale_partitions(self, partitions: Collection[str], version: str) -> set[str]:
        """Of these partitions, those whose profiles were last re-evaluated under other rules."""
        names = sorted(partitions)
        if not names:
            return set()
        marks: Any = await self.redis.hmget(self.keys.rules_versions, names)
        return {p for p, v in zip(names, marks, strict=True) if v is None or v.decode() != version}

    async def mark_version(self, partitions: Collection[str], version: str) -> None:
        if partitions:
            await self.redis.hset(
                self.keys.rules_versions, mapping=dict.fromkeys(partitions, version)
            )

    async def sizes(self, segments: Sequence[str]) -> dict[str, int]:
        """Each segment's size (SCARD of its member set: exact), in one round trip."""
        if not segments:
            return {}
        pipe = self.redis.pipeline(transaction=False)
        for name in segments:
            pipe.scard(self.keys.segment_members(name))
        counts = await pipe.execute()
        return {name: int(n) for name, n in zip(segments, counts, strict=True)}

    async def size(self, segment: str) -> int:
        return (await self.sizes([segment]))[segment]

    async def members(self, segment: str, count: int = 1000) -> AsyncIterator[list[str]]:
        """Every member of a segment, in chunks (SSCAN: a member added or removed meanwhile
        may be missed or, rarely, returned twice; each chunk is free of repeats)."""
        key = self.keys.segment_members(segment)
        cursor = 0
        chunk: Any
        while True:
            cursor, chunk = await self.redis.sscan(key, cursor, count=count)
            if chunk:
                yield sorted({m.decode() for m in chunk})
            if cursor == 0:
                return
