"""GDPR erase and export end to end: a real broker, Redis, worker and scheduler.

An erased user's queued reminder is never sent and, once the tombstone has passed, no key of the
user is left; the worker forgets what it held (a later event starts a new, one-event profile);
a suppressed user's later events land in the DLQ; segment exits go out on profile.changes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from profiles.aggregators import TOTAL_SLOT
from streams.connect.clients import kafka_options, redis_client
from streams.names import TOPIC_DLQ, Keys
from streams.privacy.service import Privacy
from streams.settings.tree import Settings
from tests.conftest import with_worker
from tests.integration.app.test_cli import portrait, service_env
from tests.integration.helpers import (
    ev,
    load_states,
    metric,
    produce,
    read_topic,
    running_worker,
    wait_until,
)
from tests.integration.triggers.trigger_helpers import (
    Clock,
    at,
    clocked_scheduler,
    clocked_worker,
    read_messages,
    wait_pending,
    with_triggers,
)
from tests.integration.worker.test_segments import Changes, members, with_rules
from triggers.config import MINUTE_MS

NOON = at("2026-03-10T12:00:00")
MIN = MINUTE_MS
RULES = """
segments:
  - name: carted
    where: {cart_open_items: {">": 0}}
"""


@contextlib.asynccontextmanager
async def privacy(settings: Settings) -> AsyncIterator[Privacy]:
    redis = redis_client(settings)
    producer = AIOKafkaProducer(**kafka_options(settings), acks="all")
    await producer.start()
    try:
        yield Privacy(redis, settings, producer, CollectorRegistry())
    finally:
        await producer.stop()
        await redis.aclose()


async def keys_of(settings: Settings, user: str) -> list[str]:
    """Every key that names the user, and every shared index that still holds the user."""
    redis: Redis = redis_client(settings)
    k = Keys(settings.topics.prefix)
    try:
        found = [key.decode() async for key in redis.scan_iter(match=f"*{{{user}}}*")]
        if any(user in m.decode() for m in await redis.zrange(k.due, 0, -1)):
            found.append(k.due)
        if await redis.zscore(k.recall_index, user) is not None:
            found.append(k.recall_index)
        async for key in redis.scan_iter(match=k.segment_pattern()):
            if await redis.sismember(key, user):
                found.append(key.decode())
        return found
    finally:
        await redis.aclose()


async def erase_reached(settings: Settings, user: str) -> None:
    redis: Redis = redis_client(settings)
    key = Keys(settings.topics.prefix).privacy(user)

    async def reached() -> bool:
        return await redis.hget(key, "pending") is None

    try:
        await wait_until(reached, what="the worker reached the erase event")
    finally:
        await redis.aclose()


async def test_erased_user_gets_no_reminder_and_leaves_no_key(
    settings: Settings, namespace: str, tmp_path: Path
) -> None:
    settings = with_triggers(settings, {"policy": {"quiet_hours": None}})
    settings = with_rules(settings, tmp_path / "rules.yaml", RULES)
    settings = with_worker(settings, erase_tombstone_s=1.0)
    alice, bob = namespace + "alice", namespace + "bob"
    clock, registry = Clock(NOON), CollectorRegistry()
    carts = [ev("add_to_cart", u, NOON, item_id="i1", price=10.0) for u in (alice, bob)]
    async with Changes(settings) as changes:
        async with clocked_worker(settings, clock, registry):
            await produce(settings, carts)
            for user in (alice, bob):
                await wait_pending(settings, user, "cart_reminder")
            await wait_until(
                lambda: _is_member(settings, "carted", alice), what="alice entered carted"
            )
            async with privacy(settings) as service:
                export = await service.export(alice, NOON)
                erased = await service.erase(alice, suppress=False, actor="test")
            await erase_reached(settings, alice)
            await changes.until(  # the partition's owner publishes the outbox
                lambda seen: any(m.get("cause") == "erase" for m in seen), what="the exit"
            )
        assert export is not None and export["segments"] == ["carted"]
        assert [t["kind"] for t in export["triggers"]["pending"]] == ["cart_reminder"]
        assert export["profile"]["cart"][0]["item_id"] == "i1"
        assert (erased.found, erased.triggers_cancelled) == (True, 2)  # the reminder, the win-back
        assert erased.segments_exited == ["carted"]
        [exit_] = [m for m in changes.of(alice, "carted") if m["change"] == "exited"]
        assert exit_["cause"] == "erase"
    async with clocked_scheduler(settings, clock, registry) as scheduler:
        clock.now = NOON + 31 * MIN
        assert await scheduler.run_once() == 1  # bob's alone
    sent = await read_messages(settings, expect=1)
    assert [m["user_id"] for m in sent] == [bob]
    await asyncio.sleep(1.5)  # the tombstone's lifetime (erase_tombstone_s) passes
    assert await keys_of(settings, alice) == []
    assert await members(settings, "carted") == {bob}
    # the worker kept nothing either: a later event starts a profile of that one event
    async with running_worker(settings):
        await produce(settings, [ev("view", alice, NOON + 40 * MIN, item_id="i2")])

        async def rebuilt() -> bool:
            return alice in await load_states(settings, [alice])

        await wait_until(rebuilt, what="alice's new profile")
    state = (await load_states(settings, [alice]))[alice]
    assert state.cart == {} or not state.cart.get("items")
    assert state.recency.first == NOON + 40 * MIN


async def _is_member(settings: Settings, segment: str, user: str) -> bool:
    return user in await members(settings, segment)


async def test_suppressed_user_events_go_to_the_dlq(settings: Settings, namespace: str) -> None:
    carol = namespace + "carol"
    env = service_env(settings)
    async with running_worker(settings) as registry:
        await produce(settings, [ev("view", carol, NOON, item_id="i1")])
        await wait_until(lambda: _has_profile(settings, carol), what="carol's profile")
        export = portrait("profile", "export", carol, env=env)
        assert export.returncode == 0, export.stderr
        erase = portrait("profile", "erase", carol, "--suppress", env=env)
        assert erase.returncode == 0, erase.stderr
        await erase_reached(settings, carol)
        later = [ev("view", carol, NOON + i, item_id=f"i{i}") for i in range(1, 4)]
        await produce(settings, later)

        async def counted() -> bool:
            return metric(registry, "portrait_dlq_total", reason="suppressed") == 3

        await wait_until(counted, what="three suppressed events in the DLQ")
        assert metric(registry, "portrait_privacy_erasures_reached_total") == 1
    exported = orjson.loads(export.stdout)
    assert exported["profile"]["user_id"] == carol
    assert exported["stored_state"]["newest"] == NOON
    assert '"suppressed": true' in erase.stdout and carol in erase.stdout
    letters = await read_topic(settings, TOPIC_DLQ, 3)
    assert {h["portrait.dlq.reason"] for _, h in letters} == {b"suppressed"}
    assert await load_states(settings, [carol]) == {}
    assert await keys_of(settings, carol) == [Keys(settings.topics.prefix).privacy(carol)]
    after = portrait("profile", "export", carol, env=env)  # the suppression alone is kept
    assert after.returncode == 0, after.stderr
    assert '"profile": null' in after.stdout and '"suppressed"' in after.stdout
    gone = portrait("profile", "export", namespace + "nobody", env=env)
    assert gone.returncode == 1 and "nothing is stored" in gone.stderr


async def test_an_unsuppressed_user_starts_again_from_nothing(
    settings: Settings, namespace: str
) -> None:
    """Consent given back: after `portrait profile unsuppress`, the user's later events build a
    new profile (the ones sent while suppressed stay in the DLQ); the marker becomes an ordinary
    tombstone that expires; the operation is audited; a second one is a one-line exit 1."""
    erin = namespace + "erin"
    env = service_env(settings)
    ns = settings.topics.prefix
    async with running_worker(settings) as registry:
        await produce(settings, [ev("view", erin, NOON, item_id="i1")])
        await wait_until(lambda: _has_profile(settings, erin), what="erin's profile")
        erase = portrait("profile", "erase", erin, "--suppress", env=env)
        assert erase.returncode == 0, erase.stderr
        await erase_reached(settings, erin)
        await produce(settings, [ev("view", erin, NOON + 1, item_id="i2")])

        async def refused() -> bool:
            return metric(registry, "portrait_dlq_total", reason="suppressed") == 1

        await wait_until(refused, what="the suppressed event in the DLQ")
        lifted = portrait("profile", "unsuppress", erin, env=env)
        assert lifted.returncode == 0, lifted.stderr
        await produce(settings, [ev("view", erin, NOON + 2, item_id="i3")])
        await wait_until(lambda: _has_profile(settings, erin), what="erin's new profile")
        assert metric(registry, "portrait_dlq_total", reason="suppressed") == 1
    state = (await load_states(settings, [erin]))[erin]
    assert state.newest == NOON + 2, "a new profile: nothing from before the erasure"
    assert orjson.loads(lifted.stdout)["user_id"] == erin
    async with contextlib.AsyncExitStack() as stack:
        redis = redis_client(settings)
        stack.push_async_callback(redis.aclose)
        marker = await redis.hgetall(Keys(ns).privacy(erin))
        assert b"suppressed" not in marker
        assert (
            0 < await redis.pttl(Keys(ns).privacy(erin)) <= settings.worker.erase_tombstone_s * 1000
        )
        audit = await redis.xrange(Keys(ns).privacy_audit)
    ops = [
        (fields[b"op"], fields[b"user_id"])
        for _, fields in audit
        if fields[b"user_id"] == erin.encode()
    ]
    assert ops == [(b"erase", erin.encode()), (b"unsuppress", erin.encode())]
    again = portrait("profile", "unsuppress", erin, env=env)
    assert again.returncode == 1 and again.stderr.count("\n") == 1
    assert "is not suppressed" in again.stderr


async def _has_profile(settings: Settings, user: str) -> bool:
    return user in await load_states(settings, [user])


async def test_a_running_worker_that_holds_the_user_starts_them_again(
    settings: Settings, namespace: str
) -> None:
    """The same worker, its cache holding the user, goes on after the erasure: the next event
    (one from before the erasure in event time, too) builds a profile of that event alone."""
    dave = namespace + "dave"
    before = [ev("view", dave, NOON, item_id="i1"),
              ev("add_to_cart", dave, NOON + MIN, item_id="i1", price=10.0)]  # fmt: skip
    async with running_worker(settings):
        await produce(settings, before)
        await wait_until(lambda: _has_profile(settings, dave), what="dave's profile")
        async with privacy(settings) as service:
            erased = await service.erase(dave, suppress=False, actor="test")
        await erase_reached(settings, dave)
        late = NOON - 24 * 60 * MIN  # a day older than what the cache held
        await produce(settings, [ev("view", dave, late, item_id="i2")])

        async def rebuilt() -> bool:
            return dave in await load_states(settings, [dave])

        await wait_until(rebuilt, what="dave's new profile")
    state = (await load_states(settings, [dave]))[dave]
    assert erased.found and erased.keys_deleted >= 1
    assert (state.recency.first, state.recency.last, state.newest) == (late, late, late)
    totals = state.counters["t"]
    assert (sum(totals), totals[TOTAL_SLOT["view"]]) == (1, 1)
    assert not state.cart.get("i")
