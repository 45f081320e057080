"""An embedded Redis Cluster: cluster-mode valkey primaries on free loopback ports, the 16384
slots split evenly among them (``CLUSTER ADDSLOTSRANGE``), joined with ``CLUSTER MEET``: for the
tests and the benchmarks (``python -m bench.cluster``), as ``EmbeddedRedis`` is for one Redis
(docs/cluster.md)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import redis

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

    def choose_ports_again(self) -> bool:
        super().choose_ports_again()
        self.bus = 0  # chosen here always: command() picks a free one again
        return True


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
            client.execute_command("CLUSTER", "ADDSLOTSRANGE", low, high)  # type: ignore[no-untyped-call]
        for client in clients[1:]:
            meet = ("CLUSTER", "MEET", "127.0.0.1", nodes[0].port, nodes[0].bus)
            client.execute_command(*meet)  # type: ignore[no-untyped-call]
        deadline = time.monotonic() + timeout
        while not all(c.cluster("info")["cluster_state"] == "ok" for c in clients):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the cluster did not come up in {timeout}s")
            time.sleep(0.05)
        yield nodes
