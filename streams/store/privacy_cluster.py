"""The erasure on Redis Cluster (docs/cluster.md, S11), where no call may span slots.

A single Redis erases in one atomic call (streams/store/privacy.py, ``ERASE``). On a cluster
the user's keys share one slot and every shared key (the trigger due index, the recall index,
the partition's rules due index, outbox and the segments' member sets) has its own, so the
erasure is a sequence of steps, each safe to run again, that ends in the same state.
:meth:`ClusterErase.steps` takes them in order (a caller stopping after one is a crash there):

1. ``unschedule``: the due index's members of the user's pending triggers
   (read from the user's hash, which stays) and of every trigger kind (a lazy kind is due with
   no pending record) go. First, so that a crash after step 2, which deletes the pending hash,
   leaves no member a retry could no longer name (a campaign's slot is not a kind).
2. ``erase_user``: one script on the user's slot marks the erasure pending
   (which refuses the user's writes from then on, as on a single Redis), reads the pending
   slots and deletes the user's keys, its profile write's follow-up list included (which a
   sweep would otherwise make: the user back in member sets).
3. ``leave_indexes``: again the due members (slots scheduled between 1 and 2),
   the recall index, the rules' due index and the partition's follow-up dirty set; and which
   segments count the user. The trigger due index, the recall index and each segment's member
   set are sharded by the user id on a cluster (streams/names.py ``sharded``): each step names
   the user's shard, the one the writers put the user in.
4. ``publish_exits``: each exit on the partition's outbox, *before* step 5 takes the user off
   the member set, so that a crash in between makes the retry send the exit again (the outbox
   is at-least-once, streams/pipeline/changes.py) rather than lose it.
5. ``leave_segments``.

Each step is one round trip but the first (a read, then the ZREM): a cluster pipeline sends its
single-key commands to each node at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Final

from redis.asyncio import Redis

from streams.names import Keys, due_member, sharded
from streams.store.triggers import as_text
from triggers.config import KINDS

# KEYS[1..6]: the user's profile, pending triggers, sent, sensitivity, feedback seen, recall;
# KEYS[7]: the privacy marker; KEYS[8]: the user's profile-write follow-up list (its shared
# writes, which would put the user back in member sets: streams/store/follow_up.py). ARGV:
# erase id, now ms, suppress (1/0). The marker first, as in ERASE (in one call the order is
# invisible; it says what the keys end as).
# Returns {keys deleted, the pending triggers' slots}.
ERASE_USER: Final = """
redis.call('HSET', KEYS[7], 'pending', ARGV[1], 'erased_at', ARGV[2])
if ARGV[3] == '1' then redis.call('HSET', KEYS[7], 'suppressed', ARGV[2]) end
redis.call('PERSIST', KEYS[7])
local slots = redis.call('HKEYS', KEYS[2])
redis.call('DEL', KEYS[8])
local deleted = redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])
return {deleted, slots}
"""


@dataclass(frozen=True, slots=True)
class Erasure:
    """One erasure request, as :meth:`PrivacyStore.erase` takes it: the user, the request's id
    and time, whether its later events are suppressed, the partition whose outbox and rule
    index hold it (``home``), and (segment, exit message) for every segment it may be in."""

    user_id: str
    erase_id: str
    now_ms: int
    suppress: bool
    home: int
    exits: Sequence[tuple[str, bytes]]


@dataclass(slots=True)
class Progress:
    """What an erasure's steps did so far (PrivacyStore.erase's reply is made of it)."""

    cancelled: int = 0  # due members removed
    deleted: int = 0  # the user's keys deleted
    exited: list[int] = field(default_factory=list)  # indexes into the exits of segments left


class ClusterErase:
    """The steps of one erasure on a cluster; :meth:`run` takes them all in order."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._user_script = redis.register_script(ERASE_USER)

    async def run(self, own: list[str], erasure: Erasure) -> Progress:
        """Every step; ``own``: the user's keys as ``ERASE`` declares them (the marker last)."""
        done = Progress()
        async for _ in self.steps(done, own, erasure):
            pass
        return done

    async def steps(self, done: Progress, own: list[str], erasure: Erasure) -> AsyncIterator[str]:
        """The steps in order, each named once it has run into ``done`` (a caller that stops
        after any of them is a crash there: running all of them again ends the same)."""
        user_id, home, exits = erasure.user_id, erasure.home, erasure.exits
        done.cancelled += await self._unschedule(user_id)
        yield "due members"
        done.deleted, slots = await self._erase_user(own, erasure)
        yield "user script"
        segments = [name for name, _ in exits]
        more, members = await self._leave_indexes(user_id, home, slots, segments)
        done.cancelled += more
        done.exited = _first_members(segments, members)
        yield "indexes"
        await self._publish_exits(home, [exits[i][1] for i in done.exited])
        yield "exits published"
        await self._leave_segments(user_id, [exits[i][0] for i in done.exited])
        yield "segments left"

    async def _unschedule(self, user_id: str) -> int:
        """Step 1: the due members of the pending slots stored now and of every kind."""
        slots = [as_text(s) for s in await self.redis.hkeys(self.keys.pending(user_id))]
        due = self.keys.due_for(user_id, True)  # its shard of the trigger due index
        return int(await self.redis.zrem(due, *self._due_members(user_id, slots)))

    async def _erase_user(self, own: list[str], erasure: Erasure) -> tuple[int, list[str]]:
        """Step 2: the marker, then the user's keys; (keys deleted, pending slots)."""
        named = [*own, self.keys.follow_up(erasure.user_id)]
        args: list[str | int] = [erasure.erase_id, erasure.now_ms, int(erasure.suppress)]
        deleted, slots = await self._user_script(named, args)
        return int(deleted), [as_text(s) for s in slots]

    async def _leave_indexes(
        self, user_id: str, home: int, slots: list[str], segments: list[str]
    ) -> tuple[int, list[bool]]:
        """Step 3: (due members removed, whether each of ``segments`` counts the user)."""
        k = self.keys
        pipe = self.redis.pipeline(transaction=False)
        pipe.zrem(k.due_for(user_id, True), *self._due_members(user_id, slots))
        pipe.zrem(sharded(k.recall_index, user_id, True), user_id)  # its shard of the index
        pipe.zrem(k.rules_due(home), user_id)
        pipe.srem(k.rules_dirty(home), user_id)  # its follow-up list went in step 2
        for name in segments:
            pipe.sismember(self._member_key(name, user_id), user_id)
        cancelled, _, _, _, *members = await pipe.execute()
        return int(cancelled), [bool(m) for m in members]

    async def _publish_exits(self, home: int, messages: list[bytes]) -> None:
        """Step 4: each exit on the partition's outbox, in order (one stream, one node)."""
        if messages:
            pipe = self.redis.pipeline(transaction=False)
            for message in messages:
                pipe.xadd(self.keys.changes_outbox(home), {"m": message})
            await pipe.execute()

    async def _leave_segments(self, user_id: str, segments: list[str]) -> None:
        """Step 5, after the exits are out: the user leaves those segments' member sets."""
        if segments:
            pipe = self.redis.pipeline(transaction=False)
            for name in segments:
                pipe.srem(self._member_key(name, user_id), user_id)
            await pipe.execute()

    def _member_key(self, segment: str, user_id: str) -> str:
        """The shard of ``segment``'s member set that holds ``user_id`` (on a cluster each
        member set is sharded by the user id, as the profile write keeps it)."""
        return sharded(self.keys.segment_members(segment), user_id, True)

    @staticmethod
    def _due_members(user_id: str, slots: list[str]) -> list[str]:
        """The due members of ``slots`` and of every kind, once each (ZREM counts each)."""
        return list(dict.fromkeys(due_member(s, user_id) for s in [*slots, *KINDS]))


def _first_members(segments: list[str], members: list[bool]) -> list[int]:
    """The indexes of the segments that count the user, a name listed twice once (as ERASE's
    SREM answers 1 only the first time)."""
    seen: set[str] = set()
    out = []
    for i, (name, member) in enumerate(zip(segments, members, strict=True)):
        if member and name not in seen:
            out.append(i)
        seen.add(name)
    return out
