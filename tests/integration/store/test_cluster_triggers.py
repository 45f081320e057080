"""The trigger store on a real three-master Redis Cluster ends where a single Redis ends
(streams/store/triggers_cluster.py, docs/cluster.md S2 APPLY and S5 FINISH).

The same operations (schedules, re-schedules, cancels, claims, reservations, finishes, the
redelivery of sent triggers) run on both; every outcome and the whole stored state (each user's
pending and sent hashes, the due index's members and scores) must be equal."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from streams.names import Keys, due_member
from streams.store.triggers import Limits, TriggerStore
from streams.store.triggers_cluster import Move
from tests.integration.helpers import DAY, T0
from triggers.model import Cancel, Op, Schedule, Trigger

pytestmark = pytest.mark.integration
LEASE = 60_000
NO_CAPS = Limits(0, 0, None, None, 0, 0, DAY)
WIN_BACK_AT = T0 + 3 * DAY


def trigger(user: str, kind: str, due: int, n: int = 0, campaign: str | None = None) -> Trigger:
    return Trigger(f"{kind}-{user}-{n}", kind, user, due, T0, due + 9 * DAY, 50, ("push",), {},
                   campaign)  # fmt: skip


def rebuild(slot: str, user: str, due: int) -> Trigger | None:
    """As TriggerRules.rebuild: a lazy win-back's record from its due entry; nothing else."""
    return trigger(user, "win_back", due, n=due) if slot == "win_back" else None


def first_ops(users: Sequence[str]) -> list[Op]:
    ops: list[Op] = []
    for i, u in enumerate(users):
        ops.append(Schedule(trigger(u, "cart_reminder", T0 + i * 1000)))
        if i % 2 == 0:  # lazy: in the due index alone
            ops.append(Schedule(trigger(u, "win_back", WIN_BACK_AT + i, n=WIN_BACK_AT + i)))
        if i % 5 == 0:
            ops.append(Cancel(u, "repeated_search", "nothing_pending"))
    ops.append(Schedule(trigger(users[0], "repeated_search", T0 + 500)))  # a user of 4 slots
    ops.append(Schedule(trigger(users[0], "campaign", T0 + 700, campaign="c1")))
    return ops


def second_ops(users: Sequence[str]) -> list[Op]:
    ops: list[Op] = []
    for i, u in enumerate(users[8:], start=8):
        if i % 3 == 0:  # replaced by a new id
            ops.append(Schedule(trigger(u, "cart_reminder", T0 + i * 1000 + 50, n=1)))
        elif i % 3 == 1:  # the same id moved (a further add to the cart)
            ops.append(Schedule(trigger(u, "cart_reminder", T0 + i * 1000 + 20)))
        at = WIN_BACK_AT + i + (0 if i % 2 == 0 else 7)  # even: again; odd: new
        ops.append(Schedule(trigger(u, "win_back", at, n=at)))
    ops.append(Cancel(users[0], "repeated_search", "purchase"))
    # several operations on one member in one chunk: the last one decides the index
    ops += [Cancel(users[1], "cart_reminder", "purchase"),
            Schedule(trigger(users[1], "cart_reminder", T0 + 1900, n=2))]  # fmt: skip
    ops += [Schedule(trigger(users[2], "repeated_search", T0 + 2900)),
            Cancel(users[2], "repeated_search", "purchase")]  # fmt: skip
    ops += [Schedule(trigger(users[3], "win_back", WIN_BACK_AT + 80, n=WIN_BACK_AT + 80)),
            Cancel(users[3], "win_back", "ordered")]  # fmt: skip
    return ops


async def serve(store: TriggerStore, now: int, defer_every: int) -> list[Any]:
    """A scheduler's round: claim, reserve, then finish each (every ``defer_every``-th
    deferred a day, the others sent)."""
    claimed = sorted(await store.claim(now, LEASE, 1000, rebuild), key=lambda t: t.trigger_id)
    deferred = [t.deferred(now + DAY + i) for i, t in enumerate(claimed) if i % defer_every == 0]
    sent = [t for i, t in enumerate(claimed) if i % defer_every]
    reserved = await store.reserve_many([(t, "push", now, NO_CAPS) for t in sent])
    done = await store.finish_many([(t, True) for t in deferred] + [(t, False) for t in sent])
    return [[t.trigger_id for t in claimed], [r.outcome for r in reserved], done]


