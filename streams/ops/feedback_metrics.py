"""Feedback metrics: a :class:`~streams.ops.sensor.Sensor` with an injectable
``CollectorRegistry`` (docs/feedback.md).

``portrait_trigger_recalled_total`` is not here: the event worker counts the recalls that
:meth:`streams.feedback.recall.RecallTracker.returned` reports, in
streams/ops/trigger_metrics.py (one registry may hold both sensors).
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge

from streams.ops.sensor import Sensor
from streams.store.feedback import Counted
from triggers.config import CHANNELS, KINDS, Experiment
from triggers.feedback import STATUSES


class FeedbackMetrics(Sensor):
    def __init__(
        self, registry: CollectorRegistry | None = None, experiments: Sequence[Experiment] = ()
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.feedback = Counter(
            "portrait_trigger_feedback_total",
            "Feedback on sent triggers, each (trigger, status) once; kind unknown: no sent record",
            ["kind", "channel", "status"],
            registry=r,
        )
        self.experiment = Counter(
            "portrait_experiment_feedback_total",
            "Feedback on an experiment's messages by the user's arm, each (trigger, status) once",
            ["experiment", "arm", "status"],
            registry=r,
        )
        for e in experiments:  # every arm that is sent something, at 0 from the start
            for v in e.variants:
                for status in STATUSES:
                    self.experiment.labels(e.name, v.name, status)
        self.rejected = Counter(
            "portrait_feedback_rejected_total",
            "Malformed feedback messages sent to the feedback DLQ, by reason",
            ["reason"],
            registry=r,
        )
        self.duplicates = Counter(
            "portrait_feedback_duplicates_total",
            "Feedback messages dropped because their (trigger, status) was counted before",
            ["status"],
            registry=r,
        )
        self.registered = Counter(
            "portrait_recall_registered_total",
            "Win-back sends whose recall window is watched (read from the trigger topics)",
            registry=r,
        )
        self.listed = Counter(
            "portrait_recall_messages_total",
            "Recall messages listed for the recall report, each once (docs/recall.md)",
            ["kind", "channel"],
            registry=r,
        )
        self.redis_retries = Counter(
            "portrait_feedback_redis_retries_total",
            "Feedback-service operations retried after a Redis or Kafka error",
            ["op"],
            registry=r,
        )
        self.up = Gauge("portrait_feedback_up", "1 while the feedback service consumes", registry=r)
        for kind in KINDS:  # the series a panel reads exist from the start, at 0
            for channel in CHANNELS:
                for status in STATUSES:
                    self.feedback.labels(kind, channel, status)
        for channel in CHANNELS:  # recall messages are win-backs unless triggers.recall says more
            self.listed.labels("win_back", channel)

    def on_feedback_counted(self, counted: Sequence[Counted]) -> None:
        for c in counted:
            if c.new:
                self.feedback.labels(c.kind, c.channel, c.feedback.status).inc()
                if c.experiment:
                    self.experiment.labels(c.experiment, c.arm, c.feedback.status).inc()
            else:
                self.duplicates.labels(c.feedback.status).inc()

    def on_feedback_rejected(self, reason: str, n: int = 1) -> None:
        self.rejected.labels(reason).inc(n)

    def on_recall_registered(self, n: int) -> None:
        self.registered.inc(n)

    def on_recall_listed(self, listed: Sequence[tuple[str, str]]) -> None:
        for kind, channel in listed:
            self.listed.labels(kind, channel).inc()

    def on_feedback_retry(self, op: str) -> None:
        self.redis_retries.labels(op).inc()

    def on_feedback_up(self, up: bool) -> None:
        self.up.set(1 if up else 0)
