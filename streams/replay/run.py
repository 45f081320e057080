"""One replay under way: its result, how rows are accounted, how it is reported when done, and
the error that stops it.

Shared by the driver (:func:`streams.replay.command.replay`) and its two modes,
:mod:`streams.replay.direct` and :mod:`streams.replay.kafka`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from streams.errors import CommandError
from streams.ops.progress import ProgressLine
from streams.replay.progress import ReplayMetrics
from streams.replay.sources import Feed


class ReplayError(CommandError):
    """The replay cannot start (no such file, unknown format, a service unreachable): exit 2."""


@dataclass(slots=True)
class ReplayResult:
    rows: int = 0  # messages read (data rows; blank lines and headers are not rows)
    events_applied: int = 0
    duplicates: int = 0  # dropped by the event-id dedupe (e.g. exact duplicate rows)
    rejected: Counter[str] = field(default_factory=Counter)  # reason -> rows
    users: int = 0  # distinct users of the accepted events
    first_ts: int | None = None  # event time range of the accepted events, epoch ms
    last_ts: int | None = None
    seconds: float = 0.0
    replayed: int = 0  # skipped by the fence: applied by an earlier run of the same replay
    produced: int = 0  # via kafka: messages acknowledged by the broker
    examples: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # reason -> lines


@dataclass(slots=True)
class Run:
    """One replay under way: its log, its counts and where it reports them."""

    feed: Feed
    result: ReplayResult
    shown: ProgressLine
    metrics: ReplayMetrics

    def account(
        self, rows: int, outcomes: Mapping[str, int], rejected: Mapping[str, int], done: float
    ) -> None:
        """``rows`` more rows replayed (``done``: the share of the log behind them)."""
        r = self.result
        r.rows += rows
        r.events_applied += outcomes.get("applied", 0)
        r.duplicates += outcomes.get("duplicate", 0)
        r.replayed += outcomes.get("replayed", 0)
        r.produced += outcomes.get("produced", 0)
        rate = self.shown.rate(r.rows)
        self.metrics.on_rows(rows, outcomes, rejected, rate=rate, fraction=done,
                             newest_ms=self.feed.newest)  # fmt: skip
        self.shown.update(r.rows, done)


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
