"""What the store holds about one user, read whole (the right of access) or erased whole.

Erase is one Lua call (after a first one that takes the user off the ledgers of the experiments
it was in, with its arms): the user's own keys (profile, pending triggers, sent history, feedback
counts and dedupe, recall watch) go, the user leaves the shared indexes (trigger due index,
recall index, the rules' due index of the user's partition, every segment it was a member of,
each exit written to that partition's ``profile.changes`` outbox), and the privacy marker records
the erasure as *pending* until the worker reaches the erase event (streams/pipeline/erasure.py).

On Redis Cluster, where no call may span slots, the same end state is reached in steps that are
each safe to repeat (streams/store/privacy_cluster.py): the user's due members, one script on
the user's slot (the marker first, then the keys), then the shared indexes and segments, each
exit sent before the user leaves the member set. The experiments' ledgers and the recall ledger
are left as here, first (streams/store/experiments.py, feedback.py). There each segment's member
set is sharded by the user id (streams/names.py ``sharded``): the steps and :meth:`read` name the
user's shard.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from streams.names import Keys, sharded
from streams.store.experiments import ExperimentStore
from streams.store.feedback import forget_recall_ledger
from streams.store.privacy_cluster import ClusterErase, Erasure, Progress
from streams.store.triggers import as_text
from triggers.config import KINDS

# KEYS[1..6]: the user's profile, pending triggers, sent, sensitivity, feedback seen, recall;
# KEYS[7]: the privacy marker; KEYS[8..10]: trigger due index, recall index, the rules' due
# index of the user's partition; KEYS[11]: that partition's changes outbox; KEYS[12..]: member
# sets of segments the user may be in. ARGV: user id, erase id, now ms, suppress (1/0), the
# trigger kinds as JSON (a lazy kind is due without a pending record), then one profile.changes
# message per member set (published only where the user was a member).
# Returns {triggers cancelled, keys deleted, segments exited (names)}.
ERASE = """
local user = ARGV[1]
local cancelled = 0
for _, slot in ipairs(redis.call('HKEYS', KEYS[2])) do
  cancelled = cancelled + redis.call('ZREM', KEYS[8], slot .. '\\031' .. user)
end
for _, kind in ipairs(cjson.decode(ARGV[5])) do
  cancelled = cancelled + redis.call('ZREM', KEYS[8], kind .. '\\031' .. user)
