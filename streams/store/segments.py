"""The rules' Redis side besides the profile write (streams/store/profiles.py writes all of it
atomically with the state): the ``profile.changes`` outbox of each partition, the index of
users due for a time re-evaluation, and the segments' member sets.

A segment's member set is one key on a single Redis. On Redis Cluster it is
:data:`~streams.names.DUE_SHARDS` keys (``seg:m:<name>:{n}``, streams/names.py ``sharded``),
a user's membership in the one its id hashes to, so that a broad segment's set and every
transition's SADD/SREM spread over the primaries instead of loading one. The readers here merge
the shards: a size is the sum of their SCARDs, the members are each shard's SSCAN in turn, and a
page (:meth:`SegmentStore.page`) says which shard its cursor is in. A user is in one shard only,
so no member is listed by two of them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster

from streams.names import PROFILE, Keys, shards, user_id_from_key


@dataclass(frozen=True, slots=True)
class Outboxed:
    """One unpublished ``profile.changes`` message: its stream entry id, key and JSON value."""

    entry_id: bytes
    user_id: str
    value: bytes


@dataclass(frozen=True, slots=True)
class ScanCursor:
    """Where a scan of every profile stands (:meth:`SegmentStore.scan_profiles`): start from
    ``ScanCursor()``, stop once ``done``; callers keep it between steps and read nothing else.

    On a single Redis ``position`` is the SCAN cursor. On Redis Cluster a SCAN cursor only
    means something to the primary that issued it, so the scan goes through the primaries one
    at a time, in name order: ``node`` names the primary being scanned (None: the next one not
    yet ``visited``), ``position`` is its cursor, and ``visited`` holds the primaries whose
    SCAN has come back to 0. Nodes are named, not numbered, so that a primary added or
    replaced mid-scan is still scanned in full (a list index would shift)."""

    position: int = 0
    node: str | None = None
    visited: frozenset[str] = frozenset()
    done: bool = False


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a segment's members (:meth:`SegmentStore.page`) and where the next starts:
    the shard (always 0 on a single Redis, whose set is one key) and the SSCAN cursor in it;
    ``done`` once the last shard's SSCAN has come back to 0."""

    members: list[str]
    shard: int
    position: int
    done: bool


