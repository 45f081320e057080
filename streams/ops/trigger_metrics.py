"""Trigger metrics: a :class:`~streams.ops.sensor.Sensor` with an injectable
``CollectorRegistry`` (docs/operations.md).

The rules' operations are counted from the worker's batches (scheduled, cancelled); the
scheduler reports what it fired, deferred, dropped and published.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from streams.ops.sensor import BatchReport, Sensor
from triggers.config import CHANNELS, HOLDOUT, KINDS, Experiment

log = logging.getLogger("portrait.triggers")

# Why the scheduler defers or does not send a due trigger
# (streams/triggers/scheduler.py, triggers/policy.py).
DEFER_REASONS = ("quiet_hours", "active_hour", "min_gap", "priority", "profile_behind")
SUPPRESS_REASONS = ("cap_day", "cap_week", "expired", "min_gap", "priority", "already_sent")

# Due -> published, in seconds: the goal is p99 <= 1 s.
_DUE_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30, 60,
)  # fmt: skip


class TriggerMetrics(Sensor):
    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        cost: Mapping[str, float] | None = None,
        experiments: Sequence[Experiment] = (),
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.cost_per_message = dict(cost or {})
        self._last_logged = 0.0
        r = self.registry
        self.scheduled = Counter(
            "portrait_triggers_scheduled_total",
            "Triggers scheduled or updated by the rules (a slot's pending trigger replaced)",
            ["kind"],
            registry=r,
        )
        self.cancelled = Counter(
            "portrait_triggers_cancelled_total",
            "Pending triggers cancelled (by an event, or found no longer true when due)",
            ["kind", "reason"],
            registry=r,
        )
        self.fired = Counter(
            "portrait_triggers_fired_total",
            "Triggers claimed by the scheduler when due",
            ["kind"],
            registry=r,
        )
        self.deferred = Counter(
            "portrait_triggers_deferred_total",
            "Due triggers moved later (quiet_hours, active_hour, min_gap, priority)",
            ["kind", "reason"],
            registry=r,
        )
        self.suppressed = Counter(
            "portrait_triggers_suppressed_total",
            "Due triggers not sent (cap_day, cap_week, expired, min_gap, priority, already_sent)",
            ["kind", "reason"],
            registry=r,
        )
        self.published = Counter(
            "portrait_triggers_published_total",
            "Trigger messages published to a channel topic",
            ["kind", "channel"],
            registry=r,
        )
        self.cost = Counter(
            "portrait_trigger_cost_total",
            "Configured cost of the messages published (triggers.cost per channel)",
            ["kind", "channel"],
            registry=r,
        )
        self.due_to_published = Histogram(
            "portrait_trigger_due_to_published_seconds",
            "Due time (after any deferral) to message acknowledged by the broker",
            ["kind"],
            buckets=_DUE_BUCKETS,
            registry=r,
        )
        self.recalled = Counter(
            "portrait_trigger_recalled_total",
            "Win-backs after which the user came back within the recall window",
            ["kind", "channel"],
            registry=r,
        )
        self.experiment = Counter(
            "portrait_experiment_events_total",
            "Experiment arms: users assigned, held out (sent nothing) and messages sent",
            ["experiment", "arm", "event"],
            registry=r,
        )
        self.experiment_cost = Counter(
            "portrait_experiment_cost_total",
            "What an experiment arm's messages cost (triggers.cost per channel)",
            ["experiment", "arm"],
            registry=r,
        )
        self.backlog = Gauge("portrait_trigger_backlog", "Pending triggers", registry=r)
        self.overdue = Gauge(
            "portrait_trigger_overdue",
            "Pending triggers due longer ago than scheduler.overdue_ms",
            registry=r,
        )
        self._init_series()
        self._init_experiments(experiments)

    def _init_experiments(self, experiments: Sequence[Experiment]) -> None:
        """The configured experiments' arms at 0: each panel shows every arm from the start."""
        for e in experiments:
            self.experiment.labels(e.name, HOLDOUT, "assigned")
            self.experiment.labels(e.name, HOLDOUT, "held_out")
            for v in e.variants:
                self.experiment.labels(e.name, v.name, "assigned")
                self.experiment.labels(e.name, v.name, "sent")
                self.experiment_cost.labels(e.name, v.name)

    def _init_series(self) -> None:
        """Every series a panel reads exists from the start: a rate of 0, not "No data"."""
        for kind in KINDS:
            self.scheduled.labels(kind)
            self.fired.labels(kind)
            self.cancelled.labels(kind, "event")
            self.due_to_published.labels(kind)
            for reason in DEFER_REASONS:
                self.deferred.labels(kind, reason)
            for reason in SUPPRESS_REASONS:
                self.suppressed.labels(kind, reason)
            for channel in CHANNELS:
                self.published.labels(kind, channel)
                self.cost.labels(kind, channel)
        for channel in CHANNELS:  # recall is watched for win-backs
            self.recalled.labels("win_back", channel)

    # --- the rules' operations, from the worker's batches ---------------------------------
    def on_batch_written(self, batch: BatchReport, seconds: float, now_ms: int) -> None:
        """A worker batch's trigger operations ``(kind, outcome)`` and recalls counted."""
        for kind, channel in batch.recalls:
            self.recalled.labels(kind, channel).inc()
        for (kind, outcome), n in batch.trigger_ops.items():
            if outcome in ("scheduled", "updated"):
                self.scheduled.labels(kind).inc(n)
            elif outcome == "sent":
                self.suppressed.labels(kind, "already_sent").inc(n)
            elif outcome.startswith("cancelled"):
                self.cancelled.labels(kind, outcome.partition(":")[2] or "event").inc(n)

    # --- the scheduler (streams.triggers.scheduler.Observer) ------------------------------
    def on_fired(self, kind: str) -> None:
        self.fired.labels(kind).inc()

    def on_deferred(self, kind: str, reason: str) -> None:
        self.deferred.labels(kind, reason).inc()

    def on_dropped(self, kind: str, outcome: str, reason: str) -> None:
        if outcome == "held_out":  # reason: the experiment
            self.experiment.labels(reason, HOLDOUT, "held_out").inc()
            return
        family = self.cancelled if outcome == "cancelled" else self.suppressed
        family.labels(kind, reason).inc()

    def on_published(self, kind: str, channel: str, latency_s: float) -> None:
        self.published.labels(kind, channel).inc()
        self.cost.labels(kind, channel).inc(self.cost_per_message.get(channel, 0.0))
        self.due_to_published.labels(kind).observe(latency_s)

    def on_experiment(self, experiment: str, arm: str, event: str, channel: str = "") -> None:
        self.experiment.labels(experiment, arm, event).inc()
        if event == "sent":
            self.experiment_cost.labels(experiment, arm).inc(
                self.cost_per_message.get(channel, 0.0)
            )

    def on_message(self, body: dict[str, Any]) -> None:
        """Log about one published message a second: what the demo shows firing."""
        now = time.monotonic()
        if now - self._last_logged < 1.0:
            return
        self._last_logged = now
        log.info(
            "trigger %s -> %s for %s (due %s): %s",
            body["kind"], body["channel"], body["user_id"], body["due_at"],
            orjson.dumps(body["payload"]).decode()[:200],
        )  # fmt: skip

    def on_backlog(self, pending: int, overdue: int) -> None:
        self.backlog.set(pending)
        self.overdue.set(overdue)
