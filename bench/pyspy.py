"""Optional ``--py-spy``: sample the worker while it consumes and summarise where time goes.

py-spy records folded stacks (``--format raw``, idle threads excluded), so a frame's share is of
the samples in which some thread was running Python or waiting on the GIL: "busy" time. The
busy share of the main thread is ``samples / (rate * seconds)``.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

RATE = 100


def find_py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


class PySpy:
    def __init__(self, pid: int, output: Path) -> None:
        self.pid = pid
        self.output = output
        self.process: subprocess.Popen[bytes] | None = None
        self.seconds = 0.0  # how long it recorded

    def start(self) -> None:
        exe = find_py_spy()
        if exe is None:
            raise RuntimeError("py-spy not found: pip install py-spy")
        cmd = [
            exe,
            "record",
            "--pid",
            str(self.pid),
            "--format",
            "raw",
            "--rate",
            str(RATE),
            "--nonblocking",
            "--output",
            str(self.output),
        ]
        self.process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._started = time.perf_counter()

    def stop(self) -> None:
        if self.process is None:
            return
        self.seconds = time.perf_counter() - self._started
        self.process.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _frame_name(frame: str) -> str:
    """``f (pkg/mod.py:123)`` -> ``f (pkg/mod.py)``: one name per function, not per line."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0]})" if where else name


def summarize(folded: Path, seconds: float, top: int = 25) -> dict[str, Any]:
    """Top frames by self and by inclusive share of all samples."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in folded.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_name(f) for f in stack.split(";") if not f.startswith("thread ")]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    pct = 100 / total if total else 0.0
    return {
        "samples": total,
        "busy_share": round(total / (RATE * seconds), 3) if seconds else None,
        "self_pct": [(f, round(n * pct, 1)) for f, n in own.most_common(top)],
        "inclusive_pct": [(f, round(n * pct, 1)) for f, n in inclusive.most_common(top * 2)],
        "folded": str(folded),
    }
