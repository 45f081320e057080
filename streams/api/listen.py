"""The API's listening socket and its refusals, shared by ``portrait api`` and its
``--processes`` supervisor: bound here, not by uvicorn, so a taken port is one line (uvicorn
would exit the process) and port 0 works."""

from __future__ import annotations

import socket
from typing import Final

from streams.errors import CommandError

LOCALHOST: Final = "127.0.0.1"
NO_TOKEN: Final = (
    "no API token: set PORTRAIT_API_TOKENS (e.g. admin:SECRET) or PORTRAIT_API_TOKENS_FILE, "
    "or pass --no-auth to serve on 127.0.0.1 without auth"
)


def bind(host: str, port: int, *, shared: bool = False, listen: bool = True) -> socket.socket:
    """A listening socket on ``host:port``, or a one-line :class:`CommandError`. ``shared``:
    with SO_REUSEPORT, so that each of ``--processes``' servers listens on its own socket of the
    same port and the kernel spreads the connections evenly over them; ``listen=False``: bound
    only (the supervisor's, holding the port while its servers start)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if shared:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except (OSError, OverflowError) as exc:
        raise CommandError(
            f"cannot serve the API on {host}:{port} (PORTRAIT_API_HOST/PORT, --host/--port): "
            f"{getattr(exc, 'strerror', None) or exc}"
        ) from None
    if listen:
        sock.listen(2048)
    sock.setblocking(False)
    return sock
