"""Scale-out: events/s of 1, 2, 4 workers in one consumer group, and what N cores would give.

    python -m bench.scaleout [--workers 1,2,4] [--events 200000] [--partitions 16]

For each worker count ``k`` it produces the same synthetic events (same seed, so the same
users and records) into a fresh topic of the run's namespace, flushes the embedded Redis, and
runs ``portrait worker --processes k`` (one supervisor, ``k`` workers in one group, more
partitions than workers). The rate is ``portrait_events_total`` summed over the ``k`` metrics
ports, from the first scrape that shows events to the one that shows all of them. In the same
window it reads the CPU seconds of the workers (the supervisor's process tree) and of Redis
(``INFO cpu``): per event, a worker's CPU ``w`` and Redis' ``r``.

The model (docs/benchmarks.md): ``k`` workers on ``N`` cores with Redis on its own core sustain
about ``min(k, N - 1) / w`` events/s until Redis, single-threaded, saturates at ``1 / r``; on
this 2-core machine the broker, Redis and the workers share two cores, so ``k > 1`` can only
show the CPU they share. The result goes to ``bench/results/<stamp>-scaleout.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from bench.load import LoadMeter, process_cpu_seconds, tree_pids
from bench.produce import create_topic, produce
from bench.progress import Progress, note
from bench.redis_stats import flush, snapshot
from bench.sources import events
from bench.throughput import RESULTS_DIR, endpoints
from bench.worker_run import POLL_S, parse_metrics
from streams.app.embedded import Services, free_ports


class Group:
    """``portrait worker --processes k`` on its own namespace, metrics on ``port .. port+k-1``."""

    def __init__(self, ep: Any, prefix: str, partitions: int, k: int, workdir: Path) -> None:
        self.k = k
        self.port = free_ports(k)
        config = workdir / f"scaleout-{k}.yaml"
        config.write_text(json.dumps({"topics": {"prefix": prefix, "partitions": partitions}}))
        self.env = Services(ep.bootstrap, ep.redis_url).child_env(
            metrics_port=self.port, config=config
        )
        self.env.pop("PORTRAIT_RULES", None)
        self.log_path = workdir / f"scaleout-{k}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [sys.executable, "-m", "streams.app.cli", "worker", "--processes", str(self.k)]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(argv, env=self.env, stdout=log, stderr=log)

    def events(self) -> tuple[int, int] | None:
        """(events counted, workers with partitions), or None while a port does not answer."""
        total = assigned = 0
        for i in range(self.k):
            try:
                url = f"http://127.0.0.1:{self.port + i}/metrics"
                with urllib.request.urlopen(url, timeout=2) as response:
                    scrape = parse_metrics(response.read().decode())
            except OSError:
                return None
            total += scrape.events
            assigned += scrape.samples.get("portrait_assigned_partitions", 0) > 0
        return total, assigned

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace").splitlines()[-20:]
            raise RuntimeError(
                f"workers exited with {self.process.returncode}:\n" + "\n".join(tail)
            )

    def cpu_seconds(self) -> float:
        assert self.process is not None
        return sum(process_cpu_seconds(p) for p in tree_pids(self.process.pid))

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(60)


def run_group(args: argparse.Namespace, ep: Any, k: int, workdir: Path) -> dict[str, Any]:
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    topic = prefix + "events"
    records = events("synthetic", args.events, args.users, prefix, args.seed)
    note(f"{k} worker(s): producing {args.events} events into {topic} ({args.partitions} parts)")

    async def fill() -> None:
        await create_topic(ep.bootstrap, topic, args.partitions)
        await produce(ep.bootstrap, topic, args.partitions, records, args.events)

    asyncio.run(fill())
    if ep.embedded:
        flush(ep.redis_url)
    group = Group(ep, prefix, args.partitions, k, workdir)
    group.start()
    progress = Progress(f"{k} worker(s) applied", args.events)
    try:
        deadline = time.monotonic() + 180
        while (seen := group.events()) is None or seen[1] < k:
            group.check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{k} workers not all assigned: {seen}")
            time.sleep(POLL_S)
        first: tuple[float, int, float, float] | None = None
        meter = LoadMeter()
        while True:
            group.check_alive()
            seen = group.events()
            now = time.perf_counter()
            if seen is None:
                time.sleep(POLL_S)
                continue
            if seen[0] > 0 and first is None:
                first = (now, seen[0], group.cpu_seconds(), snapshot(ep.redis_url).cpu_seconds)
                meter.start()
            progress.update(seen[0])
            if seen[0] >= args.events and first is not None:
                break
            time.sleep(POLL_S)
        worker_cpu, redis_cpu = group.cpu_seconds(), snapshot(ep.redis_url).cpu_seconds
        load = meter.stop()
    finally:
        group.stop()
    t0, e0, cpu0, rcpu0 = first
    counted, seconds = seen[0] - e0, now - t0
    if counted <= 0 or seconds <= 0:
        raise SystemExit(f"{k} worker(s) had applied every event before the window opened: "
                         "give more --events")  # fmt: skip
    return {
        "workers": k,
        "events": counted,
        "seconds": round(seconds, 2),
        "per_s": round(counted / seconds),
        "worker_cores": round((worker_cpu - cpu0) / seconds, 2),
        "redis_cores": round((redis_cpu - rcpu0) / seconds, 2),
        "worker_us_per_event": round((worker_cpu - cpu0) / counted * 1e6, 1),
        "redis_us_per_event": round((redis_cpu - rcpu0) / counted * 1e6, 1),
        "load": load,
    }


def model(runs: list[dict[str, Any]], cores: tuple[int, ...] = (2, 4, 8, 16, 32)) -> list[Any]:
    """Events/s that ``N`` cores would give: workers on ``N - 1`` cores, Redis on one, capped by
    Redis' own single-threaded rate (per-event CPU from the one-worker run)."""
    one = runs[0]
    w, r = one["worker_us_per_event"] / 1e6, one["redis_us_per_event"] / 1e6
    return [
        {"cores": n, "workers": n - 1, "per_s": round(min((n - 1) / w, 1 / r if r else 1e12))}
        for n in cores
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workers", default="1,2,4", help="worker counts, comma-separated")
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--users", type=int, default=20_000)
    p.add_argument("--partitions", type=int, default=16)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args(argv)
    counts = [int(k) for k in args.workers.split(",")]
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    workdir = Path(f"/tmp/portrait-scaleout-{stamp}")
    workdir.mkdir(parents=True, exist_ok=True)
    with endpoints(workdir) as ep:
        runs = [run_group(args, ep, k, workdir) for k in counts]
    result = {"stamp": stamp, "args": vars(args), "runs": runs, "model": model(runs)}
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / f"{stamp}-scaleout.json").write_text(json.dumps(result, indent=2))
    base = runs[0]["per_s"]
    print("workers  events/s  x one  worker cores  redis cores  worker us/ev  redis us/ev")
    for run in runs:
        print(
            f"{run['workers']:>7}  {run['per_s']:>8,}  {run['per_s'] / base:>5.2f}"
            f"  {run['worker_cores']:>12}  {run['redis_cores']:>11}"
            f"  {run['worker_us_per_event']:>12}  {run['redis_us_per_event']:>11}"
        )
    print("model (workers on N-1 cores, Redis on one):")
    for row in result["model"]:
        print(f"  {row['cores']:>3} cores: ~{row['per_s']:,} events/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
