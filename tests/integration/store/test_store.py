"""The fenced write in real Redis: a higher offset writes, a lower one is refused."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis

from profiles import codec
from profiles.model import ProfileModel, State
from streams.names import Keys
from streams.settings.tree import Settings
from streams.store.profiles import ProfileStore, Write

pytestmark = pytest.mark.integration


_MODEL = ProfileModel()


def blob(fences: dict[str, int], mark: Any) -> bytes:
    """A stored state with these fences, told apart from the others by ``mark``."""
    state = _MODEL.bare()
    state.fences, state.attributes = fences, {0: mark}
    return codec.encode(state)


def mark(state: State) -> Any:
    return state.attributes[0]


def write(user: str, partition: int | str, offset: int, mark: Any) -> Write:
    return Write(user, partition, offset, blob({str(partition): offset}, mark))


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
    either: Redis,
    settings: Settings,
    namespace: str,
    first: int,
    second: int,
    expected_refused: list[str],
    expected_state: str,
    partition: int | str,
) -> None:
    redis = either  # one Redis, then a cluster
    store = ProfileStore(redis, settings.topics.prefix, chunk=2)
    user = namespace + "u"
    assert await store.write([write(user, partition, first, "first")]) == []
    refused = await store.write([write(user, partition, second, "second")])
    assert refused == [user for _ in expected_refused]
    state = await store.get(user)
    assert state is not None and mark(state) == expected_state
    stored = await redis.get(Keys(settings.topics.prefix).profile(user))
    assert stored.startswith(f"{partition}:{max(first, second)};".encode())


async def test_fences_are_per_partition(either: Redis, settings: Settings, namespace: str) -> None:
    """A user read from two partitions keeps a fence per partition; each refuses on its own."""
    redis = either  # one Redis, then a cluster
    store = ProfileStore(redis, settings.topics.prefix)
    user = namespace + "two"
    await store.write([Write(user, 0, 50, blob({"0": 50}, 1))])
    assert await store.write([Write(user, 1, 7, blob({"0": 50, "1": 7}, 2))]) == []
    assert await store.write([Write(user, 0, 49, blob({"0": 49, "1": 7}, 3))]) == [user]
    assert await store.write([Write(user, 1, 6, blob({"0": 50, "1": 6}, 4))]) == [user]
    state = await store.get(user)
    assert state is not None and (mark(state), state.fences) == (2, {"0": 50, "1": 7})


async def test_write_spans_chunks_and_reloads_after_script_flush(
    either: Redis, settings: Settings, namespace: str
) -> None:
    redis = either  # one Redis, then a cluster
    store = ProfileStore(redis, settings.topics.prefix, chunk=3)
    users = [f"{namespace}c{i}" for i in range(10)]
    assert await store.write([write(u, i % 2, 10, i) for i, u in enumerate(users)]) == []
    await redis.script_flush()  # e.g. Redis restarted: EVALSHA answers NOSCRIPT
    later = [write(u, i % 2, 11, i + 100) for i, u in enumerate(users)]
    assert await store.write(later) == []
    loaded = await store.load_many([namespace + "missing", *users, namespace + "missing2"])
    assert {u: mark(s) for u, s in loaded.items()} == {u: i + 100 for i, u in enumerate(users)}


async def test_user_ids_lists_every_profile_once(
    either: Redis, settings: Settings, namespace: str
) -> None:
    redis = either  # one Redis, then a cluster
    store = ProfileStore(redis, settings.topics.prefix)
    users = [f"{namespace}{name}" for name in ("ann", "b:c", "d e")]
    await store.write([write(u, 0, 1, 1) for u in users])
    assert sorted(await store.user_ids(count=2)) == sorted(users)  # this namespace's only
