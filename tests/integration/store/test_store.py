"""The fenced write in real Redis: a higher offset writes, a lower one is refused."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis

from profiles import codec
from streams.names import profile_key
from streams.settings.tree import Settings
from streams.store.profiles import ProfileStore, Write

pytestmark = pytest.mark.integration


def blob(fences: dict[str, int], **body: Any) -> bytes:
    """A stored state with these fences (the processor writes the state's own ``o``)."""
    return codec.encode({"o": fences, **body})


def write(user: str, partition: int | str, offset: int, **body: Any) -> Write:
    return Write(user, partition, offset, blob({str(partition): offset}, **body))


@pytest.mark.parametrize(
    "first,second,expected_refused,expected_state",
    [
        (5, 6, [], "second"),  # a newer batch overwrites
        (5, 4, ["u"], "first"),  # a zombie owner's older batch is refused
        (5, 5, [], "first"),  # a retried chunk that already landed: nothing to do, not refused
        (10**15, 10**15 + 1, [], "second"),  # offsets beyond Lua's integer printing
    ],
)
@pytest.mark.parametrize("partition", [3, "r1a2b3c4d"])  # a Kafka partition, a replay source
async def test_fenced_write(
    settings: Settings,
    namespace: str,
    first: int,
    second: int,
    expected_refused: list[str],
    expected_state: str,
    partition: int | str,
) -> None:
    redis = Redis.from_url(settings.redis_url)
    store = ProfileStore(redis, chunk=2)
    user = namespace + "u"
    try:
        assert await store.write([write(user, partition, first, w="first")]) == []
        refused = await store.write([write(user, partition, second, w="second")])
        assert refused == [user for _ in expected_refused]
        state = await store.get(user)
        assert state is not None and state["w"] == expected_state
        stored = await redis.get(profile_key(user))
        assert stored.startswith(f"{partition}:{max(first, second)};".encode())
    finally:
        await redis.aclose()


async def test_fences_are_per_partition(settings: Settings, namespace: str) -> None:
    """A user read from two partitions keeps a fence per partition; each refuses on its own."""
    redis = Redis.from_url(settings.redis_url)
    store = ProfileStore(redis)
    user = namespace + "two"
    try:
        await store.write([Write(user, 0, 50, blob({"0": 50}, w=1))])
        assert await store.write([Write(user, 1, 7, blob({"0": 50, "1": 7}, w=2))]) == []
        assert await store.write([Write(user, 0, 49, blob({"0": 49, "1": 7}, w=3))]) == [user]
        assert await store.write([Write(user, 1, 6, blob({"0": 50, "1": 6}, w=4))]) == [user]
        state = await store.get(user)
        assert state is not None and (state["w"], state["o"]) == (2, {"0": 50, "1": 7})
    finally:
        await redis.aclose()


async def test_write_spans_chunks_and_reloads_after_script_flush(
    settings: Settings, namespace: str
) -> None:
    redis = Redis.from_url(settings.redis_url)
    store = ProfileStore(redis, chunk=3)
    users = [f"{namespace}c{i}" for i in range(10)]
    try:
        assert await store.write([write(u, i % 2, 10, n=i) for i, u in enumerate(users)]) == []
        await redis.script_flush()  # e.g. Redis restarted: EVALSHA answers NOSCRIPT
        later = [write(u, i % 2, 11, n=i + 100) for i, u in enumerate(users)]
        assert await store.write(later) == []
        loaded = await store.load_many([namespace + "missing", *users, namespace + "missing2"])
        assert {u: s["n"] for u, s in loaded.items()} == {u: i + 100 for i, u in enumerate(users)}
    finally:
        await redis.aclose()


async def test_user_ids_lists_every_profile_once(settings: Settings, namespace: str) -> None:
    redis = Redis.from_url(settings.redis_url)
    store = ProfileStore(redis)
    users = [f"{namespace}{name}" for name in ("ann", "b:c", "d e")]
    try:
        await store.write([write(u, 0, 1, n=1) for u in users])
        found = [u for u in await store.user_ids(count=2) if u.startswith(namespace)]
        assert sorted(found) == sorted(users)
    finally:
        await redis.aclose()
