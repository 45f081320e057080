"""The fenced write in real Redis: a higher offset writes, a lower one is refused."""

from __future__ import annotations

import orjson
import pytest
from redis.asyncio import Redis

from profiles.constants import profile_key
from profiles.store import ProfileStore, Write
from streams.settings import Settings

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    "first,second,expected_refused,expected_state",
    [
        (5, 6, [], "second"),  # a newer batch overwrites
        (5, 4, ["u"], "first"),  # a zombie owner's older batch is refused
        (5, 5, [], "first"),  # a retried chunk that already landed: nothing to do, not refused
        (10**15, 10**15 + 1, [], "second"),  # offsets beyond Lua's integer printing
    ],
)
async def test_fenced_write(
    settings: Settings,
    namespace: str,
    first: int,
    second: int,
    expected_refused: list[str],
    expected_state: str,
) -> None:
    redis = Redis.from_url(settings.redis_url)
    store = ProfileStore(redis, chunk=2)
    user = namespace + "u"
    try:
        assert await store.write([Write(user, 3, first, orjson.dumps({"w": "first"}))], 1) == []
        refused = await store.write([Write(user, 3, second, orjson.dumps({"w": "second"}))], 2)
        assert refused == [user for _ in expected_refused]
        assert await store.get(user) == {"w": expected_state}
        fence = await redis.hget(profile_key(user), "f:3")  # type: ignore[misc]
        assert int(fence) == max(first, second)
    finally:
        await redis.aclose()


async def test_write_spans_chunks_and_reloads_after_script_flush(
    settings: Settings, namespace: str
) -> None:
    redis = Redis.from_url(settings.redis_url)
    store = ProfileStore(redis, chunk=3)
    users = [f"{namespace}c{i}" for i in range(10)]
    try:
        writes = [Write(u, i % 2, 10, orjson.dumps({"n": i})) for i, u in enumerate(users)]
        assert await store.write(writes, 1) == []
        await redis.script_flush()  # e.g. Redis restarted: EVALSHA answers NOSCRIPT
        later = [Write(u, i % 2, 11, orjson.dumps({"n": i + 100})) for i, u in enumerate(users)]
        assert await store.write(later, 2) == []
        loaded = await store.load_many([namespace + "missing", *users, namespace + "missing2"])
        assert {u: s["n"] for u, s in loaded.items()} == {u: i + 100 for i, u in enumerate(users)}
    finally:
        await redis.aclose()


async def test_user_ids_lists_every_profile_once(settings: Settings, namespace: str) -> None:
    redis = Redis.from_url(settings.redis_url)
    store = ProfileStore(redis)
    users = [f"{namespace}{name}" for name in ("ann", "b:c", "d e")]
    try:
        await store.write([Write(u, 0, 1, orjson.dumps({"n": 1})) for u in users], 1)
        found = [u for u in await store.user_ids(count=2) if u.startswith(namespace)]
        assert sorted(found) == sorted(users)
    finally:
        await redis.aclose()
