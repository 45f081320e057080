"""Prometheus view of erasures and exports (the privacy service's observer)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class PrivacyMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.erasures = Counter(
            "portrait_privacy_erasures_total",
            "Users erased (GDPR), by whether they were also suppressed",
            ["suppressed"],
            registry=r,
        )
        self.exports = Counter(
            "portrait_privacy_exports_total",
            "Exports of everything stored about a user (GDPR right of access), by outcome",
            ["outcome"],
            registry=r,
        )
        self.unsuppressed = Counter(
            "portrait_privacy_unsuppressed_total",
            "Suppressions lifted (the user's later events are let in again), by outcome",
            ["outcome"],
            registry=r,
        )
        self.keys = Counter(
            "portrait_privacy_erased_keys_total", "Per-user Redis keys deleted by erasures",
            registry=r,
        )  # fmt: skip
        self.triggers = Counter(
            "portrait_privacy_cancelled_triggers_total",
            "Pending triggers cancelled by erasures (never sent)",
            registry=r,
        )
        self.seconds = Histogram(
            "portrait_privacy_seconds",
            "Time to erase or export one user (Redis and the erase event's acknowledgement)",
            ["operation"],
            buckets=_SECONDS,
            registry=r,
        )
        for flag in ("true", "false"):
            self.erasures.labels(flag)
        for outcome in ("found", "not_found"):
            self.exports.labels(outcome)
            self.unsuppressed.labels(outcome)
        for op in ("erase", "export"):
            self.seconds.labels(op)

    def on_erased(self, suppressed: bool, keys: int, triggers: int, seconds: float) -> None:
        self.erasures.labels(str(suppressed).lower()).inc()
        self.keys.inc(keys)
        self.triggers.inc(triggers)
        self.seconds.labels("erase").observe(seconds)

    def on_unsuppressed(self, found: bool) -> None:
        self.unsuppressed.labels("found" if found else "not_found").inc()

    def on_exported(self, found: bool, seconds: float) -> None:
        self.exports.labels("found" if found else "not_found").inc()
        self.seconds.labels("export").observe(seconds)
