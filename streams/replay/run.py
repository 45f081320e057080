"""One replay under way: its result, how rows are accounted, and the error that stops it.

Shared by the driver (:func:`streams.replay.command.replay`) and its two modes,
:mod:`streams.replay.direct` and :mod:`streams.replay.kafka`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from streams.errors import CommandError
from streams.replay.progress import Progress, ReplayMetrics
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
    shown: Progress
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
