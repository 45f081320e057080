"""A live API for integration tests: ``serve_api`` (what ``portrait api`` runs) on a free port of
127.0.0.1, in the test's event loop, over the fixture's Redis and broker; tokens per scope."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from streams.api.server import serve_api
from streams.app.ports import free_port
from streams.settings.api import parse_tokens
from streams.settings.tree import Settings

TOKENS = {"read": "read-secret-1", "ingest": "ingest-secret-2", "admin": "admin-secret-3"}
SPEC = ",".join(f"{scope}:{token}" for scope, token in TOKENS.items())


@dataclass(frozen=True, slots=True)
class LiveApi:
    url: str
    registry: CollectorRegistry

    @staticmethod
    def auth(scope: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKENS[scope]}"}


@contextlib.asynccontextmanager
async def live_api(settings: Settings, *, spec: str = SPEC) -> AsyncIterator[LiveApi]:
    """Serve the API until the block ends; fail the test if it cannot start in 30 s."""
    port, registry = free_port(), CollectorRegistry()
    ready, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.ensure_future(
        serve_api(
            settings,
            host="127.0.0.1",
            port=port,
            tokens=parse_tokens(spec),
            ready=ready,
            stop=stop,
            registry=registry,
        )
    )
    started = asyncio.ensure_future(ready.wait())
    await asyncio.wait({task, started}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    started.cancel()
    if task.done():
        task.result()
    assert ready.is_set(), "the API did not start within 30 s"
    try:
        yield LiveApi(f"http://127.0.0.1:{port}", registry)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


@contextlib.contextmanager
def threaded_api(settings: Settings, *, spec: str = SPEC) -> Iterator[str]:
    """The API in a thread of its own (its own event loop), for a synchronous client such as
    schemathesis's: yields its base URL."""
    port = free_port()
    loop = asyncio.new_event_loop()
    ready, stop = asyncio.Event(), asyncio.Event()
    failed: list[BaseException] = []

    def run() -> None:
        try:
            loop.run_until_complete(
                serve_api(
                    settings,
                    host="127.0.0.1",
                    port=port,
                    tokens=parse_tokens(spec),
                    ready=ready,
                    stop=stop,
                    registry=CollectorRegistry(),
                )
            )
        except BaseException as exc:  # reported to the test below
            failed.append(exc)

    thread = threading.Thread(target=run, name="portrait-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not ready.is_set() and not failed and time.monotonic() < deadline:
        time.sleep(0.05)
    if failed:
        raise failed[0]
    assert ready.is_set(), "the API did not start within 30 s"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        loop.close()
