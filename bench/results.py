"""What the Redis-only benchmarks share: a Redis to run against, and where their figures go."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson

from streams.app.embedded import EmbeddedRedis

RESULTS_DIR = Path(__file__).resolve().parent / "results"
T = TypeVar("T")


def stop_cleanly_on_sigterm() -> None:
    """A SIGTERM (``kill``, a CI timeout) unwinds like Ctrl-C, so that the ``finally`` blocks
    stop the embedded broker and valkey instead of leaving them running."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)


def on_redis(run: Callable[[str, bool], T]) -> T:
    """``run(url, external)`` against ``REDIS_URL`` (external: only the run's own keys may be
    touched), else against an embedded valkey stopped afterwards, a SIGTERM included."""
    stop_cleanly_on_sigterm()
    url = os.environ.get("REDIS_URL")
    if url:
        return run(url, True)
    server = EmbeddedRedis()
    server.start()
    try:
        return run(server.url, False)
    finally:
        server.stop()


def save(name: str, result: dict[str, Any]) -> Path:
    """``bench/results/<stamp>-<name>.json`` with the result and its stamp."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{stamp}-{name}.json"
    path.write_bytes(orjson.dumps({"stamp": stamp, **result}, option=orjson.OPT_INDENT_2))
    return path
