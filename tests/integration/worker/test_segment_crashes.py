"""Segment transitions through crashes, against a real broker and Redis: a worker dying between
the profile write and the publication of its transitions, and a worker SIGKILLed over and over
mid-stream. Each transition appears once (by ``change_id``); none is lost."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiokafka import AIOKafkaConsumer
from redis.asyncio import Redis

from profiles.model import ProfileModel
from profiles.rules.engine import RulesEngine
from streams.connect.clients import kafka_options
from streams.names import TOPIC_EVENTS
from streams.pipeline.batch import DeadLetter
from streams.pipeline.changes import ChangePublisher
from streams.pipeline.processor import BatchProcessor
from streams.pipeline.retry import Backoff, wall_clock_ms
from streams.pipeline.rules_hook import RulesHook
from streams.settings.tree import Settings
from streams.store.profiles import ProfileStore
from streams.store.segments import Outboxed, SegmentStore
from tests.integration.helpers import applied_total, produce, running_worker, wait_until
from tests.integration.processes import WorkerProcess
from tests.integration.worker.test_segments import RULES, Changes, buy, members, with_rules

pytestmark = pytest.mark.integration


class Crash(BaseException):
    """The process dies here (nothing after it runs)."""


class DiesOnSend:
    async def send_many(self, messages: Sequence[Outboxed]) -> None:
        raise Crash


class Letters:
    async def send_many(self, letters: Sequence[DeadLetter]) -> None:
        raise AssertionError(f"no event of this test is malformed: {letters[:1]}")


async def consumed(settings: Settings, n: int) -> dict[Any, list[Any]]:
    """The events topic as the worker's consumer reads it: real records, real offsets."""
    consumer = AIOKafkaConsumer(
        settings.topic(TOPIC_EVENTS), **kafka_options(settings), auto_offset_reset="earliest"
    )
    await consumer.start()
    batch: dict[Any, list[Any]] = {}
    try:
        async with asyncio.timeout(30):
            while sum(map(len, batch.values())) < n:
                for tp, records in (await consumer.getmany(timeout_ms=200)).items():
                    batch.setdefault(tp, []).extend(records)
    finally:
        await consumer.stop()
    return batch


async def test_a_crash_between_the_write_and_the_publication_loses_no_transition(
    settings: Settings, namespace: str, tmp_path: Path
) -> None:
    settings = with_rules(settings, tmp_path / "rules.yaml", RULES)
    now = int(time.time() * 1000)
    users = [f"{namespace}u{i}" for i in range(12)]
    events = [buy(u, now - 5_000 + n, n) for u in users for n in (1, 2)]
    await produce(settings, events)
    redis = Redis.from_url(settings.redis_url)
    try:
        model, prefix = ProfileModel(), settings.topics.prefix
        dying = BatchProcessor(
            model,
            ProfileStore(redis, prefix),
            Letters(),
            wall_clock_ms,
            backoff=Backoff(0.01, 0.1),
            should_stop=lambda: False,
            rules=RulesHook(RulesEngine(model, settings.rules)),
            changes=ChangePublisher(SegmentStore(redis, prefix), DiesOnSend()),
        )
        with pytest.raises(Crash):  # written, then dead before publishing (and committing)
            await dying.process(await consumed(settings, len(events)))
    finally:
        await redis.aclose()
    assert await members(settings, "repeat_buyers") == set(users)  # the write landed
    # the next owner re-reads the uncommitted events (the fence skips them all) and publishes
    # what the dead worker's outbox holds
    async with running_worker(settings), Changes(settings) as seen:
        await seen.until(
            lambda _: all(seen.of(u, "repeat_buyers") for u in users), "every user's entry"
        )
        await asyncio.sleep(1.5)  # a repeat would show up now
    entries = [m for m in seen.seen if m.get("segment") == "repeat_buyers"]
    assert sorted(m["user_id"] for m in entries) == sorted(users)
    assert len({m["change_id"] for m in seen.seen}) == len(seen.seen)


