"""The recall index and ledger sharded on a real three-master Redis Cluster (docs/cluster.md).

On a cluster ``trecall`` and ``trl`` are 16 keys each (``sharded``/``shards`` in
streams/names.py), a user's entries in the one its id hashes to. Each test runs the same
operations on a single Redis (one key each) and on the cluster and compares: the shards' union
must be the one key, every entry must be in its user's shard, and the readers of the whole
index (the refresher, the trims, the report) must see every shard, pipelined."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from streams.feedback.recall import RecallTracker
from streams.feedback.recall_report import LedgerMerge, read_messages, read_recall_report
from streams.names import DUE_SHARDS, Keys, sharded, shards
from streams.settings.tree import Settings
from streams.store.feedback import (
    FeedbackStore,
    forget_recall_ledger,
    ledger_member,
    parse_ledger_member,
)
from streams.store.triggers import as_text
from tests.integration.feedback.test_recall_report import (
    CONFIG,
    PRICES,
    RECALL,
    SINCE,
    UNTIL,
    WINDOW,
    play,
    scenario,
)
from tests.integration.helpers import DAY, T0
from tests.integration.store.test_cluster_experiments import nodes_of
from triggers.feedback import Sent

pytestmark = pytest.mark.integration
SPREAD = 12  # shards (of 16) the tests' entries must reach at least, on every primary
Rows = list[tuple[bytes, float]]


def store(client: Redis | RedisCluster, namespace: str) -> FeedbackStore:
    return FeedbackStore(
        cast(Redis, client), namespace, recall_window_ms=WINDOW, seen_ttl_ms=DAY, recall=RECALL
    )


def win_backs(users: list[str], at: int, tag: str = "wb") -> list[Sent]:
    return [Sent(f"{tag}-{i}", "win_back", "push", u, at + i) for i, u in enumerate(users)]


async def parts(client: Redis | RedisCluster, key: str) -> dict[str, Rows]:
    """Every non-empty shard of ``key`` on the cluster (the one key on one Redis), its rows."""
    out = {}
    for name in shards(key, isinstance(client, RedisCluster)):
        rows = await client.zrange(name, 0, -1, withscores=True)
        if rows:
            out[name] = cast(Rows, rows)
    return out


def union(found: dict[str, Rows]) -> Rows:
    """The shards' rows as the one key gives them (by score, then member)."""
    return sorted((row for rows in found.values() for row in rows), key=lambda r: (r[1], r[0]))


async def assert_spread(cluster: RedisCluster, found: dict[str, Rows]) -> None:
    """The entries reach at least SPREAD shards, and all three primaries."""
    assert len(found) >= SPREAD, f"only {len(found)} shards hold entries"
    assert len(nodes_of(cluster, list(found))) == 3, "every primary holds some shards"


def owner(key: str, member: bytes) -> str:
    """The user of a member of ``key`` (or of one of its shards): the member of the index, the
    user of a ledger member (``trigger|user``)."""
    text = member.decode()
    return parse_ledger_member(text)[1] if re.search(r":trl(:\{\d+\})?$", key) else text


async def test_every_entry_is_in_its_users_shard_and_the_shards_are_the_one_key(
    redis: Redis, cluster: RedisCluster, settings: Settings, namespace: str
) -> None:
    users = scenario(3, namespace, n=160)
    keys = Keys(settings.topics.prefix)
    for client in (redis, cluster):
        await play(client, settings, users)  # type: ignore[arg-type]
    for key in (keys.recall_index, keys.recall_ledger):
        assert await cluster.exists(key) == 0, f"{key}: nothing in the unsharded key"
        found = await parts(cluster, key)
        await assert_spread(cluster, found)
        for name, rows in found.items():
            for member, _ in rows:  # the key the writers name (and privacy_cluster.py's rule)
                assert name == sharded(key, owner(name, member), True), (name, member)
        assert union(found) == await redis.zrange(key, 0, -1, withscores=True), key


async def test_the_report_on_the_shards_is_the_one_keys_to_the_last_figure(
    redis: Redis, cluster: RedisCluster, settings: Settings, namespace: str
) -> None:
    """Same chunks, same users in the same order, same messages: the same report, exactly
    (costs summed in the same order), and the same progress."""
    users = scenario(4, namespace, n=160)
    ns, keys = settings.topics.prefix, Keys(settings.topics.prefix)
    for client in (redis, cluster):
        await play(client, settings, users)  # type: ignore[arg-type]
    await assert_spread(cluster, await parts(cluster, keys.recall_ledger))
    for chunk in (1, 7, 1000):
        one = await read_messages(redis, keys, SINCE, UNTIL, chunk=chunk)
        split = await read_messages(cast(Redis, cluster), keys, SINCE, UNTIL, chunk=chunk)
        assert list(split[0].items()) == list(one[0].items()) and split[1] == one[1] == 0
        reports, steps = [], []
        for client in (redis, cluster):
            seen: list[tuple[str, int, int]] = []
            reports.append(await read_recall_report(
                cast(Redis, client), ns, RECALL, PRICES, (SINCE, UNTIL), T0 + 45 * DAY,
                lambda *step: seen.append(step), chunk,  # noqa: B023 (called before the next)
            ))  # fmt: skip
            steps.append(seen)
        assert reports[1] == reports[0] and steps[1] == steps[0], chunk
        assert reports[0]["overall"]["recalled"] >= 10 and len(steps[0]) > 1


