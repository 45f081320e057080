"""Runs one command and writes its wall time, CPU and memory as JSON: the helper bench/insight.py
starts in a fresh interpreter, so that ``getrusage(RUSAGE_CHILDREN)`` holds that command alone
(not the benchmark that wrote the profiles, nor this helper).

    python -m bench.insight_measure OUT.json CMD [ARG ...]

Beside the peak RSS (``ru_maxrss``), the command's RSS is read from /proc every 0.1 s into a
series of ``[seconds, MiB]`` points, one each time it moved by a MiB or more: it shows which
phase holds the peak (the scan of the audiences, or drawing the report). Standard library only.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

EVERY = 0.1  # seconds between reads of the command's RSS


def vm_rss_kib(status: str) -> int | None:
    """``VmRSS`` of a /proc/<pid>/status text, in KiB (None: not there, e.g. a zombie)."""
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


class Series:
    """``[seconds, MiB]`` points of a process' RSS, kept when it moved by ``step`` MiB or more
    since the last point kept (the last reading is always kept by :meth:`close`)."""

    def __init__(self, step: float = 1.0) -> None:
        self.step = step
        self.points: list[list[float]] = []
        self._last: list[float] | None = None

    def add(self, seconds: float, kib: int) -> None:
        mib = round(kib / 1024, 1)
        self._last = [round(seconds, 2), mib]
        if not self.points or abs(mib - self.points[-1][1]) >= self.step:
            self.points.append(self._last)

    def close(self) -> list[list[float]]:
        if self._last is not None and self.points[-1] is not self._last:
            self.points.append(self._last)
        return self.points


def peak_at(series: list[list[float]], seconds: float) -> float:
    """When the sampled RSS first reached its top, as a share of the run (near 1: the command's
    last phase holds the peak, not a growth along the way); 0 without samples."""
    if not series or seconds <= 0:
        return 0.0
    top = max(mib for _, mib in series)
    return round(next(t for t, mib in series if mib == top) / seconds, 3)


def measure(cmd: list[str]) -> dict[str, Any]:
    series, start = Series(), time.perf_counter()
    child = subprocess.Popen(cmd)
    status = Path(f"/proc/{child.pid}/status")
    while True:
        try:
            kib = vm_rss_kib(status.read_text())
        except OSError:
            kib = None
        if kib is not None:
            series.add(time.perf_counter() - start, kib)
        try:
            child.wait(EVERY)  # returns as soon as it ends: the time is the command's
            break
        except subprocess.TimeoutExpired:
            continue
    seconds = time.perf_counter() - start
    use = resource.getrusage(resource.RUSAGE_CHILDREN)  # ru_maxrss: KiB on Linux
    return {
        "code": child.returncode,
        "seconds": seconds,
        "peak_rss_kib": use.ru_maxrss,
        "cpu_seconds": use.ru_utime + use.ru_stime,
        "rss_mib": series.close(),
    }


def main(argv: list[str]) -> int:
    out, *cmd = argv
    Path(out).write_text(json.dumps(measure(cmd)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
