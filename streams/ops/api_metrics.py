"""The HTTP API's metrics (docs/api.md): an observer with an injectable ``CollectorRegistry``.

The API's middleware reports each request (route template, method, status, seconds) and the
events route reports what it ingested; no route counts anything itself.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Seconds: the target is a p99 of 5 ms for a profile read (bench/api.py).
_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)
UNMATCHED = "unmatched"  # the route label of a request no route took (a 404 of an unknown path)


class ApiMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "portrait_api_requests_total",
            "HTTP requests answered, by route template, method and status",
            ["route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "portrait_api_request_seconds",
            "Time from a request's arrival to the end of its response, by route template",
            ["route", "method"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.events = Counter(
            "portrait_api_events_total",
            "Events posted to /v1/events: accepted (produced, acknowledged) or rejected",
            ["outcome", "reason"],
            registry=r,
        )
        self.in_flight = Gauge(
            "portrait_api_requests_in_flight",
            "Requests being answered now",
            registry=r,
            multiprocess_mode="livesum",  # portrait api --processes: the sum of live processes'
        )
        self.events.labels("accepted", "")

    def on_request_start(self) -> None:
        self.in_flight.inc()

    def on_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.in_flight.dec()
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)

    def on_events(self, accepted: int, rejected: Mapping[str, int]) -> None:
        if accepted:
            self.events.labels("accepted", "").inc(accepted)
        for reason, n in rejected.items():
            self.events.labels("rejected", reason).inc(n)