end
redis.call('ZREM', KEYS[9], user)
redis.call('ZREM', KEYS[10], user)
local exited = {}
for i = 12, #KEYS do
  if redis.call('SREM', KEYS[i], user) == 1 then
    redis.call('XADD', KEYS[11], '*', 'm', ARGV[i - 6])
    exited[#exited + 1] = i - 11
  end
end
local deleted = redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])
redis.call('HSET', KEYS[7], 'pending', ARGV[2], 'erased_at', ARGV[3])
if ARGV[4] == '1' then redis.call('HSET', KEYS[7], 'suppressed', ARGV[3]) end
redis.call('PERSIST', KEYS[7])
return {cancelled, deleted, exited}
"""


# KEYS[1]: the user's privacy marker. ARGV[1]: the tombstone's lifetime in ms. Lifts the
# suppression: the marker is then an ordinary erasure's tombstone (its fence kept, expiring after
# ARGV[1]; while an erasure is still pending, the worker's write that completes it sets that).
# Returns 1, or 0 when the user was not suppressed.
UNSUPPRESS = """
if redis.call('HDEL', KEYS[1], 'suppressed') == 0 then return 0 end
if redis.call('HEXISTS', KEYS[1], 'pending') == 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return 1
"""


@dataclass(frozen=True, slots=True)
class Erased:
    triggers_cancelled: int
    keys_deleted: int
    segments_exited: list[str]


@dataclass(frozen=True, slots=True)
class Stored:
    """Everything the store holds about one user, as Redis has it (decoded by the caller)."""

    profile: bytes | None
    pending: dict[str, bytes]
    sent: dict[str, str]
    sensitivity: dict[str, str]
    feedback_seen: dict[str, str]
    recall: dict[str, str]
    privacy: dict[str, str]
    segments: list[str]
    experiments: dict[str, str] = field(default_factory=dict)  # arms and their counts

    @property
    def empty(self) -> bool:
        return self.profile is None and not any(
            (self.pending, self.sent, self.sensitivity, self.feedback_seen, self.recall,
             self.experiments)
        )  # fmt: skip


class PrivacyStore:
    def __init__(self, redis: Redis, namespace: str) -> None:
        self.redis = redis
        self.keys = Keys(namespace)
        self.experiments = ExperimentStore(redis, namespace)
        self._erase = redis.register_script(ERASE)
        # one atomic call on a single Redis; steps each safe to repeat on a cluster
        self.split = ClusterErase(redis, self.keys) if isinstance(redis, RedisCluster) else None
        self._unsuppress = redis.register_script(UNSUPPRESS)

    def _own(self, user_id: str) -> list[str]:
        k = self.keys
        return [
            k.profile(user_id), k.pending(user_id), k.sent(user_id), k.sensitivity(user_id),
            k.feedback_seen(user_id), k.recall(user_id), k.privacy(user_id),
        ]  # fmt: skip

    async def erase(
        self,
        user_id: str,
        erase_id: str,
        now_ms: int,
        *,
        suppress: bool,
        home: int,
        exits: Sequence[tuple[str, bytes]],
    ) -> Erased:
        """Erase the user's data in one atomic call (on a cluster, in steps that end the same);
        ``exits`` are (segment, its exit message) for every segment the user may be in."""
        arms = await self.experiments.forget(user_id)  # first: its ledgers are named in it
        await forget_recall_ledger(self.redis, self.keys, user_id)  # first: records name them
        erasure = Erasure(user_id, erase_id, now_ms, suppress, home, exits)
        if self.split is not None:
            done = await self.split.run(self._own(user_id), erasure)
        else:
            done = await self._erase_atomic(erasure)
        return Erased(done.cancelled, done.deleted + arms, [exits[i][0] for i in done.exited])

    async def _erase_atomic(self, e: Erasure) -> Progress:
        """The one ERASE call, its reply as the cluster's steps give theirs."""
        k = self.keys
        keys = [*self._own(e.user_id), k.due, k.recall_index, k.rules_due(e.home)]
        keys += [k.changes_outbox(e.home), *(k.segment_members(name) for name, _ in e.exits)]
        args: list[Any] = [e.user_id, e.erase_id, e.now_ms, int(e.suppress), orjson.dumps(KINDS)]
        args += [m for _, m in e.exits]
        cancelled, deleted, exited = await self._erase(keys, args)
        return Progress(int(cancelled), int(deleted), [int(i) - 1 for i in exited])

    async def read(self, user_id: str, segments: Sequence[str]) -> Stored:
        """Every key of the user and its memberships among ``segments``, in one round trip."""
        k = self.keys
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(k.profile(user_id))
        for key in (
            k.pending, k.sent, k.sensitivity, k.feedback_seen, k.recall, k.privacy, k.experiment
        ):  # fmt: skip
            pipe.hgetall(key(user_id))
        cluster = self.split is not None  # each member set sharded: the user's shard
        for name in segments:
            pipe.sismember(sharded(k.segment_members(name), user_id, cluster), user_id)
        profile, pending, *hashes = await pipe.execute()
        member = hashes[6:]
        return Stored(
            profile=profile if isinstance(profile, bytes) and profile else None,
            pending={as_text(s): bytes(v) for s, v in pending.items()},
            sent=_text(hashes[0]),
            sensitivity=_text(hashes[1]),
            feedback_seen=_text(hashes[2]),
            recall=_text(hashes[3]),
            privacy=_text(hashes[4]),
            experiments=_text(hashes[5]),
            segments=[n for n, m in zip(segments, member, strict=True) if m],
        )

    async def marker(self, user_id: str) -> dict[str, str]:
        return _text(await self.redis.hgetall(self.keys.privacy(user_id)))

    async def unsuppress(self, user_id: str, tombstone_ms: int) -> bool:
        """Let the user's later events in again; False when they were not suppressed."""
        marker = self.keys.privacy(user_id)
        return bool(await self._unsuppress([marker], [max(1, tombstone_ms)]))

    async def audit(self, fields: dict[Any, Any], maxlen: int = 1_000_000) -> None:
        """One audited operation (who, when, what) on the privacy audit stream."""
        await self.redis.xadd(self.keys.privacy_audit, fields, maxlen=maxlen, approximate=True)


def _text(raw: dict[Any, Any]) -> dict[str, str]:
    return {as_text(k): as_text(v) for k, v in raw.items()}
