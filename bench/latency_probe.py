"""Live latency's probes, child processes of bench/latency.py: ``received`` (a plain
aiokafka ``getmany`` consumer) and ``visible`` (valkey keyspace notifications of the profile
``SET`` s and their fence headers). Each prints a ready line, records what it sees with
``time.monotonic()`` and writes it to ``--out`` when stopped (SIGTERM)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import select
import signal
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

import orjson

HEADER_BYTES = 255  # fence header read on each notification (8 partitions: ~70 bytes)


def _say(**fields: Any) -> None:
    os.write(1, orjson.dumps(fields) + b"\n")


def _write(path: str, data: dict[str, Any]) -> None:
    """The probe's observations, once it has stopped (no loop to keep responsive then)."""
    Path(path).write_bytes(orjson.dumps(data))


def _stop_requested() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    return stop


async def probe_received(a: argparse.Namespace) -> None:
    """A plain consumer: getmany + orjson.loads; writes ``[[partition, offset, t], ...]``."""
    from aiokafka import AIOKafkaConsumer

    from streams.connect.clients import kafka_options

    stop = _stop_requested()
    consumer = AIOKafkaConsumer(
        a.topic,
        **kafka_options(a.bootstrap),
        group_id=a.group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
        **({"fetch_max_wait_ms": a.fetch_max_wait_ms} if a.fetch_max_wait_ms is not None else {}),
    )
    await consumer.start()
    rows: list[tuple[int, int, float]] = []
    batches: list[int] = []
    ready = False
    loads, now = orjson.loads, time.monotonic
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=a.timeout_ms, max_records=a.max_records)
            n = 0
            for records in batch.values():
                for record in records:
                    loads(record.value)
                n += len(records)
            t = now()
            for tp, records in batch.items():
                rows.extend((tp.partition, r.offset, t) for r in records)
            if n:
                batches.append(n)
            if not ready and consumer.assignment():
                ready = True
                _say(ready=True)
    finally:
        await consumer.stop()
    _write(a.out, {"received": rows, "batches": batches})


async def probe_visible(a: argparse.Namespace) -> None:
    """Keyspace notifications of SET on ``<prefix>portrait:p2:{user}``, each followed by a
    pipelined read of the key's fence header; writes ``[[user, at, replied, header], ...]``."""
    from redis.asyncio import Redis

    stop = _stop_requested()
    redis = Redis.from_url(a.redis_url)
    reader = Redis.from_url(a.redis_url)
    await redis.config_set("notify-keyspace-events", "E$")
    # a lagging probe must not be disconnected (and lose notifications) by the pubsub limit
    await redis.config_set("client-output-buffer-limit", "pubsub 0 0 0")
    db = redis.connection_pool.connection_kwargs.get("db", 0)
    pubsub = redis.pubsub()
    await pubsub.subscribe(f"__keyevent@{db}__:set")
    prefix = a.prefix.encode()
    start = len(prefix) + 1  # past the '{' of '{user}'
    queue: deque[tuple[bytes, float]] = deque()
    wake = asyncio.Event()
    rows: list[tuple[str, float, float, bytes]] = []

    async def read_headers() -> None:
        while not (stop.is_set() and not queue):
            if not queue:
                wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), 0.2)
                continue
            chunk = [queue.popleft() for _ in range(len(queue))]
            async with reader.pipeline(transaction=False) as pipe:
                for key, _ in chunk:
                    pipe.getrange(key, 0, HEADER_BYTES)
                heads = await pipe.execute()
            t = time.monotonic()
            for (key, at), head in zip(chunk, heads, strict=True):
                rows.append((key[start:-1].decode(), at, t, head))

    task = asyncio.create_task(read_headers())
    _say(ready=True)
    try:
        while not stop.is_set():
            msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
            if msg is None:
                continue
            t = time.monotonic()
            key = msg["data"]
            if key.startswith(prefix):
                queue.append((key, t))
                wake.set()
        wake.set()
        await task
    finally:
        await pubsub.aclose()
        await redis.aclose()
        await reader.aclose()
    out = [(user, at, replied, head.decode("latin-1")) for user, at, replied, head in rows]
    _write(a.out, {"seen": out})


def probe_main(argv: list[str]) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("kind", choices=("received", "visible"))
    p.add_argument("--bootstrap")
    p.add_argument("--topic")
    p.add_argument("--group")
    p.add_argument("--timeout-ms", type=int, default=100)
    p.add_argument("--max-records", type=int, default=20_000)
    p.add_argument("--fetch-max-wait-ms", type=int)
    p.add_argument("--redis-url")
    p.add_argument("--prefix", help="the profile keys' prefix: <ns>portrait:p2:")
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    asyncio.run(probe_received(a) if a.kind == "received" else probe_visible(a))


class Probe:
    """A probe child: ``start`` waits for its ready line, ``stop`` for its observations."""

    def __init__(self, args: list[str], out: Path, log: Path) -> None:
        self.out = out
        with log.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bench.latency_probe", *args, "--out", str(out)],
                stdout=subprocess.PIPE,
                stderr=err,
            )
        self.log = log

    def wait_ready(self, timeout_s: float) -> None:
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout_s
        buffer = b""
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"probe exited: {self.log.read_text(errors='replace')[-2000:]}")
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                buffer += os.read(fd, 4096)
                if b'"ready"' in buffer:
                    return
        raise TimeoutError(f"probe not ready after {timeout_s}s")

    def stop(self) -> dict[str, Any]:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if not self.out.exists():
            raise RuntimeError(
                f"probe wrote nothing: {self.log.read_text(errors='replace')[-2000:]}"
            )
        data: dict[str, Any] = orjson.loads(self.out.read_bytes())
        return data


if __name__ == "__main__":
    probe_main(sys.argv[1:])
