"""The load side of the API benchmarks (bench/api.py, bench/api_frameworks.py): one client process
that drives an HTTP server, or Redis itself, and times every request.

* **Open loop** (``open_loop``): request ``i`` is due at ``t0 + i / rate``, whatever happened to
  the earlier ones; its latency runs from that scheduled time, not from when it was sent, so a
  stalled server is charged for the requests it kept waiting (no coordinated omission, as wrk2).
  ``service`` is the time from the actual send, for comparison: the gap between the two is the
  queueing in the client plus the timer's lateness (the event loop's timers have 1 ms grain).
* **Closed loop** (``closed_loop``): ``concurrency`` connections, each sending its next request
  as soon as the previous answer arrives: the maximum throughput at that concurrency.
* ``highest_sustained``: open-loop runs down a ladder of rates from the closed-loop maximum; the
  first that keeps up (``sustains``) is the highest sustained rate.

The HTTP client is a few lines of ``asyncio.Protocol`` over keep-alive HTTP/1.1 connections
(``Content-Length`` bodies only): a full client library would spend more CPU per request than the
servers measured, and on a 2-core machine the client shares the cores with them. The event loop
is the standard one, whose timers never fire early (uvloop's round to the millisecond either way).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import redis.asyncio as aioredis

from bench.load import LoadMeter, process_cpu_seconds, tree_pids

Call = Callable[[str], Awaitable[bool]]  # one request for a key; True when it answered as expected
KEEPS_UP = 0.98  # a sustained run completes at least this share of its target rate ...
MAX_P99_MS = (
    10.0  # ... with a p99 under this (twice the API's 5 ms target; a growing queue fails it)
)


class HttpError(RuntimeError):
    pass


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; one request in flight at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.lost = False  # the server closed it (uvicorn closes keep-alives idle for 5 s)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(HttpError(f"connection lost: {exc}"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is None or self.waiter.done():
            return
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        at = head.find(b"\r\ncontent-length:")
        if at < 0:
            self.waiter.set_exception(HttpError("response without Content-Length"))
            return
        line_end = head.find(b"\r\n", at + 2)
        length = int(head[at + 17 : line_end if line_end >= 0 else len(head)])
        total = end + 4 + length
        if len(self.buffer) < total:
            return
        body = bytes(self.buffer[end + 4 : total])
        del self.buffer[:total]
        self.waiter.set_result((int(head[9:12]), body))

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self.waiter


Close = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class HttpTarget:
    """``GET path_of(key)`` on ``host:port`` with ``headers``; 200 is the expected answer."""

    host: str
    port: int
    path_of: Callable[[str], str]
    headers: Sequence[tuple[str, str]] = ()

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(_Connection, self.host, self.port)
        return conn

    async def connect(self) -> tuple[Call, Close]:
        conn = [await self._open()]
        extra = "".join(f"{k}: {v}\r\n" for k, v in self.headers)
        prefix, suffix = b"GET ", f" HTTP/1.1\r\nHost: {self.host}\r\n{extra}\r\n".encode()

        async def call(key: str) -> bool:
            if conn[0].lost:  # closed while idle: open another, as a client library would
                conn[0] = await self._open()
            status, _ = await conn[0].request(prefix + self.path_of(key).encode() + suffix)
            return status == 200

        async def close() -> None:
            if conn[0].transport is not None:
                conn[0].transport.close()

        return call, close


@dataclass(frozen=True)
class RedisTarget:
    """redis-py ``GET key_of(key)``, one connection each; a value is the expected answer."""

    url: str
    key_of: Callable[[str], str]

    async def connect(self) -> tuple[Call, Close]:
        client = aioredis.Redis.from_url(self.url, single_connection_client=True)
        await client.ping()

        async def call(key: str) -> bool:
            return await client.get(self.key_of(key)) is not None

        return call, client.aclose


Target = HttpTarget | RedisTarget


@dataclass
class Result:
    """One run's figures; latencies in milliseconds."""

    mode: str  # "open" or "closed"
    target_rate: float  # req/s asked for (0 for a closed loop)
    rate: float  # req/s completed
    requests: int
    errors: int
    p50: float
    p99: float
    p999: float
    max: float
    service_p50: float
    service_p99: float
    cpu: dict[str, float] = field(default_factory=dict)  # cores used in the window, by process

    def sustains(self, max_p99_ms: float = MAX_P99_MS) -> bool:
        return (
            self.rate >= KEEPS_UP * self.target_rate and self.p99 <= max_p99_ms and not self.errors
        )


