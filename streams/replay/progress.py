"""What a replay reports besides its status line (streams/ops/progress.py): Prometheus metrics,
the rejected rows."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Mapping, Sequence
from pathlib import Path

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge

from profiles.events import Rejected
from streams.pipeline.processor import DeadLetter


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
        """A message the decoder refused (as the processor judges it: see
        ``streams.pipeline.batch.reject``)."""
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