@pytest.mark.parametrize("chunk", [1, 5, 64, 1000])
async def test_the_merge_gives_the_one_keys_order_with_ties_across_shards(
    redis: Redis, cluster: RedisCluster, namespace: str, chunk: int
) -> None:
    """Many members share a send time in different shards: the merge orders them by member,
    as one key does, chunk for chunk; the range's ends hold as on one key."""
    keys = Keys(namespace)
    entries = {
        ledger_member(f"t{j}", f"{namespace}u{i}"): T0 + (i * 7 + j) % 5
        for i in range(300)
        for j in range(1 + i % 2)
    }
    for member, sent in entries.items():
        user = parse_ledger_member(member)[1]
        await redis.zadd(keys.recall_ledger, {member: sent})
        await cluster.zadd(sharded(keys.recall_ledger, user, True), {member: sent})
    await assert_spread(cluster, await parts(cluster, keys.recall_ledger))
    low, high = T0 + 1, f"({T0 + 4}"
    got: dict[str, list[list[str]]] = {}
    for name, client in (("single", redis), ("cluster", cluster)):
        ledger = shards(keys.recall_ledger, name == "cluster")
        pages = LedgerMerge(cast(Redis, client), ledger, low, high, chunk)
        total, got[name] = await pages.count(), []
        while page := await pages.next_chunk():
            got[name].append(page)
        assert sum(map(len, got[name])) == total
    rows = await redis.zrangebyscore(keys.recall_ledger, low, high)
    expected = [as_text(cast(bytes, m)) for m in rows]
    assert got["cluster"] == got["single"]
    assert [m for page in got["cluster"] for m in page] == expected
    assert all(len(page) == chunk for page in got["cluster"][:-1])


async def test_members_gone_after_the_count_end_the_read_as_on_one_key(
    redis: Redis, cluster: RedisCluster, namespace: str
) -> None:
    """Users erased between the count and the pages (their shards answer short pages): the
    read gives the members left, in order, and asks those shards no more."""
    keys = Keys(namespace)
    users = [f"{namespace}u{i}" for i in range(120)]
    for client in (redis, cluster):
        await store(client, namespace).register(win_backs(users, T0))
    got = {}
    for name, client in (("single", redis), ("cluster", cluster)):
        ledger = shards(keys.recall_ledger, name == "cluster")
        pages = LedgerMerge(cast(Redis, client), ledger, T0, f"({T0 + DAY}", 5)
        assert await pages.count() == len(users)
        for user in users[::3]:
            assert await forget_recall_ledger(cast(Redis, client), keys, user) == 1
        got[name] = []
        while page := await pages.next_chunk():
            got[name] += page
        assert pages.unread == [0] * len(ledger), f"{name}: every shard read out"
    assert (
        got["cluster"]
        == got["single"]
        == [ledger_member(f"wb-{i}", u) for i, u in enumerate(users) if i % 3]
    )


async def test_the_refresher_watches_every_pending_recall_in_every_shard(
    redis: Redis, cluster: RedisCluster, namespace: str
) -> None:
    first = [f"{namespace}u{i}" for i in range(200)]
    later = [f"{namespace}v{i}" for i in range(60)]
    trackers = {}
    for name, client in (("single", redis), ("cluster", cluster)):
        await store(client, namespace).register(win_backs(first, T0))
        tracker = RecallTracker(cast(Redis, client), CONFIG, namespace)
        await tracker.refresh(T0)  # the first, full read
        assert set(tracker._watched) == set(first), name
        await store(client, namespace).register(win_backs(later, T0 + DAY, "wb2"))
        await tracker.refresh(T0 + DAY)  # an incremental read
        assert set(tracker._watched) == {*first, *later}, name
        trackers[name] = tracker
    await assert_spread(cluster, await parts(cluster, Keys(namespace).recall_index))
    assert trackers["cluster"]._watched == trackers["single"]._watched
    for tracker in trackers.values():  # past the first ones' windows: those are dropped
        await tracker.refresh(T0 + WINDOW + tracker.grace_ms + 1_000)
    assert set(trackers["cluster"]._watched) == set(later) == set(trackers["single"]._watched)