async def scenario(store: TriggerStore, users: Sequence[str]) -> list[Any]:
    """The outcomes of every step, and the stored state after each."""
    results: list[Any] = []

    async def step(outcome: Any) -> None:
        results.append((outcome, await state(store.redis, store.keys, users)))

    await step(await store.apply(first_ops(users)))
    await step(await store.apply(second_ops(users), chunk=7))  # members across chunks
    claimed = sorted(await store.claim(T0 + DAY, LEASE, 1000, rebuild), key=lambda t: t.user_id)
    await step(sorted(t.trigger_id for t in claimed))
    # meanwhile: the same id moved, a new id, a cancel; a single Redis's FINISH then drops the
    # first, and leaves the other two alone
    u4, u5, u6 = users[4], users[5], users[6]
    await step(await store.apply([
        Schedule(trigger(u4, "cart_reminder", T0 + 2 * DAY)),
        Schedule(trigger(u5, "cart_reminder", T0 + 2 * DAY, n=5)),
        Cancel(u6, "cart_reminder", "purchase"),
    ]))  # fmt: skip
    ok = [t for t in claimed if t.user_id not in (u4, u5, u6)]
    deferred, sent = ok[:1], [t for t in claimed if t not in ok[:1]]
    await step([r.outcome for r in await store.reserve_many(
        [(t, "push", T0 + DAY, NO_CAPS) for t in ok[1:]]
    )])  # fmt: skip
    finishes = [(t.deferred(T0 + 2 * DAY), True) for t in deferred] + [(t, False) for t in sent]
    await step(await store.finish_many(finishes))
    # a new cart for user 7, then the sent one redelivered: 'sent', the new one keeps its due
    await step(await store.apply([Schedule(trigger(users[7], "cart_reminder", T0 + 5 * DAY, 3))]))
    redelivered = [t for t in claimed if t.user_id in users[:12]]
    await step(await store.apply([Schedule(t) for t in redelivered]))
    await step(await serve(store, T0 + 4 * DAY, defer_every=4))  # deferrals, win-backs
    # a sent win-back redelivered while a newer one waits in the index alone, and another one
    # redelivered with nothing pending
    sent_win_backs = [t for t in await store.claim(T0 + 9 * DAY, LEASE, 1000, rebuild)
                      if t.kind == "win_back"]  # fmt: skip
    await store.reserve_many([(t, "push", T0 + 9 * DAY, NO_CAPS) for t in sent_win_backs])
    await step(await store.finish_many([(t, False) for t in sent_win_backs]))
    again = [trigger(t.user_id, "win_back", 12 * DAY + T0, n=12) for t in sent_win_backs[:3]]
    await step(await store.apply([Schedule(t) for t in again]))
    await step(await store.apply([Schedule(t) for t in sent_win_backs]))
    return results


async def state(client: Redis, keys: Keys, users: Sequence[str]) -> Any:
    """Each user's pending and sent hashes, and the due index with its scores."""
    per_user = {}
    for u in users:
        pending = await client.hgetall(keys.pending(u))
        sent = await client.hgetall(keys.sent(u))
        per_user[u] = (sorted(pending.items()), sorted(sent.items()))
    due = []  # the index's entries, from its one key or from all its shards on a cluster
    for key in keys.due_all(isinstance(client, RedisCluster)):
        due += await client.zrange(key, 0, -1, withscores=True)
    return per_user, sorted(due, key=lambda m: (m[1], m[0]))


def users_of(namespace: str, n: int = 40) -> list[str]:
    return [f"{namespace}u{i}" for i in range(n)]


async def test_a_cluster_ends_where_a_single_redis_ends(
    redis: Redis, cluster: RedisCluster, namespace: str
) -> None:
    keys, users = Keys(namespace), users_of(namespace)
    nodes = {str(cluster.get_node_from_key(keys.pending(u))) for u in users}
    assert len(nodes) == 3, "the users' keys are on every primary"
    single = await scenario(TriggerStore(redis, namespace), users)
    on_cluster = await scenario(TriggerStore(cluster, namespace), users)  # type: ignore[arg-type]
    for i, (got, want) in enumerate(zip(on_cluster, single, strict=True)):
        assert got == want, f"step {i}"
    outcomes = {o for counts, _ in single if isinstance(counts, Counter) for _, o in counts}
    assert {"scheduled", "updated", "sent", "cancelled:purchase", "none"} <= outcomes
    finished = single[5][0]
    assert False in finished and True in finished, "finishes both ours and replaced"
    assert single[-1][1][1], "something is left pending"
    # the cluster's due index is sharded over the primaries (Keys.due_for): these users' entries
    # went to most shards, on every primary, and some are still there
    shards = {keys.due_for(u, True) for u in users}
    assert len(shards) >= 12 and len({str(cluster.get_node_from_key(k)) for k in shards}) == 3
    assert sum([await cluster.zcard(k) for k in shards]) == len(single[-1][1][1])


