"""The worker on one Redis against the worker on a Redis Cluster, on the same events, in one run.

    python -m bench.cluster [--events 200000] [--users 20000] [--partitions 8] [--masters 3]

Starts embedded Tansu, one valkey and a ``--masters`` cluster of cluster-mode valkeys
(streams/app/embedded_cluster.py), produces synthetic events once, then runs ``portrait
worker`` (a child process, the default catalogue, rules, triggers and identity) over the whole
topic on one Redis, rewinds its consumer group and runs it again on the cluster
(``redis+cluster://``). Reports events/s, the cluster's rate over the single Redis's, the
worker's CPU per event, and the Redis servers' CPU and commands per event (summed over the
primaries). On this 2-core machine the primaries share the cores with
the worker and the broker: the ratio is the cost of the cluster path (a script call per user, the
follow-ups, sharded indexes), not what more machines would give. Writes
``bench/results/<stamp>-cluster.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.produce import create_topic, produce
from bench.progress import note
from bench.redis_stats import delta, snapshot
from bench.results import save, stop_cleanly_on_sigterm
from bench.rules_run import rewind_group
from bench.sources import events
from bench.worker_run import WorkerProcess, measure_worker, wait_assigned
from streams.app.embedded import embedded_services
from streams.app.embedded_cluster import ClusterNode, embedded_cluster
from streams.names import TOPIC_EVENTS
from streams.settings.tree import Settings, TopicsConfig


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__)
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--users", type=int, default=20_000)
    p.add_argument("--partitions", type=int, default=8)
    p.add_argument("--masters", type=int, default=3)
    p.add_argument("--workdir", type=Path, help="keep the logs here (default: a temporary dir)")
    return p.parse_args(argv)


def run_phase(
    name: str, url: str, servers: list[str], bootstrap: str, ns: str, args: argparse.Namespace,
    workdir: Path,
) -> dict[str, Any]:  # fmt: skip
    """The worker over the whole topic on ``url``; ``servers``: the Redis nodes to count."""
    worker = WorkerProcess(bootstrap, url, ns, args.partitions, workdir, name=name)
    before = [snapshot(s) for s in servers]
    started = time.perf_counter()
    worker.start()
    note(f"{name}: portrait worker on {url} ...")
    try:
        wait_assigned(worker, timeout_s=120)
        run = measure_worker(worker, args.events, started=started)
    finally:
        worker.stop()
    window = run.window
    redis = summed(
        [delta(b, snapshot(s), args.events) for b, s in zip(before, servers, strict=True)]
    )
    per_event = 1e6 / max(args.events, 1)
    return {
        "per_s": round(window.per_s),
        "seconds": round(window.seconds, 2),
        "worker_us_per_event": round((window.cpu_seconds or 0.0) * per_event, 1),
        "redis_us_per_event": round(redis["cpu_seconds"] * per_event, 1),
        "redis_commands_per_event": redis["commands_per_event"],
        "redis_calls": redis["calls"],
    }


def summed(deltas: list[dict[str, Any]]) -> dict[str, Any]:
    """The servers' figures added up (a cluster's primaries)."""
    calls: dict[str, int] = {}
    for d in deltas:
        for command, n in d["calls"].items():
            calls[command] = calls.get(command, 0) + n
    return {
        "cpu_seconds": sum(d["cpu_seconds"] for d in deltas),
        "commands_per_event": round(sum(d["commands_per_event"] for d in deltas), 3),
        "calls": dict(sorted(calls.items(), key=lambda kv: -kv[1])[:12]),
    }


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    ns = f"bench{uuid.uuid4().hex[:8]}."
    topic = Settings(topics=TopicsConfig(prefix=ns)).topic(TOPIC_EVENTS)
    group = Settings(topics=TopicsConfig(prefix=ns)).group_id
    with embedded_services(log_dir=workdir) as services, embedded_cluster(args.masters) as nodes:
        bootstrap = services.kafka_bootstrap_servers
        note(f"producing {args.events} synthetic events ({args.users} users) into {topic}")

        async def fill() -> None:
            await create_topic(bootstrap, topic, args.partitions)
            records = events("synthetic", args.events, args.users, ns)
            await produce(bootstrap, topic, args.partitions, records, args.events)

        asyncio.run(fill())
        single = run_phase(
            "single", services.redis_url, [services.redis_url], bootstrap, ns, args, workdir
        )
        asyncio.run(rewind_group(bootstrap, group, topic, args.partitions))
        on_cluster = run_phase(
            "cluster", cluster_url(nodes), [n.url for n in nodes], bootstrap, ns, args, workdir
        )
    return {
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "single": single,
        "cluster": on_cluster,
        "cluster_over_single": round(on_cluster["per_s"] / max(single["per_s"], 1), 3),
    }


def cluster_url(nodes: list[ClusterNode]) -> str:
    return f"redis+cluster://127.0.0.1:{nodes[0].port}"


def table(result: dict[str, Any]) -> str:
    rows = ["| Redis | events/s | worker µs/event | Redis µs/event | Redis commands/event |",
            "|---|---|---|---|---|"]  # fmt: skip
    for name in ("single", "cluster"):
        r = result[name]
        rows.append(
            f"| {name} | {r['per_s']:,} | {r['worker_us_per_event']} | "
            f"{r['redis_us_per_event']} | {r['redis_commands_per_event']} |"
        )
    rows.append(f"\ncluster / single: {result['cluster_over_single']}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    stop_cleanly_on_sigterm()
    args = parse_args(argv)
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        result = run(args, args.workdir)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
            result = run(args, Path(tmp))
    print(table(result))
    print(f"result: {save('cluster', result)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
