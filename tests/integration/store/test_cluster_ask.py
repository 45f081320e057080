"""A key moved mid-migration is reached through ASK even when the client holds several idle
connections to the target (streams/connect/cluster_asking.py): with redis-py's own order the
command left on another connection than its ASKING, and looped MOVED/ASK to "TTL exhausted"."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode as Node
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

import streams.connect.cluster_asking as asking
from tests.integration.cluster import ClusterNode

pytestmark = pytest.mark.integration


async def _half_moved(cluster: RedisCluster, nodes: list[ClusterNode], key: str) -> int:
    """Put ``key`` on another node while its slot stays MIGRATING there: reads now ASK."""
    slot = key_slot(key.encode())
    source = cluster.get_node_from_key(key).port
    target = next(n.port for n in nodes if n.port != source)
    src, dst = Redis(port=source), Redis(port=target)
    try:
        ids = [(await c.execute_command("CLUSTER", "MYID")).decode() for c in (src, dst)]
        await dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", ids[0])
        await src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", ids[1])
        await src.execute_command("MIGRATE", "127.0.0.1", target, "", 0, 5000, "KEYS", key)
    finally:
        await src.aclose()
        await dst.aclose()
    return target


@pytest.mark.parametrize("fixed", [True, False])
async def test_an_ask_redirect_with_idle_connections_to_the_target(
    cluster: RedisCluster, cluster_nodes: list[ClusterNode], namespace: str, fixed: bool
) -> None:
    key = f"{namespace}moving"
    await cluster.set(key, "before")
    # several connections to every node, idle again: the free lists hold more than one
    await asyncio.gather(*(cluster.get(f"{namespace}{i}") for i in range(200)))
    target = await _half_moved(cluster, cluster_nodes, key)
    node = cluster.get_node(host="127.0.0.1", port=target)
    assert node is not None and len(node._free) > 1
    if fixed:
        assert await cluster.get(key) == b"before"
        return
    Node.acquire_connection = asking._oldest_first  # type: ignore[method-assign]
    try:
        with pytest.raises(Exception, match="TTL exhausted"):  # redis-py's order, for the record
            await cluster.get(key)
    finally:
        Node.acquire_connection = asking._newest_first  # type: ignore[method-assign]