def _result(
    mode: str,
    target: float,
    wall: float,
    due: np.ndarray,
    sent: np.ndarray,
    done: np.ndarray,
    ok: np.ndarray,
) -> Result:
    finished = done > 0
    lat = (done[finished] - due[finished]) * 1e3
    svc = (done[finished] - sent[finished]) * 1e3
    if not len(lat):
        lat = svc = np.array([float("nan")])
    q = np.percentile(lat, [50, 99, 99.9])
    s = np.percentile(svc, [50, 99])
    done_n = int(finished.sum())
    return Result(
        mode=mode,
        target_rate=target,
        rate=done_n / float(wall),
        requests=done_n,
        errors=int((~ok[finished]).sum()),
        p50=float(q[0]),
        p99=float(q[1]),
        p999=float(q[2]),
        max=float(lat.max()),
        service_p50=float(s[0]),
        service_p99=float(s[1]),
    )


async def _safe(call: Call, key: str) -> bool:
    """A failed request (connection lost, Redis error) counts as an error, not a crash."""
    try:
        return await call(key)
    except Exception:
        return False


@contextlib.asynccontextmanager
async def connected(target: Target, count: int) -> AsyncIterator[list[Call]]:
    """``count`` connections to ``target``, closed on the way out."""
    pairs = await asyncio.gather(*(target.connect() for _ in range(count)))
    try:
        yield [call for call, _ in pairs]
    finally:
        await asyncio.gather(*(close() for _, close in pairs), return_exceptions=True)


async def open_loop(
    calls: Sequence[Call], keys: Sequence[str], rate: float, seconds: float
) -> Result:
    """``rate`` requests a second for ``seconds``, over the given connections (each carries one
    request at a time; when all are busy, the next due request waits, and its wait counts)."""
    n = max(1, int(rate * seconds))
    due = np.empty(n)
    sent, done, ok = np.zeros(n), np.zeros(n), np.zeros(n, dtype=bool)
    start = time.perf_counter() + 0.02
    due[:] = start + np.arange(n) / rate
    next_i = 0

    async def worker(call: Call) -> None:
        nonlocal next_i
        while next_i < n:
            i = next_i
            next_i += 1
            delay = due[i] - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent[i] = time.perf_counter()
            ok[i] = await _safe(call, keys[i % len(keys)])
            done[i] = time.perf_counter()

    await asyncio.gather(*(worker(c) for c in calls))
    return _result("open", rate, max(done.max(), due[-1]) - start, due, sent, done, ok)


async def closed_loop(calls: Sequence[Call], keys: Sequence[str], seconds: float) -> Result:
    """Every connection back to back for ``seconds``: the throughput at that concurrency."""
    cap = 200_000 * max(1, int(seconds) + 1)
    sent, done, ok = np.zeros(cap), np.zeros(cap), np.zeros(cap, dtype=bool)
    start = time.perf_counter()
    stop = start + seconds
    next_i = 0

    async def worker(call: Call) -> None:
        nonlocal next_i
        while next_i < cap and time.perf_counter() < stop:
            i = next_i
            next_i += 1
            sent[i] = time.perf_counter()
            ok[i] = await _safe(call, keys[i % len(keys)])
            done[i] = time.perf_counter()

    await asyncio.gather(*(worker(c) for c in calls))
    used = slice(0, next_i)
    wall = time.perf_counter() - start
    return _result("closed", 0.0, wall, sent[used], sent[used], done[used], ok[used])


