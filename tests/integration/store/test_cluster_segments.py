"""Segment member sets sharded on a real three-master Redis Cluster (streams/store/segments.py,
profile_lua.py, privacy_cluster.py; docs/cluster.md).

On one Redis a segment's member set is one key; on a cluster it is 16 (``seg:m:<name>:{n}``),
each user's membership in the shard its id hashes to (streams/names.py ``sharded``). The same
profile writes (entries, exits, refused writes, a hand-over) and erasures run on both: the union
of a segment's shards is the single Redis's set, each member in its own shard, the shards spread
over every primary; sizes are the SCARDs summed; ``portrait segment export``, the store's SSCAN
and the API's pages list every member exactly once; an erasure takes the user out of its shard
and publishes the same exits."""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any, cast

import httpx
import orjson
import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from profiles.model import ProfileModel
from streams.app.segment_export import Writer, export
from streams.names import DUE_SHARDS, Keys, sharded, shards
from streams.ops.progress import ProgressLine
from streams.settings.tree import Settings
from streams.store.privacy import PrivacyStore
from streams.store.profiles import Absorbed, ProfileStore, RulesDelta, Write
from streams.store.segments import SegmentStore
from streams.store.triggers import as_text
from tests.integration.api.live import live_api
from tests.integration.cluster import ClusterNode
from tests.integration.store.test_cluster_experiments import dump, nodes_of

pytestmark = pytest.mark.integration
# segments of the default rules, so that the API knows them
BIG, MID, SMALL, OTHER = "repeat_buyers", "layer_potential", "lapsed_buyers", "layer_churn_risk"
SEGMENTS = (BIG, MID, SMALL, OTHER)
NOW = int(time.time() * 1000)


def write(
    user: str, offset: int, added: Sequence[str] = (), removed: Sequence[str] = (), **more: Any
) -> Write:
    """A state write at ``offset`` of partition 0 with its rule delta (one message per change)."""
    model = ProfileModel()
    state = model.initial()
    state.fences = {"0": offset}
    changes = [*((s, "entered") for s in added), *((s, "exited") for s in removed)]
    messages = tuple(orjson.dumps({"user_id": user, "segment": s, "change": c}) for s, c in changes)
    delta = RulesDelta(tuple(added), tuple(removed), messages, due=0)
    return Write(user, 0, offset, model.encode(state), delta, **more)


def people(namespace: str, n: int, tag: str = "u") -> list[str]:
    return [f"{namespace}{tag}{i}" for i in range(n)]


def apart_from(user: str, candidates: Sequence[str], keys: Keys) -> str:
    """A candidate whose member-set shard is not ``user``'s (a hand-over crosses shards)."""
    mine = sharded(keys.segment_members(BIG), user, True)
    return next(c for c in candidates if sharded(keys.segment_members(BIG), c, True) != mine)


async def scenario(store: ProfileStore, users: list[str], gone: str) -> list[Any]:
    """Entries in one chunk, exits and moves, a refused (older) write and a survivor folding an
    absorbed profile in (its memberships leave the absorbed profile's own shard); the refused
    users of each write."""
    out = [await store.write([write(gone, 3, added=[BIG, SMALL])])]
    first = []
    for i, u in enumerate(users):
        added = [BIG] + [MID] * (i % 3 == 0) + [SMALL] * (i % 5 == 0)
        first.append(write(u, 5, added=added))
    out.append(await store.write(first))
    second = []
    for i, u in enumerate(users):
        if i % 4 == 0:
            second.append(write(u, 6, removed=[BIG]))
        elif i % 6 == 1:
            second.append(write(u, 6, removed=[BIG], added=[OTHER]))
    out.append(await store.write(second))
    older = [write(u, 4, removed=[BIG, SMALL]) for u in users[5:40:5]]  # below the fence
    out.append(await store.write(older))
    exits = (orjson.dumps({"user_id": gone, "change": "exited"}),)
    fold = write(users[1], 7, absorbed=(Absorbed(gone, (BIG, SMALL), exits),))
    out.append(await store.write([fold]))
    return out