async def test_the_trims_remove_the_old_entries_of_every_shard(
    redis: Redis, cluster: RedisCluster, namespace: str
) -> None:
    old = [f"{namespace}u{i}" for i in range(200)]
    new = [f"{namespace}v{i}" for i in range(40)]
    keys = Keys(namespace)
    sent = [*win_backs(old, T0), *win_backs(new, T0 + 10 * DAY, "wb2")]
    for client in (redis, cluster):
        await store(client, namespace).register(sent)
    for key in (keys.recall_index, keys.recall_ledger):
        await assert_spread(cluster, await parts(cluster, key))
    removed: dict[str, tuple[int, int]] = {}
    for name, client in (("single", redis), ("cluster", cluster)):
        feedback = store(client, namespace)
        removed[name] = (
            await feedback.forget_expired(T0 + WINDOW + 1_000),
            await feedback.trim_ledger(T0 + RECALL.retention_ms + 1_000),
        )
    assert removed["cluster"] == removed["single"] == (len(old), len(old))
    for key in (keys.recall_index, keys.recall_ledger):
        left = await parts(cluster, key)
        assert {owner(key, m) for rows in left.values() for m, _ in rows} == set(new), key
        assert union(left) == await redis.zrange(key, 0, -1, withscores=True)


async def test_erasure_takes_the_users_messages_out_of_their_shard(
    redis: Redis, cluster: RedisCluster, settings: Settings, namespace: str
) -> None:
    users = scenario(11, namespace, n=60)
    keys = Keys(settings.topics.prefix)
    for client in (redis, cluster):
        await play(client, settings, users)  # type: ignore[arg-type]
    gone = [u.uid for u in users if any(m.recall for m in u.msgs)][:12]
    shards_of_gone = {sharded(keys.recall_ledger, u, True) for u in gone}
    assert len(shards_of_gone) >= 6, "the erased users' messages are in several shards"
    for user in gone:
        removed = await forget_recall_ledger(cast(Redis, cluster), keys, user)
        assert removed == await forget_recall_ledger(redis, keys, user) > 0, user
    left = await parts(cluster, keys.recall_ledger)
    assert not {owner(keys.recall_ledger, m) for rows in left.values() for m, _ in rows} & {*gone}
    assert union(left) == await redis.zrange(keys.recall_ledger, 0, -1, withscores=True)
    assert await forget_recall_ledger(cast(Redis, cluster), keys, gone[0]) == 0, "done already"


@contextmanager
def round_trips(client: RedisCluster) -> Iterator[Counter[str]]:
    """Counts the pipelines the client executes (with their commands) and its own commands."""
    seen: Counter[str] = Counter()
    make, direct = client.pipeline, client.execute_command

    def pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = make(*args, **kwargs)
        run = pipe.execute

        async def execute(*a: Any, **k: Any) -> Any:
            seen["pipelines"] += 1
            seen["commands"] += len(pipe)
            return await run(*a, **k)

        pipe.execute = execute  # type: ignore[method-assign]
        return pipe

    async def command(*args: Any, **kwargs: Any) -> Any:
        seen["direct"] += 1
        return await direct(*args, **kwargs)

    client.pipeline = pipeline  # type: ignore[method-assign]
    client.execute_command = command  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        del client.pipeline, client.execute_command


async def test_the_shards_are_read_and_written_in_one_pipeline_not_per_user(
    cluster: RedisCluster, namespace: str
) -> None:
    users = [f"{namespace}u{i}" for i in range(300)]
    feedback = store(cluster, namespace)
    deadlines = {u: T0 + WINDOW + i for i, u in enumerate(users)}
    ledger = {ledger_member(f"wb-{i}", u): T0 + i for i, u in enumerate(users)}
    with round_trips(cluster) as seen:
        assert len(await feedback._index(deadlines, ledger)) == len(users)
    assert seen == {"pipelines": 1, "commands": DUE_SHARDS + len(users)}, seen
    tracker = RecallTracker(cast(Redis, cluster), CONFIG, namespace)
    with round_trips(cluster) as seen:
        await tracker.refresh(T0)
    assert seen == {"pipelines": 1, "commands": DUE_SHARDS} and len(tracker) == len(users)
    for trim in (feedback.forget_expired(T0), feedback.trim_ledger(T0)):
        with round_trips(cluster) as seen:
            await trim
        assert seen == {"pipelines": 1, "commands": DUE_SHARDS}, seen
    with round_trips(cluster) as seen:  # count, pages, records: one pipeline each
        by_user, missing = await read_messages(
            cast(Redis, cluster), Keys(namespace), T0, T0 + DAY, chunk=1000
        )
    assert seen["pipelines"] == 3 and seen["direct"] == 0 and missing == len(users) == 300
    assert not by_user  # the records were never written: every message is missing


def test_the_shard_names_are_the_due_indexs_rule(namespace: str) -> None:
    keys = Keys(namespace)
    for key in (keys.recall_index, keys.recall_ledger):
        assert shards(key, False) == [key] and sharded(key, "u1", False) == key
        names = shards(key, True)
        assert len(set(names)) == DUE_SHARDS and sharded(key, "u1", True) in names
        assert all(re.fullmatch(re.escape(key) + r":\{\d+\}", n) for n in names)
