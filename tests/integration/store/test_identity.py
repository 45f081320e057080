"""The identity graph in real Redis (docs/identity.md, "The graph in Redis"): links, merges
that hand the absorbed profile over, and the compare-and-set that makes a stale plan a no-op."""

from __future__ import annotations

import orjson
import pytest
from redis.asyncio import Redis

from profiles.identity import Identifier, IdentityRules, plan
from streams.names import Keys, due_member
from streams.store.identity import Applied, IdentityStore

pytestmark = pytest.mark.integration

RULES = IdentityRules()
U = Identifier("user_id", "u-1")
A1, A2 = Identifier("anonymous_id", "a-1"), Identifier("anonymous_id", "a-2")
DEVICE = Identifier("device_id", "dev-1")
AT = 1_717_000_000_000


@pytest.fixture
def store(redis: Redis, namespace: str) -> IdentityStore:
    return IdentityStore(redis, namespace)


async def link(store: IdentityStore, key: Identifier, *links: Identifier, at: int = AT) -> Applied:
    """What the worker does for one event: read, plan, apply."""
    read = [key, *links]
    known = await store.persons(read)
    steps = plan(RULES, key, list(links), known)
    return await store.apply(steps, known, read, at, "login", store.keys.changes_outbox(0))


async def outbox(redis: Redis, keys: Keys) -> list[dict[str, object]]:
    entries = await redis.xrange(keys.changes_outbox(0))
    return [orjson.loads(fields[b"m"]) for _, fields in entries]


async def test_a_login_merges_the_anonymous_profile_into_the_user(
    redis: Redis, store: IdentityStore
) -> None:
    keys = store.keys
    await redis.set(keys.profile("anon:a-1"), b"0:7;anonymous state")
    await redis.hset(keys.pending("anon:a-1"), "cart_reminder", b"{}")
    await redis.zadd(keys.due, {due_member("cart_reminder", "anon:a-1"): 5})
    await redis.zadd(keys.due, {due_member("win_back", "anon:a-1"): 9})
    await redis.hset(keys.sent("anon:a-1"), "t-1", "push|cart_reminder|5")
    await link(store, A1, DEVICE)  # browsing: the device joins the anonymous profile's person

    applied = await link(store, U, A1, at=AT + 60_000)

    assert applied == Applied(True, ["anon:a-1"])
    for ident in (U, A1, DEVICE):
        assert await redis.get(keys.identifier(ident.text)) == b"user_id:u-1"
    assert await store.absorbing("u-1") == {"anon:a-1": b"0:7;anonymous state"}
    assert not await redis.exists(keys.profile("anon:a-1"), keys.person("anon:a-1"))
    assert await store.moved_to("anon:a-1") == "u-1"
    assert await redis.zrange(keys.due, 0, -1) == []  # the anonymous reminder is gone
    assert not await redis.exists(keys.pending("anon:a-1"))
    assert await redis.hgetall(keys.sent("u-1")) == {b"t-1": b"push|cart_reminder|5"}
    shown = await store.show(A1)
    assert shown is not None and shown["canonical_id"] == "u-1"
    assert [i["identifier"] for i in shown["identifiers"]] == [A1.text, DEVICE.text, U.text]
    assert [(m["from"], m["into"], m["rule"]) for m in shown["merges"]] == [
        ("anon:a-1", "u-1", "anonymous_id")
    ]
    changes = await outbox(redis, keys)
    assert [(c["change"], c["user_id"]) for c in changes] == [
        ("linked", "anon:a-1"),
        ("merged", "u-1"),
    ]


async def test_an_anonymous_id_without_history_is_merged_and_a_linked_one_changes_nothing(
    redis: Redis, store: IdentityStore
) -> None:
    """a-1 never browsed: nothing is handed over, but it is marked moved, so that events still
    keyed by it reach the user."""
    assert await link(store, U, A1) == Applied(True, ["anon:a-1"])
    assert await store.absorbing("u-1") == {}
    assert await store.moved_to("anon:a-1") == "u-1"
    assert await link(store, U, A1) == Applied(True, [])  # the same login again: no step
    assert await link(store, U, DEVICE) == Applied(True, [])  # a new device: a link
    person = (await store.persons([A1]))[A1]
    assert (person.canonical, person.identifiers) == (U, [U, A1, DEVICE])
    assert [c["change"] for c in await outbox(redis, store.keys)] == ["merged", "linked"]


async def test_a_stale_plan_writes_nothing(redis: Redis, store: IdentityStore) -> None:
    """Two workers read the graph at once: the first to apply wins, the second's steps are
    refused whole and it plans again from what is there now."""
    read = [U, A1]
    known = await store.persons(read)
    steps = plan(RULES, U, [A1], known)
    assert await link(store, A1, DEVICE) == Applied(True, [])  # meanwhile, elsewhere
    stale = await store.apply(steps, known, read, AT, "login", store.keys.changes_outbox(0))
    assert stale == Applied(False, [], A1.text)
    assert await redis.get(store.keys.identifier(U.text)) is None
    assert await link(store, U, A1) == Applied(True, ["anon:a-1"])  # planned again: a merge


async def test_a_chain_of_merges_ends_in_one_person(redis: Redis, store: IdentityStore) -> None:
    """Two anonymous profiles on one device merge; then a login takes both."""
    keys = store.keys
    await redis.set(keys.profile("anon:a-1"), b"one")
    await redis.set(keys.profile("anon:a-2"), b"two")
    await link(store, A1, DEVICE)
    assert await link(store, A2, DEVICE) == Applied(True, ["anon:a-1"])
    assert await store.absorbing("anon:a-2") == {"anon:a-1": b"one"}
    assert await link(store, U, A2) == Applied(True, ["anon:a-2"])
    assert await store.absorbing("u-1") == {"anon:a-1": b"one", "anon:a-2": b"two"}
    assert not await redis.exists(keys.absorbing("anon:a-2"))
    for ident in (A1, A2, DEVICE, U):
        assert (await store.persons([ident]))[ident].canonical == U
    shown = await store.show(DEVICE)
    assert shown is not None
    assert [(m["from"], m["into"]) for m in shown["merges"]] == [
        ("anon:a-1", "anon:a-2"),
        ("anon:a-2", "u-1"),
    ]


async def test_two_users_are_never_merged(store: IdentityStore) -> None:
    email = Identifier("email", "e" * 64)
    await link(store, U, email)
    other = Identifier("user_id", "u-2")
    known = await store.persons([other, email])
    steps = plan(RULES, other, [email], known)
    assert [(s.action, s.reason) for s in steps] == [("refused", "limit_user_id")]
    assert (await store.persons([email]))[email].canonical == U


async def test_a_refused_link_changes_nothing(redis: Redis, store: IdentityStore) -> None:
    """Two user ids claiming one email: the second link is refused (a person holds one user
    id) and nothing changes. The store used to run it as a merge of nothing: an empty
    identifier in the person, ``idn:{}`` and ``mv:{}`` written, '' reported absorbed."""
    keys = store.keys
    email = Identifier("email", "ann@example.com")
    await link(store, U, email)
    before = await outbox(redis, keys)
    other = Identifier("user_id", "u-2")
    known = await store.persons([other, email])
    steps = plan(RULES, other, [email], known)
    assert [s.action for s in steps] == ["refused"]
    applied = await store.apply(steps, known, [other, email], AT, "login", keys.changes_outbox(0))
    assert applied == Applied(True, [])
    assert not await redis.exists(keys.identifier(""), keys.moved(""), keys.person("u-2"))
    assert (await store.persons([email]))[email].canonical == U
    assert await outbox(redis, keys) == before
