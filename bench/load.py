"""CPU accounting for a measured window (Linux ``/proc``): this process tree versus the machine.

On a shared 2-core machine other processes (tests, other benchmarks) steal CPU from the broker,
Redis and the worker. The meter reports how many cores the whole machine was busy, how many of
those were this benchmark's own process tree (itself, Tansu, valkey, the worker, py-spy), and
the rest: load from others, which makes the figures of that window pessimistic.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of one process; 0 if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return out
    for task in tasks:
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def tree_pids(root: int) -> list[int]:
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo += _children(pid)
    return pids


def machine_cpu_seconds() -> tuple[float, float, float]:
    """(busy, all, steal) CPU seconds of the machine since boot, summed over cores. Steal is
    time the hypervisor gave this virtual machine's cores to someone else: counted busy (the
    benchmark did not get it), and reported apart (no process here can be blamed for it)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    steal = values[7] if len(values) > 7 else 0
    return (sum(values) - idle) / CLK_TCK, sum(values) / CLK_TCK, steal / CLK_TCK


class LoadMeter:
    """``start()`` and ``stop()`` around a window; ``result()`` gives cores used in it."""

    def __init__(self, root: int | None = None) -> None:
        self.root = root or os.getpid()
        self._start: tuple[float, float, float, float, dict[int, float]] | None = None
        self.figures: dict[str, float] = {}

    def _read(self) -> tuple[float, float, float, float, dict[int, float]]:
        busy, total, steal = machine_cpu_seconds()
        per_pid = {pid: process_cpu_seconds(pid) for pid in tree_pids(self.root)}
        return time.perf_counter(), busy, total, steal, per_pid

    def start(self) -> None:
        self._start = self._read()

    def stop(self) -> dict[str, float]:
        if self._start is None:
            return {}
        t0, busy0, all0, steal0, pids0 = self._start
        t1, busy1, all1, steal1, pids1 = self._read()
        cores = os.cpu_count() or 1
        machine = (busy1 - busy0) / (all1 - all0) * cores if all1 > all0 else 0.0
        # Processes that started inside the window count from 0.
        own_seconds = sum(cpu - pids0.get(pid, 0.0) for pid, cpu in pids1.items())
        own = own_seconds / (t1 - t0) if t1 > t0 else 0.0
        self.figures = {
            "machine_busy_cores": round(machine, 2),
            "own_tree_cores": round(own, 2),
            "other_cores": round(max(0.0, machine - own), 2),
            # of the others: the hypervisor's steal (a shared host), not a process here
            "steal_cores": round((steal1 - steal0) / (all1 - all0) * cores, 2)
            if all1 > all0
            else 0.0,
        }
        return self.figures


def wait_quiet(max_wait_s: float, threshold: float = 0.25, sample_s: float = 1.0) -> float:
    """Wait (at most ``max_wait_s``) until other processes use under ``threshold`` cores.

    Returns the others' load of the last sample (so the caller can report it).
    """
    deadline = time.monotonic() + max_wait_s
    while True:
        meter = LoadMeter()
        meter.start()
        time.sleep(sample_s)
        others = meter.stop()["other_cores"]
        if others < threshold or time.monotonic() >= deadline:
            return others
