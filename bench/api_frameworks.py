"""Which HTTP framework for `portrait api`: one endpoint on four stacks, measured alike.

    python -m bench.api_frameworks [--profiles 10000] [--rate 1000] [--seconds 10]
                                   [--closed-seconds 5] [--concurrency 32] [--only NAME,...]
                                   [--loop uvloop|asyncio] [--wait-quiet S]

The endpoint is the API's hot one reduced to its I/O: ``GET /v1/profiles/{id}`` reads one
profile blob (~2 KB of JSON) with ``redis.asyncio`` GET from an embedded valkey (or
``REDIS_URL``), picks a small document out of it and answers it as JSON made by orjson; 404 for
an unknown id. Each stack serves it from one process (a child of this one; ``--loop``: uvloop,
or asyncio's own):

* ``fastapi-model``: FastAPI with a pydantic ``response_model`` (validated, serialised by
  pydantic), on uvicorn (httptools);
* ``fastapi-orjson``: FastAPI returning an orjson ``Response`` of the dict (no validation);
* ``starlette``: a bare Starlette route on uvicorn;
* ``aiohttp``: ``aiohttp.web``.

Beside them, ``redis GET``: the same client doing the Redis GET itself, the floor of any stack.
For each: an open-loop run at ``--rate`` (latency from the scheduled send, bench/api_load.py), a
closed-loop run at ``--concurrency`` connections (the maximum throughput), and the highest
open-loop rate that keeps up. Progress on stderr; the table on stdout; the figures in
``bench/results/api_frameworks-<stamp>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import random
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import orjson

from bench.api_load import (
    HEADER,
    Call,
    HttpTarget,
    RedisTarget,
    Result,
    Target,
    add_load_arguments,
    add_wait_quiet,
    closed_loop,
    connected,
    highest_sustained,
    measured,
    open_loop,
    row,
)
from bench.load import wait_quiet
from bench.progress import note
from streams.app.embedded import EmbeddedRedis, free_port

FRAMEWORKS = ("fastapi-model", "fastapi-orjson", "starlette", "aiohttp")
LOOPS = ("uvloop", "asyncio")
RAW = "redis GET"


def path_of(user_id: str) -> str:
    return f"/v1/profiles/{user_id}"


RESULTS_DIR = Path(__file__).resolve().parent / "results"


def blob(user_id: str, rng: random.Random) -> bytes:
    """A profile-shaped document of about 2 KB (the API's document has these parts)."""
    words = [f"cat{n}" for n in range(60)]
    doc = {
        "user_id": user_id,
        "as_of": "2026-12-05T12:00:00Z",
        "tags": {
            "rfm_segment": rng.choice(["champion", "loyal", "at_risk"]),
            "lifecycle": "active",
            "price_band": "mid",
            "churn_risk": round(rng.random(), 3),
            "vip": rng.random() < 0.1,
            "orders_30d": rng.randrange(20),
        },
        "segments": rng.sample(["cart_abandoners", "deal_hunters", "new_users", "big_spenders"], 2),
        "categories": [[w, round(rng.random(), 4)] for w in rng.sample(words, 20)],
        "brands": [[f"brand{n}", round(rng.random(), 4)] for n in range(20)],
        "active_hours": {str(h): round(rng.random(), 3) for h in rng.sample(range(168), 40)},
        "cart": [{"item_id": f"i{rng.randrange(10**6)}", "price": 9.99} for _ in range(3)],
    }
    return orjson.dumps(doc)


def small(user_id: str, raw: bytes | str) -> dict[str, Any]:
    doc = orjson.loads(raw)
    return {
        "user_id": user_id,
        "as_of": doc["as_of"],
        "tags": doc["tags"],
        "segments": doc["segments"],
        "categories": doc["categories"][:5],
    }


NOT_FOUND = orjson.dumps({"error": {"code": "not_found", "message": "no profile", "status": 404}})


def fastapi_app(url: str, prefix: str, model: bool) -> Any:
    from fastapi import FastAPI, Response
    from pydantic import BaseModel
    from redis.asyncio import Redis

    redis = Redis.from_url(url)
    app = FastAPI()

    class Doc(BaseModel):
        user_id: str
        as_of: str
        tags: dict[str, str | int | float | bool | None]
        segments: list[str]
        categories: list[tuple[str, float]]

    if model:

        @app.get("/v1/profiles/{user_id}", response_model=Doc)
        async def get_model(user_id: str) -> Any:
            raw = await redis.get(prefix + user_id)
            if raw is None:
                return Response(NOT_FOUND, status_code=404, media_type="application/json")
            return small(user_id, raw)

    else:

        @app.get("/v1/profiles/{user_id}")
        async def get_orjson(user_id: str) -> Response:
            raw = await redis.get(prefix + user_id)
            if raw is None:
                return Response(NOT_FOUND, status_code=404, media_type="application/json")
            return Response(orjson.dumps(small(user_id, raw)), media_type="application/json")

    return app


def starlette_app(url: str, prefix: str) -> Any:
    from redis.asyncio import Redis
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    redis = Redis.from_url(url)

    async def get(request: Request) -> Response:
        user_id = request.path_params["user_id"]
        raw = await redis.get(prefix + user_id)
        if raw is None:
            return Response(NOT_FOUND, status_code=404, media_type="application/json")
        return Response(orjson.dumps(small(user_id, raw)), media_type="application/json")

    return Starlette(routes=[Route("/v1/profiles/{user_id}", get)])


def serve_aiohttp(url: str, prefix: str, port: int, loop: str) -> None:
    import uvloop
    from aiohttp import web
    from redis.asyncio import Redis

    redis = Redis.from_url(url)

    async def get(request: web.Request) -> web.Response:
        user_id = request.match_info["user_id"]
        raw = await redis.get(prefix + user_id)
        if raw is None:
            return web.Response(body=NOT_FOUND, status=404, content_type="application/json")
        return web.Response(body=orjson.dumps(small(user_id, raw)), content_type="application/json")

    app = web.Application()
    app.router.add_get("/v1/profiles/{user_id}", get)
    new_loop = uvloop.new_event_loop if loop == "uvloop" else asyncio.new_event_loop
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, loop=new_loop())


