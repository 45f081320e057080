"""The embedded servers pick free ports, and a port may be taken between the pick and the
server's bind: by a client's ephemeral port, say (CI once lost two tests to a cluster node that
exited with "Address already in use"). A server that chose its ports chooses again; one told its
port, or restarted, does not (streams/app/embedded.py)."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from streams.app.embedded import EmbeddedError, EmbeddedRedis, TansuBroker
from streams.app.embedded_cluster import ClusterNode

pytestmark = pytest.mark.integration


@contextmanager
def a_client_port() -> Iterator[int]:
    """A port held as a connected client's local end, as an outgoing connection holds one."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with socket.create_connection(listener.getsockname()) as client:
            accepted, _ = listener.accept()
            with accepted:
                yield int(client.getsockname()[1])


def port_on(server: EmbeddedRedis | TansuBroker, port: int) -> None:
    server.port = port


def bus_on(server: ClusterNode, port: int) -> None:
    server.bus = port


@pytest.mark.parametrize(
    ("make", "take"),
    [
        (EmbeddedRedis, port_on),
        (ClusterNode, port_on),
        (ClusterNode, bus_on),
        (TansuBroker, port_on),
    ],
    ids=["redis port", "cluster node port", "cluster bus port", "broker port"],
)
def test_a_port_taken_before_the_bind_is_chosen_again(
    make: Callable[[], EmbeddedRedis | TansuBroker],
    take: Callable[[EmbeddedRedis | TansuBroker, int], None],
) -> None:
    with a_client_port() as taken:
        server = make()
        take(server, taken)
        try:
            server.start()
            ports = {server.port, getattr(server, "bus", 0)}
            assert taken not in ports
            assert server.answers()
            log = server.log_path.read_text()
            assert "Address already in use" in log or "AddrInUse" in log  # it met the taken port
        finally:
            server.stop()


def test_a_port_the_caller_named_is_not_chosen_again() -> None:
    with a_client_port() as taken:
        server = EmbeddedRedis(port=taken)
        with pytest.raises(EmbeddedError, match=r"exited with 1.*last line: .*Failed listening"):
            server.start()
        assert server.port == taken


def test_a_restart_keeps_its_port_or_fails() -> None:
    """Clients point at the port of a server that has run: a restart never moves it."""
    server = EmbeddedRedis()
    server.start()
    server.stop()
    port = server.port
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        with pytest.raises(EmbeddedError):
            server.start(timeout=5)
    assert server.port == port
    server.start()
    try:
        assert server.port == port and server.answers()
    finally:
        server.stop()
