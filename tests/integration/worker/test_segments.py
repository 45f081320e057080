"""Business segments in the stream, against a real broker and Redis: users enter by an event,
by time alone (no event) and leave; ``profile.changes`` carries each transition; the member sets
are exact; a rules file changed mid-stream is reloaded and re-evaluates the stored profiles."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from streams.connect.clients import kafka_options, redis_client
from streams.names import TOPIC_PROFILE_CHANGES
from streams.settings.rules import RulesSource
from streams.settings.tree import Settings
from streams.store.segments import SegmentStore
from tests.conftest import with_worker
from tests.integration.helpers import (
    DAY,
    ev,
    load_states,
    metric,
    produce,
    running_worker,
    wait_until,
)

pytestmark = pytest.mark.integration

RULES = """
tags:
  - name: big_spender
    path: consumption/value
    rule: {spend_total: {">=": 100}}
segments:
  - name: repeat_buyers
    where: {purchases_total: {">=": 2}}
  - name: lapsed
    description: bought before, nothing for 30 days
    where: {purchases_total: {">=": 1}, days_since_last_purchase: {">=": 30}}
"""


def with_rules(settings: Settings, path: Path, text: str) -> Settings:
    path.write_text(text)
    return dataclasses.replace(settings, rules_source=RulesSource(str(path)))


def buy(user: str, ts: int, n: int, amount: float = 60.0) -> dict[str, Any]:
    return ev("purchase", user, ts, event_id=f"{user}-o{n}", order_id=f"o{n}", revenue=amount)


class Changes:
    """Everything on ``profile.changes`` so far, read on demand (a consumer of its own)."""

    def __init__(self, settings: Settings) -> None:
        self.consumer = AIOKafkaConsumer(
            settings.topic(TOPIC_PROFILE_CHANGES),
            **kafka_options(settings),
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        self.seen: list[dict[str, Any]] = []

    async def __aenter__(self) -> Changes:
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    async def until(self, check: Callable[[list[dict[str, Any]]], bool], what: str) -> None:
        async def holds() -> bool:
            for records in (await self.consumer.getmany(timeout_ms=100)).values():
                self.seen.extend({**orjson.loads(r.value), "_sent": r.timestamp} for r in records)
            return check(self.seen)

        await wait_until(holds, within=60, what=what)

    def of(self, user: str, name: str) -> list[dict[str, Any]]:
        return [
            m
            for m in self.seen
            if m["user_id"] == user and name in (m.get("segment"), m.get("tag"))
        ]


async def members(settings: Settings, segment: str) -> set[str]:
    """The segment's members (on Redis Cluster, of all its shards: docs/cluster.md)."""
    redis = redis_client(settings)
    try:
        found: list[str] = []
        async for chunk in SegmentStore(redis, settings.topics.prefix).members(segment):
            found += chunk
        return set(found)
    finally:
        await redis.aclose()


async def test_enter_by_event_by_time_alone_and_leave(
    settings: Settings, namespace: str, tmp_path: Path
) -> None:
    settings = with_rules(settings, tmp_path / "rules.yaml", RULES)
    now = int(time.time() * 1000)
    ann, bob = namespace + "ann", namespace + "bob"
    bought = now - 30 * DAY + 8_000  # bob's 30 days without a purchase end 8 s from now
    async with running_worker(settings) as registry, Changes(settings) as seen:
        await produce(settings, [buy(ann, now - 3_600_000, 1), buy(ann, now - 3_000_000, 2)])
        await produce(settings, [buy(bob, bought, 1)])
        await seen.until(lambda _: bool(seen.of(ann, "repeat_buyers")), "ann enters")
        assert [m["change"] for m in seen.of(ann, "repeat_buyers")] == ["entered"]
        assert seen.of(ann, "big_spender")[-1]["to"] is True
        # bob enters "lapsed" when 30 days have passed, with no event of his
        await seen.until(lambda _: bool(seen.of(bob, "lapsed")), "bob lapses by time alone")
        (lapsed,) = seen.of(bob, "lapsed")
        assert lapsed["change"] == "entered" and lapsed["cause"] == "time"
        assert lapsed["at_ms"] == bought + 30 * DAY <= lapsed["_sent"]  # not before its time
        assert await members(settings, "lapsed") == {bob}
        # and leaves it when he buys again (and becomes a repeat buyer)
        await produce(settings, [buy(bob, int(time.time() * 1000), 2)])
        await seen.until(lambda _: len(seen.of(bob, "lapsed")) == 2, "bob leaves")
        assert [m["change"] for m in seen.of(bob, "lapsed")] == ["entered", "exited"]
        assert [m["change"] for m in seen.of(bob, "repeat_buyers")] == ["entered"]

        async def counted() -> bool:
            return metric(registry, "portrait_segment_members", segment="repeat_buyers") == 2

        await wait_until(counted, within=10, what="the segment size gauge")

        async def all_counted() -> bool:  # batch publications and time flips alike
            sent = metric(registry, "portrait_profile_changes_published_total")
            return sent >= len(seen.seen)

        await wait_until(all_counted, within=10, what="every publication counted")
    assert await members(settings, "repeat_buyers") == {ann, bob}
    assert await members(settings, "lapsed") == set()
    states = await load_states(settings, [ann, bob])
    assert states[bob].rules.members == ["repeat_buyers"]
    assert states[ann].rules.values == {"big_spender": True}
    assert states[bob].rules.values == {"big_spender": True}
    ids = [m["change_id"] for m in seen.seen]
    assert len(ids) == len(set(ids))
    assert {m["rules_version"] for m in seen.seen} == {settings.rules.version}


