"""Pending triggers in Redis: durable across restarts and rebalances, claimed atomically.

Layout (streams/names.py): per user a hash of pending triggers by slot and a hash of sent
trigger ids; one sorted set of due times for everyone (on Redis Cluster, 16 of them, a user's
entries in the one its id hashes to: ``Keys.due_for``). A scheduler claims due members by moving
their score to the end of a lease; one that dies before finishing leaves them to be claimed
again when the lease ends (at-least-once: the ``trigger_id`` lets consumers drop a repeat).

On a single Redis, scheduling and finishing are each one atomic script over the due index and
the users' hashes. On Redis Cluster (a ``RedisCluster`` client) no script may span slots, so
:mod:`streams.store.triggers_cluster` splits them: the due index and each user's hashes are
written by separate scripts, in an order that leaves at worst a due member with no record after
a crash, which :meth:`TriggerStore.claim` tidies (or, for a lazy kind, rebuilds). Claims,
reservations and reads are the same on both.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from streams.names import Keys, due_member, parse_due_member
from streams.store import trigger_lua as lua
from streams.store.scripts import Call, run_scripts
from streams.store.triggers_cluster import ClusterTriggers, step
from triggers.model import Cancel, Op, Trigger

Rebuild = Callable[[str, str, int], "Trigger | None"]


def pairs(flat: Sequence[Any]) -> list[tuple[Any, Any]]:
    return list(zip(flat[::2], flat[1::2], strict=True))


@dataclass(frozen=True, slots=True)
class Limits:
    """What the decision point reserves against, in the user's local calendar."""

    day_start: int
    week_start: int
    cap_day: int | None
    cap_week: int | None
    min_gap_ms: int
    forget_before: int
    dedupe_ms: int


@dataclass(frozen=True, slots=True)
class Reservation:
    outcome: str  # ok, resend, gone, cap_day, cap_week, min_gap
    last_sent: int = 0


@dataclass(frozen=True, slots=True)
class SentRecord:
    """``channel|kind|sent_ms|offer|experiment``: the feedback script attributes by it."""

    channel: str
    kind: str
    sent_at: int
    offer: str = ""
    experiment: str = ""  # the trigger's experiment ('' none): its feedback counts per user

    def encode(self) -> str:
        base = f"{self.channel}|{self.kind}|{self.sent_at}"
        return f"{base}|{self.offer}|{self.experiment}" if self.offer or self.experiment else base

    @classmethod
    def decode(cls, raw: bytes | str) -> SentRecord:
        channel, kind, sent, offer, experiment = ([*as_text(raw).split("|"), "", ""])[:5]
        return cls(channel, kind, int(sent), offer, experiment)


def sent_record(t: Trigger, channel: str, now: int) -> SentRecord:
    offer = t.payload.get("offer")
    return SentRecord(
        channel, t.kind, now, offer if isinstance(offer, str) and "|" not in offer else "",
        t.arm[0] if t.arm else "",
    )  # fmt: skip


