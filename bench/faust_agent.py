"""A minimal faust agent (``stream.take(10000, within=0.05)`` + ``orjson.loads`` on raw bytes).

Run as a child process by ``bench.throughput --faust-agent``; it prints JSON lines on stdout:
``{"seen": n, "t": monotonic}`` while it runs and ``{"done": ...}`` when it has seen ``--events``
values, then waits to be stopped. The rate runs from the end of the first batch to the end of
the last, so faust's group join (tens of seconds on Tansu) is not in it.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import orjson

from bench.ceiling import Window
from bench.load import LoadMeter
from bench.progress import Progress


def _emit(**fields: Any) -> None:
    """One JSON line on fd 1 (faust's worker redirects ``sys.stdout`` into its logger)."""
    os.write(1, orjson.dumps(fields) + b"\n")


class Tally:
    """An agent's count and window: the first observation starts the clock (its events are not
    in the rate, as the ceiling's are not); a progress line every half second; one ``done``
    line when ``total`` events were seen or ``seconds`` passed since the first."""

    def __init__(self, total: int, seconds: float = float("inf")) -> None:
        self.total, self.seconds = total, seconds
        self.started = time.monotonic()
        self.seen = self.at_first = 0
        self.first = self.cpu0 = self.shown = 0.0
        self.done = False

    def add(self, n: int) -> None:
        self.seen += n
        now = time.monotonic()
        if not self.first:
            self.first, self.at_first, self.cpu0 = now, self.seen, time.process_time()
        if now - self.shown >= 0.5:
            self.shown = now
            _emit(seen=self.seen, t=now)
        if not self.done and (self.seen >= self.total or now - self.first >= self.seconds):
            self.done = True
            _emit(
                done=True,
                events=self.seen - self.at_first,
                seconds=now - self.first,
                join_seconds=self.first - self.started,
                cpu_seconds=time.process_time() - self.cpu0,
            )


def raw_app(bootstrap: str, topic_name: str, group: str) -> tuple[Any, Any]:
    """A faust app in its own group and its topic of raw bytes (no serializer's cost)."""
    import faust

    app = faust.App(
        group,
        broker=f"kafka://{bootstrap}",
        store="memory://",
        web_enabled=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
    )
    topic = app.topic(
        topic_name, key_type=bytes, value_type=bytes, value_serializer="raw", key_serializer="raw"
    )
    return app, topic


def build_app(bootstrap: str, topic_name: str, group: str, total: int) -> Any:
    app, topic = raw_app(bootstrap, topic_name, group)
    tally = Tally(total)

    @app.agent(topic)
    async def decode(stream: Any) -> None:
        loads = orjson.loads
        async for values in stream.take(10_000, within=0.05):
            for value in values:
                loads(value)
            tally.add(len(values))

    return app


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--events", type=int, required=True)
    a = p.parse_args()
    import faust

    app = build_app(a.bootstrap, a.topic, a.group, a.events)
    faust.Worker(
        app, loglevel="warning", quiet=True, redirect_stdouts=False
    ).execute_from_commandline()


# --- parent side --------------------------------------------------------------------------------
def _lines(process: subprocess.Popen[bytes], deadline: float) -> Iterator[dict[str, Any]]:
    assert process.stdout is not None
    fd = process.stdout.fileno()
    buffer = b""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"faust agent exited with {process.returncode}")
        ready, _, _ = select.select([fd], [], [], 1.0)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        for line in complete:
            if line.startswith(b"{"):
                yield orjson.loads(line)
    raise TimeoutError("faust agent did not finish in time")


def measure_faust_agent(
    bootstrap: str, topic: str, group: str, total: int, timeout_s: float, log_path: str
) -> Window:
    cmd = [
        sys.executable, "-m", "bench.faust_agent", "--bootstrap", bootstrap, "--topic", topic,
        "--group", group, "--events", str(total),
    ]  # fmt: skip
    return measure_child(cmd, "faust agent consumed", total, timeout_s, log_path)


def measure_child(
    cmd: list[str], label: str, total: int, timeout_s: float, log_path: str
) -> Window:
    """Run an agent child (this module's, or bench/naive_faust.py's) that prints JSON progress
    lines and a ``done`` line with its window; stop it (SIGTERM, then SIGKILL) afterwards."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log)
    progress = Progress(label, total)
    meter = LoadMeter()  # from the first progress line: close to, not exactly, the window
    try:
        for line in _lines(process, time.monotonic() + timeout_s):
            if line.get("done"):
                load = meter.stop()
                progress.update(int(line["events"]), force=True)
                return Window(
                    line["events"], line["seconds"], line["join_seconds"], line["cpu_seconds"], load
                )
            if meter._start is None:
                meter.start()
            progress.update(int(line["seen"]))
        raise AssertionError("unreachable")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


if __name__ == "__main__":
    main()
