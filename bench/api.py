"""`portrait api` under load: GET /v1/profiles/{id} beside a raw Redis GET of the same keys.

    python -m bench.api [--users 20000] [--days 30] [--activity 0.08] [--rate 1000]
                        [--seconds 10] [--closed-seconds 5] [--concurrency 32]
                        [--launch auto|cli|serve_api|standin] [--processes N]
                        [--wait-quiet S] [--rules none|default|pack|FILE]

1. **Services.** Embedded Tansu and valkey (the API's lifespan starts an events producer), unless
   ``KAFKA_BOOTSTRAP_SERVERS`` and ``REDIS_URL`` are both set. Keys live under a fresh namespace
   (the topic prefix) and are deleted at the end; the Redis is never flushed.
2. **Profiles.** ``--users`` persona users (streams/sim/personas.py) over the ``--days`` before
   now (``--activity`` 0.08, bench/memory.py's: with the defaults about 19k profiles from 2M
   events, ~7.5 KB documents), applied through the pure model (``ProfileModel``), settled once
   per simulated hour, written with the store's fenced writes: real profile states.
3. **Server.** The real app as a child process: ``portrait api`` (``--launch cli``), or
   ``streams.api.server.serve_api`` when the command is not there yet (``serve_api``); a bearer
   token of scope ``read`` on every request. ``standin`` (a FastAPI route over the same
   ProfileReader) only until streams/api/ exists; the table says which ran.
4. **Load** (bench/api_load.py), from this process, the API and the raw ``GET`` of the same
   profile keys (redis-py, one connection per slot) side by side: open loop at ``--rate`` with
   latency from the scheduled send (no coordinated omission), a closed loop at
   ``--concurrency`` connections (the maximum), the highest open-loop rate the API sustains and
   the raw GET at that same rate. Ratios API / raw of p50 and p99 at both rates; the issue's
   target: p99 <= 5 ms at 1,000 req/s.

Progress on stderr; the table on stdout; figures in ``bench/results/api-<stamp>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml

from bench.api_frameworks import context as machine
from bench.api_frameworks import wait_answers
from bench.api_load import (
    HEADER,
    Call,
    HttpTarget,
    RedisTarget,
    Result,
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
from bench.progress import Progress, note
from bench.rules_run import CHOICES, resolve
from streams.app.embedded import EmbeddedRedis, TansuBroker, free_port
from streams.names import Keys

HOUR = 3_600_000
TARGET_P99_MS = 5.0
LAUNCHES = ("auto", "cli", "serve_api", "standin")
RESULTS_DIR = Path(__file__).resolve().parent / "results"
API, RAW = "API GET /v1/profiles/{id}", "redis GET (raw)"


@dataclass(frozen=True)
class Services:
    bootstrap: str
    redis_url: str
    pids: dict[str, int]  # the embedded ones, for the CPU columns


@contextlib.contextmanager
def services() -> Iterator[Services]:
    bootstrap, url = os.environ.get("KAFKA_BOOTSTRAP_SERVERS"), os.environ.get("REDIS_URL")
    if bootstrap and url:
        yield Services(bootstrap, url, {})
        return
    broker, redis = TansuBroker(), EmbeddedRedis()
    try:
        broker.start()
        redis.start()
        assert redis.process is not None
        yield Services(broker.bootstrap_servers, redis.url, {"valkey": redis.process.pid})
    finally:
        broker.stop()
        redis.stop()


async def populate(
    url: str, namespace: str, users: int, days: int, activity: float, seed: int
) -> list[str]:
    """Persona traffic over the ``days`` before now, through the pure model, into the store;
    the ids of the users with a profile."""
    from profiles.events import from_dict
    from profiles.model import ProfileModel, State
    from streams.connect.clients import redis_client
    from streams.sim.personas import TrafficModel
    from streams.store.profiles import ProfileStore, Write

    model, states = ProfileModel(), dict[str, State]()
    traffic = TrafficModel(users, seed=seed, activity=activity)
    start = (int(time.time() * 1000) // HOUR - days * 24) * HOUR
    progress, offset = Progress("simulated hours", days * 24), 0
    for hour in range(days * 24):
        touched = set()
        begin = start + hour * HOUR
        for raw in traffic.events_between(begin, begin + HOUR):
            event = from_dict({**raw, "user_id": namespace + raw["user_id"]})
            state = states.get(event.user_id)
            if state is None:
                state = states[event.user_id] = model.initial()
            model.apply_event(state, event, 0, offset)
            offset += 1
            touched.add(event.user_id)
        for uid in touched:
            model.settle(states[uid])
        progress.update(hour + 1)
    note(f"{offset} events applied to {len(states)} profiles; writing them")
    redis = redis_client(url)
    store = ProfileStore(redis, namespace)
    writes = [Write(uid, 0, s.fences["0"], model.encode(s)) for uid, s in states.items()]
    refused = [
        uid for i in range(0, len(writes), 5000) for uid in await store.write(writes[i : i + 5000])
    ]
    await redis.aclose()
    return sorted(set(states) - set(refused))


def launcher(choice: str) -> str:
    """Which way the app runs: the CLI command when it exists, else serve_api, else the
    stand-in (only while streams/api/ is being written)."""
    if choice != "auto":
        return choice
    cli = subprocess.run(
        [sys.executable, "-m", "streams.app.cli", "api", "--help"], capture_output=True, check=False
    )
    if cli.returncode == 0:
        return "cli"
    try:
        from streams.api import server  # noqa: F401
    except ImportError:
        return "standin"
    return "serve_api"


@contextlib.contextmanager
def api_server(
    how: str,
    svc: Services,
    namespace: str,
    token: str,
    probe: str,
    rules: Path | None,
    processes: int = 1,
) -> Iterator[tuple[int, int]]:
    """The app in a child process; yields (port, pid) once ``probe``'s profile answers 200.
    ``rules``: the PORTRAIT_RULES file (None: the default pack); ``processes``: ``portrait api
    --processes`` (the CLI alone)."""
    port = free_port()
    config = Path(tempfile.mkdtemp(prefix="portrait-bench-api-")) / "portrait.yaml"
    config.write_text(yaml.safe_dump({"topics": {"prefix": namespace}}))
    env = {
        **os.environ,
        "REDIS_URL": svc.redis_url,
        "KAFKA_BOOTSTRAP_SERVERS": svc.bootstrap,
        "PORTRAIT_CONFIG": str(config),
        "PORTRAIT_API_TOKENS": f"read:{token}",
        "PORTRAIT_API_PORT": str(port),
        "PORTRAIT_API_HOST": "127.0.0.1",
        **({"PORTRAIT_RULES": str(rules)} if rules else {}),
        "PORTRAIT_METRICS_PORT": "0",
    }
    if how == "cli":
        cmd = [sys.executable, "-m", "streams.app.cli", "api", "--port", str(port),
               "--processes", str(processes)]  # fmt: skip
    else:
        cmd = [sys.executable, "-m", "bench.api", "serve", how, "--port", str(port)]
    child = subprocess.Popen(cmd, env=env)
    try:
        wait_answers(f"http://127.0.0.1:{port}{path_of(probe)}", child, token=token)
        yield port, child.pid
    finally:
        child.terminate()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def path_of(user_id: str) -> str:
    return "/v1/profiles/" + urllib.parse.quote(user_id, safe="")


def serve(how: str, port: int) -> None:
    """In the child: the app from the environment's settings, until terminated."""
    from streams.settings.tree import Settings

    settings = Settings.from_env()
    if how == "serve_api":
        from streams.api.server import serve_api

        asyncio.run(serve_api(settings, host="127.0.0.1", port=port, tokens=settings.api.tokens))
        return
    import uvicorn

    uvicorn.run(
        standin_app(settings), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )


