"""The profile write's shared follow-up on Redis Cluster (docs/cluster.md, S1).

On one Redis the fenced write (streams/store/profiles.py) sets a user's state and, in the same
Lua call, the keys no user owns: segment member sets, the partition's outbox and due index, the
trigger due index. On a cluster one call may not span slots, so the write is one call per user
on the user's own slot, and those shared writes follow it:

1. the users whose write carries a rule delta are marked in their partition's dirty set first
   (``SADD``, idempotent);
2. the user's script sets the state and appends the shared writes it implies to the user's
   follow-up list (``rd:{user}``), atomically: a crash after it loses nothing, although a replay
   would find every event applied and write nothing again;
3. the caller makes the writes the list holds, oldest first (a list left by a crash comes back
   with the user's next write and is made first), then trims what it made and unmarks the user.

A crash between 1 and 3 leaves the user marked; the partition's owner sweeps its dirty sets
between batches (:meth:`FollowUps.sweep`). Member-set and index writes are idempotent; an outbox
message may go out twice, which ``profile.changes`` readers already accept (at-least-once).
The trigger due entries a refused or suppressed write drops are not kept: a member left behind
is tidied by the next claim (streams/store/triggers.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis

from streams.names import Keys


@dataclass(frozen=True, slots=True)
class Done:
    """One user's deferred write, as its script answered: the follow-up list (JSON entries, the
    oldest first) and the passing writes (JSON, ``b""`` for none)."""

    user_id: str
    home: str
    entries: Sequence[bytes]
    passing: bytes = b""


class FollowUps:
    """Marks, makes and sweeps the shared writes of deferred profile writes."""

    def __init__(self, redis: Redis, keys: Keys, chunk: int = 500) -> None:
        self.redis = redis
        self.keys = keys
        self.chunk = chunk

    async def mark(self, users: Iterable[tuple[str, str]]) -> None:
        """``(user, home)`` pairs whose write may leave shared writes: in the dirty sets."""
        by_home: dict[str, list[str]] = defaultdict(list)
        for user, home in users:
            by_home[home].append(user)
        if not by_home:
            return
        pipe = self.redis.pipeline(transaction=False)
        for home, members in by_home.items():
            pipe.sadd(self.keys.rules_dirty(home), *members)
        await pipe.execute()

    async def make(self, done: Sequence[Done], marked: Iterable[tuple[str, str]] = ()) -> int:
        """Make every listed write, then trim the lists and unmark the users (``marked`` too:
        a refused write leaves its user marked with nothing to make). The writes made."""
        made = 0
        pipe = self.redis.pipeline(transaction=False)
        for d in done:
            for raw in (*d.entries, d.passing):
                for op in _ops(raw):
                    pipe.execute_command(*op)
                    made += 1
        if made:
            await pipe.execute()  # raises on the first error: nothing is trimmed then
        tidy = self.redis.pipeline(transaction=False)
        unmark = {(d.user_id, d.home) for d in done if d.entries} | set(marked)
        for d in done:
            if d.entries:
                tidy.ltrim(self.keys.follow_up(d.user_id), len(d.entries), -1)
        for user, home in unmark:
            tidy.srem(self.keys.rules_dirty(home), user)
        if unmark:
            await tidy.execute()
        return made

    async def sweep(self, partitions: Iterable[str]) -> int:
        """Make what a crash left in the dirty sets of ``partitions`` (the owner's, between
        batches); the users swept."""
        swept = 0
        for home in partitions:
            users = [_text(u) for u in await self.redis.smembers(self.keys.rules_dirty(home))]
            for start in range(0, len(users), self.chunk):
                part = users[start : start + self.chunk]
                pipe = self.redis.pipeline(transaction=False)
                for user in part:
                    pipe.lrange(self.keys.follow_up(user), 0, -1)
                lists = await pipe.execute()
                await self.make(
                    [Done(u, home, list(e)) for u, e in zip(part, lists, strict=True)],
                    [(u, home) for u in part],
                )
                swept += len(part)
        return swept


def _ops(raw: bytes | str) -> list[list[Any]]:
    """The writes of one JSON entry (``{}``: Lua's empty table, none)."""
    if not raw:
        return []
    ops = orjson.loads(raw)
    return ops if isinstance(ops, list) else []


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw
