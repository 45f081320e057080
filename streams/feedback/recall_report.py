"""``portrait recall report``'s reading: the recall ledger walked in chunks (docs/recall.md).

The ledger (``Keys.recall_ledger``) lists every recall message by send time; each chunk of the
period's messages costs one round trip for their records (streams/store/feedback_lua.py). The
messages are grouped by user (memory: the period's messages, ~450 bytes each, bench/recall.py),
then the profiles of the recalled users whose follow-up has ended are read in chunks to judge
re-churn from their per-day counts (triggers/recall_report.py). A message whose record is gone
(erased user, record past its retention) is counted apart as ``missing``.

On Redis Cluster the ledger is 16 sorted sets (``trl:{n}``, a user's messages in the one its id
hashes to: streams/store/feedback.py). The report reads them as one: :class:`LedgerMerge` pages
every shard (one pipeline a chunk, the cluster client sending it per node in parallel) and
merges the pages by (send time, member), the order one key gives, so the chunks, the users'
message lists and their order, hence every figure, are those of a single Redis. It holds at
most two chunks per shard besides the grouped messages.
"""

from __future__ import annotations

import heapq
import logging
from collections import deque
from collections.abc import Callable, Mapping
from sys import intern
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from profiles.codec import decode
from profiles.timeutil import rfc3339
from streams.names import Keys, shards
from streams.store.feedback import parse_ledger_member
from streams.store.profiles import ProfileStore
from streams.store.triggers import as_text
from triggers.config import RecallConfig
from triggers.recall_report import (
    RecallMessage,
    RecallTally,
    follow_up_end,
    last_touch,
    lost_again,
)

log = logging.getLogger("portrait.recall")
Progress = Callable[[str, int, int], None]  # (phase, done, total)


class LedgerMerge:
    """The ledger's members with a send time in [low, high), ``chunk`` at a time, over every
    shard of the ledger (one key on a single Redis), in the order one key would give them.

    Each shard is read by ``ZRANGEBYSCORE ... LIMIT offset chunk`` up to its ``ZCOUNT`` taken at
    the start (as the single key was); before each chunk every shard holding fewer than
    ``chunk`` read members, and with more to read, is given a page, all in one pipeline, so that
    no shard can run dry within the chunk while it has members still unread. The chunk is then
    taken from the shards' heads, earliest (send time, member) first."""

    def __init__(self, redis: Redis, keys: list[str], low: int, high: str, chunk: int) -> None:
        self.redis, self.keys, self.low, self.high, self.chunk = redis, keys, low, high, chunk
        self.unread = [0] * len(keys)  # per shard: members left to read
        self.offset = [0] * len(keys)
        self.heads: list[deque[tuple[float, str]]] = [deque() for _ in keys]

    async def count(self) -> int:
        """The members in range over every shard (one ``ZCOUNT`` each, pipelined)."""
        pipe = self.redis.pipeline(transaction=False)
        for key in self.keys:
            pipe.zcount(key, self.low, self.high)
        self.unread = [int(n) for n in await pipe.execute()]
        return sum(self.unread)

    async def next_chunk(self) -> list[str]:
        """Up to ``chunk`` members, continuing the merged order ([] at the end)."""
        await self._fill()
        return self._take()

    async def _fill(self) -> None:
        """A page for every shard holding fewer than a chunk and with members unread."""
        asked = {
            i: min(self.chunk, self.unread[i])
            for i, head in enumerate(self.heads)
            if len(head) < self.chunk and self.unread[i]
        }
        if not asked:
            return
        pipe = self.redis.pipeline(transaction=False)
        for i, num in asked.items():
            pipe.zrangebyscore(
                self.keys[i], self.low, self.high, start=self.offset[i], num=num, withscores=True
            )
        for (i, num), rows in zip(asked.items(), await pipe.execute(), strict=True):
            self.offset[i] += len(rows)
            # a short page: the shard lost members since the count (a trim); it is read out
            self.unread[i] = self.unread[i] - num if len(rows) == num else 0
            self.heads[i].extend((float(score), as_text(member)) for member, score in rows)

    def _take(self) -> list[str]:
        heap = [(head[0], i) for i, head in enumerate(self.heads) if head]
        heapq.heapify(heap)
        out: list[str] = []
        while heap and len(out) < self.chunk:
            (_, member), i = heapq.heappop(heap)
            self.heads[i].popleft()
            out.append(member)
            if self.heads[i]:
                heapq.heappush(heap, (self.heads[i][0], i))
        return out