async def test_a_rules_file_changed_mid_stream_is_reloaded_and_re_evaluates_everyone(
    settings: Settings, namespace: str, tmp_path: Path
) -> None:
    path = tmp_path / "rules.yaml"
    settings = with_rules(settings, path, RULES)
    v1 = settings.rules.version
    now = int(time.time() * 1000)
    ann, bob, cid = namespace + "ann", namespace + "bob", namespace + "cid"
    async with running_worker(settings) as registry, Changes(settings) as seen:
        await produce(settings, [buy(ann, now - 9_000, 1), buy(ann, now - 8_000, 2)])
        await produce(settings, [buy(bob, now - 7_000, 1, amount=150.0)])
        await seen.until(lambda _: bool(seen.of(ann, "repeat_buyers")), "ann enters")
        await seen.until(lambda _: bool(seen.of(bob, "big_spender")), "bob's tag")
        # a broken file is refused: the worker keeps its rules and says why
        path.write_text(RULES + "  - name: broken\n    where: {spend_totl: 1}\n")

        async def refused() -> bool:
            return metric(registry, "portrait_rules_reloads_total", result="refused") == 1

        await wait_until(refused, within=15, what="the broken file refused")
        # a new segment: everyone stored is re-evaluated, and enters by "rules"
        v2_text = RULES + "  - name: big\n    where: {spend_total: {'>=': 100}}\n"
        path.write_text(v2_text)
        await seen.until(
            lambda _: bool(seen.of(ann, "big") and seen.of(bob, "big")), "the new segment filled"
        )
        v2 = dataclasses.replace(settings, rules_source=RulesSource(str(path))).rules.version
        assert v2 != v1
        for user in (ann, bob):
            (entered,) = seen.of(user, "big")
            assert (entered["change"], entered["cause"], entered["rules_version"]) == (
                "entered", "rules", v2,
            )  # fmt: skip
        # and new events are evaluated under the new rules
        await produce(settings, [buy(cid, int(time.time() * 1000), 1, amount=300.0)])
        await seen.until(lambda _: bool(seen.of(cid, "big")), "cid enters by event")
        assert seen.of(cid, "big")[0]["cause"] == "event"
        assert metric(registry, "portrait_rules_reloads_total", result="applied") == 1
    assert await members(settings, "big") == {ann, bob, cid}
    assert await members(settings, "repeat_buyers") == {ann}
    ids = [m["change_id"] for m in seen.seen]
    assert len(ids) == len(set(ids))


async def test_one_record_batches_a_one_user_cache_many_partitions_and_old_history(
    settings: Settings, namespace: str, tmp_path: Path
) -> None:
    """At the edges: every batch one record, a cache of one user, 16 partitions, purchases from
    1995 and from today. The member sets and the transitions' last word per user equal the pure
    engine applied once to each user's whole history and caught up to now."""
    settings = with_rules(settings, tmp_path / "rules.yaml", RULES)
    settings = dataclasses.replace(
        with_worker(settings, batch_max_records=1, cache_max_users=1),
        topics=dataclasses.replace(settings.topics, partitions=16),
    )
    now = int(time.time() * 1000)
    old = 800_000_000_000  # 1995-05-09
    users = [f"{namespace}u{i}" for i in range(24)]
    events = []
    for i, user in enumerate(users):
        start = old if i % 3 == 0 else now - (i % 5 + 1) * 20 * DAY + 3_600_000
        events += [buy(user, start + n * DAY, n, amount=40.0) for n in range(1 + i % 3)]
    async with running_worker(settings), Changes(settings) as seen:
        await produce(settings, events)
        expected = oracle(settings, events, now)
        for segment in ("repeat_buyers", "lapsed"):  # both segments have members and not
            assert 0 < sum(v for (_, s), v in expected.items() if s == segment) < len(users)

        def settled(_: object) -> bool:
            got = _last_word(seen.seen)
            return got.keys() <= expected.keys() and all(
                got.get(k, False) == v for k, v in expected.items()
            )

        try:
            await seen.until(settled, "the transitions' last word equals the oracle")
        except AssertionError:
            got = _last_word(seen.seen)
            diff = {k: (got.get(k), v) for k, v in expected.items() if got.get(k, False) != v}
            raise AssertionError(f"(published, oracle) differ: {diff}") from None
    for segment in ("repeat_buyers", "lapsed"):
        assert await members(settings, segment) == {
            u for (u, s), v in expected.items() if v and s == segment
        }
    ids = [m["change_id"] for m in seen.seen]
    assert len(ids) == len(set(ids))


def oracle(
    settings: Settings, events: list[dict[str, Any]], now: int
) -> dict[tuple[str, str], bool]:
    """Each user's segments, by the pure model and engine on the whole history at once."""
    from profiles.events import from_dict
    from profiles.model import ProfileModel
    from profiles.rules.engine import RulesEngine

    model = ProfileModel()
    engine = RulesEngine(model, settings.rules)
    out: dict[tuple[str, str], bool] = {}
    by_user: dict[str, list[Any]] = {}
    for raw in events:
        by_user.setdefault(raw["user_id"], []).append(from_dict(raw))
    for user, evs in by_user.items():
        state = model.initial()
        for event in evs:
            model.apply_event(state, event)
        model.settle(state)
        engine.apply(user, state, engine.moment(state), "event")
        while True:
            engine.catch_up(user, state, now)
            if not state.rules.due or state.rules.due > now:
                break
        for segment in ("repeat_buyers", "lapsed"):
            out[(user, segment)] = segment in state.rules.members
    return out


def _last_word(messages: list[dict[str, Any]]) -> dict[tuple[str, str], bool]:
    """Per user and segment, whether the last transition published entered it."""
    out: dict[tuple[str, str], bool] = {}
    for m in messages:
        if "segment" in m:
            out[(m["user_id"], m["segment"])] = m["change"] == "entered"
    return out