def standin_app(settings: Any) -> Any:
    """GET /v1/profiles/{id} over ProfileReader, bearer-checked: the shape of the real route."""
    from fastapi import FastAPI, Header, Response

    from profiles.model import ProfileModel
    from streams.connect.clients import redis_client
    from streams.read.profile import ProfileReader

    tokens = {t.digest for t in settings.api.tokens} if settings.api.tokens else set()
    redis = redis_client(settings)
    reader = ProfileReader(
        redis, settings.topics.prefix, ProfileModel(settings.model), settings.rules
    )
    app = FastAPI()

    @app.get("/v1/profiles/{user_id}")
    async def get(user_id: str, authorization: str = Header("")) -> Response:
        import hashlib

        token = authorization.removeprefix("Bearer ")
        if tokens and hashlib.sha256(token.encode()).digest() not in tokens:
            return Response(
                b'{"error":{"code":"unauthorized"}}', 401, media_type="application/json"
            )
        doc = await reader.document(user_id, int(time.time() * 1000))
        if doc is None:
            return Response(b'{"error":{"code":"not_found"}}', 404, media_type="application/json")
        return Response(orjson.dumps(doc), media_type="application/json")

    return app


@dataclass
class Figures:
    at_rate: tuple[Result, Result]  # (api, raw) open loop at --rate
    closed: tuple[Result, Result]  # (api, raw) closed loop
    sustained: tuple[Result, Result] | None  # (api, raw) at the API's highest sustained rate
    tried: list[Result]  # the API's ladder