async def read_messages(
    redis: Redis,
    keys: Keys,
    since_ms: int,
    until_ms: int,
    progress: Progress | None = None,
    chunk: int = 1000,
) -> tuple[dict[str, list[RecallMessage]], int]:
    """The recall messages sent in [since, until), by user, and how many had no record (every
    shard of the ledger on a cluster, merged in send-time order: :class:`LedgerMerge`)."""
    ledger = shards(keys.recall_ledger, isinstance(redis, RedisCluster))
    pages = LedgerMerge(redis, ledger, since_ms, f"({until_ms}", chunk)
    total = await pages.count()
    by_user: dict[str, list[RecallMessage]] = {}
    missing, done = 0, 0
    while done < total:
        members = await pages.next_chunk()
        if not members:
            break
        missing += await _read_records(redis, keys, members, by_user)
        done += len(members)
        if progress is not None:
            progress("messages", done, total)
    return by_user, missing


async def _read_records(
    redis: Redis, keys: Keys, members: list[str], by_user: dict[str, list[RecallMessage]]
) -> int:
    """The records of a chunk of ledger members, in one round trip, added to ``by_user`` in
    the chunk's order; returns how many had none (or an unreadable one)."""
    pairs = [(t, intern(u)) for t, u in map(parse_ledger_member, members)]  # one id a user
    pipe = redis.pipeline(transaction=False)
    for trigger_id, user_id in pairs:
        pipe.hget(keys.recall(user_id), trigger_id)
    missing = 0
    for (trigger_id, user_id), raw in zip(pairs, await pipe.execute(), strict=True):
        if raw is None:  # the user was erased, or the record outlived its retention
            missing += 1
            continue
        try:
            message = RecallMessage.decode(trigger_id, user_id, as_text(raw))
        except ValueError:  # not a record: counted apart, the report goes on
            log.warning("recall record %s of %s is unreadable: %r", trigger_id, user_id, raw)
            missing += 1
            continue
        by_user.setdefault(user_id, []).append(message)
    return missing


async def judge(
    redis: Redis,
    namespace: str,
    by_user: Mapping[str, list[RecallMessage]],
    config: RecallConfig,
    as_of_ms: int,
    progress: Progress | None = None,
    chunk: int = 1000,
) -> dict[str, bool]:
    """Lost again or not, for each recalled user whose follow-up ended by ``as_of_ms`` (a
    profile that is gone or cannot be decoded is judged lost: it saw no event)."""
    due: dict[str, int] = {}
    for user_id, messages in by_user.items():
        touch = last_touch(messages)
        if touch is not None and follow_up_end(touch.recalled_ms, config) <= as_of_ms:
            due[user_id] = touch.recalled_ms
    profiles = ProfileStore(redis, namespace)
    users = list(due)
    out: dict[str, bool] = {}
    for start in range(0, len(users), chunk):
        part = users[start : start + chunk]
        blobs = await profiles.load_raw(part)
        for user_id in part:
            out[user_id] = _lost(user_id, blobs.get(user_id), due[user_id], config)
        if progress is not None:
            progress("profiles", start + len(part), len(users))
    return out


def _lost(user_id: str, blob: bytes | None, recalled_ms: int, config: RecallConfig) -> bool:
    if not blob:
        return True
    try:
        state = decode(blob)
    except Exception:  # one corrupt profile must not stop the report
        log.warning("cannot decode the profile of %s; judged lost again", user_id)
        return True
    return lost_again(state.events_on, recalled_ms, config)


async def read_recall_report(
    redis: Redis,
    namespace: str,
    config: RecallConfig,
    prices: Mapping[str, float],
    period: tuple[int, int],
    as_of_ms: int,
    progress: Progress | None = None,
    chunk: int = 1000,
) -> dict[str, Any]:
    """The recall report of the messages sent in ``period`` = [since, until) ms."""
    since_ms, until_ms = period
    by_user, missing = await read_messages(
        redis, Keys(namespace), since_ms, until_ms, progress, chunk
    )
    lost = await judge(redis, namespace, by_user, config, as_of_ms, progress, chunk)
    tally = RecallTally(prices)
    for user_id, messages in by_user.items():
        tally.add(messages, lost.get(user_id))
    report = tally.report()
    report.update(
        since=rfc3339(since_ms),
        until=rfc3339(until_ms),
        as_of=rfc3339(as_of_ms),
        missing=missing,
        follow_up_days=config.follow_up_ms // 86_400_000,
        lost_after_days=config.lost_after_ms // 86_400_000,
    )
    return report
