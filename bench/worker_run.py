"""Run the real worker (``python -m streams.app.cli worker``) as a child process and time it.

A child process is the honest setting: the worker gets its own interpreter, GIL and event loop
(in production it is its own process), and the benchmark's scraping cannot steal its loop.
Progress and the result come from the worker's own Prometheus endpoint: ``portrait_events_total``
summed over types and outcomes, polled every 0.1 s.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from bench.ceiling import Window
from bench.load import LoadMeter, process_cpu_seconds
from bench.progress import Progress
from streams.app.embedded import Services, free_port

POLL_S = 0.1


@dataclass(slots=True)
class Scrape:
    """One reading of the worker's metrics."""

    samples: dict[str, float] = field(default_factory=dict)  # name -> sum over label sets
    outcomes: dict[str, float] = field(default_factory=dict)  # outcome -> events
    buckets: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # le, count

    @property
    def events(self) -> int:
        return int(self.samples.get("portrait_events_total", 0))


def parse_metrics(text: str) -> Scrape:
    scrape = Scrape()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.endswith("_bucket"):
                le = float(s.labels["le"])
                scrape.buckets.setdefault(s.name[: -len("_bucket")], []).append((le, s.value))
                continue
            scrape.samples[s.name] = scrape.samples.get(s.name, 0.0) + s.value
            if s.name == "portrait_events_total":
                outcome = s.labels.get("outcome", "?")
                scrape.outcomes[outcome] = scrape.outcomes.get(outcome, 0.0) + s.value
    return scrape


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """Prometheus' ``histogram_quantile`` over cumulative ``(le, count)`` buckets."""
    buckets = sorted(buckets)
    if not buckets or buckets[-1][1] == 0:
        return None
    rank = q * buckets[-1][1]
    prev_le, prev_count = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if le == float("inf"):
                return prev_le
            span = count - prev_count
            return prev_le + (le - prev_le) * ((rank - prev_count) / span if span else 1.0)
        prev_le, prev_count = le, count
    return prev_le


@dataclass
class WorkerRun:
    """Everything measured about one worker run."""

    window: Window
    start: Scrape
    end: Scrape
    log_path: Path


class WorkerProcess:
    """``python -m streams.app.cli worker`` pointed at the bench's topics, Redis and a free port."""

    def __init__(
        self,
        bootstrap: str,
        redis_url: str,
        prefix: str,
        partitions: int,
        workdir: Path,
        triggers: bool = True,
        rules: Path | None = None,
        name: str = "worker",
    ) -> None:
        """``rules``: the PORTRAIT_RULES file (None: the default pack); ``name`` tells apart
        the files of several workers in one run (``--compare-rules``)."""
        self.port = free_port()
        config = workdir / f"{name}.yaml"
        data = {"topics": {"prefix": prefix, "partitions": partitions}}
        config.write_text(yaml.safe_dump({**data, "triggers": {"enabled": triggers}}))
        env = Services(bootstrap, redis_url).child_env(metrics_port=self.port, config=config)
        env.pop("PORTRAIT_RULES", None)  # the parent's never leaks in
        if rules is not None:
            env["PORTRAIT_RULES"] = str(rules)
        self.env = env
        self.log_path = workdir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> int:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "streams.app.cli", "worker"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self.process.pid

    def scrape(self) -> Scrape | None:
        url = f"http://127.0.0.1:{self.port}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return parse_metrics(response.read().decode())
        except OSError:
            return None

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"worker exited with {self.process.returncode}:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace: float = 20.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def wait_assigned(worker: WorkerProcess, timeout_s: float) -> Scrape:
    """Wait until the worker reports assigned partitions; return that scrape."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        worker.check_alive()
        scrape = worker.scrape()
        if scrape is not None and scrape.samples.get("portrait_assigned_partitions", 0) > 0:
            return scrape
        time.sleep(POLL_S)
    raise TimeoutError(f"worker not assigned after {timeout_s}s:\n{worker.log_tail()}")


def measure_worker(
    worker: WorkerProcess,
    total: int,
    *,
    started: float,
    stall_s: float = 60.0,
    on_first: Callable[[], None] = lambda: None,
) -> WorkerRun:
    """Poll until ``total`` events are counted; time from the first non-zero scrape to the last."""
    assert worker.process is not None
    pid = worker.process.pid
    progress = Progress("worker applied", total)
    meter = LoadMeter()
    first: tuple[float, Scrape, float] | None = None
    last_change, last_events = time.monotonic(), -1
    while True:
        worker.check_alive()
        scrape = worker.scrape()
        now = time.perf_counter()
        if scrape is None:
            time.sleep(POLL_S)
            continue
        if scrape.events > 0 and first is None:
            first = (now, scrape, process_cpu_seconds(pid))
            meter.start()
            on_first()
        if scrape.events != last_events:
            last_change, last_events = time.monotonic(), scrape.events
        elif time.monotonic() - last_change > stall_s:
            raise TimeoutError(f"worker stalled at {scrape.events}/{total}:\n{worker.log_tail()}")
        progress.update(scrape.events)
        if scrape.events >= total and first is not None:
            break
        time.sleep(POLL_S)
    load = meter.stop()
    progress.update(scrape.events, force=True)
    t0, s0, cpu0 = first
    window = Window(
        events=scrape.events - s0.events,
        seconds=now - t0,
        join_seconds=t0 - started,
        cpu_seconds=process_cpu_seconds(pid) - cpu0,
        load=load,
    )
    return WorkerRun(window, s0, scrape, worker.log_path)
