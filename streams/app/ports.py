"""Free loopback ports for the embedded servers, `portrait up` and the tests.

A port is free when it is picked and may be taken before its server binds it. The kernel gives
each outgoing connection a local port from its ephemeral range, so a port picked *there* (what
binding port 0 gives) can be taken by any client connecting meanwhile: CI once lost a Redis
Cluster node that way. Ports are picked below that range where the kernel says what it is
(Linux), and bound once to check that no server holds them; the servers of
streams/app/embedded.py also choose again if one was taken all the same.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 10000  # below are the well-known and registered services' usual ports
_PICK = random.SystemRandom()  # not the global generator, which tests may seed


def free_port() -> int:
    """A loopback port no socket holds, outside the ephemeral range where it is known."""
    ceiling = _ephemeral_floor()
    for _ in range(100 if ceiling > _LOWEST + 1000 else 0):
        port = _PICK.randrange(_LOWEST, ceiling)
        if bindable(port):
            return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive free ports (``--processes``: worker i on port + i)."""
    for _ in range(100):
        base = free_port()
        if all(bindable(base + i) for i in range(1, count)):
            return base
    raise RuntimeError(f"no {count} consecutive free ports")


def bindable(port: int) -> bool:
    """True if a socket can bind ``127.0.0.1:port`` now."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ephemeral_floor() -> int:
    """The lowest port the kernel gives outgoing connections; 0 where that is not known."""
    try:
        return int(_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0
