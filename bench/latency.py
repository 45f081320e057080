"""Live latency: events produced at a fixed rate, timed until a consumer has them, in one run.

    python -m bench.latency [--rate 1000 ...] [--rate-share 0.5 [--max-rate N]] [--seconds 20]
                            [--worker-set KEY=VALUE ...] [--variant NAME:KEY=VALUE,... ...]

A paced producer sends synthetic contract-v1 events LIVE (event time = the moment of
production) at ``--rate`` events/s. For each rate, two phases, each on a topic of its own:

* ``plain``: a plain aiokafka consumer (``getmany`` with the worker's fetch settings,
  ``poll_timeout_ms`` and ``batch_max_records``, + ``orjson.loads``) in a child process:
  production -> received;
* ``worker`` (once per ``--variant``): the real worker (``python -m streams.app.cli worker``) as
  a child process, and a probe child that subscribes to valkey's keyspace notifications of
  ``SET`` (``notify-keyspace-events E$``) on the profile keys: production -> visible in Redis.

How "visible" is matched, exactly: the worker writes a user's profile with one ``SET`` per
batch, and the stored bytes begin with the user's write fences (``partition:offset`` of the last
event applied, profiles/codec.py). On each notification the probe reads that header
(``GETRANGE key 0 255``, pipelined). The producer knows every event's partition and offset, so
an event is visible at the first notification of its user whose fence reaches its offset. A
read can race a later write of the same key; when the next notification of that key came
before the read's reply, the read is attributed to that later notification (a conservative,
late, bound) and counted as ``raced``.

Times are ``time.monotonic()`` (CLOCK_MONOTONIC is system-wide on Linux, so the producer and
the probes share it). The first ``--warmup`` seconds of each phase are not measured. It prints
p50/p90/p99/max per phase, and writes the CDF and a downsampled time series (production time,
latency) to ``bench/results/<stamp>-latency.json`` for plotting.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import signal
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import yaml

from bench.latency_match import (
    Produced,
    Seen,
    cdf,
    match_received,
    match_visible,
    parse_fences,
    series,
    summary,
)
from bench.latency_probe import Probe

RESULTS_DIR = Path(__file__).resolve().parent / "results"


# --- the paced producer ---------------------------------------------------------------------------
def live_events(users: int, namespace: str, seed: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """Synthetic events (bench/sources.py), decoded: their ``ts`` is set when sent."""
    from bench.sources import Synthetic

    for key, value in Synthetic(users, namespace, seed).records():
        yield key.decode(), orjson.loads(value)


async def produce_paced(
    bootstrap: str,
    topic: str,
    partitions: int,
    rate: float,
    seconds: float,
    events: Iterator[tuple[str, dict[str, Any]]],
    linger_ms: int,
    tick_s: float = 0.001,
) -> tuple[list[Produced], float]:
    """Send ``rate`` events/s for ``seconds``: at each tick every event due by then, one batch
    per partition, event time = now. Returns the events (with offsets) and the start time."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.partitioner import DefaultPartitioner

    from streams.connect.clients import kafka_options

    producer = AIOKafkaProducer(
        **kafka_options(bootstrap), acks="all", linger_ms=linger_ms, max_batch_size=256 * 1024
    )
    await producer.start()
    choose = DefaultPartitioner()
    everyone = list(range(partitions))
    pending: list[tuple[Any, list[tuple[str, int, float]]]] = []
    acked: list[float] = []
    now_ = time.monotonic

    def on_ack(index: int) -> Any:
        return lambda _: acked.__setitem__(index, now_())

    async def send(builder: Any, partition: int, users: list[str], at: float) -> None:
        future = await producer.send_batch(builder, topic, partition=partition)
        future.add_done_callback(on_ack(len(pending)))
        pending.append((future, [(u, partition, at) for u in users]))
        acked.append(0.0)

    sent = 0
    total = int(rate * seconds)
    t0 = time.monotonic()
    try:
        while sent < total:
            now = time.monotonic()
            due = min(total, int((now - t0) * rate) + 1) - sent
            if due > 0:
                ms = int(time.time() * 1000)
                groups: dict[int, list[tuple[bytes, bytes, str]]] = defaultdict(list)
                for user, event in itertools.islice(events, due):
                    event["ts"] = ms
                    key = user.encode()
                    groups[choose(key, everyone, everyone)].append((key, orjson.dumps(event), user))
                for partition, batch in groups.items():
                    builder, users = producer.create_batch(), list[str]()
                    for key, value, user in batch:
                        if builder.append(key=key, value=value, timestamp=None) is None:  # full
                            await send(builder, partition, users, now)
                            builder, users = producer.create_batch(), list[str]()
                            builder.append(key=key, value=value, timestamp=None)
                        users.append(user)
                    await send(builder, partition, users, now)
                sent += due
            await asyncio.sleep(tick_s)
        produced: list[Produced] = []
        for n, (future, rows) in enumerate(pending):
            meta = await future
            produced += [
                Produced(user, partition, meta.offset + i, at, acked[n])
                for i, (user, partition, at) in enumerate(rows)
            ]
    finally:
        await producer.stop()
    return produced, t0


