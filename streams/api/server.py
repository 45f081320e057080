"""Running the API: :func:`serve_api` serves it with uvicorn in the current event loop (so
``portrait up`` runs it beside the worker), :func:`api_main` is the ``portrait api`` command.

The socket is bound before uvicorn starts (streams/api/listen.py), so a taken port is one line
and port 0 works; the context is started before the server, so an unreachable Redis or Kafka is
one line too (streams.connect.lifecycle.StartupError). ``--processes N`` runs N servers on one port
(streams/api/processes.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Iterator, Sequence
from typing import Any

import uvicorn
from prometheus_client import CollectorRegistry

from streams.api.app import create_app
from streams.api.auth import TokenTable
from streams.api.context import open_context
from streams.api.listen import LOCALHOST, NO_TOKEN, bind
from streams.errors import CommandError
from streams.settings.api import ApiToken
from streams.settings.tree import Settings

log = logging.getLogger("portrait.api")


class _Server(uvicorn.Server):
    """uvicorn's server, leaving the process's signals to its caller (``stop`` ends it), and
    telling when it answers (``up``)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.up = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.up.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_api(
    settings: Settings,
    *,
    host: str,
    port: int,
    tokens: Sequence[ApiToken],
    no_auth: bool = False,
    ready: asyncio.Event | None = None,
    stop: asyncio.Event | None = None,
    registry: CollectorRegistry | None = None,
    sock: socket.socket | None = None,
) -> None:
    """Serve until ``stop`` is set (or the task is cancelled). ``ready`` is set once requests
    are answered. Without tokens, only ``no_auth`` serves, and then on 127.0.0.1 alone.
    ``sock``: a listening socket bound already (``portrait api --processes``' children)."""
    if not tokens and not no_auth:
        raise CommandError(NO_TOKEN)
    if no_auth:
        host = LOCALHOST
    table = TokenTable(None if no_auth else tokens)
    sock = bind(host, port) if sock is None else sock
    ctx = open_context(settings, table, registry=registry)
    try:
        await ctx.start()
        config = uvicorn.Config(create_app(ctx), lifespan="on", log_config=None,
                                access_log=False, server_header=False)  # fmt: skip
        server = _Server(config)
        task = asyncio.ensure_future(server.serve(sockets=[sock]))
        await _until_started(server, task)
        bound = sock.getsockname()[1]
        log.info("portrait api: serving on http://%s:%d (docs: /docs)", host, bound)
        if ready is not None:
            ready.set()
        await _until_stopped(server, task, stop)
    finally:
        sock.close()
        await ctx.close()


async def _until_started(server: _Server, task: asyncio.Future[Any]) -> None:
    up: asyncio.Future[Any] = asyncio.ensure_future(server.up.wait())
    try:
        await asyncio.wait({task, up}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        up.cancel()
    if task.done():
        task.result()  # its error, if it failed
        raise CommandError("the API server stopped while starting")


async def _until_stopped(
    server: uvicorn.Server, task: asyncio.Future[Any], stop: asyncio.Event | None
) -> None:
    waiter: asyncio.Future[Any] = asyncio.ensure_future((stop or asyncio.Event()).wait())
    try:
        await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        server.should_exit = True
        await asyncio.shield(task)


def api_main(settings: Settings, args: argparse.Namespace) -> int:
    """``portrait api [--host H] [--port P] [--no-auth] [--processes N]``: serve until SIGINT
    or SIGTERM."""
    host = args.host or settings.api.host
    port = settings.api.port if args.port is None else args.port
    if args.processes < 1:
        raise CommandError(f"--processes must be at least 1, not {args.processes}")
    if args.processes > 1:
        from streams.api.processes import serve_processes

        return serve_processes(host, port, args.processes, has_tokens=bool(settings.api.tokens),
                               no_auth=bool(args.no_auth))  # fmt: skip
    # a server of --processes: its own socket of the port its supervisor holds
    sock = bind(host, port, shared=True) if args.shared_port else None
    return asyncio.run(_main(settings, host, port, bool(args.no_auth), sock))


async def _main(
    settings: Settings, host: str, port: int, no_auth: bool, sock: socket.socket | None
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await serve_api(settings, host=host, port=port, tokens=settings.api.tokens,
                    no_auth=no_auth, stop=stop, sock=sock)  # fmt: skip
    return 0


def add_parser(sub: Any) -> None:
    """``portrait api``'s options, on the ``portrait`` parser's subparsers."""
    api = sub.add_parser("api", help="serve the HTTP API and the 360° page (docs/api.md)")
    api.add_argument("--host", help="address to listen on (default: PORTRAIT_API_HOST, 0.0.0.0)")
    api.add_argument("--port", type=int, help="default: PORTRAIT_API_PORT, 8080")
    api.add_argument(
        "--no-auth", action="store_true", help="no token needed; listen on 127.0.0.1 only"
    )
    api.add_argument(
        "--processes",
        type=int,
        default=1,
        metavar="N",
        help="serve from N processes on one port, metrics summed across them (default: 1)",
    )
    api.add_argument(
        "--shared-port", action="store_true", help=argparse.SUPPRESS
    )  # one of --processes' servers: SO_REUSEPORT on the port its supervisor holds
