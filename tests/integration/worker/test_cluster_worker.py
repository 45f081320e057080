"""`portrait worker` on a real three-master Redis Cluster (``redis+cluster://``), uninterrupted,
SIGKILLed mid-stream, and while slots move between the nodes: the profiles are the pure model's
(applied once, no fences), and the segment member sets, the rule due index and the trigger due
index agree with every stored profile (docs/cluster.md). The store tests compare the scripts'
results on a cluster with one Redis step by step; here the whole worker runs."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from redis.crc import key_slot

from profiles.model import ProfileModel
from streams.connect.clients import redis_client
from streams.names import Keys, due_member, sharded, shards
from streams.settings.tree import Settings
from streams.store.profiles import ProfileStore
from tests.integration.cluster import ClusterNode, cluster_view, migrate_slot, slot_owner
from tests.integration.helpers import (
    DAY,
    applied_total,
    ev,
    expected_states,
    load_states,
    produce,
    profile_view,
    running_worker,
    wait_until,
)
from tests.integration.processes import WorkerProcess

pytestmark = pytest.mark.integration
KINDS = ["view"] * 5 + ["click"] * 2 + ["search", "add_to_cart", "remove_from_cart", "purchase"]


def _events(namespace: str, users: int, n: int, now: int) -> list[dict[str, Any]]:
    """Mixed traffic over the last 40 days (carts left open, buyers, lapsed users), with
    deterministic event ids so that two namespaces get the same stream."""
    import random

    rng = random.Random(11)
    out = []
    for i in range(n):
        kind = rng.choice(KINDS)
        props: dict[str, Any] = {"item_id": f"i{rng.randrange(40)}", "price": rng.randrange(1, 900)}
        if kind == "purchase":
            props["quantity"] = rng.randrange(1, 4)
        at = now - rng.randrange(0, 40 * DAY) if i % 5 else now - rng.randrange(0, 3_600_000)
        user = f"{namespace}u{rng.randrange(users)}"
        out.append(ev(kind, user, at, event_id=f"c{i}", **props))
    return out


def _on(settings: Settings, url: str, prefix: str) -> Settings:
    return dataclasses.replace(
        settings,
        redis_url=url,
        topics=dataclasses.replace(settings.topics, prefix=prefix),
        identity=dataclasses.replace(settings.identity, enabled=False),  # not on a cluster yet
    )


async def _kept(settings: Settings, users: list[str]) -> dict[str, Any]:
    """Check what the worker keeps besides the profiles against the stored profiles: every
    segment member set holds exactly the users whose state says they are in it, every user's
    rule due time is in the due index (of one partition) exactly when the state has one, and
    every pending trigger is in the trigger due index. What a follow-up lost, or made twice
    out of order, breaks one of these. Returns the member sets and pending trigger kinds."""
    ns = settings.topics.prefix
    keys = Keys(ns)
    redis: Redis = redis_client(settings)
    try:
        states = await ProfileStore(redis, ns).load_many(users)
        members: dict[str, set[str]] = {}  # each segment's set: on a cluster, its shards'
        async for key in redis.scan_iter(keys.segment_pattern(), 500):
            name, users_in = _segment_of(keys, key.decode()), await redis.smembers(key)
            held = {m.decode() for m in users_in}
            assert all(sharded(keys.segment_members(name), u, True) == key.decode() for u in held)
            members[name] = members.get(name, set()) | held
        for u, state in states.items():
            assert {n for n, who in members.items() if u in who} == set(state.rules.members), u
        due: dict[str, float] = {}
        for p in range(settings.topics.partitions):
            for m, score in await redis.zrange(keys.rules_due(p), 0, -1, withscores=True):
                assert m.decode() not in due, m
                due[m.decode()] = score
        assert due == {u: s.rules.due for u, s in states.items() if s.rules.due}
        pending: dict[str, list[str]] = {}
        tdue = set()  # the trigger due index: on a cluster, all its shards
        for key in keys.due_all(True):
            tdue |= {m.decode() for m in await redis.zrange(key, 0, -1)}
        for u in users:
            slots = sorted(slot.decode() for slot in await redis.hkeys(keys.pending(u)))
            assert all(due_member(slot, u) in tdue for slot in slots), (u, slots)
            if slots:
                pending[u] = slots
        return {"members": members, "pending": pending}
    finally:
        await redis.aclose()


def _segment_of(keys: Keys, key: str) -> str:
    """The segment of a member-set shard (``seg:m:<name>:{n}``, streams/names.py sharded)."""
    base = key.rpartition(":")[0]
    assert key in shards(base, True), key  # the worker runs on a cluster: only shards
    return base.removeprefix(keys.segment_members(""))


def _same_as_the_model(
    settings: Settings, events: list[dict[str, Any]], states: dict[str, Any], as_of: int
) -> None:
    model = ProfileModel(settings.model)
    oracle = expected_states(events, model)
    views = {u: profile_view(model, u, st, as_of) for u, st in states.items()}
    assert views == {u: profile_view(model, u, st, as_of) for u, st in oracle.items()}


async def _run(settings: Settings, events: list[dict[str, Any]], users: list[str]) -> None:
    await produce(settings, events)
    async with running_worker(settings):

        async def done() -> bool:
            return await applied_total(settings, users) >= len(events)

        await wait_until(done, within=120, what="every event applied")


async def test_the_worker_on_a_cluster_keeps_the_model_profiles_and_their_indexes(
    settings: Settings, namespace: str, cluster_nodes: list[ClusterNode]
) -> None:
    now = int(time.time() * 1000)
    s = _on(settings, f"redis+cluster://127.0.0.1:{cluster_nodes[1].port}", namespace + "c.")
    events = _events(s.topics.prefix, 150, 3_000, now)
    users = sorted({e["user_id"] for e in events})
    await _run(s, events, users)
    _same_as_the_model(s, events, await load_states(s, users), now + 1)
    kept = await _kept(s, users)
    assert len(kept["members"]) >= 3 and len(kept["pending"]) >= 20  # there was work to check


async def test_kills_mid_stream_on_a_cluster_lose_nothing(
    settings: Settings, namespace: str, cluster_nodes: list[ClusterNode], tmp_path: Path
) -> None:
    """A worker process SIGKILLed three times mid-stream (between a write and its shared
    follow-up, as it falls): once restarted and swept, the profiles are the pure model's and
    the indexes agree with them."""
    now = int(time.time() * 1000)
    url = f"redis+cluster://127.0.0.1:{cluster_nodes[0].port}"
    s = _on(settings, url, namespace + "k.")
    events = _events(s.topics.prefix, 400, 6_000, now)
    users = sorted({e["user_id"] for e in events})
    worker = WorkerProcess(s, tmp_path, extra={"identity": {"enabled": False}})
    worker.start()
    producing = asyncio.ensure_future(produce(s, events))
    try:
        for threshold in (1_000, 2_500, 4_000):

            async def past(threshold: int = threshold) -> bool:
                return await applied_total(s, users) >= threshold

            await wait_until(past, within=120, what=f"{threshold} events applied")
            worker.kill()
            worker.start()
        await producing

        async def complete() -> bool:
            return await applied_total(s, users) >= len(events)

        await wait_until(complete, within=180, what="every event applied after the kills")
        await wait_until(lambda: _swept(s), within=60, what="the follow-ups swept")
    finally:
        worker.stop()
    _same_as_the_model(s, events, await load_states(s, users), now + 1)
    kept = await _kept(s, users)
    assert len(kept["members"]) >= 3 and len(kept["pending"]) >= 20


async def _swept(settings: Settings) -> bool:
    """No partition holds a user whose shared writes are still to make."""
    keys = Keys(settings.topics.prefix)
    redis = redis_client(settings)
    try:
        for p in range(settings.topics.partitions):
            if await redis.scard(keys.rules_dirty(p)):
                return False
        return True
    finally:
        await redis.aclose()


async def test_slots_moving_during_the_run_lose_nothing(
    settings: Settings, namespace: str, cluster_nodes: list[ClusterNode]
) -> None:
    """Slots resharded one after another while the worker writes: those of users with many
    events and those of the shared due indexes and member sets, each moved a few keys at a time
    so that writes meet them half-moved (ASK, TRYAGAIN). Nothing is lost or applied twice."""
    now = int(time.time() * 1000)
    url = f"redis+cluster://127.0.0.1:{cluster_nodes[2].port}"
    s = _on(settings, url, namespace + "m.")
    keys = Keys(s.topics.prefix)
    events = _events(s.topics.prefix, 300, 6_000, now)
    users = sorted({e["user_id"] for e in events})
    busiest = [u for u, _ in Counter(e["user_id"] for e in events).most_common(30)]
    shared = [*keys.due_all(True)[:4], keys.rules_due(0), keys.rules_due(1), keys.changes_outbox(2)]
    # the member sets' shards 0-3 share the due index's slots ({n}): moved above; 4-7 too
    shared += shards(keys.segment_members(s.rules.segments[0].name), True)[4:8]
    slots = sorted({key_slot(k.encode()) for k in [*map(keys.profile, busiest), *shared]})
    moved = 0
    async with running_worker(s) as registry:
        await produce(s, events[:2_000])  # the keys exist, then the rest trickles in
        await wait_until(
            lambda: _past(s, users, 2_000), within=120, what="the first events applied"
        )
        producing = asyncio.ensure_future(_trickle(s, events[2_000:]))
        for i, slot in enumerate(slots):  # round-robin over the nodes: every slot changes hands
            target = cluster_nodes[i % len(cluster_nodes)]
            moved += await migrate_slot(cluster_nodes, slot, target, batch=2, pause=0.05)
        await producing

        async def done() -> bool:
            return await applied_total(s, users) >= len(events)

        try:
            await wait_until(done, within=120, what="every event applied")
        except AssertionError as exc:  # say where it stands: a stall, a loss, the cluster
            applied = await applied_total(s, users)
            retries = _samples(registry, "portrait_redis_retries_total")
            view = await cluster_view(cluster_nodes)
            raise AssertionError(
                f"{exc}: {applied} of {len(events)} applied; retries {retries}; {view}"
            ) from exc
    assert moved > 20  # keys did move while the worker ran
    _same_as_the_model(s, events, await load_states(s, users), now + 1)
    kept = await _kept(s, users)
    assert len(kept["members"]) >= 3 and len(kept["pending"]) >= 20


async def test_a_slot_held_half_moved_past_the_clients_redirects_loses_nothing(
    settings: Settings, namespace: str, cluster_nodes: list[ClusterNode]
) -> None:
    """A migration stalls with a busy user's slot half-moved: every call over that user's keys
    is told TRYAGAIN (some of them on each side, or not yet anywhere), ASK and MOVED in turn,
    until redis-py gives up ("TTL exhausted"). The worker waits that out, as it waits out a
    Redis that is down, instead of stopping; once the slot has moved, every event counts once."""
    now = int(time.time() * 1000)
    s = _on(settings, f"redis+cluster://127.0.0.1:{cluster_nodes[0].port}", namespace + "h.")
    events = _events(s.topics.prefix, 40, 1_200, now)
    users = sorted({e["user_id"] for e in events})
    first, rest = events[:600], events[600:]
    busiest = Counter(e["user_id"] for e in rest).most_common(1)[0][0]
    slot = key_slot(Keys(s.topics.prefix).profile(busiest).encode())
    source = await slot_owner(cluster_nodes[0], slot)
    target = next(n for n in cluster_nodes if n.port != source)
    async with running_worker(s) as registry:
        await produce(s, first)
        await wait_until(lambda: _past(s, users, len(first)), within=120, what="600 applied")

        async def stalled() -> None:  # the busy user's events arrive while the slot is split
            await produce(s, rest)

            async def met() -> bool:
                return sum(_samples(registry, "portrait_redis_retries_total").values()) > 0

            await wait_until(met, within=60, what="the worker retrying the half-moved slot")

        assert await migrate_slot(cluster_nodes, slot, target, batch=1, half_moved=stalled)

        async def done() -> bool:
            return await applied_total(s, users) >= len(events)

        await wait_until(done, within=120, what="every event applied")
    _same_as_the_model(s, events, await load_states(s, users), now + 1)
    await _kept(s, users)


def _samples(registry: CollectorRegistry, name: str) -> dict[str, float]:
    """A counter's samples by label values (the worker's retries by operation)."""
    return {
        ",".join(sample.labels.values()): sample.value
        for metric in registry.collect()
        for sample in metric.samples
        if sample.name == name
    }


async def _past(settings: Settings, users: list[str], n: int) -> bool:
    return await applied_total(settings, users) >= n


async def _trickle(settings: Settings, events: list[dict[str, Any]], chunk: int = 100) -> None:
    """Produce in small chunks over a few seconds: the worker writes while slots move."""
    for start in range(0, len(events), chunk):
        await produce(settings, events[start : start + chunk])
        await asyncio.sleep(0.1)