async def load(
    api_calls: list[Call],
    raw_calls: list[Call],
    ids: list[str],
    args: argparse.Namespace,
    pids: dict[str, int],
) -> Figures:
    c = args.concurrency
    if args.wait_quiet:
        note(f"other processes use {wait_quiet(args.wait_quiet):.2f} cores")
    await closed_loop(api_calls[:c], ids, 1.0)  # warm-up: connections, caches, the JIT-less rest
    await closed_loop(raw_calls[:c], ids, 1.0)
    pair = []
    for label, calls in ((API, api_calls), (RAW, raw_calls)):
        note(f"{label}: open loop at {args.rate:,.0f} req/s for {args.seconds:g} s ...")
        pair.append(await measured(open_loop(calls, ids, args.rate, args.seconds), pids))
    closed = []
    for label, calls in ((API, api_calls), (RAW, raw_calls)):
        note(f"{label}: closed loop, {c} connections, {args.closed_seconds:g} s ...")
        closed.append(await measured(closed_loop(calls[:c], ids, args.closed_seconds), pids))
    note(f"{API}: highest sustained open-loop rate below {closed[0].rate:,.0f} req/s ...")
    tried: list[Result] = []
    best = await highest_sustained(
        api_calls,
        ids,
        closed[0].rate,
        args.closed_seconds,
        pids,
        tried=tried,
        max_p99_ms=args.sustain_p99_ms,
    )
    sustained = None
    if best is not None:
        note(f"{RAW}: open loop at the same {best.target_rate:,.0f} req/s ...")
        raw = await measured(open_loop(raw_calls, ids, best.target_rate, args.closed_seconds), pids)
        sustained = (best, raw)
    return Figures((pair[0], pair[1]), (closed[0], closed[1]), sustained, tried)


async def run(args: argparse.Namespace, svc: Services, how: str) -> tuple[Figures, int, int]:
    namespace = f"benchapi{uuid.uuid4().hex[:8]}."
    ids = await populate(svc.redis_url, namespace, args.users, args.days, args.activity, args.seed)
    if not ids:
        raise SystemExit("no profile was written: raise --users or --days")
    note(f"{len(ids)} profiles under namespace {namespace!r}; starting the API ({how}) ...")
    token = secrets.token_hex(16)
    try:
        server = api_server(how, svc, namespace, token, ids[0], args.rules_path, args.processes)
        with server as (port, pid):
            doc_bytes = len(fetch(port, ids[0], token))
            api = HttpTarget("127.0.0.1", port, path_of, [("Authorization", f"Bearer {token}")])
            raw = RedisTarget(svc.redis_url, Keys(namespace).profile)
            pids = {"client": os.getpid(), **svc.pids, "api": pid}
            async with connected(api, args.connections) as a, connected(raw, args.connections) as r:
                return await load(a, r, ids, args, pids), len(ids), doc_bytes
    finally:
        await drop(svc.redis_url, namespace)


def fetch(port: int, user_id: str, token: str) -> bytes:
    import urllib.request

    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path_of(user_id)}", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return bytes(response.read())


