"""Multi-key reads and scans on a real three-master Redis Cluster (docs/cluster.md, section 2):
the profile SCAN one primary at a time (as insight and the rules upkeep use it), the census's
DBSIZE and RANDOMKEY over every primary, and the identity graph's MGET per slot.

Profiles are written with plain SETs of ``Keys.profile``: these tests are about reading them."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from profiles.identity import Identifier, IdentityRules, plan
from profiles.model import ProfileModel
from profiles.rules.engine import RulesEngine
from profiles.rules.ruleset import RuleSet
from streams.insight.scan import EVERYONE, Scanner
from streams.names import IDENTIFIER, PERSON, Keys
from streams.ops.census import Census
from streams.ops.progress import ProgressLine
from streams.ops.sensor import Sensor
from streams.pipeline.batch import DeadLetter
from streams.pipeline.processor import BatchProcessor
from streams.pipeline.retry import Backoff, wall_clock_ms
from streams.pipeline.rules_hook import RulesHook
from streams.pipeline.rules_upkeep import RulesUpkeep
from streams.store.identity import IdentityStore
from streams.store.profiles import ProfileStore
from streams.store.segments import ScanCursor, SegmentStore

pytestmark = pytest.mark.integration
NO_RULES = RuleSet((), (), {})


def users(namespace: str, n: int) -> list[str]:
    return [f"{namespace}u{i}" for i in range(n)]


async def write_profiles(redis: Redis | RedisCluster, namespace: str, ids: Sequence[str]) -> None:
    """A fresh profile state for each user (no fence: no partition owns it yet), plus a key of
    another kind beside it that no profile scan may return."""
    keys, blob = Keys(namespace), ProfileModel().encode(ProfileModel().initial())
    async with redis.pipeline(transaction=False) as pipe:
        for uid in ids:
            pipe.set(keys.profile(uid), blob)
            pipe.hset(keys.pending(uid), "cart_reminder", b"{}")
        await pipe.execute()


def primaries(cluster: RedisCluster) -> set[str]:
    return {node.name for node in cluster.get_primaries()}


async def scan_all(store: SegmentStore, count: int) -> tuple[list[str], list[ScanCursor]]:
    """Every step of a profile scan: the ids in the order returned, and each step's cursor."""
    cursor, found, steps = ScanCursor(), [], []
    while not cursor.done:
        cursor, ids = await store.scan_profiles(cursor, count)
        found.extend(ids)
        steps.append(cursor)
    return found, steps


# --- the profile scan -------------------------------------------------------------------------


async def test_a_stepwise_scan_returns_every_profile_of_every_primary(
    cluster: RedisCluster, namespace: str
) -> None:
    written = users(namespace, 3000)
    await write_profiles(cluster, namespace, written)
    store = SegmentStore(cluster, namespace)  # type: ignore[arg-type]

    found, steps = await scan_all(store, count=50)

    assert set(found) == set(written)
    assert {s.node for s in steps if s.node is not None} == primaries(cluster)
    assert steps[-1].visited == primaries(cluster)
    per_node = Counter(s.node for s in steps if s.node is not None)
    assert min(per_node.values()) >= 5, f"small steps, several on each primary: {per_node}"
    assert not any(s.done for s in steps[:-1]), "done with the last primary's last step"
    assert await store.scan_profiles(steps[-1], 50) == (steps[-1], [])


async def test_the_scan_gives_the_same_users_on_a_single_redis(
    redis: Redis, cluster: RedisCluster, namespace: str
) -> None:
    written = users(namespace, 800)
    for client in (redis, cluster):
        await write_profiles(client, namespace, written)
    single, steps = await scan_all(SegmentStore(redis, namespace), count=100)
    spread, _ = await scan_all(SegmentStore(cluster, namespace), count=100)  # type: ignore[arg-type]
    assert set(single) == set(spread) == set(written)
    assert all(s.node is None and not s.visited for s in steps)  # a single Redis: one cursor


async def test_insight_tallies_every_profile_of_the_cluster(
    cluster: RedisCluster, namespace: str
) -> None:
    written = users(namespace, 2500)
    await write_profiles(cluster, namespace, written)
    scanner = Scanner(
        cluster,  # type: ignore[arg-type]
        namespace, ProfileModel(), NO_RULES, wall_clock_ms(), chunk=200,
    )  # fmt: skip
    scanned = await scanner.scan(EVERYONE, ProgressLine("test", enabled=False))
    assert (scanned.listed, scanned.tally.users, scanned.unreadable) == (2500, 2500, 0)


class Letters:
    async def send_many(self, letters: Sequence[DeadLetter]) -> None:
        raise AssertionError(f"nothing here is dead-lettered: {letters[:1]}")


class Watched(RulesUpkeep):
    """The upkeep, noting which users each scan round handed to the re-evaluation."""

    seen: list[str]

    async def _evaluate_stored(self, users: Sequence[str], *args: object) -> None:
        self.seen.extend(users)
        await super()._evaluate_stored(users, *args)  # type: ignore[arg-type]


async def test_the_rules_upkeep_pass_walks_every_primary(
    cluster: RedisCluster, namespace: str
) -> None:
    written = users(namespace, 1500)
    await write_profiles(cluster, namespace, written)
    model = ProfileModel()
    segments = SegmentStore(cluster, namespace)  # type: ignore[arg-type]
    processor = BatchProcessor(
        model, ProfileStore(cluster, namespace), Letters(), wall_clock_ms,  # type: ignore[arg-type]
        backoff=Backoff(0.01, 0.1), should_stop=lambda: True,
        rules=RulesHook(RulesEngine(model, NO_RULES)),
    )  # fmt: skip
    upkeep = Watched(processor, segments, scan_chunk=40, budget_s=60)
    upkeep.seen = []
    await upkeep.assigned([0, 1])  # never evaluated under these rules: a pass starts
    nodes, rounds = set(), 0
    while upkeep.scanning:
        rounds += 1
        await upkeep.run([0, 1], wall_clock_ms())
        scan = upkeep._scan
        if scan is not None and scan.cursor.node is not None:
            nodes.add(scan.cursor.node)
    assert nodes == primaries(cluster)
    assert set(upkeep.seen) == set(written)
    assert rounds > 1500 // 40 // 2
    # the pass is recorded as done only once every primary was scanned
    assert await segments.stale_partitions({"0", "1"}, upkeep.engine.version) == set()


# --- the census -------------------------------------------------------------------------------


async def test_the_census_counts_and_samples_every_primary(
    cluster: RedisCluster, namespace: str
) -> None:
    """Profiles on one primary only, other keys on the two others: the primaries differ in
    size and in profile share, so an estimate that sampled the nodes evenly (or one node)
    would be far off."""
    await cluster.flushall()  # the census counts every key of the cluster
    keys = Keys(namespace)
    on: dict[str, list[str]] = {name: [] for name in primaries(cluster)}
    i = 0
    while min(map(len, on.values())) < 1800:
        uid = f"{namespace}u{i}"
        node = cluster.get_node_from_key(keys.profile(uid))
        assert node is not None
        on[node.name].append(uid)
        i += 1
    first, *others = sorted(on)
    profiled = on[first][:1800]
    await write_profiles(cluster, namespace, profiled)  # 2 keys per user on the first
    async with cluster.pipeline(transaction=False) as pipe:
        for name in others:
            for uid in on[name][:900]:
                pipe.set(keys.sent(uid), b"x")
        await pipe.execute()
    total = 2 * 1800 + 2 * 900

    def census(exact_below: int) -> Census:
        return Census(
            cluster,  # type: ignore[arg-type]
            ProfileModel(), Sensor(), key_prefix=namespace, sample=2000, exact_below=exact_below,
        )  # fmt: skip

    exact = await census(exact_below=total).take()  # DBSIZE: every primary's, summed
    assert (exact["exact"], exact["profiles"], exact["sampled"]) == (True, 1800, 1800)
    estimated = await census(exact_below=total - 1).take()
    assert estimated["exact"] is False
    share = 1800 / total
    error = total * math.sqrt(share * (1 - share) / 2000)  # the census's standard error
    assert abs(estimated["profiles"] - 1800) <= 4.5 * error, (estimated["profiles"], error)
    assert abs(estimated["sampled"] - 2000 * share) <= 4.5 * error * 2000 / total


# --- the identity graph -----------------------------------------------------------------------


async def test_identity_persons_on_the_cluster_equal_the_single_redis(
    redis: Redis, cluster: RedisCluster, namespace: str
) -> None:
    """A graph built by the real merges on a single Redis, copied key by key to the cluster
    (its merge script does not run on a cluster yet), read back the same from both."""
    single = IdentityStore(redis, namespace)
    rules, at = IdentityRules(), 1_717_000_000_000
    asked: list[Identifier] = []
    for n in range(40):
        user = Identifier("user_id", f"u-{n}")
        links = [Identifier(kind, f"{kind[0]}-{n}") for kind in ("anonymous_id", "device_id")]
        read = [user, *links]
        known = await single.persons(read)
        steps = plan(rules, user, links, known)  # a merge of the anonymous profile, a link
        assert {s.action for s in steps} == {"merge", "link"}
        await single.apply(steps, known, read, at + n, "login", single.keys.changes_outbox(0))
        asked.extend(read)
    asked.append(Identifier("anonymous_id", "never-seen"))
    keys = Keys(namespace)
    for kind in (IDENTIFIER, PERSON):
        async for key in redis.scan_iter(keys.user_pattern(kind), count=500):
            dumped = await redis.dump(key)
            assert dumped is not None
            await cluster.restore(key, 0, dumped)

    on_cluster = await IdentityStore(cluster, namespace).persons(asked)  # type: ignore[arg-type]

    expected = await single.persons(asked)
    assert on_cluster == expected
    assert len(expected) == len(asked) - 1 and len(set(asked)) > 100
    spread = {cluster.keyslot(keys.identifier(i.text)) for i in asked}
    assert len(spread) > 100, "identifiers on many slots: one MGET could not read them"
