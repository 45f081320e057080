"""The one progress line of the long commands (replay, rfm-cutoffs, campaign planning, the
simulator, bench): a status line at most every ``interval`` seconds.

On a terminal the line is redrawn in place (``\\r``) and the final one ends with a newline;
elsewhere (a pipe, a log file) every shown line is a plain line, at most every
``log_interval`` seconds, so a CI log is not flooded. A ``sink`` (e.g. a logger's ``info``)
takes plain lines at the ``log_interval`` pace instead of the stream: a service's progress
belongs in its log records. Disabled, it prints nothing at all.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


def count_text(n: float) -> str:
    """``1.2M``, ``85k`` or ``9,876``."""
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    if n >= 10_000:
        return f"{n / 1000:.0f}k"
    return f"{n:,.0f}"


def rate_text(per_s: float) -> str:
    """``85k/s``, ``2.5k/s`` or ``950/s``."""
    if per_s >= 10_000:
        return f"{per_s / 1000:.0f}k/s"
    if per_s >= 1000:
        return f"{per_s / 1000:.1f}k/s"
    return f"{per_s:.0f}/s"


def duration_text(seconds: float) -> str:
    """``h:mm:ss``."""
    whole = int(seconds + 0.5)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


class ProgressLine:
    def __init__(
        self,
        label: str,
        *,
        enabled: bool = True,
        stream: TextIO | None = None,
        sink: Callable[[str], object] | None = None,
        clock: Callable[[], float] = time.monotonic,
        interval: float = 0.25,
        log_interval: float = 10.0,
        in_place: bool = True,
    ) -> None:
        self.label = label
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.sink = sink
        self.clock = clock
        self.tty = in_place and sink is None and self.stream.isatty()
        self.interval = interval if self.tty else log_interval
        self.started = clock()
        self._shown_at = self.started
        self._shown_done = 0
        self._width = 0

    def elapsed(self) -> float:
        return self.clock() - self.started

    def rate(self, done: int) -> float:
        """The average rate since the start."""
        elapsed = self.elapsed()
        return done / elapsed if elapsed > 0 else 0.0

    def recent_rate(self, done: int) -> float:
        """The rate since the previous line shown (a live reading, not the average)."""
        elapsed = self.clock() - self._shown_at
        return (done - self._shown_done) / elapsed if elapsed > 0 else 0.0

    def since_shown(self) -> float:
        return self.clock() - self._shown_at

    def due(self, *, final: bool = False) -> bool:
        """Whether a line would be shown now: lets a caller skip building its text."""
        return self.enabled and (final or self.clock() - self._shown_at >= self.interval)

    def status(self, line: str, *, final: bool = False, done: int = 0) -> None:
        """Show ``line`` if the interval passed since the last one (always when ``final``);
        ``done`` is the count behind it, the base of :meth:`recent_rate`."""
        if not self.due(final=final):
            return
        self._shown_at, self._shown_done = self.clock(), done
        self._show(line, final=final)

    def update(self, rows: int, fraction: float) -> None:
        """``<label>: <rows> rows  <share>  <rate>/s  ETA <h:mm:ss>``; ``fraction``: the share
        of the work done (bytes of the file, or messages once a sorted log is in memory)."""
        if not self.due():
            return
        elapsed = self.elapsed()
        eta = duration_text(elapsed * (1 - fraction) / fraction) if fraction > 0 else "?"
        self.status(
            f"{self.label}: {count_text(rows)} rows  {fraction:6.1%}"
            f"  {count_text(self.rate(rows))}/s  ETA {eta}",
            done=rows,
        )

    def finish(self, summary: str) -> None:
        """The final line (after the status line, which it replaces on a terminal)."""
        self.status(f"{self.label}: {summary} in {self.elapsed():.1f} s", final=True)

    def _show(self, line: str, final: bool = False) -> None:
        if self.sink is not None:
            self.sink(line)
            return
        if self.tty:
            padded = line.ljust(self._width)
            self._width = len(line)
            self.stream.write("\r" + padded + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
