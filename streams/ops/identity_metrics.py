"""Prometheus view of identity resolution in the worker (docs/identity.md, "Metrics")."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from streams.ops.sensor import BatchReport, Sensor

# every (action, reason) a plan step can have (profiles/identity.py)
STEPS = (
    ("link", ""),
    ("merge", ""),
    ("refused", "kind_not_linked"),
    ("refused", "blocked_value"),
    *(
        ("refused", f"limit_{kind}")
        for kind in ("user_id", "anonymous_id", "email", "phone", "device_id")
    ),
)


class IdentityMetrics(Sensor):
    """``portrait_identity_steps_total{action,reason}`` and
    ``portrait_identity_forwarded_total``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.steps = Counter(
            "portrait_identity_steps_total",
            "Identity graph changes the worker applied: links, merges, refused links by reason",
            ["action", "reason"],
            registry=self.registry,
        )
        self.forwarded = Counter(
            "portrait_identity_forwarded_total",
            "Events of merged profiles forwarded to the profile that absorbed them",
            registry=self.registry,
        )
        for action, reason in STEPS:
            self.steps.labels(action, reason)

    def on_batch_written(self, batch: BatchReport, seconds: float, now_ms: int) -> None:
        for (action, reason), n in batch.identity.items():
            self.steps.labels(action, reason).inc(n)
        self.forwarded.inc(batch.forwarded)
