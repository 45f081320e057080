"""The profile write's shared follow-up on a real three-master Redis Cluster
(streams/store/follow_up.py): a crash after a user's script and before its shared writes loses
nothing. The partition owner's sweep makes them, or the user's next write does, oldest first."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
import pytest
from redis.asyncio.cluster import RedisCluster

from profiles.model import ProfileModel
from streams.names import Keys, sharded, shards
from streams.store.follow_up import Done
from streams.store.privacy import PrivacyStore
from streams.store.profiles import ProfileStore, RulesDelta, Write
from streams.store.segments import SegmentStore

pytestmark = pytest.mark.integration


def _write(user: str, offset: int, delta: RulesDelta | None, home: int = 0) -> Write:
    model = ProfileModel()
    state = model.initial()
    state.fences = {str(home): offset}
    return Write(user, home, offset, model.encode(state), delta)


def _delta(user: str, n: int, added: Sequence[str] = (), removed: Sequence[str] = ()) -> RulesDelta:
    message = orjson.dumps({"user_id": user, "change_id": f"c{n}"})
    return RulesDelta(tuple(added), tuple(removed), (message,), due=1_000 + n)


async def _crash_before_follow_up(store: ProfileStore, writes: list[Write]) -> None:
    """The write's script runs; the process dies before its shared writes."""
    assert store.follow_ups is not None
    made = store.follow_ups.make

    async def die(done: Sequence[Done], marked: object = ()) -> int:
        raise ConnectionError("killed")

    store.follow_ups.make = die  # type: ignore[method-assign]
    try:
        with pytest.raises(ConnectionError):
            await store.write(writes)
    finally:
        store.follow_ups.make = made  # type: ignore[method-assign]


async def _members(cluster: RedisCluster, keys: Keys, segment: str) -> set[str]:
    """The segment's members: the union of its member set's shards, each user in its own."""
    out: set[str] = set()
    for key in shards(keys.segment_members(segment), True):
        found = {m.decode() for m in await cluster.smembers(key)}
        assert all(key == sharded(keys.segment_members(segment), u, True) for u in found)
        out |= found
    return out


async def _changes(segments: SegmentStore, partition: int) -> list[str]:
    return [orjson.loads(o.value)["change_id"] for o in await segments.outbox(partition)]


async def test_the_owner_sweep_makes_what_a_crash_left(
    cluster: RedisCluster, namespace: str
) -> None:
    keys = Keys(namespace)
    store = ProfileStore(cluster, namespace)
    segments = SegmentStore(cluster, namespace)
    users = [f"{namespace}u{i}" for i in range(12)]
    await _crash_before_follow_up(
        store, [_write(u, 5, _delta(u, i, added=["vip"]), home=i % 2) for i, u in enumerate(users)]
    )
    assert len(await store.load_many(users)) == 12  # the states landed
    assert await _members(cluster, keys, "vip") == set()  # their shared writes did not
    assert await cluster.scard(keys.rules_dirty(0)) == 6
    assert await store.finish_follow_ups(["1"]) == 6  # one partition's owner
    assert await _members(cluster, keys, "vip") == set(users[1::2])
    assert await store.finish_follow_ups(["0"]) == 6  # the other's
    assert await _members(cluster, keys, "vip") == set(users)
    assert sorted(await _changes(segments, 0)) == ["c0", "c10", "c2", "c4", "c6", "c8"]
    assert await cluster.zscore(keys.rules_due(1), users[3]) == 1_003
    for u in users:
        assert await cluster.exists(keys.follow_up(u)) == 0
    assert await cluster.scard(keys.rules_dirty(0)) + await cluster.scard(keys.rules_dirty(1)) == 0
    assert await store.finish_follow_ups(["0", "1"]) == 0  # nothing left: nothing made again


async def test_the_next_write_makes_the_leftover_first(
    cluster: RedisCluster, namespace: str
) -> None:
    keys = Keys(namespace)
    store = ProfileStore(cluster, namespace)
    segments = SegmentStore(cluster, namespace)
    u = namespace + "u"
    await _crash_before_follow_up(store, [_write(u, 5, _delta(u, 1, added=["vip"]))])
    # the replay's next write leaves the segment: made after the entry, so the user is out
    assert await store.write([_write(u, 6, _delta(u, 2, removed=["vip"]))]) == []
    assert await _members(cluster, keys, "vip") == set()
    assert await _changes(segments, 0) == ["c1", "c2"]
    assert await cluster.zscore(keys.rules_due(0), u) == 1_002
    assert await cluster.exists(keys.follow_up(u), keys.rules_dirty(0)) == 0


async def test_a_refused_write_leaves_nothing_marked(cluster: RedisCluster, namespace: str) -> None:
    keys = Keys(namespace)
    store = ProfileStore(cluster, namespace)
    u = namespace + "u"
    assert await store.write([_write(u, 9, _delta(u, 1, added=["vip"]))]) == []
    assert await store.write([_write(u, 8, _delta(u, 2, removed=["vip"]))]) == [u]  # older
    assert await _members(cluster, keys, "vip") == {u}
    assert await cluster.exists(keys.follow_up(u), keys.rules_dirty(0)) == 0


async def test_an_erasure_drops_what_a_crash_left(cluster: RedisCluster, namespace: str) -> None:
    """A user erased while a crash's follow-up is still to make: the sweep after it does not
    put the erased user back in a member set or publish their entry."""
    keys = Keys(namespace)
    store = ProfileStore(cluster, namespace)
    u = namespace + "u"
    await _crash_before_follow_up(store, [_write(u, 5, _delta(u, 1, added=["vip"]))])
    await PrivacyStore(cluster, namespace).erase(u, "e1", 1_000, suppress=False, home=0, exits=())
    assert await cluster.exists(keys.follow_up(u), keys.rules_dirty(0)) == 0
    assert await store.finish_follow_ups(["0"]) == 0
    assert await _members(cluster, keys, "vip") == set()
    assert await _changes(SegmentStore(cluster, namespace), 0) == []