class SegmentStore:
    def __init__(self, redis: Redis, namespace: str) -> None:
        self.redis = redis
        self.keys = Keys(namespace)
        # Redis Cluster: each member set is DUE_SHARDS keys (the module's docstring)
        self.cluster = isinstance(redis, RedisCluster)

    def member_keys(self, segment: str) -> list[str]:
        """Every key of ``segment``'s member set: the one key on a single Redis, its shards on
        Redis Cluster (a user's membership is in ``sharded(..., user_id, True)``)."""
        return shards(self.keys.segment_members(segment), self.cluster)

    async def outbox(self, partition: int | str, count: int = 1000) -> list[Outboxed]:
        """The oldest unpublished messages of a partition, in the order they were written."""
        return (await self.outboxes([partition], count))[partition]

    async def outboxes(
        self, partitions: Sequence[int | str], count: int = 1000
    ) -> dict[int | str, list[Outboxed]]:
        """:meth:`outbox` of several partitions in one round trip (a pipeline; on Redis
        Cluster one per primary holding them)."""
        pipe = self.redis.pipeline(transaction=False)
        for partition in partitions:
            pipe.xrange(self.keys.changes_outbox(partition), count=count)
        replies: list[Any] = await pipe.execute()
        return {p: _outboxed(entries) for p, entries in zip(partitions, replies, strict=True)}

    async def published(self, partition: int | str, entries: Sequence[Outboxed]) -> None:
        await self.published_many({partition: entries})

    async def published_many(self, done: Mapping[int | str, Sequence[Outboxed]]) -> None:
        """Delete these published messages from their partitions' outboxes, in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for partition, entries in done.items():
            if entries:
                pipe.xdel(self.keys.changes_outbox(partition), *(e.entry_id for e in entries))
        if len(pipe):
            await pipe.execute()

    async def due(self, partition: int | str, now_ms: int, count: int) -> list[str]:
        """Users of a partition whose next time re-evaluation is due, oldest first."""
        raw: Any = await self.redis.zrangebyscore(
            self.keys.rules_due(partition), "-inf", now_ms, start=0, num=count
        )
        return [u.decode() for u in raw]

    async def scan_profiles(self, cursor: ScanCursor, count: int) -> tuple[ScanCursor, list[str]]:
        """One SCAN step over every profile: the next cursor and the user ids (SCAN's
        guarantee: a profile present for the whole scan is returned at least once). On Redis
        Cluster the step scans one primary (``target_nodes``); the cursor is ``done`` after
        the step that finishes the last primary."""
        if cursor.done:
            return cursor, []
        if isinstance(self.redis, RedisCluster):
            return await self._scan_cluster(self.redis, cursor, count)
        keys: Any
        position, keys = await self.redis.scan(
            cursor.position, match=self.keys.user_pattern(PROFILE), count=count
        )
        return ScanCursor(int(position), done=int(position) == 0), self._user_ids(keys)

    async def _scan_cluster(
        self, redis: RedisCluster, cursor: ScanCursor, count: int
    ) -> tuple[ScanCursor, list[str]]:
        primaries = {node.name: node for node in redis.get_primaries()}
        node = _node_to_scan(primaries, cursor)
        if node is None:  # every primary scanned (or the cluster lost its last one)
            return ScanCursor(visited=cursor.visited, done=True), []
        # a primary taken up afresh (the first, or the one after a failover) starts at 0
        start = cursor.position if node.name == cursor.node else 0
        replies: Any
        keys: Any
        replies, keys = await redis.scan(
            start, match=self.keys.user_pattern(PROFILE), count=count, target_nodes=node
        )
        position = int(replies[node.name])
        if position != 0:
            return ScanCursor(position, node.name, cursor.visited), self._user_ids(keys)
        visited = cursor.visited | {node.name}
        # done now, not one empty step later: the caller finishes with the last keys, as on
        # a single Redis
        done = _node_to_scan(primaries, ScanCursor(visited=visited)) is None
        return ScanCursor(visited=visited, done=done), self._user_ids(keys)

    @staticmethod
    def _user_ids(keys: Any) -> list[str]:
        return [user_id_from_key(k.decode()) for k in keys]

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
        """Each segment's size (SCARD of its member set: exact), in one round trip. On Redis
        Cluster the sum of its shards' SCARDs (a user is in one shard only), the pipeline
        sending each primary its shards' SCARDs at once."""
        if not segments:
            return {}
        keys = {name: self.member_keys(name) for name in segments}
        pipe = self.redis.pipeline(transaction=False)
        for name in segments:
            for key in keys[name]:
                pipe.scard(key)
        counts = iter(await pipe.execute())
        return {name: sum(int(next(counts)) for _ in keys[name]) for name in segments}

    async def size(self, segment: str) -> int:
        return (await self.sizes([segment]))[segment]

    async def members(self, segment: str, count: int = 1000) -> AsyncIterator[list[str]]:
        """Every member of a segment, in chunks (SSCAN: a member added or removed meanwhile
        may be missed or, rarely, returned twice; each chunk is free of repeats). On Redis
        Cluster each shard is SSCANned to its end in turn; no member is in two shards."""
        for key in self.member_keys(segment):
            async for chunk in self._sscan(key, count):
                yield chunk

    async def _sscan(self, key: str, count: int) -> AsyncIterator[list[str]]:
        """Every member of one set, in SSCAN's chunks (each free of repeats)."""
        cursor = 0
        chunk: Any
        while True:
            cursor, chunk = await self.redis.sscan(key, cursor, count=count)
            if chunk:
                yield sorted({m.decode() for m in chunk})
            if cursor == 0:
                return

    async def page(self, segment: str, shard: int, position: int, count: int) -> Page:
        """One page of a segment's members from ``(shard, position)`` (``(0, 0)``: the first),
        about ``count`` of them (SSCAN's COUNT; sorted, free of repeats): one SSCAN step of that
        shard, as on a single Redis, where ``shard`` is 0 and the set its one key. On Redis
        Cluster a step that ends its shard with fewer than ``count`` members goes on with the
        next shard's first step, so that a small segment is not 16 thin pages (a page takes at
        most one SSCAN step per shard)."""
        keys = self.member_keys(segment)
        found: set[str] = set()
        raw: Any
        while shard < len(keys):
            after, raw = await self.redis.sscan(keys[shard], position, count=count)
            found.update(m.decode() for m in raw)
            position = int(after)
            if position != 0:
                return Page(sorted(found), shard, position, done=False)
            shard += 1
            if len(found) >= count and shard < len(keys):
                return Page(sorted(found), shard, 0, done=False)
        return Page(sorted(found), shard, 0, done=True)


def _node_to_scan(primaries: dict[str, ClusterNode], cursor: ScanCursor) -> ClusterNode | None:
    """The primary the cursor's next step scans: the one it is on while that node is still a
    primary, else the first (by name) not yet visited. A primary that failed over mid-scan is
    left: its replica, promoted under another name, holds its keys and is scanned in full."""
    if cursor.node is not None and cursor.node in primaries:
        return primaries[cursor.node]
    left = sorted(name for name in primaries if name not in cursor.visited)
    return primaries[left[0]] if left else None


def _outboxed(entries: Any) -> list[Outboxed]:
    out = []
    for entry_id, fields in entries:
        value = fields[b"m"]
        out.append(Outboxed(entry_id, orjson.loads(value)["user_id"], value))
    return out
