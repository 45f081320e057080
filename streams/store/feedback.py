"""Redis side of feedback and recall: per-user counts, dedupe, recall records, the recall index.

Keys (streams/names.py ``Keys``, each under the deployment's namespace):

- ``sent(uid)`` the scheduler's sent records (read here: kind, channel, sent time)
- ``feedback_seen(uid)`` hash ``"<trigger_id>|<status>" -> at``: feedback seen (dedupe)
- ``sensitivity(uid)`` hash of sensitivity counts (triggers/sensitivity.py)
- ``recall(uid)`` hash of recall records (streams/store/feedback_lua.py)
- ``recall_index`` sorted set: user id -> latest deadline of a pending recall
- ``recall_ledger`` sorted set: ``<trigger_id>|<user id>`` -> send time of every recall message
  (the recall report's list, docs/recall.md), trimmed after ``RecallConfig.retention_ms``

On Redis Cluster both sorted sets are sharded as the trigger due index is (streams/names.py
``sharded``): 16 keys each (``trecall:{n}``, ``trl:{n}``), a user's entries in the one its id
hashes to, so that every feedback batch's index and ledger writes spread over the primaries
instead of loading one. Writes name the user's shard; whole-index reads and trims go through
every shard in one pipeline (the cluster client sends it per node, in parallel). A single Redis
keeps the one key of each, and every call is as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from streams.names import Keys, sharded, shards
from streams.store import feedback_lua
from streams.store.scripts import run_scripts
from streams.store.triggers import as_text
from triggers.config import DAY_MS, RecallConfig
from triggers.feedback import Feedback, Sent
from triggers.sensitivity import parse_counts

SENSITIVITY_TTL_MS: Final = 365 * DAY_MS  # refreshed by every count: a silent user's go after


@dataclass(frozen=True, slots=True)
class Counted:
    """The outcome of one feedback message."""

    feedback: Feedback
    new: bool  # False: this (trigger_id, status) was counted before
    kind: str  # "unknown" when no sent record names the trigger
    channel: str
    experiment: str = ""  # the sent trigger's experiment ('' none)
    arm: str = ""  # the user's arm in it
    listed: bool = False  # this feedback put its recall message in the ledger (the first time)


@dataclass(frozen=True, slots=True)
class Registered:
    """What one registration of sent messages did."""

    pending: int  # users with a recall now watched
    listed: list[tuple[str, str]]  # (kind, channel) of each recall message new to the ledger


class FeedbackStore:
    def __init__(
        self,
        redis: Redis,
        namespace: str,
        *,
        recall_window_ms: int,
        seen_ttl_ms: int,
        sensitivity_ttl_ms: int = SENSITIVITY_TTL_MS,
        recall: RecallConfig | None = None,
    ) -> None:
        self.redis = redis
        self.keys = Keys(namespace)
        self.cluster = isinstance(redis, RedisCluster)  # the index and ledger are sharded
        self.index_keys = shards(self.keys.recall_index, self.cluster)
        self.ledger_keys = shards(self.keys.recall_ledger, self.cluster)
        self.window = recall_window_ms
        self.seen_ttl = seen_ttl_ms
        self.sensitivity_ttl = sensitivity_ttl_ms
        self.recall = recall or RecallConfig()
        # a late delivery still finds the record, and the report reads it for the retention
        self.recall_ttl = max(recall_window_ms + 7 * DAY_MS, self.recall.retention_ms)
        self._recall_kinds = "," + ",".join(sorted(self.recall.kinds)) + ","
        self._scripts = {
            script: redis.register_script(script)
            for script in (feedback_lua.FEEDBACK, feedback_lua.REGISTER, feedback_lua.RETURNED)
        }

    async def _run(self, calls: Sequence[tuple[str, list[str], list[Any]]]) -> list[Any]:
        """Run each call's script in one pipeline (streams/store/scripts.py)."""
        return await run_scripts(self.redis, [(self._scripts[s], k, a) for s, k, a in calls])

    async def count(self, items: Sequence[Feedback]) -> list[Counted]:
        """Count each feedback once, attribute it to its sent trigger, register win-backs'
        recall windows on delivery (and index them)."""
        if not items:
            return []
        calls = [(feedback_lua.FEEDBACK, *self._feedback_call(f)) for f in items]
        replies = await self._run(calls)
        out: list[Counted] = []
        deadlines: dict[str, int] = {}
        ledger: dict[str, tuple[int, int]] = {}  # member -> (send time, first item's index)
        for f, (outcome, kind, channel, deadline, experiment, arm, sent) in zip(
            items, replies, strict=True
        ):
            out.append(
                Counted(f, as_text(outcome) == "new", as_text(kind), as_text(channel),
                        as_text(experiment), as_text(arm))
            )  # fmt: skip
            if int(deadline):
                deadlines[f.user_id] = max(int(deadline), deadlines.get(f.user_id, 0))
            if int(sent):
                ledger.setdefault(ledger_member(f.trigger_id, f.user_id), (int(sent), len(out) - 1))
        listed = await self._index(deadlines, {m: sent for m, (sent, _) in ledger.items()})
        for member in listed:
            i = ledger[member][1]
            out[i] = replace(out[i], listed=True)
        return out

    def _feedback_call(self, f: Feedback) -> tuple[list[str], list[Any]]:
        u, k = f.user_id, self.keys
        keys = [k.sent(u), k.feedback_seen(u), k.sensitivity(u), k.recall(u), k.experiment(u)]
        args = [f.trigger_id, f.status, f.at, f.channel or "", f.offer or "", self.seen_ttl]
        args += [self.sensitivity_ttl, self.window, self.recall_ttl, self._recall_kinds]
        return keys, args

    async def register(self, sent: Sequence[Sent]) -> Registered:
        """Watch the users of sent recall messages (``RecallConfig.watches``) from their send
        time and list the messages in the ledger."""
        wins = [s for s in sent if self.recall.watches(s.kind, s.campaign_id)]
        if not wins:
            return Registered(0, [])
        calls = [
            (
                feedback_lua.REGISTER,
                [self.keys.recall(s.user_id), self.keys.feedback_seen(s.user_id)],
                [
                    s.trigger_id,
                    s.kind,
                    s.channel,
                    s.sent_at,
                    self.window,
                    self.recall_ttl,
                    s.campaign_id or "",
                ],
            )
            for s in wins
        ]
        deadlines: dict[str, int] = {}
        for s, deadline in zip(wins, await self._run(calls), strict=True):
            if int(deadline):
                deadlines[s.user_id] = max(int(deadline), deadlines.get(s.user_id, 0))
        by_member = {ledger_member(s.trigger_id, s.user_id): s for s in wins}
        listed = await self._index(deadlines, {m: s.sent_at for m, s in by_member.items()})
        return Registered(
            len(deadlines), [(by_member[m].kind, by_member[m].channel) for m in listed]
        )

    async def _index(self, deadlines: dict[str, int], ledger: dict[str, int]) -> list[str]:
        """The shared keys, written after the users' own (idempotent: redone after a crash);
        returns the ledger members that were not there yet. Each deadline goes to its user's
        shard of the index (one ``ZADD GT`` per shard named), each ledger member to its user's
        shard of the ledger; one pipeline in all (on a cluster, one round trip per node)."""
        if not (deadlines or ledger):
            return []
        pipe = self.redis.pipeline(transaction=False)
        by_shard = self._index_shards(deadlines)
        for key, part in by_shard.items():
            pipe.zadd(key, part, gt=True)
        members = list(ledger)
        for member in members:  # one ZADD each: its reply says whether the member is new
            pipe.zadd(self._ledger_key(member), {member: ledger[member]}, nx=True)
        added = (await pipe.execute())[len(by_shard) :]
        return [m for m, n in zip(members, added, strict=True) if int(n)]

    def _index_shards(self, deadlines: dict[str, int]) -> dict[str, dict[str, int]]:
        """``deadlines`` by the index key holding each user (one key on a single Redis)."""
        out: dict[str, dict[str, int]] = {}
        for user_id, deadline in deadlines.items():
            key = sharded(self.keys.recall_index, user_id, self.cluster)
            out.setdefault(key, {})[user_id] = deadline
        return out

    def _ledger_key(self, member: str) -> str:
        """The ledger key of a member: its user's shard on a cluster."""
        return sharded(self.keys.recall_ledger, parse_ledger_member(member)[1], self.cluster)

    async def returned(
        self, visits: Sequence[tuple[str, int]]
    ) -> list[tuple[str, int, list[tuple[str, str]]]]:
        """For each (user, event ts): pending recalls left and the (kind, channel) recalled."""
        if not visits:
            return []
        calls = [
            (
                feedback_lua.RETURNED,
                [self.keys.recall(u), self.keys.sensitivity(u)],
                [ts, self.sensitivity_ttl],
            )
            for u, ts in visits
        ]
        out = []
        for (user, _), reply in zip(visits, await self._run(calls), strict=True):
            pairs = [(as_text(reply[i]), as_text(reply[i + 1])) for i in range(1, len(reply), 2)]
            out.append((user, int(reply[0]), pairs))
        return out

    async def deadlines_after(self, low_ms: int) -> dict[str, int]:
        """Every indexed user whose latest deadline is after ``low_ms``, with it: each shard's
        part in one pipeline (a user is in one shard only, so the parts do not overlap)."""
        pipe = self.redis.pipeline(transaction=False)
        for key in self.index_keys:
            pipe.zrangebyscore(key, f"({low_ms}", "+inf", withscores=True)
        return {as_text(user): int(score) for rows in await pipe.execute() for user, score in rows}

    async def forget_expired(self, before_ms: int) -> int:
        """Drop users whose every recall window ended before ``before_ms`` from the index (every
        shard of it, in one pipeline)."""
        return await self._trim(self.index_keys, "-inf", before_ms)

    async def trim_ledger(self, now_ms: int) -> int:
        """Drop the ledger's messages sent longer than the retention ago (their records expire),
        in every shard, in one pipeline."""
        before = now_ms - self.recall.retention_ms
        return await self._trim(self.ledger_keys, "-inf", f"({before}")

    async def _trim(self, keys: list[str], low: int | str, high: int | str) -> int:
        """``ZREMRANGEBYSCORE`` on each of ``keys`` in one pipeline: the members removed."""
        pipe = self.redis.pipeline(transaction=False)
        for key in keys:
            pipe.zremrangebyscore(key, low, high)
        return sum(int(n) for n in await pipe.execute())


