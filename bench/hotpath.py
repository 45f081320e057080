"""The worker's batch processor alone, without Kafka: where does its time go?

    python -m bench.hotpath [--events 300000] [--users 20000] [--source synthetic|taobao|rees46]
                            [--rules none|default|pack|FILE] [--without segments|triggers]

Builds the real ``EventWorker`` (so its ``BatchProcessor``, ``ProfileModel`` and ``ProfileStore``
are wired exactly as in production, nothing started), cuts the source's records into batches
like ``getmany`` would (``batch_max_records``, grouped by partition), and feeds them to
``processor.process`` against a real Redis (embedded valkey unless REDIS_URL is set). Twice:
once plain for the rate and CPU per event, once under cProfile for the breakdown by function.
cProfile roughly doubles the cost of Python calls, so read its shares as relative, not absolute.
``--rules`` picks the business rules the processor evaluates (bench/rules_run.py); the
``profile.changes`` outbox is drained into a counter instead of Kafka (no producer here).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import os
import pstats
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import TopicPartition
from prometheus_client import CollectorRegistry

from bench.load import LoadMeter
from bench.progress import note
from bench.rules_run import CHOICES, Rules, per_thousand, resolve
from bench.sources import SOURCES, events
from streams.ops.worker_metrics import WorkerMetrics
from streams.pipeline.gc_tuning import tune_gc
from streams.settings.rules import RulesSource
from streams.settings.tree import Settings, TopicsConfig, WorkerConfig
from streams.store.segments import Outboxed
from streams.worker.service import EventWorker

Batch = dict[TopicPartition, list[Any]]
# Stages of the hot path as (file suffix, function): their cumulative time is reported as a share
# of ``processor.process``. A stage that no longer exists under that name is left out.
STAGES = (
    ("decode", "profiles/events.py", "decode"),
    ("model apply_event", "profiles/model.py", "apply_event"),
    ("model compact", "profiles/model.py", "compact"),
    ("apply_user (all model)", "streams/pipeline/processor.py", "_apply_user"),
    ("model initial", "profiles/model.py", "initial"),
    ("redis load_many", "streams/store/profiles.py", "load_many"),
    ("redis load_raw", "streams/store/profiles.py", "load_raw"),
    ("redis write", "streams/store/profiles.py", "write"),
    ("orjson.dumps (state)", "~", "<orjson.dumps>"),
    ("model encode (state)", "profiles/codec.py", "encode"),
    # the business rules (profiles/rules/, streams/pipeline/rules_hook.py), after each user
    ("rules collect (all)", "streams/pipeline/rules_hook.py", "collect"),
    ("  read_inputs", "profiles/rules/inputs.py", "read_inputs"),
    ("  RuleSet.evaluate", "profiles/rules/ruleset.py", "evaluate"),
    ("  engine _record", "profiles/rules/engine.py", "_record"),
    ("  engine.due", "profiles/rules/engine.py", "due"),
    ("    candidate_moments", "profiles/rules/timing.py", "candidate_moments"),
    ("  delta (messages)", "streams/pipeline/rules_hook.py", "delta"),
    ("    Transition.message", "profiles/rules/engine.py", "message"),
    ("    change_id", "profiles/rules/engine.py", "change_id"),
    ("publish_changes (outbox)", "streams/pipeline/processor.py", "publish_changes"),
)
PROCESS = ("streams/pipeline/processor.py", "process")


class CountingSink:
    """Takes the ``profile.changes`` messages instead of Kafka: the outbox is still read and
    trimmed in Redis, only the send is left out."""

    def __init__(self) -> None:
        self.messages = 0

    async def send_many(self, messages: Sequence[Outboxed]) -> None:
        self.messages += len(messages)


@dataclass(frozen=True, slots=True)
class FakeRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int = -1


def batches(args: argparse.Namespace, ns: str, topic: str) -> list[Batch]:
    """The source's records, partitioned by key, in ``batch_max_records`` getmany-like batches."""
    choose = DefaultPartitioner()
    partitions = list(range(args.partitions))
    offsets = [0] * args.partitions
    out: list[Batch] = []
    current: Batch = {}
    size = 0
    for key, value in events(args.source, args.events, args.users, ns, args.seed):
        p = choose(key, partitions, partitions)
        current.setdefault(TopicPartition(topic, p), []).append(
            FakeRecord(topic, p, offsets[p], key, value)
        )
        offsets[p] += 1
        size += 1
        if size == args.batch:
            out.append(current)
            current, size = {}, 0
    if current:
        out.append(current)
    return out