async def test_sigkill_over_and_over_publishes_each_transition_once(
    settings: Settings, namespace: str, tmp_path: Path
) -> None:
    now = int(time.time() * 1000)
    users = [f"{namespace}u{i}" for i in range(400)]
    # monotone rules (counts only grow): each user enters once, whatever the batching
    events = [buy(u, now - 60_000 + n, n, amount=30.0) for n in range(1, 6) for u in users]
    worker = WorkerProcess(settings, tmp_path, extra={"rules": yaml.safe_load(RULES)})
    worker.start()
    producing = asyncio.ensure_future(produce(settings, events))
    kills = 0
    try:
        for threshold in (400, 1_000, 1_600):

            async def past(threshold: int = threshold) -> bool:
                return await applied_total(settings, users) >= threshold

            await wait_until(past, within=120, what=f"{threshold} events applied")
            worker.kill()
            kills += 1
            worker.start()
        await producing

        async def complete() -> bool:
            return await applied_total(settings, users) >= len(events)

        await wait_until(complete, within=180, what="all events applied after restarts")
        async with Changes(settings) as seen:

            def done(_: object) -> bool:
                return all(seen.of(u, "repeat_buyers") and seen.of(u, "big_spender") for u in users)

            await seen.until(done, "every transition published")
            await asyncio.sleep(2.0)
            await seen.until(done, "late repeats, if any")
    finally:
        worker.stop()
    assert kills == 3
    # one entry per user; one change_id per distinct transition (a repeat has the same id)
    entered = Counter(m["user_id"] for m in seen.seen if m.get("segment") == "repeat_buyers")
    assert entered == Counter(dict.fromkeys(users, 1)) or _repeats_share_ids(seen.seen)
    by_id: dict[str, tuple[Any, ...]] = {}
    for m in seen.seen:
        what = (m["user_id"], m.get("segment") or m["tag"], m["change"], m.get("to"), m["at_ms"])
        assert by_id.setdefault(m["change_id"], what) == what
    distinct = Counter(
        (u, name, change) for u, name, change, *_ in set(by_id.values()) if name == "repeat_buyers"
    )
    assert distinct == Counter({(u, "repeat_buyers", "entered"): 1 for u in users})
    assert await members(settings, "repeat_buyers") == set(users)
    assert await members(settings, "lapsed") == set()
    final = {m["user_id"]: m["to"] for m in seen.seen if m.get("tag") == "big_spender"}
    assert final == dict.fromkeys(users, True)  # 5 x 30 >= 100 in the end


def _repeats_share_ids(messages: list[dict[str, Any]]) -> bool:
    """A message published twice (a kill between the send and the outbox delete) is the same
    message: same change_id. Consumers drop it; here it must not be a second transition."""
    ids = Counter(m["change_id"] for m in messages if m.get("segment") == "repeat_buyers")
    users = {m["user_id"] for m in messages if m.get("segment") == "repeat_buyers"}
    return len(ids) == len(users)


async def test_two_owners_through_rebalances_publish_each_transition_once(
    settings: Settings, namespace: str, tmp_path: Path
) -> None:
    """A second worker joins mid-stream, then the first leaves: partitions move twice while
    users cross the rules' thresholds; each transition still appears once by change_id."""
    now = int(time.time() * 1000)
    users = [f"{namespace}u{i}" for i in range(300)]
    events = [buy(u, now - 60_000 + n, n, amount=30.0) for n in range(1, 6) for u in users]
    rules = {"rules": yaml.safe_load(RULES)}
    first = WorkerProcess(settings, tmp_path, extra=rules, name="a")
    second = WorkerProcess(settings, tmp_path, extra=rules, name="b")
    first.start()
    try:
        await produce(settings, events[:600])

        async def past(n: int) -> bool:
            return await applied_total(settings, users) >= n

        await wait_until(lambda: past(300), within=120, what="the first owner at work")
        second.start()  # a rebalance while the stream runs
        await produce(settings, events[600:1200])
        await wait_until(lambda: past(900), within=120, what="two owners at work")
        first.stop()  # and another: the second owner takes every partition
        await produce(settings, events[1200:])
        await wait_until(lambda: past(len(events)), within=180, what="every event applied")
        async with Changes(settings) as seen:

            def done(_: object) -> bool:
                return all(seen.of(u, "repeat_buyers") for u in users)

            await seen.until(done, "every entry published")
            await asyncio.sleep(2.0)
            await seen.until(done, "late repeats, if any")
    finally:
        first.stop()
        second.stop()
    by_id: dict[str, tuple[Any, ...]] = {}
    for m in seen.seen:
        what = (m["user_id"], m.get("segment") or m["tag"], m["change"], m.get("to"), m["at_ms"])
        assert by_id.setdefault(m["change_id"], what) == what
    entries = Counter(u for u, name, change, *_ in by_id.values() if name == "repeat_buyers")
    assert entries == Counter(dict.fromkeys(users, 1))
    assert await members(settings, "repeat_buyers") == set(users)
