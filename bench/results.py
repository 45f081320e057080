"""What the Redis-only benchmarks share: a Redis to run against, and where their figures go."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson

from streams.app.embedded import EmbeddedRedis

RESULTS_DIR = Path(__file__).resolve().parent / "results"
T = TypeVar("T")


def on_redis(run: Callable[[str, bool], T]) -> T:
    """``run(url, external)`` against ``REDIS_URL`` (external: only the run's own keys may be
    touched), else against an embedded valkey stopped afterwards."""
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