async def test_claim_tidies_a_member_whose_record_is_gone(
    cluster: RedisCluster, namespace: str
) -> None:
    """A crash between the two steps of a cluster write: a cancel's record dropped but not its
    due member, a schedule's member indexed but its record never stored. Claim tidies both and
    rebuilds a lazy one."""
    keys, store = Keys(namespace), TriggerStore(cluster, namespace)  # type: ignore[arg-type]
    a, b, c = users_of(namespace, 3)
    await store.apply([Schedule(trigger(a, "cart_reminder", T0))])
    await cluster.hdel(keys.pending(a), "cart_reminder")
    await cluster.zadd(keys.due_for(b, True), {due_member("cart_reminder", b): T0})
    await cluster.zadd(keys.due_for(c, True), {due_member("win_back", c): T0})
    claimed = await store.claim(T0 + 1, LEASE, 10, rebuild)
    assert [(t.user_id, t.slot) for t in claimed] == [(c, "win_back")]
    assert await cluster.zrange(keys.due_for(c, True), 0, -1) == [
        due_member("win_back", c).encode()
    ]
    assert await cluster.zcard(keys.due_for(b, True)) == (
        keys.due_for(b, True) == keys.due_for(c, True)
    )
    assert await store.pending(c) == {"win_back": claimed[0]}


async def test_a_schedule_between_the_two_steps_of_a_finish_stands(
    cluster: RedisCluster, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process re-schedules the slot after the finish's user script, before its move of
    the due member: the move sees a score that is not its lease's and leaves it."""
    keys = Keys(namespace)
    store = TriggerStore(cluster, namespace)  # type: ignore[arg-type]
    other = TriggerStore(cluster, namespace)  # type: ignore[arg-type]
    (u,) = users_of(namespace, 1)
    await store.apply([Schedule(trigger(u, "cart_reminder", T0))])
    (claimed,) = await store.claim(T0, LEASE, 10)
    newer = trigger(u, "cart_reminder", T0 + DAY, n=1)
    assert store._cluster is not None
    settle = store._cluster.settle

    async def schedule_first(moves: Sequence[Move]) -> None:
        await other.apply([Schedule(newer)])
        await settle(moves)

    monkeypatch.setattr(store._cluster, "settle", schedule_first)
    assert await store.finish_many([(claimed, False)]) == [True]
    assert await store.pending(u) == {"cart_reminder": newer}
    member = due_member("cart_reminder", u)
    assert await cluster.zscore(keys.due_for(u, True), member) == T0 + DAY


async def test_a_claim_between_the_index_and_the_records_takes_nothing(
    cluster: RedisCluster, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scheduler claims after APPLY's index step and before its user scripts: the member is
    held ahead (HOLD_MS), so the claim neither takes it nor, finding no record, tidies it away
    (which left the stored trigger with nothing to fire it: the worker test on a cluster found
    it). Once stored it is due as scheduled and the next claim takes it."""
    keys = Keys(namespace)
    store = TriggerStore(cluster, namespace)  # type: ignore[arg-type]
    other = TriggerStore(cluster, namespace)  # type: ignore[arg-type]
    (u,) = users_of(namespace, 1)
    now = int(time.time() * 1000)
    due = trigger(u, "cart_reminder", now - 60_000)  # due a minute ago
    assert store._cluster is not None
    run_users = store._cluster._run_users
    taken: list[Trigger] = []

    async def claim_first(steps: Sequence[Any]) -> list[str]:
        taken.extend(await other.claim(now, LEASE, 10))
        return await run_users(steps)

    monkeypatch.setattr(store._cluster, "_run_users", claim_first)
    assert await store.apply([Schedule(due)]) == Counter({("cart_reminder", "scheduled"): 1})
    assert taken == []
    assert await store.pending(u) == {"cart_reminder": due}
    assert (
        await cluster.zscore(keys.due_for(u, True), due_member("cart_reminder", u)) == now - 60_000
    )
    assert await other.claim(now, LEASE, 10) == [due]
