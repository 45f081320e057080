"""Worker metrics: a :class:`~streams.ops.sensor.Sensor` with an injectable ``CollectorRegistry``.

The processor and worker report facts (a batch's stats, a retry, a rebalance) through the
sensor's hooks; only this module and the sets it holds (lag, census, Redis timing, freshness)
know metric names. docs/operations.md lists them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from profiles.changes import SEGMENTS
from profiles.events import EVENT_TYPES, REJECT_REASONS
from profiles.model import Outcome
from streams.errors import MetricsPortError
from streams.ops.census import SEGMENT_VALUES, CensusMetrics
from streams.ops.freshness import TagFreshness
from streams.ops.identity_metrics import IdentityMetrics
from streams.ops.lag import LagMetrics
from streams.ops.redis_timing import RedisMetrics
from streams.ops.sensor import BatchReport, Sensor, SensorDelegate
from streams.pipeline.labels import APPLY_ERROR, SUPPRESSED, segment_label

# Millisecond-scale buckets, in seconds.
_LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8,
    1, 1.5, 2, 3, 5, 10, 30,
)  # fmt: skip
_EVENT_LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600)
_SIZE_BUCKETS = (1, 10, 100, 500, 1_000, 2_500, 5_000, 10_000, 20_000, 50_000)


class WorkerMetrics(Sensor):
    """Prometheus view of the event worker."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.events = Counter(
            "portrait_events_total",
            "Events consumed, by type and outcome (applied, duplicate, replayed, rejected)",
            ["type", "outcome"],
            registry=r,
        )
        self.late = Counter(
            "portrait_events_late_total",
            "Applied events older than their user's newest applied event (out of order)",
            ["type"],
            registry=r,
        )
        self.dlq = Counter(
            "portrait_dlq_total",
            "Messages sent to the dead-letter topic, by reason",
            ["reason"],
            registry=r,
        )
        self.erasures = Counter(
            "portrait_privacy_erasures_reached_total",
            "Erase events the worker reached: the erasure is then complete in the stream",
            registry=r,
        )
        self.batch_size = Histogram(
            "portrait_batch_size", "Records per consumed batch", buckets=_SIZE_BUCKETS, registry=r
        )
        self.batch_seconds = Histogram(
            "portrait_batch_duration_seconds",
            "Time to process and write one batch (decode, model, Redis, DLQ, commit)",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.event_to_write = Histogram(
            "portrait_event_to_write_seconds",
            "Event time to profile written in Redis, per applied event",
            buckets=_EVENT_LAG_BUCKETS,
            registry=r,
        )
        self.users_written = Counter(
            "portrait_profile_writes_total",
            "Profiles written (one per user per batch)",
            registry=r,
        )
        self.segment_changes = Counter(
            "portrait_segment_changes_total",
            "Users whose segment changed, by segment and new value (* where values are many)",
            ["segment", "to"],
            registry=r,
        )
        self.fence_refused = Counter(
            "portrait_fence_refused_total",
            "Profile writes refused by the fence (a newer owner had written)",
            registry=r,
        )
        self.key_mismatch = Counter(
            "portrait_key_mismatch_total",
            "Events whose Kafka key is not their user id (the producer's keying is wrong)",
            registry=r,
        )
        self.redis_retries = Counter(
            "portrait_redis_retries_total",
            "Redis operations retried after an error",
            ["op"],
            registry=r,
        )
        self.commit_failures = Counter(
            "portrait_commit_failures_total", "Kafka offset commits that failed", registry=r
        )
        self.rebalances = Counter(
            "portrait_rebalances_total", "Partition assignments received", registry=r
        )
        self.assigned = Gauge(
            "portrait_assigned_partitions", "Partitions this worker owns", registry=r
        )
        self.cached_users = Gauge(
            "portrait_cached_profiles", "Profile states cached in worker memory", registry=r
        )
        self.up = Gauge("portrait_worker_up", "1 while the worker consumes", registry=r)
        # Periodic and client-side views (streams/ops/lag.py, census.py, redis_timing.py, freshness)
        self.lag = LagMetrics(r)
        self.census = CensusMetrics(r)
        self.redis = RedisMetrics(r)
        self.freshness = TagFreshness(r)
        # the hooks this set does not count itself go to the sets above
        self.identity = IdentityMetrics(r)
        self._views = SensorDelegate(
            [self.lag, self.census, self.redis, self.freshness, self.identity]
        )
        self._init_series()

    def _init_series(self) -> None:
        """Create the bounded label sets at 0, so that rates and alerts see a series before the
        first event of its kind (a missing series is "No data", not zero)."""
        for etype in EVENT_TYPES:
            self.late.labels(etype)
            for outcome in Outcome:
                self.events.labels(etype, str(outcome))
        self.events.labels("unknown", "rejected")
        for reason in (*REJECT_REASONS, APPLY_ERROR, SUPPRESSED):
            self.dlq.labels(reason)
        for op in ("load", "write", "dlq", "triggers", "recall", "identity", "forward"):
            self.redis_retries.labels(op)
        for segment in SEGMENTS:  # the unbounded ones count as "*", the others by value
            if segment_label(segment, None)[1] == "*":
                self.segment_changes.labels(segment, "*")
        for segment, values in SEGMENT_VALUES.items():
            for value in values:
                if value != "null":
                    self.segment_changes.labels(segment, value)

    def on_batch_written(self, batch: BatchReport, seconds: float, now_ms: int) -> None:
        self.batch_size.observe(batch.records)
        self.batch_seconds.observe(seconds)
        for (etype, outcome), n in batch.outcomes.items():
            self.events.labels(etype, outcome).inc(n)
        for etype, n in batch.late.items():
            self.late.labels(etype).inc(n)
        for reason, n in batch.rejected.items():
            self.events.labels("unknown", "rejected").inc(n)
            self.dlq.labels(reason).inc(n)
        for ts in batch.applied_ts_sample:
            self.event_to_write.observe(max(0.0, (now_ms - ts) / 1000))
        self.users_written.inc(batch.users_written)
        for (segment, value), n in batch.segment_changes.items():
            self.segment_changes.labels(segment, value).inc(n)
        self.fence_refused.inc(batch.fence_refused)
        self.key_mismatch.inc(batch.key_mismatch)
        self.erasures.inc(batch.erased)
        self._views.on_batch_written(batch, seconds, now_ms)

    def on_redis_retry(self, op: str) -> None:
        self.redis_retries.labels(op).inc()

    def on_commit_failed(self) -> None:
        self.commit_failures.inc()

    def on_assigned(self, partitions: int) -> None:
        self.rebalances.inc()
        self.assigned.set(partitions)

    def on_cache_size(self, users: int) -> None:
        self.cached_users.set(users)

    def on_worker_up(self, up: bool) -> None:
        self.up.set(1 if up else 0)

    def on_redis_command(self, command: str, seconds: float) -> None:
        self._views.on_redis_command(command, seconds)

    def on_redis_error(self, exc: BaseException) -> None:
        self._views.on_redis_error(exc)

    def on_lag(self, partitions: Mapping[tuple[str, int], tuple[int, int]]) -> None:
        self._views.on_lag(partitions)

    def on_census(self, result: Mapping[str, Any]) -> None:
        self._views.on_census(result)


def serve(registry: CollectorRegistry, port: int, addr: str = "0.0.0.0") -> int:
    """Expose ``/metrics`` on ``port`` (0 picks a free port); return the bound port.
    :class:`MetricsPortError` when the port cannot be bound (taken, privileged)."""
    try:
        server, _thread = start_http_server(port, addr=addr, registry=registry)
    except OSError as exc:
        raise MetricsPortError(port, exc.strerror or str(exc)) from exc
    return int(server.server_port)
