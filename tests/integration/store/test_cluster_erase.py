"""The erasure on a real three-master Redis Cluster against a single Redis's one atomic call
(streams/store/privacy.py, privacy_cluster.py; docs/cluster.md, S11): the same users erased
give the same replies and leave the same keys, markers, TTLs and outbox messages; an erasure
that crashed after any of its steps and is run again ends in the same state too (an exit already
on the outbox but not yet off the member set is sent twice: the outbox is at-least-once)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncGenerator
from typing import Any, cast

import orjson
import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from streams.names import Keys, due_member, sharded
from streams.store.experiments import ExperimentStore
from streams.store.feedback import forget_recall_ledger, ledger_member
from streams.store.privacy import Erased, PrivacyStore
from streams.store.privacy_cluster import Erasure, Progress
from tests.integration.helpers import T0
from tests.integration.store.test_cluster_experiments import dump, nodes_of
from triggers.experiment_outcome import Exposure

pytestmark = pytest.mark.integration
SEGMENTS = ("buyers", "browsers", "never")
HOMES = 4
NOW = T0 + 1_000
TTL_MS = 600_000


def people(namespace: str, n: int = 36) -> list[str]:
    return [f"{namespace}u{i}" for i in range(n)]


def home(i: int) -> int:
    return i % HOMES


def exits(user: str) -> list[tuple[str, bytes]]:
    """An exit message per segment the user may be in (the service builds real ones)."""
    return [(name, orjson.dumps({"user": user, "segment": name})) for name in SEGMENTS]


async def seed(client: Redis, namespace: str, users: list[str]) -> None:
    """Every kind of key an erasure touches, with TTLs where the store sets them; the last
    user is a bystander who stays."""
    k = Keys(namespace)
    on_cluster = isinstance(client, RedisCluster)
    await ExperimentStore(client, namespace).assign_many(
        [(u, "e1", Exposure("plain", T0 + i, i)) for i, u in enumerate(users)]
        + [(u, "e2", Exposure("holdout", T0, 0)) for u in users[::4]]
    )
    for i, u in enumerate(users):
        if i % 7:
            await client.set(k.profile(u), f"state {i}".encode())
        await client.hset(k.pending(u), "cart_reminder", orjson.dumps({"id": f"c{i}"}))
        await client.zadd(k.due_for(u, on_cluster), {due_member("cart_reminder", u): T0 + i})
        if i % 3 == 0:  # a campaign's slot is no trigger kind: only the pending hash names it
            await client.hset(k.pending(u), "campaign:spring", orjson.dumps({"id": f"s{i}"}))
            await client.zadd(
                k.due_for(u, on_cluster), {due_member("campaign:spring", u): T0 + 2 * i}
            )
        if i % 2 == 0:  # a lazy kind: due with no pending record
            await client.zadd(k.due_for(u, on_cluster), {due_member("win_back", u): T0 + 3 * i})
        await client.hset(k.sent(u), f"c{i}", f"push|cart_reminder|{T0}")
        await client.pexpire(k.sent(u), TTL_MS)
        await client.hset(k.sensitivity(u), "push:opened", i)
        await client.hset(k.feedback_seen(u), f"c{i}|opened", T0)
        await client.pexpire(k.feedback_seen(u), TTL_MS)
        await client.hset(k.recall(u), f"wb{i}", T0 + i)
        ledger = sharded(k.recall_ledger, u, on_cluster)
        await client.zadd(ledger, {ledger_member(f"wb{i}", u): T0 + i})
        await client.zadd(sharded(k.recall_index, u, on_cluster), {u: T0 + i})
        await client.zadd(k.rules_due(home(i)), {u: T0 + i})
        if i % 5 == 0:  # an earlier erasure's tombstone: the new one keeps its fence, not its TTL
            await client.hset(k.privacy(u), "fence", "0:3")
            await client.pexpire(k.privacy(u), TTL_MS)
        for j, name in enumerate(SEGMENTS[:2]):
            if i % (j + 2) == 0:
                await client.sadd(sharded(k.segment_members(name), u, on_cluster), u)


async def erase(store: PrivacyStore, i: int, user: str) -> Erased:
    return await store.erase(
        user, f"x{i}", NOW, suppress=bool(i % 2), home=home(i), exits=exits(user)
    )


async def test_erasures_give_the_same_replies_and_keys(
    redis: Redis, cluster: RedisCluster, namespace: str
) -> None:
    users, keys = people(namespace), Keys(namespace)
    assert len(nodes_of(cluster, [keys.profile(u) for u in users])) == 3
    client = cast(Redis, cluster)
    single, split = PrivacyStore(redis, namespace), PrivacyStore(client, namespace)
    assert single.split is None and split.split is not None
    for server in (redis, client):
        await seed(server, namespace, users)
    erased = [*users[:-1], namespace + "never-seen"]  # the last user stays
    for i, user in enumerate(erased):
        assert await erase(split, i, user) == await erase(single, i, user), user
    expected = await dump(redis, namespace)
    assert await dump(client, namespace) == expected
    assert await split.read(users[-1], list(SEGMENTS)) == await single.read(
        users[-1], list(SEGMENTS)
    )  # the bystander's keys and memberships stand
    outbox = [k for k in expected if k.startswith(keys.changes_outbox(""))]
    assert sum(len(expected[k][1]) for k in outbox) > len(users) // 2  # exits were sent


async def split_steps(store: PrivacyStore, i: int, user: str) -> AsyncGenerator[str, None]:
    """The cluster erasure's steps in :meth:`PrivacyStore.erase`'s order, one per yield: the
    store's two first ones, then the split erasure's own."""
    assert store.split is not None
    await store.experiments.forget(user)
    yield "experiments"
    await forget_recall_ledger(store.redis, store.keys, user)
    yield "recall ledger"
    own = store._own(user)
    erasure = Erasure(user, f"x{i}", NOW, bool(i % 2), home(i), exits(user))
    async for step in store.split.steps(Progress(), own, erasure):
        yield step


STEPS = 7


@pytest.mark.parametrize("crash_after", range(1, STEPS + 1))
async def test_an_erasure_run_again_after_a_crash_ends_the_same(
    redis: Redis, cluster: RedisCluster, namespace: str, crash_after: int
) -> None:
    users, keys = people(namespace, 16), Keys(namespace)
    client = cast(Redis, cluster)
    single, split = PrivacyStore(redis, namespace), PrivacyStore(client, namespace)
    for server in (redis, client):
        await seed(server, namespace, users)
    for i, user in enumerate(users[:-1]):
        await erase(single, i, user)
        steps = split_steps(split, i, user)
        crashed = [await anext(steps) for _ in range(crash_after)][-1]
        await steps.aclose()
        if crash_after >= 4:  # from the user script on, the user's writes are refused
            assert await client.hget(keys.privacy(user), "pending") == f"x{i}".encode()
        await erase(split, i, user)
    expected = await dump(redis, namespace)
    if crashed == "exits published":  # sent, the user still a member: the retry sends again
        expected = {k: twice_per_user(v) if ":seg:outbox:" in k else v for k, v in expected.items()}
    assert await dump(client, namespace) == expected


def twice_per_user(entry: tuple[str, Any, bool]) -> tuple[str, Any, bool]:
    """An outbox as each user's exits sent, then sent again by the retry."""
    kind, fields, expires = entry
    runs = itertools.groupby(fields, key=lambda f: orjson.loads(f[b"m"])["user"])
    return kind, [f for _, run in runs for f in list(run) * 2], expires


async def test_a_trigger_scheduled_before_the_marker_is_cancelled_too(
    redis: Redis, cluster: RedisCluster, namespace: str
) -> None:
    """A campaign trigger scheduled between the first pass over the due index and the user
    script (the user's writes are not refused yet) is named by the script and cancelled."""
    users, keys = people(namespace, 12), Keys(namespace)
    client = cast(Redis, cluster)
    single, split = PrivacyStore(redis, namespace), PrivacyStore(client, namespace)
    for server in (redis, client):
        await seed(server, namespace, users)
    for i, user in enumerate(users[:-1]):
        await erase(single, i, user)
        steps = split_steps(split, i, user)
        assert [await anext(steps) for _ in range(3)][-1] == "due members"
        await client.hset(keys.pending(user), "campaign:later", b"{}")  # meanwhile
        await client.zadd(keys.due_for(user, True), {due_member("campaign:later", user): T0})
        async for _ in steps:
            pass
        assert (await erase(split, i, user)).triggers_cancelled == 0  # none was left
    assert await dump(client, namespace) == await dump(redis, namespace)
