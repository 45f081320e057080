"""A real Redis Cluster for the tests: three cluster-mode valkey primaries on free loopback
ports, the 16384 slots split evenly among them by the fixture (``CLUSTER ADDSLOTSRANGE``), joined
with ``CLUSTER MEET`` (docs/cluster.md)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import redis
import redis.asyncio as aredis

from streams.app.embedded import EmbeddedRedis, free_port

SLOTS = 16384


class ClusterNode(EmbeddedRedis):
    """One valkey with cluster mode on (no slots of its own until the fixture assigns them)."""

    bus = 0  # the cluster bus port: the default, port + 10000, may not exist for a high port

    def command(self) -> list[str]:
        conf = self.log_path.parent / f"nodes-{self.port}.conf"
        self.bus = self.bus or free_port()
        return [*super().command(), "--cluster-enabled", "yes", "--cluster-config-file",
                str(conf), "--cluster-port", str(self.bus)]  # fmt: skip


@contextmanager
def embedded_cluster(masters: int = 3, timeout: float = 20.0) -> Iterator[list[ClusterNode]]:
    """Start ``masters`` primaries, give each an even share of the slots, join them, wait for
    ``cluster_state:ok`` on every node; stop them all on exit."""
    with ExitStack() as stack:
        nodes = []
        for _ in range(masters):
            node = ClusterNode()
            node.start()
            stack.callback(node.stop)
            nodes.append(node)
        clients = [redis.Redis(port=n.port) for n in nodes]
        for client in clients:
            stack.callback(client.close)
        for i, client in enumerate(clients):
            low, high = i * SLOTS // masters, (i + 1) * SLOTS // masters - 1
            client.execute_command("CLUSTER", "ADDSLOTSRANGE", low, high)
        for client in clients[1:]:
            client.execute_command("CLUSTER", "MEET", "127.0.0.1", nodes[0].port, nodes[0].bus)
        deadline = time.monotonic() + timeout
        while not all(c.cluster("info")["cluster_state"] == "ok" for c in clients):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the cluster did not come up in {timeout}s")
            time.sleep(0.05)
        yield nodes


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