async def members_of(client: Redis, keys: Keys, segment: str) -> set[str]:
    """The union of a segment's keys (the one key, or every shard on a cluster), each member
    checked to be in its own shard."""
    on_cluster = isinstance(client, RedisCluster)
    found: set[str] = set()
    for key in shards(keys.segment_members(segment), on_cluster):
        held = {as_text(m) for m in await client.smembers(key)}
        assert all(sharded(keys.segment_members(segment), u, on_cluster) == key for u in held)
        assert not held & found, "a member in two shards"
        found |= held
    return found


async def test_member_sets_end_as_on_a_single_redis(
    redis: Redis, cluster: RedisCluster, namespace: str
) -> None:
    keys, users = Keys(namespace), people(namespace, 120)
    client = cast(Redis, cluster)
    gone = apart_from(users[1], people(namespace, 40, "gone"), keys)
    single = await scenario(ProfileStore(redis, namespace, chunk=50), users, gone)
    split = await scenario(ProfileStore(client, namespace, chunk=50), users, gone)
    assert split == single and single[3] == users[5:40:5]  # the older writes were refused
    assert await dump(client, namespace) == await dump(redis, namespace)  # shards merged
    sizes = await SegmentStore(redis, namespace).sizes(SEGMENTS)
    assert await SegmentStore(client, namespace).sizes(SEGMENTS) == sizes
    for name in SEGMENTS:
        want = await members_of(redis, keys, name)
        assert await members_of(client, keys, name) == want and sizes[name] == len(want), name
    assert gone not in await members_of(client, keys, BIG) | await members_of(client, keys, SMALL)
    # the shards that hold BIG's members: most of the 16, on every primary
    big = [k for k in shards(keys.segment_members(BIG), True) if await cluster.scard(k)]
    assert len(big) >= 12 and len(nodes_of(cluster, big)) == 3
    assert await cluster.exists(keys.segment_members(BIG)) == 0  # no unsharded key on a cluster


async def test_export_store_and_api_list_every_member_once(
    redis: Redis, cluster: RedisCluster, settings: Settings, cluster_nodes: list[ClusterNode]
) -> None:
    """Beyond the small-set encoding (128 members a set, or a shard), so that SSCAN pages for
    real: every reader lists each member exactly once, in small pages too."""
    namespace = settings.topics.prefix
    keys, users = Keys(namespace), people(namespace, 2_600)
    client = cast(Redis, cluster)
    few = users[::200]  # 13: a page crosses shards
    for server in (redis, client):
        store = ProfileStore(server, namespace)
        await store.write([write(u, 5, added=[BIG] + [SMALL] * (u in few)) for u in users])
        assert await SegmentStore(server, namespace).sizes([BIG, SMALL]) == {
            BIG: len(users),
            SMALL: len(few),
        }
    shard_sizes = [await cluster.scard(k) for k in shards(keys.segment_members(BIG), True)]
    assert sum(shard_sizes) == len(users) and min(shard_sizes) > 128  # hashtable sets
    for server in (redis, client):
        assert await exported(server, settings, BIG) == sorted(users)
        assert await exported(server, settings, SMALL) == sorted(few)
        chunks = [c async for c in SegmentStore(server, namespace).members(BIG, 50)]
        assert sorted(u for c in chunks for u in c) == sorted(users) and len(chunks) > 20
    on_cluster = dataclasses.replace(
        settings,
        redis_url=f"redis+cluster://127.0.0.1:{cluster_nodes[0].port}",
        identity=dataclasses.replace(settings.identity, enabled=False),
    )
    walked: dict[tuple[bool, str, int], list[str]] = {}  # the cursors of each walk
    for s in (settings, on_cluster):
        async with (
            live_api(s) as api,
            httpx.AsyncClient(base_url=api.url, headers=api.auth("read"), timeout=30) as http,
        ):
            for name, want, limit in ((BIG, users, 50), (BIG, users, 500), (SMALL, few, 3)):
                listed, walked[s is on_cluster, name, limit] = await paged(http, name, limit)
                assert sorted(listed) == sorted(want), (s.redis_url, name, limit)
            await refused_cursors(http, s is on_cluster)
            sizes = (await http.get("/v1/segments")).json()["segments"]
            assert {d["name"]: d["size"] for d in sizes if d["name"] in (BIG, SMALL)} == {
                BIG: len(users),
                SMALL: len(few),
            }
    for (in_shards, name, limit), cursors in walked.items():
        form = r"(\d|1[0-5]):\d+" if in_shards else r"\d+"  # "<shard>:<SSCAN cursor>"
        assert all(re.fullmatch(form, c) for c in cursors), (in_shards, name, limit, cursors)
    cursors = walked[True, BIG, 50]
    shards_walked = [int(c.partition(":")[0]) for c in cursors]
    assert shards_walked == sorted(shards_walked) and shards_walked[-1] == DUE_SHARDS - 1
    assert [c for c in cursors if not c.endswith(":0")], "cursors within a shard"
    # a small segment (13 members): pages of 3 or more, each over several shards, not 16 thin
    assert 2 <= len(walked[True, SMALL, 3]) <= 4