def ledger_member(trigger_id: str, user_id: str) -> str:
    """A recall message in the ledger (trigger ids hold no ``|``: triggers/feedback.py)."""
    return f"{trigger_id}|{user_id}"


def parse_ledger_member(member: str) -> tuple[str, str]:
    """(trigger id, user id) of a ledger member."""
    trigger_id, _, user_id = member.partition("|")
    return trigger_id, user_id


async def forget_recall_ledger(redis: Redis, keys: Keys, user_id: str) -> int:
    """Remove the user's recall messages from the ledger (erasure: before the records go). On
    Redis Cluster they are all in the user's shard of the ledger (``sharded``), the key the
    feedback store wrote them to; one Redis has the one key."""
    trigger_ids = [as_text(t) for t in await redis.hkeys(keys.recall(user_id))]
    if not trigger_ids:
        return 0
    members = [ledger_member(t, user_id) for t in trigger_ids]
    ledger = sharded(keys.recall_ledger, user_id, isinstance(redis, RedisCluster))
    return int(await redis.zrem(ledger, *members))


async def load_sensitivity(redis: Redis, keys: Keys, user_id: str) -> dict[str, int]:
    """A user's feedback counts (triggers/sensitivity.py reads them)."""
    return parse_counts(await redis.hgetall(keys.sensitivity(user_id)))
