"""The trigger store's writes on Redis Cluster, where the due index and a user's keys live in
different slots (docs/cluster.md, S2 APPLY and S5 FINISH).

A single Redis runs APPLY and FINISH as one atomic script over both. Here each is split:

* APPLY: the due index is written first (INDEX: one call on ``tdue`` for every member the chunk
  schedules, held at least :data:`HOLD_MS` ahead so that no claim takes it before its record is
  stored, returning the scores it replaced), then one APPLY_USER script per user on
  ``tq:{u}``/``ts:{u}`` (pipelined), then one SETTLE call on ``tdue`` puts right what the user
  scripts' answers call for: a member gets its due, a member whose schedule was ``sent`` its
  former score back (or goes), a cancelled one goes. Index first, so that a crash never leaves
  a stored record that no index entry leads to; a member left without a record is tidied (or,
  lazy, rebuilt) by a claim once its hold is over.
* FINISH: one FINISH_USER script per trigger (the id check, HSET or HDEL: pipelined), then, for
  those still pending as this id, one SETTLE call moves the members, each only if its score is
  still the end of the lease this store's claim gave it (or the due of the record FINISH_USER
  saw: the same id re-scheduled before it, which a single Redis's FINISH moves too), so that a
  re-schedule made between the two steps stands. A finish of a member this store did not claim,
  or whose lease it has forgotten as over, moves it unguarded, as a single Redis does.

The outcomes are those a single Redis gives for the same operations: the lazy
``scheduled``/``updated`` answer, which depends on the index, is worked out from INDEX's reply.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias, cast

import orjson
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from streams.names import Keys, due_member, parse_due_member
from streams.store import trigger_lua as lua
from streams.store.scripts import Call, run_scripts
from triggers.model import Op, Schedule, Trigger

# (due member, its new score or '' to remove it, the scores it must still have: none, any)
Move: TypeAlias = tuple[str, str, tuple[str, ...]]
# How far ahead INDEX puts a member due sooner, until SETTLE gives it its due: the time the
# user scripts take, with room (a crash between leaves it to a claim this much later)
HOLD_MS = 30_000


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class Step:
    """One operation as the scripts take it: mode 's' schedule, 'l' lazy schedule, 'c' cancel."""

    user: str
    mode: str
    slot: str
    trigger_id: str
    due: int
    record: bytes

    @property
    def member(self) -> str:
        return due_member(self.slot, self.user)


def step(op: Op) -> Step:
    if isinstance(op, Schedule):
        t = op.trigger
        mode, record = ("l", b"") if t.lazy else ("s", t.encode())
        return Step(t.user_id, mode, t.slot, t.trigger_id, t.due_at, record)
    return Step(op.user_id, "c", op.slot, "", 0, b"")


class ClusterTriggers:
    """APPLY and FINISH for :class:`~streams.store.triggers.TriggerStore` on a cluster, and
    the lease ends of what its claims took (FINISH's guard)."""

    def __init__(
        self, redis: RedisCluster, keys: Keys, clock: Callable[[], int] = wall_clock_ms
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.clock = clock
        self._apply_user = redis.register_script(lua.APPLY_USER)
        self._finish_user = redis.register_script(lua.FINISH_USER)
        self._index = redis.register_script(lua.INDEX)
        self._settle = redis.register_script(lua.SETTLE)
        self._leases: dict[str, int] = {}  # due member -> end of the lease this store took

    async def apply(self, ops: Sequence[Op]) -> list[str]:
        """Each operation's outcome, as APPLY answers it on a single Redis."""
        steps = [step(op) for op in ops]
        written = {s.member: s.due for s in steps if s.mode != "c"}  # the last schedule wins
        # held out of a claim's reach until the records are stored: a claim in between would
        # find no record and tidy the member away, leaving the record with no entry to fire it
        held = {m: max(due, self.clock() + HOLD_MS) for m, due in written.items()}
        before = await self._index_first(held)
        replies = await self._run_users(steps)
        outcomes, moves = settle_plan(steps, replies, written, before, held)
        await self.settle(moves)
        return outcomes

    async def _index_first(self, held: dict[str, int]) -> dict[str, int | None]:
        """INDEX on each shard of the due index the members fall in (pipelined)."""
        shards = self._by_shard(held)
        calls: list[Call] = [
            (self._index, [key], [orjson.dumps([[m, str(held[m])] for m in members])])
            for key, members in shards.items()
        ]
        before: dict[str, int | None] = {}
        for members, replaced in zip(shards.values(), await self._run(calls), strict=True):
            before.update((m, score(r)) for m, r in zip(members, replaced, strict=True))
        return before

    def _by_shard(self, members: Iterable[str]) -> dict[str, list[str]]:
        """Due members grouped by the shard of the due index holding them (Keys.due_for)."""
        out: dict[str, list[str]] = {}
        for member in members:
            out.setdefault(self._shard(member), []).append(member)
        return out

    def _shard(self, member: str) -> str:
        return self.keys.due_for(parse_due_member(member)[1], True)

    async def _run_users(self, steps: Sequence[Step]) -> list[str]:
        """One APPLY_USER per user (its operations in order); the replies in ``steps`` order."""
        users: dict[str, list[int]] = {}
        for i, s in enumerate(steps):
            users.setdefault(s.user, []).append(i)
        calls: list[Call] = []
        for user, places in users.items():
            meta = [(steps[i].mode, steps[i].slot, steps[i].trigger_id, len(steps[i].record))
                    for i in places]  # fmt: skip
            blobs = b"".join(steps[i].record for i in places)
            keys = [self.keys.pending(user), self.keys.sent(user)]
            calls.append((self._apply_user, keys, [orjson.dumps(meta), blobs]))
        out = [""] * len(steps)
        for places, replies in zip(users.values(), await self._run(calls), strict=True):
            for i, reply in zip(places, replies, strict=True):
                out[i] = text(reply)
        return out

    async def finish(self, items: Sequence[tuple[Trigger, bool]]) -> list[bool]:
        """FINISH_USER for each, then the due members of those still pending as this id."""
        calls: list[Call] = []
        for t, defer in items:
            args = [t.slot, t.trigger_id, *(("defer", t.encode()) if defer else ("done", ""))]
            calls.append((self._finish_user, [self.keys.pending(t.user_id)], args))
        replies = await self._run(calls)
        moves: list[Move] = []
        for (t, defer), reply in zip(items, replies, strict=True):
            member = due_member(t.slot, t.user_id)
            lease = self._leases.pop(member, None)
            if reply[0]:
                # its lease, or the due FINISH_USER saw; a lease this store does not know (not
                # claimed here, or over): moved unguarded, as a single Redis's FINISH does
                held = () if lease is None else (str(lease), str(reply[1]))
                moves.append((member, str(t.due_at) if defer else "", held))
        await self.settle(moves)
        return [bool(reply[0]) for reply in replies]

    def claimed(self, now: int, lease_until: int, members: Sequence[str]) -> None:
        """Note the lease end of what a claim took; forget leases over by ``now`` (a finish
        that comes later moves its member unguarded, as a single Redis does)."""
        self._leases = {m: end for m, end in self._leases.items() if end > now}
        self._leases.update(dict.fromkeys(members, lease_until))

    async def settle(self, moves: Sequence[Move]) -> None:
        """SETTLE the moves on each shard of the due index they fall in (pipelined)."""
        shards: dict[str, list[Move]] = {}
        for move in moves:  # in order: two moves of one member keep theirs
            shards.setdefault(self._shard(move[0]), []).append(move)
        await self._run([(self._settle, [key], [orjson.dumps(m)]) for key, m in shards.items()])

    async def _run(self, calls: Sequence[Call]) -> list[Any]:
        # run_scripts is typed for a single Redis; a cluster's pipeline takes the same calls
        return await run_scripts(cast(Redis, self.redis), calls)


def settle_plan(
    steps: Sequence[Step],
    replies: Sequence[str],
    written: dict[str, int],
    before: dict[str, int | None],
    held: dict[str, int] | None = None,
) -> tuple[list[str], list[Move]]:
    """The outcomes, and the due-index moves that leave each member as a single Redis's APPLY
    would have: replay the steps on the index as APPLY does (a cancel removes, a schedule not
    'sent' sets its due, a 'sent' one leaves it) from the scores INDEX replaced. ``held``: the
    scores INDEX set (default: the dues), which each move expects to find."""
    held = written if held is None else held
    present = {m: s is not None for m, s in before.items()}
    final: dict[str, str] = {}  # member -> its score at the end ('' absent); untouched: none
    outcomes: list[str] = []
    for s, reply in zip(steps, replies, strict=True):
        if s.mode == "c":
            final[s.member], present[s.member] = "", False
        elif reply != "sent":
            if reply == "lazy":  # APPLY answers by its ZADD: a new member is 'scheduled'
                reply = "updated" if present[s.member] else "scheduled"
            final[s.member], present[s.member] = str(s.due), True
        outcomes.append(reply)
    moves: list[Move] = []
    for member in written:  # guarded: a change made meanwhile stands
        was = before[member]
        want = final.get(member, "" if was is None else str(was))
        if want != str(held[member]):
            moves.append((member, want, (str(held[member]),)))
    # members only cancelled: removed after their records, as APPLY's cancel does
    moves += [(m, "", ()) for m in final if m not in written]
    return outcomes, moves


def score(reply: Any) -> int | None:
    """A ZSCORE reply as whole milliseconds."""
    return None if reply is None else int(float(text(reply)))


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