async def exported(client: Redis, settings: Settings, name: str) -> list[str]:
    """``portrait segment export``'s user ids (csv), each checked to be written once."""
    out = io.StringIO()
    progress = ProgressLine("export", enabled=False)
    count = await export(client, settings, settings.rules, name, Writer(out, "csv", []), [],
                         progress, NOW)  # fmt: skip
    rows = [row["user_id"] for row in csv.DictReader(io.StringIO(out.getvalue()))]
    assert count == len(rows) and not [u for u, n in Counter(rows).items() if n > 1]
    return sorted(rows)


async def paged(http: httpx.AsyncClient, name: str, limit: int) -> tuple[list[str], list[str]]:
    """Every page of the segment's members through the API: the members and the cursors (a
    walk of more pages than the test's segments can need fails: a cursor that loops)."""
    listed: list[str] = []
    cursors: list[str] = []
    cursor: str | None = None
    while len(cursors) < 500:
        params = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
        response = await http.get(f"/v1/segments/{name}/members", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        listed += page["members"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        cursors.append(cursor)
    assert cursor is None, f"no end after {len(cursors)} pages"
    assert not [u for u, n in Counter(listed).items() if n > 1], "a member listed twice"
    return listed, cursors


async def refused_cursors(http: httpx.AsyncClient, on_cluster: bool) -> None:
    """A cursor of the other deployment's form, or no cursor at all, is a 400 in one line."""
    bad = ["12", "16:0", "3:", ":5", "x:1", "1:x"] if on_cluster else ["3:5", "x1"]
    for cursor in bad:
        response = await http.get(f"/v1/segments/{BIG}/members", params={"cursor": cursor})
        assert response.status_code == 400, (cursor, response.text)
        assert response.json()["error"]["code"] == "invalid_request"


async def test_an_erasure_leaves_the_users_shard_and_publishes_its_exits(
    redis: Redis, cluster: RedisCluster, namespace: str
) -> None:
    keys, users = Keys(namespace), people(namespace, 48)
    client = cast(Redis, cluster)
    assert len(nodes_of(cluster, [sharded(keys.segment_members(BIG), u, True) for u in users])) == 3
    exits = [(name, orjson.dumps({"segment": name, "change": "exited"})) for name in SEGMENTS]
    replies = []
    for server in (redis, client):
        await ProfileStore(server, namespace).write(
            [write(u, 5, added=[BIG, *[MID] * (i % 2), *[SMALL] * (i % 3 == 0)])
             for i, u in enumerate(users)]
        )  # fmt: skip
        privacy = PrivacyStore(server, namespace)
        erased = [await privacy.erase(u, f"x{i}", NOW, suppress=False, home=0, exits=exits)
                  for i, u in enumerate(users[::3])]  # fmt: skip
        replies.append((erased, await privacy.read(users[1], list(SEGMENTS))))
    assert replies[1] == replies[0]
    assert {tuple(e.segments_exited) for e in replies[0][0]} == {(BIG, MID, SMALL), (BIG, SMALL)}
    assert replies[0][1].segments == [BIG, MID]  # a bystander's memberships, read from its shard
    for name in SEGMENTS:
        assert await members_of(client, keys, name) == await members_of(redis, keys, name)
    assert not set(users[::3]) & await members_of(client, keys, BIG)
    assert await dump(client, namespace) == await dump(redis, namespace)  # outbox: same exits
