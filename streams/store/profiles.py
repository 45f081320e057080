"""The profile store: one Redis string per user, written once per batch, fenced by (partition,
offset).

The write is a Lua script that sets the state only when the incoming offset is above the fence
stored for that partition, so a replay after a crash, or a zombie owner after a rebalance, can
never put an older state over a newer one. One EVALSHA carries a whole chunk of users, its
states packed into one argument (redis-py's per-argument packing was the cost to cut); one MGET
loads a chunk. The script is in streams/store/profile_lua.py.

On Redis Cluster (a ``redis+cluster://`` URL) no call may span slots: the write is one call per
user, pipelined (one round trip per node), and the shared keys it changes (segment member sets,
outboxes, due indexes) follow it durably (streams/store/follow_up.py); loads are one MGET per
slot (docs/cluster.md). There the trigger due index and each segment's member set are sharded
by the user id (streams/names.py ``sharded``): the call names the user's shards, so a broad
segment's members and transitions spread over the primaries instead of loading one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from profiles.codec import decode
from profiles.model import State
from profiles.timeutil import DAY_MS
from streams import names as n
from streams.names import Keys, sharded, user_id_from_key
from streams.store.follow_up import Done, FollowUps
from streams.store.profile_lua import FENCED_WRITE
from streams.store.scripts import run_scripts
from triggers.config import KINDS


@dataclass(frozen=True, slots=True)
class RulesDelta:
    """What a write changes besides the state: segment memberships, the ``profile.changes``
    messages to publish (JSON), and the next moment time alone may flip a rule (0: none)."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    messages: tuple[bytes, ...] = ()
    due: int = 0


@dataclass(frozen=True, slots=True)
class Write:
    user_id: str
    partition: int | str
    offset: int
    state: bytes  # profiles.codec.encode(state): fence header + MessagePack
    rules: RulesDelta | None = None
    exact: bool = False  # may land at an equal fence (a re-evaluation of the stored state)
    home: int | str | None = None  # the rules' partition (outbox, due index); None: partition
    erase: str = ""  # the id of the erasure this write completes (state b"": nothing after it)
    absorbed: tuple[Absorbed, ...] = ()  # handed-over states this write folds in (identity)


@dataclass(frozen=True, slots=True)
class Absorbed:
    """A merged profile whose handed-over state a survivor's write folds in: the segments it
    was in (it leaves them) and their exit messages for ``profile.changes``."""

    profile: str
    segments: tuple[str, ...] = ()
    messages: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class Refusals:
    """The users whose write did not land: refused by a fence (or an erasure on its way), and
    suppressed (no state may be stored for them: their events go to the DLQ)."""

    refused: list[str]
    suppressed: list[str]
    moved: list[str] = field(default_factory=list)  # merged into another profile: forward


class ProfileStore:
    """Reads and fenced writes of profile states."""

    def __init__(
        self, redis: Redis, namespace: str, chunk: int = 1000, tombstone_ms: int = DAY_MS
    ) -> None:
        self.redis = redis
        self.keys = Keys(namespace)
        self.chunk = chunk
        self._write = redis.register_script(FENCED_WRITE)  # NOSCRIPT: redis-py loads it again
        # Redis Cluster: one call per user, the shared writes after it (docs/cluster.md)
        self.follow_ups = FollowUps(redis, self.keys) if isinstance(redis, RedisCluster) else None
        keys = self.keys
        self._prefixes = (
            keys.segment_members(""), keys.changes_outbox(""), keys.rules_due(""),
            keys.user_prefix(n.PRIVACY), keys.user_prefix(n.PENDING), keys.due, str(tombstone_ms),
            orjson.dumps(KINDS).decode(), keys.user_prefix(n.ABSORBING), keys.user_prefix(n.MOVED),
        )  # fmt: skip

    async def load_raw(self, user_ids: Sequence[str]) -> dict[str, bytes]:
        """The stored state blobs, undecoded (the caller decodes each and isolates failures)."""
        out: dict[str, bytes] = {}
        for start in range(0, len(user_ids), self.chunk):
            part = user_ids[start : start + self.chunk]
            blobs = await _mget(self.redis, [self.keys.profile(u) for u in part])
            out.update(
                (uid, blob)
                for uid, blob in zip(part, blobs, strict=True)
                if isinstance(blob, bytes) and blob
            )
        return out

    async def load_many(self, user_ids: Sequence[str]) -> dict[str, State]:
        """States of the users that have one (missing users are absent from the result)."""
        raw = await self.load_raw(user_ids)
        return {uid: decode(blob) for uid, blob in raw.items()}

    async def get(self, user_id: str) -> State | None:
        blob = await self.redis.get(self.keys.profile(user_id))
        return decode(blob) if isinstance(blob, bytes) and blob else None

    async def write(self, writes: Sequence[Write]) -> list[str]:
        """Write the states; return the user ids whose write did not land (a fence refused it:
        someone wrote newer; an erasure is on its way; the user is suppressed; the profile was
        merged into another)."""
        out = await self.write_all(writes)
        return out.refused + out.suppressed + out.moved

    async def write_all(self, writes: Sequence[Write]) -> Refusals:
        """Write the states; the users refused, and the suppressed ones apart."""
        out = Refusals([], [], [])
        for start in range(0, len(writes), self.chunk):
            part = writes[start : start + self.chunk]
            if self.follow_ups is None:
                answers = [await self._write(*_call(self.keys, part, self._prefixes, ""))]
                owners = [part]
            else:
                answers = await self._write_deferred(part)
                owners = [[w] for w in part]
            for (skipped, kept_out, gone, *_), mine in zip(answers, owners, strict=True):
                out.refused.extend(mine[int(i) - 1].user_id for i in skipped)
                out.suppressed.extend(mine[int(i) - 1].user_id for i in kept_out)
                out.moved.extend(mine[int(i) - 1].user_id for i in gone)
        return out

    async def _write_deferred(self, part: Sequence[Write]) -> list[list[Any]]:
        """Redis Cluster: one call per user on its own slot, the shared writes after it
        (streams/store/follow_up.py)."""
        assert self.follow_ups is not None
        follow = self.keys.user_prefix(n.FOLLOW_UP)
        marked = [(w.user_id, _home(w)) for w in part if w.rules is not None or w.absorbed]
        await self.follow_ups.mark(marked)
        answers = await run_scripts(
            self.redis,
            [(self._write, *_call(self.keys, [w], self._prefixes, follow)) for w in part],
        )
        await self.follow_ups.make(
            [
                Done(w.user_id, _home(w), list(a[3]), a[4] or b"")
                for w, a in zip(part, answers, strict=True)
            ],
            marked,
        )
        return [list(a) for a in answers]

    async def finish_follow_ups(self, partitions: Iterable[str]) -> int:
        """Make the shared writes a crash left behind on Redis Cluster, for the partitions
        the caller owns (none on one Redis, where they are atomic with the state)."""
        return 0 if self.follow_ups is None else await self.follow_ups.sweep(partitions)

    async def user_ids(self, count: int = 1000) -> list[str]:
        """Every user with a profile (SCAN: for tools and tests, not the hot path)."""
        pattern = self.keys.user_pattern(n.PROFILE)
        return [user_id_from_key(k.decode()) async for k in self.redis.scan_iter(pattern, count)]


def _home(w: Write) -> str:
    return str(w.partition if w.home is None else w.home)


def _call(
    keys: Keys, part: Sequence[Write], prefixes: Sequence[str], follow: str
) -> tuple[list[str], list[Any]]:
    """The keys and arguments of one FENCED_WRITE call over ``part``."""
    deltas: list[tuple[list[str], list[str], list[str], str]] = []
    meta = []
    for w in part:
        delta = 0
        if w.rules is not None:
            d = w.rules
            deltas.append(
                (list(d.added), list(d.removed), [m.decode() for m in d.messages], str(d.due))
            )
            delta = len(deltas)
        meta.append(
            (
                str(w.partition),
                str(w.offset),
                len(w.state),
                int(w.exact),
                delta,
                _home(w),
                w.erase,
                _hand_overs(w, bool(follow)),
            )
        )
    if follow:  # one user: the shard of the trigger due index holding the user's entries
        prefixes = [*prefixes[:5], keys.due_for(part[0].user_id, True), *prefixes[6:]]
    args: list[Any] = [
        orjson.dumps(meta),
        b"".join(w.state for w in part),
        orjson.dumps(deltas) if deltas else b"[]",
        *prefixes,
        follow,
        member_shard(part[0].user_id) if follow else "",  # one user: its member-set shard
    ]
    named = [keys.profile(w.user_id) for w in part]
    if follow:  # one user: every key the script touches, declared (migrations: see FENCED_WRITE)
        u = part[0].user_id
        named += [
            keys.privacy(u), keys.pending(u), keys.moved(u), keys.absorbing(u), keys.follow_up(u),
        ]  # fmt: skip
    return named, args


def _hand_overs(w: Write, cluster: bool) -> list[list[Any]]:
    """Meta's 8th item: per absorbed profile [its id, the segments it was in, their exits] and,
    on Redis Cluster, the suffix of its own member-set shard (its id's, not the user's)."""
    out: list[list[Any]] = []
    for a in w.absorbed:
        gone: list[Any] = [a.profile, list(a.segments), [m.decode() for m in a.messages]]
        out.append([*gone, member_shard(a.profile)] if cluster else gone)
    return out


def member_shard(user_id: str) -> str:
    """What follows a segment's member-set key for the shard that holds ``user_id`` on Redis
    Cluster (``:{n}``): FENCED_WRITE appends it to the member-set prefix and the segment's name,
    giving ``sharded(keys.segment_members(name), user_id, True)`` (streams/names.py); the script
    cannot hash the id itself (no CRC32 in Redis Lua), so the caller passes it."""
    return sharded("", user_id, True)


async def _mget(redis: Redis, keys: list[str]) -> list[Any]:
    """MGET; on Redis Cluster, where one MGET may not span slots, one per slot, in parallel
    across the primaries (``mget_nonatomic``; docs/cluster.md)."""
    if isinstance(redis, RedisCluster):
        return list(await redis.mget_nonatomic(keys))
    return list(await redis.mget(keys))
