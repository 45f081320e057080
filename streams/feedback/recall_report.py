"""``portrait recall report``'s reading: the recall ledger walked in chunks (docs/recall.md).

The ledger (``Keys.recall_ledger``) lists every recall message by send time; each chunk of the
period's messages costs one round trip for their records (streams/store/feedback_lua.py). The
messages are grouped by user (memory: the period's messages, ~450 bytes each, bench/recall.py),
then the profiles of the recalled users whose follow-up has ended are read in chunks to judge
re-churn from their per-day counts (triggers/recall_report.py). A message whose record is gone
(erased user, record past its retention) is counted apart as ``missing``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from sys import intern
from typing import Any

from redis.asyncio import Redis

from profiles.codec import decode
from profiles.timeutil import rfc3339
from streams.names import Keys
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


async def read_messages(
    redis: Redis,
    keys: Keys,
    since_ms: int,
    until_ms: int,
    progress: Progress | None = None,
    chunk: int = 1000,
) -> tuple[dict[str, list[RecallMessage]], int]:
    """The recall messages sent in [since, until), by user, and how many had no record."""
    ledger = keys.recall_ledger
    low, high = since_ms, f"({until_ms}"
    total = int(await redis.zcount(ledger, low, high))
    by_user: dict[str, list[RecallMessage]] = {}
    missing, done = 0, 0
    while done < total:
        page = await redis.zrangebyscore(ledger, low, high, start=done, num=chunk)
        members = [as_text(m) for m in page]  # type: ignore[arg-type]
        if not members:
            break
        pairs = [(t, intern(u)) for t, u in map(parse_ledger_member, members)]  # one id a user
        pipe = redis.pipeline(transaction=False)
        for trigger_id, user_id in pairs:
            pipe.hget(keys.recall(user_id), trigger_id)
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
        done += len(members)
        if progress is not None:
            progress("messages", done, total)
    return by_user, missing


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
