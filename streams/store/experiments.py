"""Experiment arms in Redis: each user's recorded arm (sticky) and the experiment's ledger.

A user's arm is recorded the first time a trigger of the experiment holds for them (their
exposure), in the user's hash ``portrait:tx:{uid}`` (field = experiment, value
:class:`triggers.experiment_outcome.Exposure`), and the user joins the experiment's ledger, a
sorted set ``portrait:tx:l:<experiment>`` of exposure times that the report walks. The record
wins over the hash on every later trigger: a change of weights or holdout moves new users only.
The per-user counts next to it (``<experiment>|sent:<channel>`` and ``<experiment>|<status>``)
are written by the scheduler's reservation and the feedback script, each in the same atomic
call as what it counts (streams/store/trigger_lua.py, feedback_lua.py).

On a single Redis the assignment and the erasure's :meth:`ExperimentStore.forget` are each one
atomic call. On Redis Cluster no call may span slots (docs/cluster.md, S13 and S14), and the
ledger is a shared key: there the script records the arm in the user's hash alone and returns
the recorded exposure, and the caller then adds the user to the ledger (``ZADD NX``, the
exposure time of the *recorded* arm) every time, not only when the arm is new, so that a retry
after a crash between the two still fills the ledger. ``forget`` takes the user off each ledger
as its own command and deletes the user's hash last, so a retry can still read the names.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from streams.names import Keys
from streams.store.scripts import Call, run_scripts
from streams.store.triggers import as_text
from triggers.experiment_outcome import Exposure, recorded_arms

# KEYS: the user's experiment hash, the experiment's ledger. ARGV: experiment, the exposure to
# record, user id. Returns {1 if recorded now else 0, the recorded exposure}.
ASSIGN: Final = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then return {0, cur} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local at = string.match(ARGV[2], '^[^|]*|(%d+)')
redis.call('ZADD', KEYS[2], 'NX', at, ARGV[3])
return {1, ARGV[2]}
"""

# Redis Cluster: ASSIGN on the user's slot alone. KEYS: the user's experiment hash. ARGV:
# experiment, the exposure to record. Returns {1 if recorded now else 0, the recorded exposure}.
ASSIGN_USER: Final = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then return {0, cur} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return {1, ARGV[2]}
"""

# KEYS: the user's experiment hash, then the ledgers of its experiments. ARGV: user id.
FORGET: Final = """
for i = 2, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
return redis.call('DEL', KEYS[1])
"""


@dataclass(slots=True)
class Member:
    """One user of an experiment as the report reads them."""

    user_id: str
    exposure: Exposure | None  # None: erased meanwhile
    counts: dict[str, int] = field(default_factory=dict)  # "sent:push", "delivered", ...


class ExperimentStore:
    def __init__(self, redis: Redis, namespace: str) -> None:
        self.redis = redis
        self.keys = Keys(namespace)
        self.cluster = isinstance(redis, RedisCluster)  # no call may span slots there
        self._assign = redis.register_script(ASSIGN_USER if self.cluster else ASSIGN)
        self._forget = redis.register_script(FORGET)

    async def assign_many(
        self, items: Sequence[tuple[str, str, Exposure]]
    ) -> list[tuple[Exposure, bool]]:
        """Record ``(user, experiment, exposure)`` each unless the user has an arm already;
        return the recorded exposure (the earlier one wins) and whether it is new."""
        if not items:
            return []
        if self.cluster:
            return await self._assign_split(items)
        calls: list[Call] = [
            (
                self._assign,
                [self.keys.experiment(user), self.keys.experiment_ledger(experiment)],
                [experiment, exposure.encode(), user],
            )
            for user, experiment, exposure in items
        ]
        return _recorded(await run_scripts(self.redis, calls))

    async def _assign_split(
        self, items: Sequence[tuple[str, str, Exposure]]
    ) -> list[tuple[Exposure, bool]]:
        """The cluster's assignment: the arms in one pipeline of single-slot scripts, then
        the ledgers in another (two round trips per batch, whatever its size)."""
        calls: list[Call] = [
            (self._assign, [self.keys.experiment(user)], [experiment, exposure.encode()])
            for user, experiment, exposure in items
        ]
        recorded = _recorded(await run_scripts(self.redis, calls))
        pipe = self.redis.pipeline(transaction=False)
        for (user, experiment, _), (exposure, _new) in zip(items, recorded, strict=True):
            # always, with the recorded arm's time: a retry after a crash between the two
            # steps finds the arm recorded (not new) and must still fill the ledger
            pipe.zadd(self.keys.experiment_ledger(experiment), {user: exposure.at}, nx=True)
        await pipe.execute()
        return recorded

    async def arms(self, user_id: str) -> dict[str, Exposure]:
        """The user's recorded arms by experiment."""
        raw = await self.redis.hgetall(self.keys.experiment(user_id))
        return recorded_arms({as_text(k): as_text(v) for k, v in raw.items()})

    async def forget(self, user_id: str) -> int:
        """Drop the user's arms and counts and take them off every ledger (an erasure)."""
        names = list(await self.arms(user_id))
        keys = [self.keys.experiment(user_id), *map(self.keys.experiment_ledger, names)]
        if not self.cluster:
            return int(await self._forget(keys, [user_id]))
        if names:  # each ledger alone (one slot each), in one round trip
            pipe = self.redis.pipeline(transaction=False)
            for ledger in keys[1:]:
                pipe.zrem(ledger, user_id)
            await pipe.execute()
        # last: until then a retry reads the experiments whose ledgers still name the user
        return int(await self.redis.delete(keys[0]))

    async def size(self, experiment: str) -> int:
        return int(await self.redis.zcard(self.keys.experiment_ledger(experiment)))

    async def members(self, experiment: str, chunk: int = 1000) -> AsyncIterator[list[Member]]:
        """The ledger in chunks of ``chunk`` users, oldest exposure first, with each user's
        record and counts (one round trip per chunk)."""
        ledger = self.keys.experiment_ledger(experiment)
        start = 0
        while True:
            page = await self.redis.zrange(ledger, start, start + chunk - 1)
            users = [as_text(u) for u in page]  # type: ignore[arg-type]
            if not users:
                return
            pipe = self.redis.pipeline(transaction=False)
            for user in users:
                pipe.hgetall(self.keys.experiment(user))
            rows = await pipe.execute()
            yield [_member(user, experiment, row) for user, row in zip(users, rows, strict=True)]
            start += len(users)


def _recorded(replies: Sequence[Any]) -> list[tuple[Exposure, bool]]:
    """Each assignment's recorded exposure and whether it is new (``{new, exposure}``)."""
    return [(Exposure.decode(as_text(r[1])), bool(int(r[0]))) for r in replies]


def _member(user: str, experiment: str, row: dict[bytes, bytes]) -> Member:
    member = Member(user, None)
    prefix = experiment + "|"
    for key, value in row.items():
        name = as_text(key)
        if name == experiment:
            member.exposure = Exposure.decode(as_text(value))
        elif name.startswith(prefix):
            member.counts[name[len(prefix) :]] = int(value)
    return member
