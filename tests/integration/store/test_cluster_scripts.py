"""Pipelined scripts on a real three-master Redis Cluster (streams/store/scripts.py).

A cluster pipeline does not load the scripts a primary lacks; the calls a primary refused with
NOSCRIPT are run again once the scripts are loaded everywhere, and only those: a call that has
run must not run twice (a counting script would report its second run as a repeat)."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ResponseError

from streams.names import Keys
from streams.store.feedback import FeedbackStore
from streams.store.feedback_lua import FEEDBACK
from streams.store.scripts import run_scripts
from streams.store.triggers import Limits, SentRecord, TriggerStore
from tests.integration.cluster import ClusterNode
from tests.integration.helpers import DAY, T0
from triggers.feedback import Feedback
from triggers.model import Trigger

pytestmark = pytest.mark.integration
NO_CAPS = Limits(0, 0, None, None, 0, 0, DAY)


def users(namespace: str, n: int = 24) -> list[str]:
    return [f"{namespace}u{i}" for i in range(n)]


async def test_feedback_counts_once_when_one_primary_had_the_script(
    cluster: RedisCluster, cluster_nodes: list[ClusterNode], namespace: str
) -> None:
    one = Redis(port=cluster_nodes[0].port)
    await one.script_load(FEEDBACK)  # this primary has it, the others answer NOSCRIPT
    await one.aclose()
    keys = Keys(namespace)
    for u in users(namespace):
        await cluster.hset(keys.sent(u), f"t-{u}", SentRecord("push", "cart_reminder", T0).encode())
    store = FeedbackStore(cluster, namespace, recall_window_ms=DAY, seen_ttl_ms=DAY)  # type: ignore[arg-type]
    counted = await store.count([Feedback(f"t-{u}", u, "opened", T0 + 1) for u in users(namespace)])
    assert [c.new for c in counted] == [True] * len(counted), "each counted once, as new"
    again = await store.count([Feedback(f"t-{u}", u, "opened", T0 + 1) for u in users(namespace)])
    assert not any(c.new for c in again)


async def test_reservations_run_on_a_cluster(cluster: RedisCluster, namespace: str) -> None:
    keys, store = Keys(namespace), TriggerStore(cluster, namespace)  # type: ignore[arg-type]
    made = [Trigger(f"cart_reminder-{u}", "cart_reminder", u, T0, T0, T0 + DAY, 80, ("sms",))
            for u in users(namespace)]  # fmt: skip
    for t in made:  # scheduling spans slots (the due index): write the pending records alone
        await cluster.hset(keys.pending(t.user_id), t.slot, t.encode())
    first = await store.reserve_many([(t, "sms", T0, NO_CAPS) for t in made])
    again = await store.reserve_many([(t, "sms", T0 + 5, NO_CAPS) for t in made])
    assert {r.outcome for r in first} == {"ok"} and {r.outcome for r in again} == {"resend"}


async def test_an_error_other_than_noscript_is_raised(redis: Redis) -> None:
    failing = redis.register_script("return redis.error_reply('boom')")
    fine = redis.register_script("return 1")
    with pytest.raises(ResponseError, match="boom"):
        await run_scripts(redis, [(fine, [], []), (failing, [], [])])
    assert await run_scripts(redis, [(fine, [], []), (fine, [], [])]) == [1, 1]
    assert await run_scripts(redis, []) == []