class TriggerStore:
    def __init__(self, redis: Redis, namespace: str) -> None:
        self.redis = redis
        self.keys = Keys(namespace)
        cluster = isinstance(redis, RedisCluster)
        self.due = self.keys.due  # one Redis; on a cluster the index is sharded (due_keys)
        self.due_keys = self.keys.due_all(cluster)
        self._apply = redis.register_script(lua.APPLY)
        self._claim = redis.register_script(lua.CLAIM)
        self._reserve = redis.register_script(lua.RESERVE)
        self._finish = redis.register_script(lua.FINISH)
        # on Redis Cluster APPLY and FINISH span slots: split per user (triggers_cluster.py)
        self._cluster = (
            ClusterTriggers(redis, self.keys) if isinstance(redis, RedisCluster) else None
        )

    async def apply(self, ops: Sequence[Op], chunk: int = 500) -> Counter[tuple[str, str]]:
        """Schedule and cancel, ``chunk`` operations at a time; count ``(kind, outcome)``:
        scheduled, updated, sent (already sent: not scheduled again), ``cancelled:<reason>``,
        none (nothing was pending to cancel)."""
        counts: Counter[tuple[str, str]] = Counter()
        for start in range(0, len(ops), chunk):
            part = ops[start : start + chunk]
            if self._cluster is not None:
                replies = await self._cluster.apply(part)
            else:
                replies = await self._apply_atomic(part)
            for op, outcome in zip(part, replies, strict=True):
                if isinstance(op, Cancel):
                    kind = op.slot.split(":")[0]
                    counts[
                        (kind, f"cancelled:{op.reason}" if outcome == "cancelled" else "none")
                    ] += 1
                else:
                    counts[(op.trigger.kind, outcome)] += 1
        return counts

    async def _apply_atomic(self, ops: Sequence[Op]) -> list[str]:
        """One APPLY call over the due index and every user of ``ops`` (a single Redis)."""
        keys, meta = [self.due], []
        steps = [step(op) for op in ops]
        for s in steps:
            keys += [self.keys.pending(s.user), self.keys.sent(s.user)]
            meta.append((s.mode, s.slot, s.trigger_id, str(s.due), s.member, len(s.record)))
        replies = await self._apply(keys, [orjson.dumps(meta), b"".join(s.record for s in steps)])
        return [as_text(reply) for reply in replies]

    async def claim(
        self, now: int, lease_ms: int, limit: int, rebuild: Rebuild | None = None
    ) -> list[Trigger]:
        """Take up to ``limit`` due triggers for ``lease_ms``. A member with no stored record
        is either cancelled meanwhile (tidied away) or a lazy kind, which ``rebuild`` makes
        from ``(slot, user, due)`` and which is stored from then on."""
        lease_until = now + lease_ms
        flat = await self._claim_due(now, lease_until, limit)
        if not flat:
            return []
        parsed = [(*parse_due_member(as_text(m)), int(float(d))) for m, d in pairs(flat)]
        pipe = self.redis.pipeline(transaction=False)
        for slot, user_id, _ in parsed:
            pipe.hget(self.keys.pending(user_id), slot)
        records = await pipe.execute()
        out: list[Trigger] = []
        orphans, built = [], []
        for (slot, user_id, due), record in zip(parsed, records, strict=True):
            if record is not None:
                out.append(Trigger.decode(record))
                continue
            t = rebuild(slot, user_id, due) if rebuild is not None else None
            if t is None:  # cancelled between the index and the hash: tidy the index
                orphans.append(due_member(slot, user_id))
            else:
                built.append(t)
        if orphans:
            await self._tidy(orphans, lease_until)
        if built:  # HSETNX: a record written meanwhile (a deferral, a new schedule) wins
            pipe = self.redis.pipeline(transaction=False)
            for t in built:
                pipe.hsetnx(self.keys.pending(t.user_id), t.slot, t.encode())
            stored = await pipe.execute()
            out.extend(t for t, ok in zip(built, stored, strict=True) if ok)
        if self._cluster is not None:
            self._cluster.claimed(now, lease_until, [due_member(t.slot, t.user_id) for t in out])
        return out

    async def _claim_due(self, now: int, lease_until: int, limit: int) -> list[Any]:
        """CLAIM on the due index. On a cluster, whose index is sharded, the ``limit`` earliest
        due members over all shards, as one key would give them: a look at each shard's
        earliest first, then one CLAIM per shard holding some of them, up to the last one's
        due (pipelined: two round trips)."""
        if self._cluster is None:
            return list(await self._claim([self.due], [now, lease_until, limit]))
        pipe = self.redis.pipeline(transaction=False)
        for key in self.due_keys:
            pipe.zrangebyscore(key, "-inf", now, start=0, num=limit, withscores=True)
        heads = [
            (float(score), member, shard)
            for shard, rows in enumerate(await pipe.execute())
            for member, score in rows
        ]
        first = sorted(heads)[:limit]  # by due, then member: a sorted set's own order
        if not first:
            return []
        upto = int(first[-1][0])
        taken = Counter(shard for _, _, shard in first)
        calls: list[Call] = [
            (self._claim, [self.due_keys[shard]], [upto, lease_until, n])
            for shard, n in taken.items()
        ]
        got = [pair for reply in await run_scripts(self.redis, calls) for pair in pairs(reply)]
        got.sort(key=lambda pair: (float(pair[1]), pair[0]))  # in due order, as from one key
        return [item for pair in got for item in pair]

    async def _tidy(self, orphans: Sequence[str], lease_until: int) -> None:
        """Drop due members with no record (cancelled meanwhile, or a cluster write cut short
        between its index and its user script). On a cluster only while they still hold this
        claim's lease: a schedule made since (index first, record next) must stand."""
        if self._cluster is None:
            await self.redis.zrem(self.due, *orphans)
        else:
            await self._cluster.settle([(m, "", (str(lease_until),)) for m in orphans])

    async def reserve_many(
        self, asks: Sequence[tuple[Trigger, str, int, Limits]]
    ) -> list[Reservation]:
        """Reserve ``(trigger, channel, now, limits)`` each, in one round trip (each atomic)."""
        replies = await run_scripts(self.redis, [self._reserve_call(*ask) for ask in asks])
        return [Reservation(as_text(r[0]), int(r[1]) if len(r) > 1 else 0) for r in replies]

    def _reserve_call(self, t: Trigger, channel: str, now: int, limits: Limits) -> Call:
        k, uid = self.keys, t.user_id
        caps = [-1 if cap is None else cap for cap in (limits.cap_day, limits.cap_week)]
        args: list[Any] = [t.slot, t.trigger_id, channel, now, limits.day_start, limits.week_start]
        args += caps
        args += [limits.min_gap_ms, limits.forget_before, sent_record(t, channel, now).encode()]
        args += [limits.dedupe_ms, t.arm[0] if t.arm else ""]
        return self._reserve, [k.pending(uid), k.sent(uid), k.experiment(uid)], args

    async def finish_many(self, items: Sequence[tuple[Trigger, bool]]) -> list[bool]:
        """Finish each trigger in one round trip (two on a cluster): ``(t, True)`` moves ``t``
        to its (new) due time, ``(t, False)`` removes it (sent, suppressed, expired). False where
        the pending trigger is no longer this one (replaced or cancelled meanwhile): it is left
        alone."""
        if self._cluster is not None:
            return await self._cluster.finish(items)
        replies = await run_scripts(self.redis, [self._finish_call(*item) for item in items])
        return [bool(r) for r in replies]

    def _finish_call(self, t: Trigger, defer: bool) -> Call:
        member = due_member(t.slot, t.user_id)
        args: list[Any] = [t.slot, t.trigger_id, member, "defer" if defer else "done"]
        args += [t.due_at, t.encode()] if defer else [0, ""]
        return self._finish, [self.keys.pending(t.user_id), self.due], args

    async def backlog(self, now: int, overdue_ms: int) -> tuple[int, int]:
        """Pending triggers, and of them those due longer than ``overdue_ms`` ago."""
        pipe = self.redis.pipeline(transaction=False)
        for key in self.due_keys:
            pipe.zcard(key)
            pipe.zcount(key, "-inf", now - overdue_ms)
        counts = await pipe.execute()
        return sum(map(int, counts[::2])), sum(map(int, counts[1::2]))

    async def next_due(self) -> int | None:
        pipe = self.redis.pipeline(transaction=False)
        for key in self.due_keys:
            pipe.zrange(key, 0, 0, withscores=True)
        firsts = [int(first[0][1]) for first in await pipe.execute() if first]
        return min(firsts, default=None)

    async def pending(self, user_id: str) -> dict[str, Trigger]:
        raw = await self.redis.hgetall(self.keys.pending(user_id))
        return {as_text(slot): Trigger.decode(record) for slot, record in raw.items()}


def as_text(value: bytes | str) -> str:
    """A Redis reply item as text."""
    return value.decode() if isinstance(value, bytes) else str(value)
