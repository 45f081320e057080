"""What a replay reports: a status line on stderr, Prometheus metrics, the rejected rows."""

from __future__ import annotations

import sys
import time
from collections import Counter as Tally
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge

from profiles.events import Rejected
from streams.worker.processor import DeadLetter

if TYPE_CHECKING:
    from streams.replay.run import ReplayResult


def count_text(n: float) -> str:
    """``1.2M``, ``85k`` or ``9,876``."""
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    if n >= 10_000:
        return f"{n / 1000:.0f}k"
    return f"{n:,.0f}"


def _duration(seconds: float) -> str:
    whole = int(seconds + 0.5)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


class Progress:
    """One status line, redrawn in place at most every ``interval`` seconds.

    ``update(rows, fraction)``: rows done so far and the share of the work done (bytes of the
    file, or messages once a sorted log is in memory). Not a terminal: a plain line every
    ``log_interval`` seconds instead. Disabled: prints nothing at all.
    """

    def __init__(
        self,
        label: str,
        *,
        enabled: bool = True,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        interval: float = 0.25,
        log_interval: float = 10.0,
    ) -> None:
        self.label = label
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.tty = self.stream.isatty()
        self.interval = interval if self.tty else log_interval
        self.started = clock()
        self._shown_at = self.started
        self._width = 0

    def rate(self, rows: int) -> float:
        elapsed = self.clock() - self.started
        return rows / elapsed if elapsed > 0 else 0.0

    def update(self, rows: int, fraction: float) -> None:
        if not self.enabled:
            return
        now = self.clock()
        if now - self._shown_at < self.interval:
            return
        self._shown_at = now
        elapsed = now - self.started
        eta = elapsed * (1 - fraction) / fraction if fraction > 0 else None
        line = (
            f"{self.label}: {count_text(rows)} rows  {fraction:6.1%}"
            f"  {count_text(self.rate(rows))}/s  ETA {_duration(eta) if eta is not None else '?'}"
        )
        self._show(line)

    def status(self, line: str, *, final: bool = False) -> None:
        """Show ``line`` if the interval passed since the last one (always when ``final``)."""
        if not self.enabled:
            return
        now = self.clock()
        if not final and now - self._shown_at < self.interval:
            return
        self._shown_at = now
        self._show(line, final=final)

    def elapsed(self) -> float:
        return self.clock() - self.started

    def finish(self, summary: str) -> None:
        """The final line (after the status line, which it replaces on a terminal)."""
        if not self.enabled:
            return
        elapsed = self.clock() - self.started
        self._show(f"{self.label}: {summary} in {elapsed:.1f} s", final=True)

    def _show(self, line: str, final: bool = False) -> None:
        if self.tty:
            padded = line.ljust(self._width)
            self._width = len(line)
            self.stream.write("\r" + padded + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


class ReplayMetrics:
    """Prometheus view of one replay (docs/replay.md lists the metrics)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.rows = Counter(
            "portrait_replay_rows_total", "Log rows read, rejected ones included", registry=r
        )
        self.events = Counter(
            "portrait_replay_events_total",
            "Replayed events by outcome: applied, duplicate, replayed (fenced: applied by an "
            "earlier run); via kafka: produced (acknowledged by the broker)",
            ["outcome"],
            registry=r,
        )
        self.rejected = Counter(
            "portrait_replay_rejected_total", "Rows rejected, by reason", ["reason"], registry=r
        )
        self.rate = Gauge(
            "portrait_replay_events_per_second", "Rows per second since the start", registry=r
        )
        self.done = Gauge(
            "portrait_replay_progress_ratio", "Share of the log replayed, 0..1", registry=r
        )
        self.stream_time = Gauge(
            "portrait_replay_stream_time_seconds",
            "Newest event time replayed so far (the replay's clock), Unix seconds",
            registry=r,
        )

    def on_rows(
        self,
        rows: int,
        outcomes: Mapping[str, int],
        rejected: Mapping[str, int],
        *,
        rate: float,
        fraction: float,
        newest_ms: int,
    ) -> None:
        """``rows`` more rows done, with these outcomes and rejections; the totals so far."""
        self.rows.inc(rows)
        for outcome, n in outcomes.items():
            self.events.labels(outcome).inc(n)
        for reason, n in rejected.items():
            self.rejected.labels(reason).inc(n)
        self.rate.set(rate)
        self.done.set(fraction)
        self.stream_time.set(newest_ms / 1000)


class RejectLog:
    """The rows rejected: counted by reason, the first few lines of each reason kept, and all of
    them written as JSON lines to ``path`` if one is given. It is the replay's dead-letter sink.
    """

    def __init__(self, path: Path | None = None, keep: int = 5) -> None:
        self.reasons: Tally[str] = Tally()
        self.examples: dict[str, list[tuple[int, str]]] = {}
        self.keep = keep
        self._out = path.open("wb") if path is not None else None

    async def send_many(self, letters: Sequence[DeadLetter]) -> None:
        for letter in letters:
            record = letter.record
            line = getattr(record, "line", record.offset + 1)
            self.add(line, letter.reason, letter.detail, record.value or b"")

    def add_error(self, line: int, value: bytes, exc: Exception) -> None:
        """A message the decoder refused (as the processor judges it, see ``_reject`` there)."""
        if isinstance(exc, Rejected):
            self.add(line, exc.reason, exc.detail, value)
        else:
            self.add(line, "bad_field", f"{type(exc).__name__}: {exc}", value)

    def add(self, line: int, reason: str, detail: str, value: bytes) -> None:
        detail = explain(value, detail)
        self.reasons[reason] += 1
        kept = self.examples.setdefault(reason, [])
        if len(kept) < self.keep:
            kept.append((line, detail))
        if self._out is not None:
            text = value.decode(errors="replace")
            row = {"line": line, "reason": reason, "detail": detail, "value": text}
            self._out.write(orjson.dumps(row) + b"\n")

    def close(self) -> None:
        if self._out is not None:
            self._out.close()


def explain(value: bytes, detail: str) -> str:
    """The adapter's own explanation of a row it could not map, else the decoder's detail."""
    if b'"replay_error"' not in value:
        return detail
    try:
        error = orjson.loads(value).get("replay_error")
    except (orjson.JSONDecodeError, AttributeError):
        return detail
    return error if isinstance(error, str) else detail


def summary(result: ReplayResult, via: str = "direct") -> str:
    """The counts of a replay, on one line."""
    rejected = sum(result.rejected.values())
    if via == "kafka":
        return f"{result.rows:,} rows, {result.produced:,} produced, {rejected:,} to be rejected"
    return (
        f"{result.rows:,} rows, {result.events_applied:,} applied, {result.duplicates:,} "
        f"duplicates, {result.replayed:,} already applied, {rejected:,} rejected"
    )


def report(result: ReplayResult, path: Path, via: str = "direct") -> str:
    """What ``portrait replay`` prints when it is done: the counts, then the rejected rows."""
    first, last = result.first_ts, result.last_ts
    span = f"{_utc(first)} .. {_utc(last)}" if first is not None and last is not None else "-"
    lines = [
        f"{path}: {summary(result, via)}; {result.users:,} users; event time {span}; "
        f"{result.seconds:.1f} s"
    ]
    if result.rejected:
        lines.append("rejected rows by reason (first lines shown):")
    for reason, count in result.rejected.most_common():
        lines.append(f"  {reason}: {count:,}")
        lines.extend(f"    line {line}: {detail}" for line, detail in result.examples[reason])
    return "\n".join(lines)


def _utc(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).isoformat(timespec="seconds")
