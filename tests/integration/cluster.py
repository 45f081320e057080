"""A real Redis Cluster for the tests (streams/app/embedded_cluster.py starts it), and a slot
migration done the way the cluster tools do it (docs/cluster.md)."""

from __future__ import annotations

import asyncio

import redis.asyncio as aredis

from streams.app.embedded_cluster import SLOTS, ClusterNode, embedded_cluster

__all__ = ["SLOTS", "ClusterNode", "embedded_cluster", "migrate_slot"]


async def migrate_slot(
    nodes: list[ClusterNode], slot: int, target: ClusterNode, batch: int = 4, pause: float = 0.02
) -> int:
    """Move ``slot`` to ``target`` as ``redis-cli --cluster reshard`` does, slowly (``batch``
    keys per ``MIGRATE``, ``pause`` between), so that clients meet it half-moved: the target
    ``IMPORTING``, the source ``MIGRATING`` (ASK redirects, TRYAGAIN for a call over keys on
    both sides), then the slot given to the target everywhere. The keys moved."""
    clients = {n.port: aredis.Redis(port=n.port) for n in nodes}
    try:
        ids = {p: _text(await c.execute_command("CLUSTER", "MYID")) for p, c in clients.items()}
        source = next(
            int(entry[2][1])
            for entry in await clients[target.port].execute_command("CLUSTER", "SLOTS")
            if int(entry[0]) <= slot <= int(entry[1])
        )
        if source == target.port:
            return 0
        src, dst = clients[source], clients[target.port]
        await dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", ids[source])
        await src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", ids[target.port])
        moved = 0
        while keys := await src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, batch):
            await src.execute_command(
                "MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", *keys
            )
            moved += len(keys)
            await asyncio.sleep(pause)
        for port in (target.port, source, *(p for p in clients if p not in (source, target.port))):
            await clients[port].execute_command(
                "CLUSTER", "SETSLOT", slot, "NODE", ids[target.port]
            )
        return moved
    finally:
        for c in clients.values():
            await c.aclose()


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw
