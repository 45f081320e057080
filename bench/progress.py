"""A progress line on stderr about once a second: ``produced 120000/300000 (85k/s)``."""

from __future__ import annotations

import sys
import time


def rate_text(per_s: float) -> str:
    """``85k/s`` style rate."""
    if per_s >= 10_000:
        return f"{per_s / 1000:.0f}k/s"
    if per_s >= 1000:
        return f"{per_s / 1000:.1f}k/s"
    return f"{per_s:.0f}/s"


class Progress:
    """Prints ``<label> <done>/<total> (<rate>)`` at most every ``every`` seconds.

    The rate is the one since the previous line (a live reading), not the average.
    """

    def __init__(self, label: str, total: int, every: float = 1.0) -> None:
        self.label = label
        self.total = total
        self.every = every
        self._last_t = time.monotonic()
        self._last_n = 0

    def update(self, done: int, *, force: bool = False) -> None:
        now = time.monotonic()
        elapsed = now - self._last_t
        if not force and elapsed < self.every:
            return
        per_s = (done - self._last_n) / elapsed if elapsed > 0 else 0.0
        print(f"{self.label} {done}/{self.total} ({rate_text(per_s)})", file=sys.stderr, flush=True)
        self._last_t, self._last_n = now, done


def note(message: str) -> None:
    """One status line on stderr."""
    print(message, file=sys.stderr, flush=True)
