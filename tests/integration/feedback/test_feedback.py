"""Feedback and recall against a real broker and Redis.

(streams/feedback/service.py, streams/feedback/recall.py)

Sent records are written as the scheduler's ``TriggerStore.reserve`` writes them
(``SentRecord`` in ``portrait:ts:{uid}``), so these tests need no scheduler.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from profiles.events import from_dict
from profiles.model import ProfileModel
from streams.feedback.recall import RecallRefresher, RecallTracker
from streams.feedback.service import run_feedback
from streams.names import TOPIC_FEEDBACK, TOPIC_FEEDBACK_DLQ, Keys
from streams.settings.tree import Settings
from streams.store.feedback import FeedbackStore
from streams.store.profiles import ProfileStore, Write
from streams.store.triggers import SentRecord
from tests.integration.app.test_cli import portrait, service_env
from tests.integration.helpers import DAY, T0, ev, metric, read_topic, wait_until
from triggers.config import TriggerConfig
from triggers.feedback import Feedback, Sent
from triggers.model import Trigger, message

pytestmark = pytest.mark.integration
CONFIG = TriggerConfig()
HOUR = 3_600_000


def clock() -> int:
    return T0 + 10 * DAY  # after every time these tests use: nothing expires on the wall clock


@contextlib.asynccontextmanager
async def redis_client(settings: Settings) -> AsyncIterator[Redis]:
    redis = Redis.from_url(settings.redis_url)
    try:
        yield redis
    finally:
        await redis.aclose()


async def sent(settings: Settings, user: str, trigger_id: str, channel: str, kind: str) -> None:
    async with redis_client(settings) as redis:
        await redis.hset(
            Keys(settings.topics.prefix).sent(user),
            trigger_id,
            SentRecord(channel, kind, T0).encode(),
        )


async def produce(settings: Settings, topic: str, values: Iterable[dict[str, Any] | bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        for value in values:
            body, key = (
                (value, b"bad")
                if isinstance(value, bytes)
                else (orjson.dumps(value), str(value.get("user_id")).encode())
            )
            await producer.send_and_wait(settings.topic(topic), body, key=key)
    finally:
        await producer.stop()


@contextlib.asynccontextmanager
async def running_feedback(
    settings: Settings, group_id: str | None = None
) -> AsyncIterator[CollectorRegistry]:
    registry, stop = CollectorRegistry(), asyncio.Event()
    task = asyncio.ensure_future(
        run_feedback(settings, CONFIG, registry=registry, stop=stop, clock=clock, group_id=group_id)
    )
    try:
        yield registry
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def counts_of(settings: Settings, user: str) -> dict[str, int]:
    async with redis_client(settings) as redis:
        raw = await redis.hgetall(Keys(settings.topics.prefix).sensitivity(user))
    return {k.decode(): int(v) for k, v in raw.items()}


def fb(user: str, trigger_id: str, status: str, **more: Any) -> dict[str, Any]:
    return {"trigger_id": trigger_id, "user_id": user, "status": status, **more}


async def test_feedback_is_counted_once_under_redelivery(
    settings: Settings, namespace: str
) -> None:
    user = namespace + "ann"
    await sent(settings, user, "cart-1", "push", "cart_reminder")
    messages = [
        fb(user, "cart-1", "delivered", at=T0 + 1000),
        fb(user, "cart-1", "opened", at=T0 + 2000),
        fb(user, "cart-1", "opened", at=T0 + 2500),  # the provider sent it twice
        fb(user, "cart-1", "converted", at="2023-11-14T23:00:00Z"),
        fb(user, "nobody-knows", "opened", channel="sms"),  # no sent record: kind unknown
    ]
    series = [
        ("cart_reminder", "push", "delivered"),
        ("cart_reminder", "push", "opened"),
        ("cart_reminder", "push", "converted"),
        ("unknown", "sms", "opened"),
    ]
    async with running_feedback(settings) as registry:
        await produce(settings, TOPIC_FEEDBACK, messages)

        async def all_seen() -> bool:
            return metric(registry, "portrait_feedback_duplicates_total", status="opened") == 1

        await wait_until(all_seen, what="the duplicate opened feedback")
        assert feedback_counts(registry, series) == [1] * len(series)
    expected = {
        "push:delivered": 1, "push:opened": 1, "push:converted": 1,
        "kind:cart_reminder:delivered": 1, "kind:cart_reminder:opened": 1,
        "kind:cart_reminder:converted": 1,
    }  # fmt: skip
    assert await counts_of(settings, user) == expected

    # A consumer group that reads the topic again from the start counts nothing twice.
    async with running_feedback(settings, group_id=namespace + "again") as registry:

        async def reread() -> bool:
            dups = sum(
                metric(registry, "portrait_feedback_duplicates_total", status=s)
                for s in ("delivered", "opened", "converted")
            )
            return dups == len(messages)

        await wait_until(reread, what="every message read again")
        assert feedback_counts(registry, series) == [0] * len(series)
    assert await counts_of(settings, user) == expected


def feedback_counts(registry: Any, series: list[tuple[str, str, str]]) -> list[float]:
    """``portrait_trigger_feedback_total`` for each (kind, channel, status)."""
    name = "portrait_trigger_feedback_total"
    return [metric(registry, name, kind=k, channel=c, status=s) for k, c, s in series]


BAD = {
    b'{"trigger_id": "t1", "user_id": ': "invalid_json",
    b'["t1"]': "not_an_object",
    b'{"user_id": "u", "status": "opened"}': "missing_trigger_id",
    b'{"trigger_id": "t1", "status": "opened"}': "missing_user",
    b'{"trigger_id": "t1", "user_id": "u", "status": "read"}': "unknown_status",
    b'{"trigger_id": "t1", "user_id": "u", "status": "opened", "at": "soon"}': "bad_timestamp",
    b'{"trigger_id": "t1", "user_id": "u", "status": "opened", "channel": "fax"}': "bad_field",
}


async def test_malformed_feedback_goes_to_the_dlq_with_its_reason(
    settings: Settings, namespace: str
) -> None:
    user = namespace + "bob"
    await sent(settings, user, "wb-1", "sms", "win_back")
    async with running_feedback(settings) as registry:
        await produce(settings, TOPIC_FEEDBACK, [*BAD, fb(user, "wb-1", "clicked")])

        async def good_one_counted() -> bool:
            labels = {"kind": "win_back", "channel": "sms", "status": "clicked"}
            return metric(registry, "portrait_trigger_feedback_total", **labels) == 1

        await wait_until(good_one_counted, what="the good message after the bad ones")
        for reason in set(BAD.values()):
            assert metric(registry, "portrait_feedback_rejected_total", reason=reason) == 1
    letters = await read_topic(settings, TOPIC_FEEDBACK_DLQ, len(BAD))
    assert sorted(value for value, _ in letters) == sorted(BAD)
    for value, headers in letters:
        assert headers["portrait.dlq.reason"].decode() == BAD[value]
        assert headers["portrait.dlq.topic"].decode() == settings.topic(TOPIC_FEEDBACK)
        assert headers["portrait.dlq.detail"]


async def index_score(settings: Settings, user: str) -> float | None:
    async with redis_client(settings) as redis:
        return await redis.zscore(Keys(settings.topics.prefix).recall_index, user)  # type: ignore[no-any-return]


async def test_recall_counts_a_return_within_the_window_and_not_after(
    settings: Settings, namespace: str
) -> None:
    soon, late, early, silent = (namespace + n for n in ("soon", "late", "early", "silent"))
    delivered_at = T0 + 60_000
    for user in (soon, late):
        await sent(settings, user, f"wb-{user}", "push", "win_back")
    await sent(settings, early, f"cart-{early}", "push", "cart_reminder")  # not a win-back
    # A win-back seen on its topic is watched from its send time, before any delivery receipt.
    t = Trigger(f"wb-{silent}", "win_back", silent, T0, T0, T0 + DAY, 60, ("sms",))
    async with running_feedback(settings) as registry:
        await produce(settings, CONFIG.topics["sms"], [message(t, "sms", T0 + 5)])
        await produce(
            settings,
            TOPIC_FEEDBACK,
            [fb(u, f"wb-{u}", "delivered", at=delivered_at) for u in (soon, late)]
            + [fb(early, f"cart-{early}", "delivered", at=delivered_at)],
        )

        async def indexed() -> bool:
            return all([await index_score(settings, u) is not None for u in (soon, late, silent)])

        await wait_until(indexed, what="the win-backs in the recall index")
        assert metric(registry, "portrait_recall_registered_total") == 1
    assert await index_score(settings, soon) == delivered_at + CONFIG.recall_window_ms
    assert await index_score(settings, silent) == T0 + 5 + CONFIG.recall_window_ms
    assert await index_score(settings, early) is None

    async with redis_client(settings) as redis:
        tracker = RecallTracker(redis, CONFIG, settings.topics.prefix)
        await tracker.refresh(delivered_at)
        assert [tracker.watching(u) for u in (soon, late, silent, early)] == [
            True,
            True,
            True,
            False,
        ]
        before = await tracker.returned([(soon, delivered_at - 1)])  # an event before delivery
        assert before == []
        assert tracker.watching(soon), "still waiting for the user"
        visits = [
            (soon, delivered_at + 3 * HOUR),
            (late, delivered_at + CONFIG.recall_window_ms + 1),
            (silent, T0 + HOUR),
            (early, delivered_at + 1),
        ]
        assert sorted(await tracker.returned(visits)) == [("win_back", "push"), ("win_back", "sms")]
        assert await tracker.returned(visits) == [], "a recall counts once"
        assert not any(tracker.watching(u) for u in (soon, late, silent))
    assert (await counts_of(settings, soon))["push:recalled"] == 1
    assert (await counts_of(settings, soon))["kind:win_back:recalled"] == 1
    assert "push:recalled" not in await counts_of(settings, late)


async def test_two_trackers_count_a_recall_exactly_once(settings: Settings, namespace: str) -> None:
    users = [f"{namespace}u{i}" for i in range(20)]
    async with redis_client(settings) as redis:
        store = FeedbackStore(redis, settings.topics.prefix, recall_window_ms=DAY, seen_ttl_ms=DAY)
        await store.register([Sent(f"wb-{u}", "win_back", "email", u, T0) for u in users])
        trackers = []
        for _ in range(2):
            tracker = RecallTracker(
                Redis.from_url(settings.redis_url), CONFIG, settings.topics.prefix
            )
            await tracker.refresh(T0)
            trackers.append(tracker)
        try:
            visits = [(u, T0 + HOUR) for u in users]
            results = await asyncio.gather(
                *(tracker.returned(visits) for tracker in trackers for _ in range(3))
            )
        finally:
            for tracker in trackers:
                await tracker.redis.aclose()
    assert sum(len(r) for r in results) == len(users)
    assert {pair for r in results for pair in r} == {("win_back", "email")}


async def test_profile_get_shows_marketing_sensitivity(settings: Settings, namespace: str) -> None:
    user = namespace + "cleo"
    model = ProfileModel(settings.model)
    state = model.initial()
    model.apply_event(state, from_dict(ev("view", user, T0)), 0, 0)
    async with redis_client(settings) as redis:
        assert (
            await ProfileStore(redis, settings.topics.prefix).write(
                [Write(user, 0, 0, model.encode(state))]
            )
            == []
        )
        for i in range(4):
            await redis.hset(
                Keys(settings.topics.prefix).sent(user),
                f"t{i}",
                SentRecord("push", "win_back", T0).encode(),
            )
        await redis.hset(
            Keys(settings.topics.prefix).sent(user),
            "s1",
            SentRecord("sms", "cart_reminder", T0).encode(),
        )
        store = FeedbackStore(redis, settings.topics.prefix, recall_window_ms=DAY, seen_ttl_ms=DAY)
        items = [Feedback(f"t{i}", user, "delivered", T0, offer="coupon") for i in range(4)]
        items += [Feedback("t0", user, "opened", T0), Feedback("t1", user, "opened", T0)]
        items += [Feedback("t0", user, "converted", T0, offer="coupon")]
        items += [Feedback("s1", user, "delivered", T0)]
        counted = await store.count(items)
    assert all(c.new for c in counted)
    done = portrait("profile", "get", user, env=service_env(settings))
    assert done.returncode == 0, done.stderr
    marketing = orjson.loads(done.stdout)["marketing"]
    assert marketing["channels"]["push"]["open_rate"] == 0.5
    assert marketing["channels"]["push"]["conversion_rate"] == 0.25
    assert marketing["channels"]["sms"]["reached"] == 1
    assert marketing["responsive_channels"] == ["push"]
    assert marketing["coupon_sensitive"] is True
    assert marketing["marketing_sensitivity"] == "high"


async def test_the_refresher_picks_up_new_registrations(settings: Settings, namespace: str) -> None:
    first, second = namespace + "first", namespace + "second"
    async with redis_client(settings) as redis:
        store = FeedbackStore(redis, settings.topics.prefix, recall_window_ms=DAY, seen_ttl_ms=DAY)
        await store.register([Sent("wb-1", "win_back", "push", first, T0)])
        refresher = RecallRefresher(settings, CONFIG, clock=lambda: T0, interval_s=0.05)
        await refresher.start()
        try:
            assert refresher.tracker.watching(first), "the start refreshes in full"
            assert not refresher.tracker.watching(second)
            await store.register([Sent("wb-2", "win_back", "push", second, T0 + 1)])

            async def watched() -> bool:
                return refresher.tracker.watching(second)

            await wait_until(watched, within=10, what="the new registration watched")
        finally:
            await refresher.stop()
