"""A real Redis Cluster for the tests (streams/app/embedded_cluster.py starts it), and a slot
migration done the way the cluster tools do it (docs/cluster.md)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import redis.asyncio as aredis

from streams.app.embedded_cluster import SLOTS, ClusterNode, embedded_cluster

__all__ = ["SLOTS", "ClusterNode", "cluster_view", "embedded_cluster", "migrate_slot", "slot_owner"]


async def migrate_slot(
    nodes: list[ClusterNode],
    slot: int,
    target: ClusterNode,
    batch: int = 4,
    pause: float = 0.02,
    half_moved: Callable[[], Awaitable[None]] | None = None,
) -> int:
    """Move ``slot`` to ``target`` as ``redis-cli --cluster reshard`` does, slowly (``batch``
    keys per ``MIGRATE``, ``pause`` between), so that clients meet it half-moved: the target
    ``IMPORTING``, the source ``MIGRATING`` (ASK redirects, TRYAGAIN for a call over keys on
    both sides), then the slot given to the target everywhere. ``half_moved``, if given, is
    awaited after the first keys moved: the migration stalls there until it returns (a large key,
    an operator's pause). The keys moved."""
    clients = {n.port: aredis.Redis(port=n.port) for n in nodes}
    try:
        ids = {p: _text(await c.execute_command("CLUSTER", "MYID")) for p, c in clients.items()}
        source = await _owner(clients[target.port], slot)
        if source is None or source == target.port:
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
            if half_moved is not None:
                await half_moved()
                half_moved = None
            await asyncio.sleep(pause)
        for port in (target.port, source, *(p for p in clients if p not in (source, target.port))):
            await clients[port].execute_command(
                "CLUSTER", "SETSLOT", slot, "NODE", ids[target.port]
            )
        await _agreed(clients, slot, target.port)
        return moved
    finally:
        for c in clients.values():
            await c.aclose()


async def _agreed(
    clients: dict[int, aredis.Redis], slot: int, owner: int, within: float = 15.0
) -> None:
    """Wait until every node names ``owner`` for ``slot`` and none holds a slot open (one
    migration runs at a time), as a reshard tool's check does before the next move; the nodes'
    views in the error if they do not."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        views = {port: await _owner(c, slot) for port, c in clients.items()}
        opened = [port for port, c in clients.items() if await _open_slots(c)]
        if set(views.values()) == {owner} and not opened:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(
                f"slot {slot} moved to {owner}, but the nodes name {views} and "
                f"{opened} hold slots open: {await _view(list(clients.values()))}"
            )
        await asyncio.sleep(0.05)


async def slot_owner(node: ClusterNode, slot: int) -> int | None:
    """The port of the node that ``node`` names for ``slot``."""
    client = aredis.Redis(port=node.port)
    try:
        return await _owner(client, slot)
    finally:
        await client.aclose()


async def _owner(client: aredis.Redis, slot: int) -> int | None:
    for entry in await client.execute_command("CLUSTER", "SLOTS"):
        if int(entry[0]) <= slot <= int(entry[1]):
            return int(entry[2][1])
    return None


async def _open_slots(client: aredis.Redis) -> list[str]:
    """The slots this node has MIGRATING or IMPORTING (``[slot->-id]``, ``[slot-<-id]``)."""
    return [f for f in (await _own_line(client)).split()[8:] if f.startswith("[")]


async def cluster_view(nodes: list[ClusterNode]) -> str:
    """Each node's own line of ``CLUSTER NODES`` (epoch, slots, open slots): for an error."""
    clients = [aredis.Redis(port=n.port) for n in nodes]
    try:
        return await _view(clients)
    finally:
        for c in clients:
            await c.aclose()


async def _view(clients: list[aredis.Redis]) -> str:
    return " | ".join([await _own_line(client) for client in clients])


async def _own_line(client: aredis.Redis) -> str:
    """The node's line about itself in ``CLUSTER NODES`` (flagged ``myself``)."""
    for line in _text(await client.execute_command("CLUSTER", "NODES")).splitlines():
        if "myself" in line.split()[2]:
            return line
    return ""


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw
