"""Experiment assignments and their erasure on a real three-master Redis Cluster against a
single Redis (streams/store/experiments.py; docs/cluster.md, S13 and S14): the same inputs give
the same replies and the same keys, and a retry after a crash between the user's step and the
ledger's reaches the single Redis's end state."""

from __future__ import annotations

from typing import Any, cast

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from streams.names import Keys, shards
from streams.store.experiments import ExperimentStore
from streams.store.triggers import as_text
from tests.integration.helpers import DAY, T0
from triggers.experiment_outcome import Exposure

pytestmark = pytest.mark.integration
EXPERIMENTS = ("e1", "e2", "e3")
Items = list[tuple[str, str, Exposure]]


async def dump(client: Redis, namespace: str) -> dict[str, tuple[str, Any, bool]]:
    """Every key of the namespace: (type, content, whether it expires); a stream's entries by
    their fields (ids differ between two servers); the shards of an index sharded on a cluster
    (the trigger due index, the recall index and ledger, each segment's member set:
    streams/names.py ``sharded``) as the one key of a single Redis."""
    out: dict[str, tuple[str, Any, bool]] = {}
    async for raw in client.scan_iter(match=f"{namespace}*", count=1000):
        key = as_text(raw)
        kind = as_text(await client.type(key))
        entry = (kind, await _content(client, key, kind), await client.pttl(key) > 0)
        key = unsharded(Keys(namespace), key)
        held = out.get(key)
        if held is not None:  # another shard of the same index: one content, in its order
            entry = (kind, _merged(kind, [*held[1], *entry[1]]), False)
        out[key] = entry
    return out


def unsharded(keys: Keys, key: str) -> str:
    """The key a single Redis keeps for ``key`` when it is a cluster shard of a sharded index
    (``<index>:{n}``), else ``key``."""
    base = key.rpartition(":")[0]
    whole = (keys.due, keys.recall_index, keys.recall_ledger)
    index = base in whole or base.startswith(keys.segment_members(""))
    return base if index and key in shards(base, True) else key


def _merged(kind: str, content: list[Any]) -> list[Any]:
    """Two shards' contents as one key gives them: a sorted set by score, then member."""
    return sorted(content, key=lambda m: (m[1], m[0])) if kind == "zset" else sorted(content)


async def _content(client: Redis, key: str, kind: str) -> Any:
    if kind == "string":
        return await client.get(key)
    if kind == "hash":
        return await client.hgetall(key)
    if kind == "set":
        return sorted(await client.smembers(key))
    if kind == "zset":  # by score, then member (zrange's own order)
        return await client.zrange(key, 0, -1, withscores=True)
    if kind == "list":
        return await client.lrange(key, 0, -1)
    if kind == "stream":
        return [fields for _, fields in await client.xrange(key) or []]
    raise AssertionError(f"{key}: a {kind} the dump does not know")


def users(namespace: str, n: int = 40) -> list[str]:
    return [f"{namespace}u{i}" for i in range(n)]


def nodes_of(cluster: RedisCluster, keys: list[str]) -> set[str]:
    """The primaries that hold ``keys`` (the test must reach all of them)."""
    found = [cluster.get_node_from_key(k) for k in keys]
    return {node.name for node in found if node is not None}


def first_draws(people: list[str]) -> Items:
    """Several experiments per user, a pair twice in one batch (the first one wins)."""
    items: Items = []
    for i, user in enumerate(people):
        for j, experiment in enumerate(EXPERIMENTS[: 1 + i % 3]):
            items.append((user, experiment, Exposure(f"arm{(i + j) % 2}", T0 + i * 1000 + j, i)))
    items.append((people[0], "e1", Exposure("holdout", T0 - 5, 9)))
    return items


def later_draws(people: list[str]) -> Items:
    """Other weights a day later: every recorded arm stands, the new pairs are recorded."""
    return [(u, e, Exposure("holdout", T0 + DAY, 0)) for u in people for e in EXPERIMENTS]


def stores(redis: Redis, cluster: RedisCluster, namespace: str) -> list[ExperimentStore]:
    return [ExperimentStore(redis, namespace), ExperimentStore(cast(Redis, cluster), namespace)]


async def test_assignments_give_the_same_replies_and_keys(
    redis: Redis, cluster: RedisCluster, namespace: str
) -> None:
    people = users(namespace)
    assert len(nodes_of(cluster, [Keys(namespace).experiment(u) for u in people])) == 3
    single, split = stores(redis, cluster, namespace)
    for batch in (first_draws(people), later_draws(people)):
        assert await split.assign_many(batch) == await single.assign_many(batch)
    assert await dump(cast(Redis, cluster), namespace) == await dump(redis, namespace)
    assert await split.size("e3") == await single.size("e3") == len(people)


async def test_a_retry_after_the_user_step_fills_the_ledger(
    redis: Redis, cluster: RedisCluster, namespace: str
) -> None:
    """A crash between the cluster's two steps leaves arms with no ledger entry: the retry
    finds them recorded (not new) and adds them to the ledger at the *recorded* time."""
    people, keys = users(namespace), Keys(namespace)
    single, split = stores(redis, cluster, namespace)
    first = first_draws(people)
    await single.assign_many(first)
    for user, experiment, exposure in first:  # what the script alone leaves
        await cluster.hsetnx(keys.experiment(user), experiment, exposure.encode())
    assert not await cluster.exists(keys.experiment_ledger("e1"))
    recorded = {(user, experiment) for user, experiment, _ in first}
    for batch in (first, later_draws(people)):
        again = await split.assign_many(batch)
        assert again == await single.assign_many(batch)
        for (user, experiment, _), (_, new) in zip(batch, again, strict=True):
            assert not new or (user, experiment) not in recorded
    assert await dump(cast(Redis, cluster), namespace) == await dump(redis, namespace)


async def test_forgetting_gives_the_same_replies_and_keys(
    redis: Redis, cluster: RedisCluster, namespace: str
) -> None:
    people = users(namespace)
    single, split = stores(redis, cluster, namespace)
    for store in (single, split):
        await store.assign_many(first_draws(people))
        for user in people[::3]:  # counts next to the arms go with them
            await store.redis.hincrby(store.keys.experiment(user), "e1|sent:push", 2)
    erased = [*people[: len(people) // 2], namespace + "never-seen"]
    assert [await split.forget(u) for u in erased] == [await single.forget(u) for u in erased]
    assert await dump(cast(Redis, cluster), namespace) == await dump(redis, namespace)
    assert await split.size("e1") == len(people) - len(erased) + 1


async def test_a_retry_after_the_ledgers_reaches_the_same_end(
    redis: Redis, cluster: RedisCluster, namespace: str
) -> None:
    """A crash after the ledgers' ZREMs, before the hash's DEL: the retry reads the names
    again from the hash and ends where a single Redis's one call does."""
    people = users(namespace, 24)
    single, split = stores(redis, cluster, namespace)
    for store in (single, split):
        await store.assign_many(first_draws(people))
    for user in people:
        for experiment in await split.arms(user):
            await cluster.zrem(split.keys.experiment_ledger(experiment), user)
        assert await split.forget(user) == await single.forget(user) == 1
    assert await dump(cast(Redis, cluster), namespace) == await dump(redis, namespace) == {}