def serve(framework: str, url: str, prefix: str, port: int, loop: str) -> None:
    """Run one stack in this process until killed."""
    if framework == "aiohttp":
        serve_aiohttp(url, prefix, port, loop)
        return
    import uvicorn

    app = (
        starlette_app(url, prefix)
        if framework == "starlette"
        else fastapi_app(url, prefix, model=framework == "fastapi-model")
    )
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        loop=loop,
        http="httptools",
    )


@contextlib.contextmanager
def server(
    framework: str, url: str, prefix: str, probe: str, loop: str
) -> Iterator[tuple[int, int]]:
    """A stack as a child process; yields (port, pid) once it answers ``probe`` with 200."""
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "bench.api_frameworks",
        "serve",
        framework,
        "--redis",
        url,
        "--prefix",
        prefix,
        "--port",
        str(port),
        "--loop",
        loop,
    ]
    child = subprocess.Popen(cmd)
    try:
        wait_answers(f"http://127.0.0.1:{port}{path_of(probe)}", child)
        yield port, child.pid
    finally:
        child.terminate()
        try:
            child.wait(5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def wait_answers(
    url: str, child: subprocess.Popen[bytes], timeout: float = 30.0, token: str | None = None
) -> None:
    """Until ``url`` answers 200 (with ``token`` as the bearer); SystemExit when the child exits
    or ``timeout`` passes."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise SystemExit(f"server exited with {child.returncode} before answering {url}")
        try:
            request = urllib.request.Request(url, headers=headers)
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            time.sleep(0.1)
    raise SystemExit(f"server did not answer {url} within {timeout:.0f}s")


async def measure(
    target: Target, keys: list[str], args: argparse.Namespace, pids: dict[str, int], label: str
) -> list[Result]:
    """Warm-up, the open loop at ``--rate``, the closed loop, the highest sustained rate."""
    async with connected(target, args.connections) as calls:
        if args.wait_quiet:
            others = wait_quiet(args.wait_quiet)
            note(f"{label}: other processes use {others:.2f} cores")
        return await _runs(calls, keys, args, pids, label)


async def _runs(
    calls: list[Call], keys: list[str], args: argparse.Namespace, pids: dict[str, int], label: str
) -> list[Result]:
    await closed_loop(calls[: args.concurrency], keys, 1.0)  # warm-up
    note(f"{label}: open loop at {args.rate:,.0f} req/s for {args.seconds:.0f} s ...")
    at_rate = await measured(open_loop(calls, keys, args.rate, args.seconds), pids)
    note(f"{label}: closed loop, {args.concurrency} connections, {args.closed_seconds:.0f} s ...")
    top = await measured(closed_loop(calls[: args.concurrency], keys, args.closed_seconds), pids)
    note(f"{label}: highest sustained open-loop rate below {top.rate:,.0f} req/s ...")
    tried: list[Result] = []
    best = await highest_sustained(
        calls,
        keys,
        top.rate,
        args.closed_seconds,
        pids,
        tried=tried,
        max_p99_ms=args.sustain_p99_ms,
    )
    return [at_rate, top, *([best] if best else tried[-1:])]


async def run_all(
    args: argparse.Namespace, redis: EmbeddedRedis | None, url: str
) -> dict[str, list[Result]]:
    from redis.asyncio import Redis

    prefix = f"benchapi{uuid.uuid4().hex[:6]}:p:"
    rng = random.Random(args.seed)
    keys = [f"u{n}" for n in range(args.profiles)]
    client = Redis.from_url(url)
    async with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.set(prefix + key, blob(key, rng))
        await pipe.execute()
    rng.shuffle(keys)
    base = {
        "client": os.getpid(),
        **({"valkey": redis.process.pid} if redis and redis.process else {}),
    }
    results: dict[str, list[Result]] = {}
    try:
        results[RAW] = await measure(
            RedisTarget(url, lambda key: prefix + key), keys, args, base, RAW
        )
        for framework in args.only:
            with server(framework, url, prefix, keys[0], args.loop) as (port, pid):
                target = HttpTarget("127.0.0.1", port, path_of)
                results[framework] = await measure(
                    target, keys, args, {**base, "server": pid}, framework
                )
    finally:
        async for batch in _chunks(client, prefix):
            await client.delete(*batch)
        await client.aclose()
    return results


async def _chunks(client: Any, prefix: str) -> Any:
    batch: list[bytes] = []
    async for key in client.scan_iter(match=prefix + "*", count=1000):
        batch.append(key)
        if len(batch) == 1000:
            yield batch
            batch = []
    if batch:
        yield batch


def context() -> dict[str, Any]:
    import aiohttp
    import fastapi
    import pydantic
    import starlette
    import uvicorn

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "fastapi": fastapi.__version__,
        "starlette": starlette.__version__,
        "pydantic": pydantic.__version__,
        "uvicorn": uvicorn.__version__,
        "aiohttp": aiohttp.__version__,
        "loadavg": os.getloadavg(),
    }


def print_tables(results: dict[str, list[Result]], args: argparse.Namespace) -> None:
    print(HEADER)
    for label, rows in results.items():
        for r in rows:
            print(row(label, r))
    print()
    print(
        f"{'':<16} {f'p50@{args.rate:.0f}':>9} {f'p99@{args.rate:.0f}':>9} {'max req/s':>10} "
        f"{'sustained':>10} {'p50 there':>10} {'p99 there':>10}"
    )
    for label, (at_rate, top, best) in ((k, v) for k, v in results.items() if len(v) == 3):
        kept = f"{best.target_rate:,.0f}" if best.sustains(args.sustain_p99_ms) else "none"
        print(
            f"{label:<16} {at_rate.p50:>9.2f} {at_rate.p99:>9.2f} {top.rate:>10,.0f} {kept:>10} "
            f"{best.p50:>10.2f} {best.p99:>10.2f}"
        )


@contextlib.contextmanager
def redis_service() -> Iterator[tuple[EmbeddedRedis | None, str]]:
    env = os.environ.get("REDIS_URL")
    if env:
        yield None, env
        return
    redis = EmbeddedRedis()
    redis.start()
    try:
        yield redis, redis.url
    finally:
        redis.stop()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        s = argparse.ArgumentParser(prog="python -m bench.api_frameworks serve")
        s.add_argument("framework", choices=FRAMEWORKS)
        s.add_argument("--redis", required=True)
        s.add_argument("--prefix", required=True)
        s.add_argument("--port", type=int, required=True)
        s.add_argument("--loop", choices=LOOPS, default="uvloop")
        a = s.parse_args(argv[1:])
        serve(a.framework, a.redis, a.prefix, a.port, a.loop)
        return 0
    p = argparse.ArgumentParser(
        prog="python -m bench.api_frameworks", description=__doc__.split("\n")[0]
    )
    p.add_argument("--profiles", type=int, default=10_000)
    add_load_arguments(p)
    p.add_argument("--loop", choices=LOOPS, default="uvloop", help="the servers' event loop")
    add_wait_quiet(p, "before each stack")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument(
        "--only",
        type=lambda s: s.split(","),
        default=list(FRAMEWORKS),
        help=f"comma-separated, of {','.join(FRAMEWORKS)}",
    )
    args = p.parse_args(argv)
    if unknown := set(args.only) - set(FRAMEWORKS):
        p.error(f"unknown framework(s) {sorted(unknown)}; choose from {','.join(FRAMEWORKS)}")
    args.concurrency = min(args.concurrency, args.connections)
    info = context()
    note(f"machine: {info}")
    with redis_service() as (redis, url):
        results = asyncio.run(run_all(args, redis, url))
    print_tables(results, args)
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"api_frameworks-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    payload = {
        "context": info,
        "args": vars(args),
        "results": {k: [asdict(r) for r in v] for k, v in results.items()},
    }
    out.write_bytes(orjson.dumps(payload, option=orjson.OPT_INDENT_2))
    note(f"figures in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
