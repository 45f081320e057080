"""The fenced write with its rule delta, in real Redis: the member sets, the outbox and the due
index change with the state or not at all; an exact (re-evaluation) write lands at an equal
fence, a batch write's retry there is a no-op, and a write below the fence changes nothing."""

from __future__ import annotations

import orjson
import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from profiles.model import ProfileModel
from streams.names import Keys, shards
from streams.settings.tree import Settings
from streams.store.profiles import ProfileStore, RulesDelta, Write
from streams.store.segments import SegmentStore

pytestmark = pytest.mark.integration


def _write(
    user: str, offset: int, delta: RulesDelta | None, *, exact: bool = False, mark: int = 0
) -> Write:
    model = ProfileModel()
    state = model.initial()
    state.fences = {"0": offset}
    state.rules.at = mark  # tells the versions apart
    return Write(user, 0, offset, model.encode(state), delta, exact=exact)


def _message(user: str, n: int) -> bytes:
    return orjson.dumps({"user_id": user, "change_id": f"c{n}", "segment": "vip"})


async def _members(redis: Redis, keys: Keys, segment: str) -> set[str]:
    """The segment's members: on a cluster the union of its member set's shards."""
    out: set[str] = set()
    for key in shards(keys.segment_members(segment), isinstance(redis, RedisCluster)):
        out |= {m.decode() for m in await redis.smembers(key)}
    return out


async def test_the_delta_lands_with_the_state_or_not_at_all(
    either: Redis, settings: Settings, namespace: str
) -> None:
    redis = either  # one Redis, then a cluster
    keys = Keys(namespace)
    store = ProfileStore(redis, namespace)
    segments = SegmentStore(redis, namespace)
    u = namespace + "u1"
    entered = RulesDelta(("vip", "buyers"), (), (_message(u, 1),), due=1_700_000_000_123)
    assert await store.write([_write(u, 5, entered)]) == []
    assert await _members(redis, keys, "vip") == {u}
    assert await segments.size("buyers") == 1
    assert await redis.zscore(keys.rules_due(0), u) == 1_700_000_000_123
    outbox = await segments.outbox(0)
    assert [(o.user_id, orjson.loads(o.value)["change_id"]) for o in outbox] == [(u, "c1")]

    # a retried chunk (same offset, batch write): a no-op, not a second message
    assert await store.write([_write(u, 5, entered)]) == []
    assert len(await segments.outbox(0)) == 1

    # below the fence: refused, nothing of its delta applied
    left = RulesDelta((), ("vip",), (_message(u, 2),), due=0)
    assert await store.write([_write(u, 4, left)]) == [u]
    assert await _members(redis, keys, "vip") == {u}
    assert len(await segments.outbox(0)) == 1

    # an exact write at the same fence (a re-evaluation) lands, and its retry is harmless
    for _ in range(2):
        assert await store.write([_write(u, 5, left, exact=True, mark=9)]) == []
    assert await _members(redis, keys, "vip") == set()
    assert await redis.zscore(keys.rules_due(0), u) is None
    stored = await store.get(u)
    assert stored is not None and stored.rules.at == 9
    await segments.published(0, outbox)
    assert [orjson.loads(o.value)["change_id"] for o in await segments.outbox(0)] == ["c2", "c2"]


async def test_many_users_in_one_chunk_keep_their_own_deltas(
    either: Redis, settings: Settings, namespace: str
) -> None:
    redis = either  # one Redis, then a cluster
    keys = Keys(namespace)
    store = ProfileStore(redis, namespace, chunk=7)
    users = [f"{namespace}u{i}" for i in range(40)]
    writes = [
        _write(
            u, 10 + i, RulesDelta(("even",) if i % 2 == 0 else (), (), (), due=i) if i % 3 else None
        )
        for i, u in enumerate(users)
    ]
    assert await store.write(writes) == []
    expected = {u for i, u in enumerate(users) if i % 2 == 0 and i % 3}
    assert await _members(redis, keys, "even") == expected
    due = await redis.zrange(keys.rules_due(0), 0, -1, withscores=True)
    assert {m.decode(): int(s) for m, s in due} == {
        u: i for i, u in enumerate(users) if i % 3 and i != 0
    }
    segments = SegmentStore(redis, namespace)
    seen: list[str] = []
    async for chunk in segments.members("even", count=3):
        seen.extend(chunk)
    assert sorted(seen) == sorted(expected)
