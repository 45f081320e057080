"""Identity resolution on a real three-master Redis Cluster against a single Redis's atomic
scripts (streams/store/identity.py, identity_cluster/; docs/cluster.md, S9 and S10): the same
links, merges and erasures give the same replies and leave the same keys; a merge that crashed
after any of its steps is finished by the next apply touching its persons, to the same end; two
applies racing on one person cannot both land; every state a crash can leave shows whole
persons to readers, and a profile marked moved names its survivor."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, cast

import orjson
import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from profiles.identity import Identifier, plan
from streams.names import Keys, due_member
from streams.pipeline.identity_hook import ATTEMPTS
from streams.store.identity import Applied, IdentityStore
from streams.store.identity_cluster import ClusterIdentity, Outcome, Session
from streams.store.triggers import as_text
from tests.integration.store.test_cluster_experiments import dump, nodes_of
from tests.integration.store.test_identity import A1, A2, AT, DEVICE, RULES, U, link

pytestmark = pytest.mark.integration

A3 = Identifier("anonymous_id", "a-3")
U2 = Identifier("user_id", "u-2")
B1 = Identifier("anonymous_id", "b-1")
DEVICE2 = Identifier("device_id", "dev-2")
EMAIL = Identifier("email", "e" * 64)
OTHER_EMAIL = Identifier("email", "f" * 64)
LATER = AT + 60_000


def stores(
    redis: Redis, cluster: RedisCluster, namespace: str, **kw: Any
) -> tuple[IdentityStore, IdentityStore]:
    single, split = (
        IdentityStore(redis, namespace),
        IdentityStore(cast(Redis, cluster), namespace, **kw),
    )
    assert single.split is None and split.split is not None
    return single, split


def cluster_of(store: IdentityStore) -> ClusterIdentity:
    assert store.split is not None
    return store.split


async def seed(store: IdentityStore, user: str, blob: bytes | None, i: int = 0) -> None:
    """A profile's keys a merge moves or cancels: its state, pending triggers (a kind's and,
    for even ``i``, a campaign's, which only the pending hash names), a lazy kind's due member
    and its sent history (expiring, as the trigger store keeps it)."""
    r, k, on = store.redis, store.keys, store.split is not None
    if blob is not None:
        await r.set(k.profile(user), blob)
    await r.hset(k.pending(user), "cart_reminder", orjson.dumps({"i": i}))
    await r.zadd(k.due_for(user, on), {due_member("cart_reminder", user): 5 + i})
    await r.zadd(k.due_for(user, on), {due_member("win_back", user): 9 + i})
    if i % 2 == 0:
        await r.hset(k.pending(user), "campaign:spring", b"{}")
        await r.zadd(k.due_for(user, on), {due_member("campaign:spring", user): 7 + i})
    await r.hset(k.sent(user), f"t-{user}", f"push|cart_reminder|{i}")
    await r.pexpire(k.sent(user), 600_000)


async def relink(
    store: IdentityStore, key: Identifier, *links: Identifier, at: int = AT
) -> Applied:
    """What the worker does for one event, stale plans included: read, plan, apply, again
    while the graph changed under it (streams/pipeline/identity_hook.py)."""
    for _ in range(ATTEMPTS):
        applied = await link(store, key, *links, at=at)
        if applied.ok:
            return applied
    raise AssertionError(f"{key.text}: the graph kept changing")


# --- scenarios: run on both, the same replies and keys ----------------------------------------


async def login_merges_anonymous(store: IdentityStore) -> list[object]:
    await seed(store, "anon:a-1", b"0:7;anonymous state")
    await seed(store, "bystander", b"other", 1)
    out: list[object] = [await link(store, A1, DEVICE), await link(store, U, A1, at=LATER)]
    return [
        *out,
        await store.absorbing("u-1"),
        await store.moved_to("anon:a-1"),
        await store.show(A1),
    ]


async def no_history_then_repeats(store: IdentityStore) -> list[object]:
    out: list[object] = [
        await link(store, U, A1),
        await link(store, U, A1),
        await link(store, U, DEVICE),
    ]
    return [*out, await store.absorbing("u-1"), (await store.persons([A1]))[A1]]


async def stale_plan(store: IdentityStore) -> list[object]:
    read = [U, A1]
    known = await store.persons(read)
    steps = plan(RULES, U, [A1], known)
    out: list[object] = [await link(store, A1, DEVICE)]  # meanwhile, elsewhere
    out.append(await store.apply(steps, known, read, AT, "login", store.keys.changes_outbox(0)))
    return [*out, await link(store, U, A1)]


async def chain(store: IdentityStore) -> list[object]:
    await seed(store, "anon:a-1", b"one")
    await seed(store, "anon:a-2", b"two", 1)
    out: list[object] = [await link(store, A1, DEVICE), await link(store, A2, DEVICE)]
    out += [await link(store, U, A2, at=LATER), await store.absorbing("u-1")]
    return [*out, await store.show(DEVICE), await store.survivor("anon:a-1")]


async def refused(store: IdentityStore) -> list[object]:
    """Two user ids claiming one email: refused, nothing written, no message."""
    out: list[object] = [await link(store, U, EMAIL)]
    known = await store.persons([U2, EMAIL])
    steps = plan(RULES, U2, [EMAIL], known)
    out.append([(s.action, s.reason) for s in steps])
    outbox = store.keys.changes_outbox(0)
    out.append(await store.apply(steps, known, [U2, EMAIL], AT, "login", outbox))
    return [*out, await link(store, U2, A2, EMAIL)]  # a merge, then a refused link


async def several_persons_in_one_event(store: IdentityStore) -> list[object]:
    """One login names three people's anonymous ids, an email and a new device: three merges
    (persons of two identifiers and lone profiles) and two links in one plan."""
    await seed(store, "anon:a-1", b"one")
    await seed(store, "anon:a-2", b"two", 1)
    await seed(store, "anon:a-3", b"three", 2)
    await seed(store, "u-1", b"user", 3)
    out: list[object] = [await link(store, A1, DEVICE), await link(store, A2, DEVICE2)]
    out.append(await link(store, U, A1, A2, A3, EMAIL, Identifier("device_id", "dev-3"), at=LATER))
    return [*out, await store.show(U), await store.absorbing("u-1")]


def anonymous(i: int) -> Identifier:
    return Identifier("anonymous_id", f"m-{i}")


def device(g: int) -> Identifier:
    return Identifier("device_id", f"d-{g}")


async def many_spread(store: IdentityStore) -> list[object]:
    """24 anonymous profiles on 8 devices, three each (each new one absorbing the device's
    person so far: persons of several identifiers absorbed), then one user logging in from each
    device's last profile: the person grows to 33 identifiers, over every primary."""
    out: list[object] = []
    for i in range(24):
        await seed(store, f"anon:m-{i}", f"state {i}".encode(), i)
        out.append(await link(store, anonymous(i), device(i // 3), at=AT + i))
    for g in range(8):
        out.append(await link(store, U, anonymous(3 * g + 2), at=LATER + g))
    out.append(await link(store, U2, anonymous(0)))  # another user: refused, nothing changes
    return [*out, await store.show(device(5)), sorted(await store.absorbing("u-1"))]


def many_keys(keys: Keys) -> list[str]:
    idents = [U, *(anonymous(i) for i in range(24)), *(device(g) for g in range(8))]
    return [keys.identifier(i.text) for i in idents]


SCENARIOS: list[Callable[[IdentityStore], Awaitable[list[object]]]] = [
    login_merges_anonymous,
    no_history_then_repeats,
    stale_plan,
    chain,
    refused,
    several_persons_in_one_event,
    many_spread,
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
async def test_the_scenarios_give_the_same_replies_and_keys(
    redis: Redis,
    cluster: RedisCluster,
    namespace: str,
    scenario: Callable[[IdentityStore], Awaitable[list[object]]],
) -> None:
    single, split = stores(redis, cluster, namespace)
    expected = await scenario(single)
    assert await scenario(split) == expected
    assert await dump(cast(Redis, cluster), namespace) == await dump(redis, namespace)
    if scenario is many_spread:
        assert len(nodes_of(cluster, many_keys(split.keys))) == 3
        assert len(await split.persons([device(0)])) == 1
        person = (await split.persons([device(0)]))[device(0)]
        assert len(person.identifiers) == 33


# --- a crash after each step of a merge ---------------------------------------------------------


async def before_the_login(store: IdentityStore) -> None:
    """A user with a history, an anonymous person of three identifiers (a-1 absorbed into a-2
    on one device: a merge history and a hand-over waiting), each with triggers and sent."""
    await seed(store, "u-1", b"user", 0)
    await seed(store, "anon:a-1", b"one", 1)
    await seed(store, "anon:a-2", b"two", 2)
    await link(store, A1, DEVICE)
    await link(store, A2, DEVICE)


LOGIN = (U, A2, DEVICE2)  # merges a-2's person into u-1, links a new device


async def login_steps(
    store: IdentityStore, session: Session, out: list[Outcome]
) -> AsyncGenerator[str, None]:
    read = list(LOGIN)
    known = await store.persons(read)
    steps = plan(RULES, LOGIN[0], list(LOGIN[1:]), known)
    outbox = store.keys.changes_outbox(0)
    split = cluster_of(store)
    return split.apply_steps(session, out, steps, known, read, LATER, "login", outbox)


STEPS = [
    "locked", "pointers", "journal",
    "person", "stage 1 done", "identifiers", "stage 2 done",
    "handed over", "moved", "absorbed keys deleted", "stage 3 done",
    "person", "stage 4 done", "identifiers", "stage 5 done",
    "audit", "stage 6 done", "pointers cleared", "journal cleared", "released",
]  # fmt: skip


async def test_a_merge_takes_its_steps_in_order(
    redis: Redis, cluster: RedisCluster, namespace: str
) -> None:
    single, split = stores(redis, cluster, namespace)
    for store in (single, split):
        await before_the_login(store)
    session, out = Session(), list[Outcome]()
    assert [name async for name in await login_steps(split, session, out)] == STEPS
    assert out == [Outcome(True, ["anon:a-2"])]
    assert await link(single, *LOGIN, at=LATER) == Applied(True, ["anon:a-2"])
    assert await dump(cast(Redis, cluster), namespace) == await dump(redis, namespace)


async def assert_safe_for_readers(store: IdentityStore, moved: bool = True) -> None:
    """What a crash may leave: every identifier names a person whose hash lists it (readers see
    whole persons); a profile marked moved has its survivor named by the graph (its events are
    forwarded there) and no state of its own (its writes are refused)."""
    r, k = store.redis, store.keys
    async for raw in r.scan_iter(match=k.user_pattern("idn"), count=1000):
        ident = as_text(raw)[len(k.user_prefix("idn")) + 1 : -1]
        canonical = Identifier.parse(as_text(await r.get(raw) or b""))
        assert canonical.profile is not None
        assert await r.hexists(k.person(canonical.profile), ident), ident
    async for raw in r.scan_iter(match=k.user_pattern("mv"), count=1000):
        gone = as_text(raw)[len(k.user_prefix("mv")) + 1 : -1]
        if moved:
            assert await store.survivor(gone) is not None, gone
        assert not await r.exists(k.profile(gone)), gone


def deduped(found: dict[str, tuple[str, Any, bool]]) -> dict[str, tuple[str, Any, bool]]:
    """The outboxes with each message once (by change_id): a crash after the audit was sent and
    before its stage was marked done sends it again, which consumers drop."""
    out = {}
    for key, (kind, content, expires) in found.items():
        if kind == "stream":
            seen: dict[str, Any] = {}
            for fields in content:
                seen.setdefault(orjson.loads(fields[b"m"])["change_id"], fields)
            content = list(seen.values())
        out[key] = (kind, content, expires)
    return out


CRASHES = [(n, "same event") for n in range(1, len(STEPS) + 1)] + [
    (n, "absorbed person") for n in range(STEPS.index("journal") + 1, len(STEPS) + 1)
]


@pytest.mark.parametrize(("crash_after", "via"), CRASHES)
async def test_a_merge_finished_after_a_crash_ends_the_same(
    redis: Redis, cluster: RedisCluster, namespace: str, crash_after: int, via: str
) -> None:
    """The worker dies after step ``crash_after`` (its locks run out). Then either the login is
    read again (its batch was not committed), or first another event reaches the absorbed
    person (a-1 names a-2's person, or u-1's once re-pointed): the journal is found through
    the pointer or on the survivor and finished before anything else, and the end state is the
    single Redis's."""
    single, split = stores(redis, cluster, namespace)
    for store in (single, split):
        await before_the_login(store)
    assert await link(single, *LOGIN, at=LATER) == Applied(True, ["anon:a-2"])
    if via == "absorbed person":
        await link(single, A1, OTHER_EMAIL, at=LATER + 1)
    session, out = Session(), list[Outcome]()
    steps = await login_steps(split, session, out)
    crashed = [await anext(steps) for _ in range(crash_after)][-1]
    await steps.aclose()
    for name in session.held:  # the locks run out
        await cluster.delete(cluster_of(split).lock_key(name))
    await assert_safe_for_readers(split)
    if via == "absorbed person":
        await relink(split, A1, OTHER_EMAIL, at=LATER + 1)
    await relink(split, *LOGIN, at=LATER)
    expected = await dump(redis, namespace)
    found = await dump(cast(Redis, cluster), namespace)
    if crashed == "audit":  # sent, not marked: sent again
        assert found != expected
        found, expected = deduped(found), deduped(expected)
    assert found == expected


async def test_a_crashed_holders_locks_are_waited_for(
    redis: Redis, cluster: RedisCluster, namespace: str
) -> None:
    """The locks are not cleared by hand: the next apply waits until they run out, then
    finishes the journal."""
    single, split = stores(redis, cluster, namespace, lock_ttl_ms=400)
    for store in (single, split):
        await before_the_login(store)
    await link(single, *LOGIN, at=LATER)
    session, out = Session(), list[Outcome]()
    steps = await login_steps(split, session, out)
    while await anext(steps) != "handed over":
        pass
    await steps.aclose()
    started = time.monotonic()
    await relink(split, A1, OTHER_EMAIL, at=LATER + 1)
    assert time.monotonic() - started > 0.1  # it waited for the crashed holder's locks
    await link(single, A1, OTHER_EMAIL, at=LATER + 1)
    await relink(split, *LOGIN, at=LATER)
    assert await dump(cast(Redis, cluster), namespace) == await dump(redis, namespace)


async def test_an_error_mid_merge_lets_the_locks_go(
    redis: Redis, cluster: RedisCluster, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis fails mid-merge (the worker retries the batch): the apply lets its locks go at
    once, the journal stays, and the retry finishes it without waiting for a lock to run out."""
    single, split = stores(redis, cluster, namespace, lock_ttl_ms=60_000)
    for store in (single, split):
        await before_the_login(store)
    await link(single, *LOGIN, at=LATER)
    ours = cluster_of(split)

    async def down(*args: object, **kw: object) -> None:
        raise ConnectionError("Redis went away")

    with monkeypatch.context() as patched:
        patched.setattr(ours, "_hand_over", down)
        with pytest.raises(ConnectionError):
            await link(split, *LOGIN, at=LATER)
    assert [k async for k in cluster.scan_iter(match=ours.lock_key("*"))] == []
    assert await cluster.exists(ours.journal_key("u-1"))
    started = time.monotonic()
    assert await relink(split, *LOGIN, at=LATER) == Applied(True, [])  # finished, then planned
    assert time.monotonic() - started < 5
    assert await dump(cast(Redis, cluster), namespace) == await dump(redis, namespace)


# --- two applies at once ------------------------------------------------------------------------


async def test_two_applies_on_one_person_land_one_at_a_time(
    redis: Redis, cluster: RedisCluster, namespace: str
) -> None:
    """A login merging a-1's person into u-1 and an anonymous event on another profile naming
    a-1's device (which would merge a-1's person into a-2), both planned from the same graph and
    applied at once: one lands, the other's plan is stale and writes nothing; planned again it
    lands on what the first left. The single Redis doing them in that order ends the same."""
    single, split = stores(redis, cluster, namespace)
    for store in (single, split):
        await seed(store, "anon:a-1", b"one", 1)
        await seed(store, "anon:a-2", b"two", 2)
        await link(store, A1, DEVICE)
    events = {"login": (U, A1), "device": (A2, DEVICE)}
    outbox = split.keys.changes_outbox(0)

    async def planned(store: IdentityStore, name: str) -> tuple[Any, ...]:
        key, *links = events[name]
        read = [key, *links]
        known = await store.persons(read)
        return (plan(RULES, key, links, known), known, read, AT, name, outbox)

    plans = {name: await planned(split, name) for name in events}
    both = await asyncio.gather(*(split.apply(*plans[name]) for name in events))
    results = dict(zip(events, both, strict=True))
    assert sorted(r.ok for r in both) == [False, True], results
    first = next(name for name, r in results.items() if r.ok)
    second = next(name for name in events if name != first)

    stale = {name: await planned(single, name) for name in events}
    assert await single.apply(*stale[first]) == results[first]
    assert await single.apply(*stale[second]) == results[second]  # the same conflict
    assert await relink(single, *events[second]) == await relink(split, *events[second])
    assert await dump(cast(Redis, cluster), namespace) == await dump(redis, namespace)


# --- forget ------------------------------------------------------------------------------------


async def two_persons(store: IdentityStore) -> None:
    await chain(store)  # u-1: a-1, a-2, the device
    await seed(store, "anon:b-1", b"b", 3)
    await link(store, B1, OTHER_EMAIL)
    await link(store, U2, B1)  # u-2: b-1, an email


FORGOTTEN = ["anon:b-1", "u-1", "anon:a-1", "nobody"]


async def test_forget_gives_the_same_replies_and_keys(
    redis: Redis, cluster: RedisCluster, namespace: str
) -> None:
    single, split = stores(redis, cluster, namespace)
    for store in (single, split):
        await two_persons(store)
    assert [await split.forget(p) for p in FORGOTTEN] == [await single.forget(p) for p in FORGOTTEN]
    assert await dump(cast(Redis, cluster), namespace) == await dump(redis, namespace)


FORGET_STEPS = [
    "locked", "pointers", "journal", "unlinked", "stage 1 done", "deleted", "stage 2 done",
    "journal cleared", "pointers cleared", "released",
]  # fmt: skip


@pytest.mark.parametrize("crash_after", range(1, len(FORGET_STEPS) + 1))
async def test_a_forget_run_again_after_a_crash_ends_the_same(
    redis: Redis, cluster: RedisCluster, namespace: str, crash_after: int
) -> None:
    """Forgetting u-2's person by its anonymous profile (not the canonical one), crashed after
    any step and run again: the keys deleted add up to the single Redis's count, and the end
    state is the same, though the profile's identifier may be gone by then (its pointer leads
    to the journal)."""
    single, split = stores(redis, cluster, namespace)
    for store in (single, split):
        await two_persons(store)
    expected = await single.forget("anon:b-1")
    session, out = Session(), list[int]()
    steps = cluster_of(split).forget_steps(session, out, "anon:b-1")
    names = [await anext(steps) for _ in range(crash_after)]
    assert names == FORGET_STEPS[:crash_after]
    await steps.aclose()
    for name in session.held:
        await cluster.delete(cluster_of(split).lock_key(name))
    await assert_safe_for_readers(split, moved=False)  # (its writes are refused by the erasure)
    assert session.deleted + await split.forget("anon:b-1") == expected
    assert await dump(cast(Redis, cluster), namespace) == await dump(redis, namespace)
