"""Trigger due -> published delay: the scheduler under a steady stream of due triggers.

    python -m bench.triggers [--triggers 20000] [--spread 20] [--schedulers 1] [--users-per 1]

Starts embedded Tansu + valkey (unless KAFKA_BOOTSTRAP_SERVERS and REDIS_URL are both set),
schedules N campaign triggers for distinct users due uniformly over ``--spread`` seconds from a
few seconds ahead, runs the real scheduler service(s) on the wall clock, and reads the push
topic back. Reports, per trigger, due -> acknowledged by the broker (the scheduler's own
histogram) and due -> read by a consumer, as p50 / p95 / p99 / max. Goal: p99 <= 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition
from prometheus_client import CollectorRegistry

from bench.progress import Progress
from bench.worker_run import histogram_quantile
from streams.app.embedded import embedded_services
from streams.connect.clients import kafka_options, redis_client
from streams.connect.topics import ensure_topics
from streams.ops.trigger_metrics import TriggerMetrics
from streams.pipeline.retry import wall_clock_ms
from streams.settings.tree import Settings, TopicsConfig
from streams.settings.triggers import trigger_config
from streams.store.triggers import TriggerStore
from streams.triggers.service import TriggerService
from triggers.model import Schedule, Trigger, make_trigger_id

LEAD_S = 4.0  # the first trigger falls due this long after scheduling ends


@contextlib.contextmanager
def endpoints() -> Iterator[tuple[str, str]]:
    kafka, redis = os.environ.get("KAFKA_BOOTSTRAP_SERVERS"), os.environ.get("REDIS_URL")
    if kafka and redis:
        yield kafka, redis
        return
    with embedded_services() as services:
        yield services.kafka_bootstrap_servers, services.redis_url


def quantiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def q(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else float("nan")

    return {"p50": q(0.50), "p95": q(0.95), "p99": q(0.99), "max": ordered[-1] if ordered else 0}


async def schedule(settings: Settings, n: int, spread_s: float) -> int:
    """N triggers due uniformly over ``spread_s`` from ``LEAD_S`` ahead; returns the first due."""
    redis = redis_client(settings)
    store = TriggerStore(redis, settings.topics.prefix)
    start = wall_clock_ms() + int(LEAD_S * 1000)
    step = spread_s * 1000 / max(1, n)
    progress = Progress("scheduled", n)
    try:
        for chunk in range(0, n, 1000):
            ops = []
            for i in range(chunk, min(n, chunk + 1000)):
                user = f"{settings.topics.prefix}u{i}"
                due = start + int(i * step)
                tid = make_trigger_id("campaign", user, "bench")
                t = Trigger(tid, "campaign", user, due, due, due + 3_600_000, 50, ("push",),
                            {"title": "bench"}, "bench")  # fmt: skip
                ops.append(Schedule(t))
            await store.apply(ops)
            progress.update(min(n, chunk + 1000))
    finally:
        await redis.aclose()
    if wall_clock_ms() > start:
        print("warning: scheduling took longer than the lead time", file=sys.stderr)
    return start


async def read_back(settings: Settings, topic: str, n: int, deadline_s: float) -> list[float]:
    """Due -> read delays (seconds) of the first ``n`` messages on ``topic``."""
    consumer = AIOKafkaConsumer(**kafka_options(settings), auto_offset_reset="earliest")
    await consumer.start()
    delays: list[float] = []
    progress = Progress("published and read", n)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        while not parts:
            await consumer.force_metadata_update()  # type: ignore[no-untyped-call]
            parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(parts)
        end = time.monotonic() + deadline_s
        while len(delays) < n and time.monotonic() < end:
            batch = await consumer.getmany(timeout_ms=100)
            now = wall_clock_ms()
            for records in batch.values():
                for r in records:
                    due = datetime.fromisoformat(orjson.loads(r.value)["due_at"])
                    delays.append((now - due.timestamp() * 1000) / 1000)
            progress.update(len(delays))
        progress.update(len(delays), force=True)
    finally:
        await consumer.stop()
    return delays


async def run(args: argparse.Namespace, bootstrap: str, redis_url: str) -> None:
    settings = Settings(
        kafka_bootstrap_servers=bootstrap,
        redis_url=redis_url,
        topics=TopicsConfig(partitions=args.partitions, prefix=f"bench{uuid.uuid4().hex[:6]}."),
    )
    raw = {"policy": {"quiet_hours": None, "min_gap": 0, "caps": {"push": {"day": None,
           "week": None}}}, "scheduler": {"batch": args.batch}}  # fmt: skip
    settings = dataclasses.replace(settings, triggers=trigger_config(raw))
    topic = settings.topic(settings.triggers.topics["push"])
    await ensure_topics(settings, [topic], partitions=args.partitions)
    registry = CollectorRegistry()
    metrics = TriggerMetrics(registry)
    services = [
        TriggerService(settings, metrics, clock=wall_clock_ms) for _ in range(args.schedulers)
    ]
    for service in services:
        await service.start()
    try:
        reader = asyncio.ensure_future(
            read_back(settings, topic, args.triggers, LEAD_S + args.spread + 60)
        )
        await schedule(settings, args.triggers, args.spread)
        delays = await reader
    finally:
        for service in services:
            await service.stop()
    read = quantiles(delays)
    buckets = _buckets(registry, "portrait_trigger_due_to_published_seconds")
    acked = {f"p{int(q * 100)}": histogram_quantile(q, buckets) or 0.0 for q in (0.5, 0.95, 0.99)}
    print(f"\ntriggers: {args.triggers} due over {args.spread:.0f} s "
          f"({args.triggers / args.spread:.0f}/s), schedulers: {args.schedulers}, "
          f"read back: {len(delays)}")  # fmt: skip
    print("due -> read by a consumer (s): " + ", ".join(f"{k} {v:.3f}" for k, v in read.items()))
    print("due -> acknowledged (s, histogram buckets): " +
          ", ".join(f"{k} <= {v:.3f}" for k, v in acked.items()))  # fmt: skip
    verdict = "meets" if read["p99"] <= 1.0 else "MISSES"
    print(f"p99 due -> read {read['p99']:.3f} s: {verdict} the 1 s goal")


def _buckets(registry: CollectorRegistry, name: str) -> list[tuple[float, float]]:
    """Cumulative ``(le, count)`` of a histogram, summed over its labels."""
    counts: dict[float, float] = {}
    for family in registry.collect():
        for sample in family.samples:
            if sample.name == f"{name}_bucket":
                le = float(sample.labels["le"])
                counts[le] = counts.get(le, 0.0) + sample.value
    return sorted(counts.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--triggers", type=int, default=20_000)
    parser.add_argument(
        "--spread", type=float, default=20.0, help="seconds over which they fall due"
    )
    parser.add_argument("--schedulers", type=int, default=1)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    with endpoints() as (bootstrap, redis_url):
        asyncio.run(run(args, bootstrap, redis_url))


if __name__ == "__main__":
    main()