class CpuWindow:
    """Cores used by named processes (and by others on the machine) over a measured window;
    a process's children count with it (``portrait api --processes``), except the client's
    (this process: its children are the servers it measures)."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.meter = LoadMeter()
        self._t = 0.0
        self._cpu: dict[str, float] = {}

    def __enter__(self) -> CpuWindow:
        self.meter.start()
        self._t = time.perf_counter()
        self._cpu = {name: self._seconds(name, pid) for name, pid in self.pids.items()}
        return self

    @staticmethod
    def _seconds(name: str, pid: int) -> float:
        pids = [pid] if name == "client" else tree_pids(pid)
        return sum(process_cpu_seconds(p) for p in pids)

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self._t
        cpu = {name: self._seconds(name, pid) for name, pid in self.pids.items()}
        self.figures = {name: round((cpu[name] - self._cpu[name]) / wall, 2) for name in cpu}
        self.figures["machine"] = self.meter.stop().get("machine_busy_cores", 0.0)


async def measured(run: Awaitable[Result], pids: dict[str, int]) -> Result:
    with CpuWindow(pids) as window:
        result = await run
    result.cpu = window.figures
    return result


async def highest_sustained(
    calls: Sequence[Call],
    keys: Sequence[str],
    ceiling: float,
    seconds: float,
    pids: dict[str, int],
    steps: Sequence[float] = (0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3),
    tried: list[Result] | None = None,
    max_p99_ms: float = MAX_P99_MS,
) -> Result | None:
    """The first rate down ``ceiling * steps`` (rounded to 100 req/s) that ``sustains``: it
    keeps up with the schedule with a p99 within ``max_p99_ms``."""
    for share in steps:
        rate = max(100.0, round(ceiling * share, -2))
        result = await measured(open_loop(calls, keys, rate, seconds), pids)
        if tried is not None:
            tried.append(result)
        if result.sustains(max_p99_ms):
            return result
    return None


HEADER = (
    f"{'':<28} {'mode':<6} {'target/s':>8} {'done/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
    f"{'p99.9':>7} {'max ms':>7} {'svc p50':>7} {'svc p99':>7} {'err':>4}  cores"
)


def row(label: str, r: Result) -> str:
    target = f"{r.target_rate:,.0f}" if r.target_rate else "-"
    cores = " ".join(f"{k}={v:.2f}" for k, v in r.cpu.items())
    return (
        f"{label:<28} {r.mode:<6} {target:>8} {r.rate:>8,.0f} {r.p50:>7.2f} {r.p99:>7.2f} "
        f"{r.p999:>7.2f} {r.max:>7.1f} {r.service_p50:>7.2f} {r.service_p99:>7.2f} "
        f"{r.errors:>4}  {cores}"
    )


def add_load_arguments(p: argparse.ArgumentParser) -> None:
    """The load options bench.api and bench.api_frameworks share."""
    p.add_argument("--rate", type=float, default=1000.0, help="open-loop req/s (1000)")
    p.add_argument("--seconds", type=float, default=10.0, help="open-loop run at --rate (10)")
    p.add_argument(
        "--closed-seconds", type=float, default=5.0, help="closed loop and each step (5)"
    )
    p.add_argument("--concurrency", type=int, default=32, help="closed-loop connections (32)")
    p.add_argument("--connections", type=int, default=64, help="open-loop connections (64)")
    p.add_argument(
        "--sustain-p99-ms",
        type=float,
        default=MAX_P99_MS,
        help=f"a sustained rate keeps up with p99 under this ({MAX_P99_MS:g})",
    )


def add_wait_quiet(p: argparse.ArgumentParser, when: str) -> None:
    p.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="S",
        help=f"{when}, wait up to S s for other processes to go idle",
    )
