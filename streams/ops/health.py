"""Liveness and readiness of the worker, served beside ``/metrics`` on the metrics port.

* ``GET /healthz`` (liveness): 200 while the event loop turns (the ops loop beats at least every
  few seconds); 503 otherwise (a crashed worker exits: nothing to probe). A Redis outage does
  not fail it: the worker retries without committing, and a restart would not bring Redis back.
* ``GET /readyz`` (readiness): 200 once the worker has started consuming and its last Redis ping
  answered; 503 before, while stopping, or while Redis does not answer.
* ``GET /metrics``: the Prometheus registry, as ``prometheus_client`` serves it.
* Any other path: 404 (the port is not a profile API: ``/profiles/u1`` used to get the metrics).

The HTTP server runs in its own thread (like ``prometheus_client.start_http_server``), so a busy
or blocked event loop still answers, and liveness then reports the stale heartbeat.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from streams.errors import MetricsPortError

LIVENESS_PATH = "/healthz"
READINESS_PATH = "/readyz"
METRICS_PATH = "/metrics"
STALE_AFTER_S = 30.0  # no heartbeat for this long: the event loop is stuck


class Health:
    """What the probes report; the worker and its ops loop update it, any thread reads it."""

    def __init__(
        self, stale_after_s: float = STALE_AFTER_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.stale_after_s = stale_after_s
        self.clock = clock
        self.started = False
        self.stopping = False
        self.redis_ok = False
        self._beat = clock()

    def beat(self) -> None:
        self._beat = self.clock()

    def live(self) -> tuple[bool, str]:
        age = self.clock() - self._beat
        if age > self.stale_after_s:
            return False, f"event loop silent for {age:.0f}s"
        return True, "ok"

    def ready(self) -> tuple[bool, str]:
        alive, why = self.live()
        if not alive:
            return False, why
        if not self.started or self.stopping:
            return False, "starting" if not self.started else "stopping"
        if not self.redis_ok:
            return False, "redis does not answer"
        return True, "ok"


_Start = Callable[[str, list[tuple[str, str]]], Any]


def make_app(registry: CollectorRegistry, health: Health | None) -> Callable[..., Iterable[bytes]]:
    """A WSGI app: the probes (when ``health`` is given), ``/metrics`` from prometheus_client,
    and 404 for any other path."""
    metrics = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: _Start) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if health is not None and path in (LIVENESS_PATH, READINESS_PATH):
            ok, why = health.live() if path == LIVENESS_PATH else health.ready()
            status = "200 OK" if ok else "503 Service Unavailable"
            start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
            return [why.encode() + b"\n"]
        if path == METRICS_PATH:
            return metrics(environ, start_response)  # type: ignore[no-any-return]
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [f"not found: this port serves {_served(health)}\n".encode()]

    return app


def _served(health: Health | None) -> str:
    paths = [METRICS_PATH] if health is None else [METRICS_PATH, LIVENESS_PATH, READINESS_PATH]
    return ", ".join(paths)


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # probes every few seconds
        pass


def serve(
    registry: CollectorRegistry, port: int, addr: str = "0.0.0.0", health: Health | None = None
) -> int:
    """Serve ``/metrics`` (and the probes when ``health`` is given) on ``port`` in a daemon
    thread; 0 picks a free port. Returns the bound port; :class:`MetricsPortError` when the
    port cannot be bound."""
    try:
        httpd = make_server(addr, port, make_app(registry, health), ThreadingWSGIServer, _Quiet)
    except OSError as exc:
        raise MetricsPortError(port, exc.strerror or str(exc)) from exc
    threading.Thread(target=httpd.serve_forever, name="metrics-http", daemon=True).start()
    return int(httpd.server_port)
