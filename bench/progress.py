"""A progress line on stderr about once a second: ``produced 120000/300000 (85k/s)``, on the
shared progress line (streams/ops/progress.py) as plain lines, never redrawn: a benchmark's
output is read afterwards."""

from __future__ import annotations

import sys

from streams.ops.progress import ProgressLine, rate_text

__all__ = ["Progress", "note", "rate_text"]


class Progress:
    """Prints ``<label> <done>/<total> (<rate>)`` at most every ``every`` seconds.

    The rate is the one since the previous line (a live reading), not the average.
    """

    def __init__(self, label: str, total: int, every: float = 1.0) -> None:
        self.label = label
        self.total = total
        self.line = ProgressLine(label, interval=every, log_interval=every, in_place=False)

    def update(self, done: int, *, force: bool = False) -> None:
        line = self.line
        if line.due(final=force):
            per_s = line.recent_rate(done)
            text = f"{self.label} {done}/{self.total} ({rate_text(per_s)})"
            line.status(text, final=force, done=done)


def note(message: str) -> None:
    """One status line on stderr."""
    print(message, file=sys.stderr, flush=True)