async def drop(url: str, namespace: str) -> None:
    """Delete the run's keys (a namespace's keys all start with it)."""
    from streams.connect.clients import redis_client

    redis = redis_client(url)
    batch: list[Any] = []
    async for key in redis.scan_iter(match=f"*{namespace}*", count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            await redis.unlink(*batch)
            batch = []
    if batch:
        await redis.unlink(*batch)
    await redis.aclose()


def ratio(api: Result, raw: Result) -> str:
    return f"API/raw: p50 x{api.p50 / raw.p50:.1f}, p99 x{api.p99 / raw.p99:.1f}"


def report(
    f: Figures, args: argparse.Namespace, how: str, profiles: int, doc_bytes: int
) -> dict[str, Any]:
    print(
        f"app: {how}, {args.processes} process(es); rules {args.rules}; {profiles} profiles; "
        f"document {doc_bytes} bytes; "
        f"{args.connections} open-loop / {args.concurrency} closed-loop connections"
    )
    print(HEADER)
    print(row(API, f.at_rate[0]))
    print(row(RAW, f.at_rate[1]))
    print(f"{'':<28} {ratio(*f.at_rate)}")
    print(row(API, f.closed[0]))
    print(row(RAW, f.closed[1]))
    print(f"{'':<28} max req/s API/raw: {f.closed[0].rate / f.closed[1].rate:.2f}")
    for tried in f.tried[:-1] if f.sustained else f.tried:
        print(row(API + " (not kept)", tried))
    if f.sustained:
        print(row(API, f.sustained[0]))
        print(row(RAW, f.sustained[1]))
        print(f"{'':<28} {ratio(*f.sustained)}")
    verdict = (
        "met" if f.at_rate[0].p99 <= TARGET_P99_MS and f.at_rate[0].sustains(1e9) else "MISSED"
    )
    kept = f"{f.sustained[0].target_rate:,.0f} req/s" if f.sustained else "none on the ladder"
    print(
        f"target p99 <= {TARGET_P99_MS:g} ms at {args.rate:,.0f} req/s: {verdict} "
        f"(p99 {f.at_rate[0].p99:.2f} ms); highest sustained: {kept}"
    )
    return {
        "app": how,
        "profiles": profiles,
        "document_bytes": doc_bytes,
        "target": verdict,
        "at_rate": [asdict(r) for r in f.at_rate],
        "closed": [asdict(r) for r in f.closed],
        "sustained": [asdict(r) for r in f.sustained] if f.sustained else None,
        "tried": [asdict(r) for r in f.tried],
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        s = argparse.ArgumentParser(prog="python -m bench.api serve")
        s.add_argument("how", choices=("serve_api", "standin"))
        s.add_argument("--port", type=int, required=True)
        a = s.parse_args(argv[1:])
        serve(a.how, a.port)
        return 0
    p = argparse.ArgumentParser(prog="python -m bench.api", description=__doc__.split("\n")[0])
    p.add_argument("--users", type=int, default=20_000, help="simulated users (20000)")
    p.add_argument("--days", type=int, default=30, help="days of traffic before now (30)")
    p.add_argument(
        "--activity", type=float, default=0.08, help="persona session-rate factor (0.08)"
    )
    add_load_arguments(p)
    p.add_argument("--launch", choices=LAUNCHES, default="auto", help="how the app runs (auto)")
    p.add_argument(
        "--processes", type=int, default=1, help="portrait api --processes N (the CLI's; 1)"
    )
    add_wait_quiet(p, "before measuring")
    p.add_argument(
        "--rules",
        default="default",
        metavar="|".join((*CHOICES, "FILE")),
        help="the business rules the API evaluates, as PORTRAIT_RULES (default: default)",
    )
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args(argv)
    args.concurrency = min(args.concurrency, args.connections)
    args.rules_path = resolve(args.rules, Path(tempfile.mkdtemp(prefix="portrait-bench-api-"))).path
    how = launcher(args.launch)
    info = machine()
    note(f"machine: {info}")
    with services() as svc:
        figures, profiles, doc_bytes = asyncio.run(run(args, svc, how))
    out = report(figures, args, how, profiles, doc_bytes)
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"api-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    path.write_bytes(
        orjson.dumps(
            {"context": info, "args": vars(args), **out}, option=orjson.OPT_INDENT_2, default=str
        )
    )
    note(f"figures in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