# --- phases -----------------------------------------------------------------------------------
@dataclass
class Phase:
    name: str
    rate: float
    latencies: list[float] = field(default_factory=list)
    produced_at: list[float] = field(default_factory=list)
    t0: float = 0.0
    unseen: int = 0
    unseen_sample: list[tuple[int, int, float]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def result(self) -> dict[str, Any]:
        return {
            "phase": self.name,
            "rate": self.rate,
            "summary": summary(self.latencies),
            "unseen": self.unseen,
            "unseen_sample": self.unseen_sample[:50],  # (partition, offset, s since t0)
            "cdf": cdf(self.latencies),
            "series": series(self.produced_at, self.latencies, self.t0),
            **self.extra,
        }


def _measured(
    phase: Phase,
    produced: Sequence[Produced],
    latencies: Sequence[float | None],
    t0: float,
    warmup: float,
) -> None:
    phase.t0 = t0
    acks = []
    for p, lat in zip(produced, latencies, strict=True):
        if p.at - t0 < warmup:
            continue
        acks.append(p.acked - p.at)
        if lat is None:
            phase.unseen += 1
            phase.unseen_sample.append((p.partition, p.offset, round(p.at - t0, 3)))
        else:
            phase.latencies.append(lat)
            phase.produced_at.append(p.at)
    phase.extra["produce_ack"] = summary(acks)


def worker_settings(base: dict[str, Any], variant: dict[str, Any]) -> dict[str, Any]:
    return {**base, **variant}


def parse_sets(items: Sequence[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs of ``worker:`` settings, values read as YAML scalars."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"expected KEY=VALUE, got {item!r}")
        out[key.strip()] = yaml.safe_load(value)
    return out


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """``NAME:KEY=VALUE,KEY=VALUE`` (or ``NAME`` alone: no change)."""
    name, _, rest = text.partition(":")
    return name, parse_sets([s for s in rest.split(",") if s])


class Bench:
    def __init__(
        self, args: argparse.Namespace, bootstrap: str, redis_url: str, workdir: Path
    ) -> None:
        self.args = args
        self.bootstrap = bootstrap
        self.redis_url = redis_url
        self.workdir = workdir
        self.base = parse_sets(args.worker_set)

    def _quiet(self) -> float | None:
        from bench.load import wait_quiet
        from bench.progress import note

        if self.args.wait_quiet <= 0:
            return None
        others = wait_quiet(self.args.wait_quiet)
        note(f"other processes now use {others:.2f} cores")
        return round(others, 2)

    def _drain(self, done: Any, deadline_s: float) -> None:
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline and not done():
            time.sleep(0.2)

    def plain(self, rate: float, settings: dict[str, Any]) -> Phase:
        from bench.progress import note
        from streams.settings.tree import WorkerConfig

        a = self.args
        others = self._quiet()
        ns = f"lat{uuid.uuid4().hex[:8]}."
        topic = ns + "events"
        cfg = WorkerConfig(
            **{k: v for k, v in settings.items() if k in WorkerConfig.__dataclass_fields__}
        )
        out = self.workdir / f"{ns}received.json"
        # the topic exists before the consumer subscribes
        asyncio.run(_create(self.bootstrap, topic, a.partitions))
        probe = Probe(
            ["received", "--bootstrap", self.bootstrap, "--topic", topic, "--group", ns + "plain",
             "--timeout-ms", str(cfg.poll_timeout_ms), "--max-records", str(cfg.batch_max_records),
             "--fetch-max-wait-ms", str(cfg.fetch_max_wait_ms)],
            out, self.workdir / f"{ns}plain.log",
        )  # fmt: skip
        try:
            probe.wait_ready(120)
            time.sleep(1.0)
            note(f"plain @ {rate:g}/s: producing {a.warmup + a.seconds:g}s ...")
            produced, t0, load = self._produce_existing(topic, ns, rate)
            time.sleep(a.drain)
        finally:
            data = probe.stop()
        received = {(p, o): t for p, o, t in data["received"]}
        phase = Phase("plain", rate)
        _measured(phase, produced, match_received(produced, received), t0, a.warmup)
        batches = data["batches"]
        phase.extra |= {
            "load": load, "others_before": others,
            "batches": len(batches),
            "mean_batch_records": round(sum(batches) / len(batches), 1) if batches else 0,
            "settings": {"poll_timeout_ms": cfg.poll_timeout_ms,
                         "batch_max_records": cfg.batch_max_records,
                         "fetch_max_wait_ms": cfg.fetch_max_wait_ms},
        }  # fmt: skip
        return phase

    def _produce_existing(
        self, topic: str, ns: str, rate: float
    ) -> tuple[list[Produced], float, dict[str, float]]:
        from bench.load import LoadMeter

        a = self.args
        # generated before the clock starts: the parent's CPU is not the worker's
        events = list(
            itertools.islice(
                live_events(a.users, ns, a.seed), int(rate * (a.warmup + a.seconds)) + 1
            )
        )
        meter = LoadMeter()
        meter.start()
        produced, t0 = asyncio.run(
            produce_paced(
                self.bootstrap, topic, a.partitions, rate, a.warmup + a.seconds,
                iter(events), a.linger_ms,
            )
        )  # fmt: skip
        return produced, t0, meter.stop()

    def worker(self, rate: float, name: str, settings: dict[str, Any]) -> Phase:
        from bench.load import process_cpu_seconds
        from bench.progress import note
        from bench.worker_run import WorkerProcess, wait_assigned

        a = self.args
        others = self._quiet()
        ns = f"lat{uuid.uuid4().hex[:8]}."
        topic = ns + "events"
        asyncio.run(_create(self.bootstrap, topic, a.partitions))
        out = self.workdir / f"{ns}seen.json"
        probe = Probe(
            ["visible", "--redis-url", self.redis_url, "--prefix", f"{ns}portrait:p2:"],
            out, self.workdir / f"{ns}visible.log",
        )  # fmt: skip
        worker = WorkerProcess(
            self.bootstrap, self.redis_url, ns, a.partitions, self.workdir, name=f"{ns}worker"
        )
        config = self.workdir / f"{ns}worker.yaml"
        data = yaml.safe_load(config.read_text())
        data["worker"] = settings
        config.write_text(yaml.safe_dump(data))
        try:
            probe.wait_ready(30)
            pid = worker.start()
            wait_assigned(worker, timeout_s=120)
            time.sleep(1.0)
            before = worker.scrape()
            cpu0 = process_cpu_seconds(pid)
            note(
                f"worker[{name}] @ {rate:g}/s: producing {a.warmup + a.seconds:g}s (pid {pid}) ..."
            )
            produced, t0, load = self._produce_existing(topic, ns, rate)
            cpu = process_cpu_seconds(pid) - cpu0
            self._drain(
                lambda: (s := worker.scrape()) is not None and s.events >= len(produced), 30
            )
            time.sleep(a.drain)
            after = worker.scrape()
        finally:
            worker.stop()
            seen_data = probe.stop()
        seen = [
            Seen(user, at, replied, parse_fences(head.encode("latin-1")))
            for user, at, replied, head in seen_data["seen"]
        ]
        latencies, raced = match_visible(produced, seen)
        phase = Phase(f"worker[{name}]", rate)
        _measured(phase, produced, latencies, t0, a.warmup)
        phase.extra |= {"load": load, "others_before": others, "raced_reads": raced,
                       "notifications": len(seen), "settings": settings,
                       "worker_cpu_cores": round(cpu / (a.warmup + a.seconds), 2),
                       "log": str(worker.log_path)}  # fmt: skip
        if before is not None and after is not None:
            n = after.samples.get("portrait_batch_size_count", 0) - before.samples.get(
                "portrait_batch_size_count", 0
            )
            recs = after.samples.get("portrait_batch_size_sum", 0) - before.samples.get(
                "portrait_batch_size_sum", 0
            )
            dur = after.samples.get("portrait_batch_duration_seconds_sum", 0) - before.samples.get(
                "portrait_batch_duration_seconds_sum", 0
            )
            phase.extra.update(
                batches=int(n),
                mean_batch_records=round(recs / n, 1) if n else 0,
                mean_batch_ms=round(1000 * dur / n, 2) if n else None,
                outcomes={k: int(v) for k, v in after.outcomes.items()},
            )
        return phase


async def _create(bootstrap: str, topic: str, partitions: int) -> None:
    from bench.produce import create_topic

    await create_topic(bootstrap, topic, partitions)


def measure_max(args: argparse.Namespace, workdir: Path, stamp: str) -> float:
    """The worker's backlog rate (bench.throughput's worker phase, no ceiling)."""
    from bench import throughput
    from bench.rules_run import resolve

    targs = throughput.parse_args(
        ["--events", str(args.max_events), "--users", str(args.users),
         "--partitions", str(args.partitions), "--no-ceiling"]
    )  # fmt: skip
    ns = f"bench{uuid.uuid4().hex[:8]}."
    from streams.names import TOPIC_EVENTS

    ep = throughput.Endpoints(args.bootstrap_, args.redis_url_, embedded=args.embedded_)
    throughput.run_produce(targs, ep, ns + TOPIC_EVENTS, ns)
    if args.wait_quiet > 0:
        from bench.load import wait_quiet

        wait_quiet(args.wait_quiet)
    out = throughput.run_worker(targs, ep, ns, workdir, stamp, resolve("default", workdir), "max")
    return float(out["per_s"])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__.split("\n")[0])
    p.add_argument(
        "--rate", type=float, action="append", help="events/s (repeatable; default 1000)"
    )
    p.add_argument("--rate-share", type=float, action="append",
                   help="also a share of the max rate (repeatable, e.g. 0.5)")  # fmt: skip
    p.add_argument("--max-rate", type=float, help="the max rate (default: measure a backlog run)")
    p.add_argument("--max-events", type=int, default=100_000, help="events of that backlog run")
    p.add_argument("--seconds", type=float, default=20.0, help="measured seconds per phase")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds produced, not measured")
    p.add_argument("--drain", type=float, default=2.0, help="seconds waited after producing")
    p.add_argument("--users", type=int, default=20_000)
    p.add_argument("--partitions", type=int, default=8)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--linger-ms", type=int, default=0, help="the paced producer's linger")
    p.add_argument("--worker-set", action="append", default=[], metavar="KEY=VALUE",
                   help="a worker: setting for every phase (the plain consumer reads "
                        "poll_timeout_ms, batch_max_records, fetch_max_wait_ms too)")  # fmt: skip
    p.add_argument("--variant", action="append", metavar="NAME:KEY=VALUE,...",
                   help="run the worker phase once per variant (default: 'default')")  # fmt: skip
    p.add_argument("--no-plain", action="store_true", help="skip the plain consumer phase")
    p.add_argument("--no-worker", action="store_true", help="skip the worker phases")
    p.add_argument("--wait-quiet", type=float, default=0.0, metavar="S")
    return p.parse_args(argv)


def table(phases: list[dict[str, Any]]) -> str:
    cols = ("phase", "rate", "n", "p50 ms", "p90 ms", "p99 ms", "max ms", "ack p99", "batch",
            "cpu", "others")  # fmt: skip
    lines = ["  " + f"{cols[0]:<24}" + "".join(f"{c:>9}" for c in cols[1:])]
    for ph in phases:
        s = ph["summary"]
        load = ph.get("load") or {}
        cells = [
            f"{ph['rate']:.0f}", str(s.get("count", 0)),
            *(f"{s.get(k, float('nan')):.1f}" for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms")),
            f"{ph.get('produce_ack', {}).get('p99_ms', float('nan')):.1f}",
            f"{ph.get('mean_batch_records', '')}", f"{ph.get('worker_cpu_cores', '')}",
            f"{load.get('other_cores', '')}",
        ]  # fmt: skip
        lines.append("  " + f"{ph['phase']:<24}" + "".join(f"{c:>9}" for c in cells))
        if ph.get("unseen"):
            lines.append(f"    ({ph['unseen']} measured events never seen)")
    by_rate: dict[float, dict[str, dict[str, Any]]] = defaultdict(dict)
    for ph in phases:
        by_rate[ph["rate"]][ph["phase"]] = ph["summary"]
    for rate, got in by_rate.items():
        plain = got.get("plain")
        for name, s in got.items():
            if name == "plain" or not plain or "p99_ms" not in s or "p99_ms" not in plain:
                continue
            gap = s["p99_ms"] - plain["p99_ms"]
            lines.append(
                f"@{rate:.0f}/s {name}: p99 {s['p99_ms']:.1f} ms vs plain {plain['p99_ms']:.1f} ms "
                f"(+{gap:.1f} ms; p50 {s['p50_ms'] / max(plain['p50_ms'], 0.001):.1f}x plain)"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    from bench.progress import note
    from bench.throughput import endpoints

    signal.signal(signal.SIGTERM, signal.default_int_handler)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="portrait-latency-"))
    variants = [parse_variant(v) for v in (args.variant or ["default"])]
    result: dict[str, Any] = {"stamp": stamp, "config": vars(args), "phases": []}
    with endpoints(workdir) as ep:
        args.bootstrap_, args.redis_url_, args.embedded_ = ep.bootstrap, ep.redis_url, ep.embedded
        rates = list(args.rate or ([] if args.rate_share else [1000.0]))
        if args.rate_share:
            max_rate = args.max_rate
            if max_rate is None:
                note("measuring the max rate: a backlog run of the worker ...")
                max_rate = measure_max(args, workdir, stamp)
            result["max_rate"] = round(max_rate)
            note(f"max rate {max_rate:.0f} events/s")
            rates += [round(share * max_rate) for share in args.rate_share]
        bench = Bench(args, ep.bootstrap, ep.redis_url, workdir)
        for rate in rates:
            if not args.no_plain:
                result["phases"].append(bench.plain(rate, bench.base).result())
            for name, variant in [] if args.no_worker else variants:
                settings = worker_settings(bench.base, variant)
                result["phases"].append(bench.worker(rate, name, settings).result())
    for key in ("bootstrap_", "redis_url_", "embedded_"):
        result["config"].pop(key, None)
    out = RESULTS_DIR / f"{stamp}-latency.json"
    out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
    print(table(result["phases"]))
    print(f"result: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
