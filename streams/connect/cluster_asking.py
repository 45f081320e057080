"""An ASK redirect followed on the connection that sent ``ASKING`` (Redis Cluster).

During a slot migration a node answers ``ASK <slot> <target>`` for a key already moved: the
client must send ``ASKING`` and then the command *on the same connection* to the target, which
serves it only then. redis-py 8.2's asyncio cluster client sends ``ASKING`` as a command of its
own (``ClusterNode.execute_command``), which takes a connection from the node's free list and
puts it back, and then the command, which takes the *oldest* free connection (``popleft``): with
two or more free connections to the target, the command goes out on another one, the target
answers ``MOVED`` back to the source, the source ``ASK`` again, until "TTL exhausted". A worker
has several connections per node (the batch, the upkeep, the ops loop), so a migration stopped
it (tests/integration/worker/test_cluster_worker.py found it).

Here a node hands out its most recently released connection first (LIFO). Between ``ASKING``'s
release and the command's acquire the client does not yield to the event loop, so the command
takes the very connection ``ASKING`` was sent on. Otherwise LIFO only changes which idle
connection serves next (the warmest one). Importing this module applies it, once.
"""

from __future__ import annotations

from redis.asyncio.cluster import ClusterNode
from redis.asyncio.connection import Connection

_oldest_first = ClusterNode.acquire_connection


def _newest_first(self: ClusterNode) -> Connection:
    free = self._free
    if free:
        return free.pop()
    return _oldest_first(self)  # none free: a new connection, or MaxConnectionsError


if getattr(ClusterNode.acquire_connection, "__name__", "") != _newest_first.__name__:
    ClusterNode.acquire_connection = _newest_first  # type: ignore[method-assign]