class GcTimer:
    """Time spent in the cyclic garbage collector, per generation (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self.count = [0, 0, 0]
        self._t = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t = time.perf_counter()
        else:
            self.seconds[info["generation"]] += time.perf_counter() - self._t
            self.count[info["generation"]] += 1

    def __enter__(self) -> GcTimer:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)


@dataclass(slots=True)
class Counts:
    transitions: int = 0
    segment: int = 0
    messages: int = 0


async def run_batches(
    worker: EventWorker, work: list[Batch], counts: Counts | None = None
) -> tuple[float, float]:
    """Process every batch; return (wall seconds, CPU seconds of this process)."""
    await worker.redis.flushdb()
    worker.processor.drop_cache()
    sink = CountingSink()
    if worker.processor.changes is not None:
        worker.processor.changes.sink = sink
    wall, cpu = time.perf_counter(), time.process_time()
    for batch in work:
        stats = await worker.processor.process(batch)
        if counts is not None:
            counts.transitions += len(stats.transitions)
            counts.segment += sum(t.kind == "segment" for t in stats.transitions)
    if counts is not None:
        counts.messages = sink.messages
    return time.perf_counter() - wall, time.process_time() - cpu


@contextlib.contextmanager
def redis_url() -> Iterator[str]:
    env = os.environ.get("REDIS_URL")
    if env:
        yield env
        return
    from streams.app.embedded import EmbeddedRedis

    server = EmbeddedRedis()
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def rules_source(rules: Rules) -> RulesSource:
    return RulesSource() if rules.path is None else RulesSource(str(rules.path))


async def measure(args: argparse.Namespace, url: str, rules: Rules) -> None:
    ns = f"hot{uuid.uuid4().hex[:8]}."
    settings = Settings(
        redis_url=url, topics=TopicsConfig(prefix=ns), rules_source=rules_source(rules)
    )
    worker = EventWorker(settings, WorkerMetrics(CollectorRegistry()))
    leave_out(worker, args.without)
    r = rules.describe()
    note(f"rules {r['rules']}: {r['tags']} tags, {r['segments']} segments, {r['inputs']} inputs")
    note(f"building {args.events} {args.source} records ...")
    work = batches(args, ns, settings.topic("events"))
    if args.worker_gc:
        tune_gc()  # as `portrait worker` does
    try:
        note(f"processing {len(work)} batches (plain) ...")
        meter = LoadMeter()
        meter.start()
        counts = Counts()
        with GcTimer() as gc_time:
            wall, cpu = await run_batches(worker, work, counts)
        others = meter.stop()["other_cores"]
        print(
            f"{args.source}: {args.events} events in {len(work)} batches: {args.events / wall:,.0f}"
            f" events/s wall, {1e6 * cpu / args.events:.1f} us CPU/event, "
            f"{cpu / wall:.2f} cores (Redis round trips are the rest); "
            f"other processes used {others:.2f} cores"
        )
        print(
            f"cyclic GC: {sum(gc_time.seconds):.2f} s = {100 * sum(gc_time.seconds) / wall:.0f}% "
            f"of wall (gen0/1/2: {gc_time.count} collections, "
            f"{[round(t, 2) for t in gc_time.seconds]} s; the records held here add to it)"
        )
        print(
            f"rules {r['rules']} ({r['tags']} tags, {r['segments']} segments): per 1000 events "
            f"{per_thousand(counts.transitions, args.events)} transitions "
            f"({per_thousand(counts.segment, args.events)} segment), "
            f"{per_thousand(counts.messages, args.events)} profile.changes messages"
        )
        if args.no_profile:
            return
        note("processing again under cProfile ...")
        profile = cProfile.Profile()
        profile.enable()
        await run_batches(worker, work)
        profile.disable()
        stats = pstats.Stats(profile, stream=sys.stdout)
        print_stages(stats)
        stats.sort_stats("tottime").print_stats(args.top)
        stats.sort_stats("cumtime").print_stats(args.top)
    finally:
        await worker.redis.aclose()
        for client in (worker.consumer, worker.producer):  # built, never started
            with contextlib.suppress(Exception):
                await client.stop()


def leave_out(worker: EventWorker, parts: list[str]) -> None:
    """``--without``: what the processor costs with a part of the per-user work left out, the
    most that making that part incremental (or free) could give."""
    processor = worker.processor
    if "segments" in parts:  # no segment evaluated, none recorded as changed
        processor.model.changes.record = lambda state: {}  # type: ignore[method-assign]
    if "triggers" in parts:
        processor.triggers = processor.user.triggers = None
    if parts:
        note(f"left out: {', '.join(parts)} (an upper bound of what they cost, not a worker)")


def _cumulative(stats: pstats.Stats, suffix: str, name: str) -> float | None:
    table: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    found = [v[3] for (file, _, func), v in table.items() if func == name and file.endswith(suffix)]
    return sum(found) if found else None


def print_stages(stats: pstats.Stats) -> None:
    """Cumulative time of the known stages as a share of ``processor.process`` (under cProfile)."""
    total = _cumulative(stats, *PROCESS)
    if not total:
        return
    print(f"stages under cProfile (share of processor.process, {total:.1f} s):")
    for label, suffix, name in STAGES:
        seconds = _cumulative(stats, suffix, name)
        if seconds is not None:
            print(f"  {label:<24} {100 * seconds / total:5.1f}%")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.hotpath", description=__doc__.split("\n")[0])
    p.add_argument("--events", type=int, default=300_000)
    p.add_argument("--users", type=int, default=20_000)
    p.add_argument("--partitions", type=int, default=8)
    p.add_argument("--source", choices=SOURCES, default="synthetic")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--batch", type=int, default=WorkerConfig().batch_max_records)
    p.add_argument("--top", type=int, default=30, help="functions to list")
    p.add_argument(
        "--rules",
        default="default",
        metavar="|".join((*CHOICES, "FILE")),
        help="the business rules evaluated (default: default)",
    )
    p.add_argument("--no-profile", action="store_true", help="only the plain run")
    p.add_argument("--without", action="append", default=[], choices=("segments", "triggers"),
                   help="leave a part of the per-user work out (repeatable; with --rules none,"
                        " what the rest costs)")  # fmt: skip
    p.add_argument(
        "--worker-gc", action="store_true", help="tune the garbage collector as the worker does"
    )
    args = p.parse_args(argv)
    rules = resolve(args.rules, Path(tempfile.mkdtemp(prefix="portrait-hotpath-")))
    with redis_url() as url:
        asyncio.run(measure(args, url, rules))
    return 0


if __name__ == "__main__":
    sys.exit(main())
