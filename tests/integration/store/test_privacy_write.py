"""The fenced write against the privacy marker, in real Redis (docs/privacy.md): nothing lands
while an erasure is on its way, the tombstone refuses what is older than the erase event, a
suppressed user never gets a state, and those writes' pending triggers go with them."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from streams.names import Keys, due_member
from streams.settings.tree import Settings
from streams.store.privacy import PrivacyStore
from streams.store.profiles import ProfileStore, Refusals, Write
from tests.integration.store.test_store import blob, write

pytestmark = pytest.mark.integration


def erase_write(user: str, offset: int, erase_id: str, state: bool = False) -> Write:
    body = blob({"0": offset}, "after") if state else b""
    return Write(user, 0, offset, body, erase=erase_id)


async def erase(redis: Redis, namespace: str, user: str, erase_id: str, suppress: bool) -> None:
    await PrivacyStore(redis, namespace).erase(
        user, erase_id, 1_000, suppress=suppress, home=0, exits=[]
    )


async def queue_trigger(redis: Redis, keys: Keys, user: str) -> None:
    """What a batch's trigger ops leave (they are written before the states)."""
    await redis.hset(keys.pending(user), "cart_reminder", b"{}")
    await redis.zadd(keys.due, {due_member("cart_reminder", user): 5})
    await redis.zadd(keys.due, {due_member("win_back", user): 9})  # lazy: no pending record


async def no_trigger(redis: Redis, keys: Keys, user: str) -> bool:
    due = [m.decode() for m in await redis.zrange(keys.due, 0, -1)]
    return not await redis.exists(keys.pending(user)) and not any(user in m for m in due)


async def test_nothing_lands_while_the_erasure_is_on_its_way(
    redis: Redis, settings: Settings, namespace: str
) -> None:
    store, keys, u = ProfileStore(redis, namespace, tombstone_ms=60_000), Keys(namespace), "u"
    user = namespace + u
    assert await store.write([write(user, 0, 5, "before")]) == []
    await erase(redis, namespace, user, "e1", suppress=False)
    await queue_trigger(redis, keys, user)  # a batch in flight before the erase event
    assert await store.write_all([write(user, 0, 6, "in flight")]) == Refusals([user], [])
    assert not await redis.exists(keys.profile(user))
    assert await no_trigger(redis, keys, user)
    # another erasure's event (an older one overtaken by a second erase) does not complete it
    assert await store.write([erase_write(user, 7, "e0")]) == [user]
    assert await redis.hget(keys.privacy(user), "pending") == b"e1"
    # the worker reaches the erase event: the tombstone alone is left, for its lifetime
    assert await store.write([erase_write(user, 8, "e1")]) == []
    marker = await redis.hgetall(keys.privacy(user))
    assert marker.get(b"pending") is None and marker[b"fence"] == b"0:8"
    assert 0 < await redis.pttl(keys.privacy(user)) <= 60_000
    assert not await redis.exists(keys.profile(user))
    # a zombie owner's batch from before the erase event is refused, and its triggers go
    await queue_trigger(redis, keys, user)
    assert await store.write([write(user, 0, 7, "zombie")]) == [user]
    assert await no_trigger(redis, keys, user)
    # what follows the erase event starts a new profile
    assert await store.write([write(user, 0, 9, "new")]) == []
    assert await redis.exists(keys.profile(user))


async def test_events_after_the_erase_event_in_the_same_batch_start_the_new_profile(
    redis: Redis, settings: Settings, namespace: str
) -> None:
    store, keys = ProfileStore(redis, namespace), Keys(namespace)
    user = namespace + "v"
    await erase(redis, namespace, user, "e1", suppress=False)
    assert await store.write([erase_write(user, 4, "e1", state=True)]) == []
    assert await redis.exists(keys.profile(user))
    assert not await redis.exists(keys.privacy(user))  # the profile's own fence took over


async def test_a_suppressed_user_never_gets_a_state(
    redis: Redis, settings: Settings, namespace: str
) -> None:
    store, keys = ProfileStore(redis, namespace), Keys(namespace)
    user = namespace + "w"
    await erase(redis, namespace, user, "e1", suppress=True)
    assert await store.write_all([erase_write(user, 3, "e1", state=True)]) == Refusals([], [user])
    assert await redis.hget(keys.privacy(user), "pending") is None
    await queue_trigger(redis, keys, user)
    assert await store.write_all([write(user, 0, 4, "later")]) == Refusals([], [user])
    assert not await redis.exists(keys.profile(user))
    assert await no_trigger(redis, keys, user)
    assert await redis.pttl(keys.privacy(user)) == -1  # the suppression is kept
    # a later erasure without suppression does not lift it
    await erase(redis, namespace, user, "e2", suppress=False)
    assert await store.write_all([erase_write(user, 5, "e2")]) == Refusals([], [user])
