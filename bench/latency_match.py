"""Live latency's pure part: percentiles, the CDF and series, the fence header, and the
matching of produced events to what the probes saw (bench/latency.py; tests/unit/bench/
test_latency.py)."""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (0..1) of ascending ``sorted_values``."""
    if not sorted_values:
        raise ValueError("no values")
    rank = max(1, min(len(sorted_values), int(-(-q * len(sorted_values) // 1))))
    return sorted_values[rank - 1]


def summary(latencies_s: Sequence[float]) -> dict[str, Any]:
    """Count, mean and p50/p90/p99/p99.9/max in ms."""
    values = sorted(latencies_s)
    if not values:
        return {"count": 0}
    out: dict[str, Any] = {
        "count": len(values),
        "mean_ms": round(1000 * sum(values) / len(values), 2),
    }
    for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)):
        out[f"{name}_ms"] = round(1000 * percentile(values, q), 2)
    out["max_ms"] = round(1000 * values[-1], 2)
    return out


def cdf(latencies_s: Sequence[float], points: int = 200) -> list[tuple[float, float]]:
    """``(latency ms, share <= it)`` at ``points`` even shares, plus a finer tail above 0.99."""
    values = sorted(latencies_s)
    if not values:
        return []
    qs = {i / points for i in range(1, points + 1)}
    qs |= {0.99 + i / 10_000 for i in range(1, 100)}
    return [(round(1000 * percentile(values, q), 3), round(q, 4)) for q in sorted(qs)]


def series(
    produced_at: Sequence[float], latencies_s: Sequence[float], t0: float, limit: int = 4000
) -> list[tuple[float, float]]:
    """``(seconds since t0, latency ms)`` for at most ``limit`` events, evenly picked."""
    n = len(produced_at)
    step = max(1, -(-n // limit))
    return [
        (round(produced_at[i] - t0, 4), round(1000 * latencies_s[i], 2)) for i in range(0, n, step)
    ]


def parse_fences(header: bytes) -> dict[int, int]:
    """``{partition: offset}`` of a stored profile's head (``0:17,3:5;<msgpack>``)."""
    end = header.find(b";")
    if end <= 0:
        return {}
    fences: dict[int, int] = {}
    for pair in header[:end].split(b","):
        partition, _, offset = pair.rpartition(b":")
        with contextlib.suppress(ValueError):
            fences[int(partition)] = int(offset)
    return fences


@dataclass(frozen=True, slots=True)
class Produced:
    """One event as the producer sent it."""

    user: str
    partition: int
    offset: int
    at: float  # monotonic seconds, the moment of production
    acked: float = 0.0  # when the broker acknowledged it


@dataclass(frozen=True, slots=True)
class Seen:
    """One notification of a profile write and the fences read right after it."""

    user: str
    at: float  # when the notification arrived
    replied: float  # when the header read came back
    fences: dict[int, int]


def match_received(
    produced: Sequence[Produced], received: dict[tuple[int, int], float]
) -> list[float | None]:
    """Per produced event, the seconds to its ``(partition, offset)``'s receipt (None: never)."""
    out: list[float | None] = []
    for p in produced:
        at = received.get((p.partition, p.offset))
        out.append(None if at is None else at - p.at)
    return out


def match_visible(
    produced: Sequence[Produced], seen: Sequence[Seen]
) -> tuple[list[float | None], int]:
    """Per produced event, the seconds until the first write of its user whose fence for its
    partition reaches its offset (None: never); and how many reads raced a later write (they
    are attributed to that later notification)."""
    by_user: dict[str, list[Seen]] = defaultdict(list)
    for s in sorted(seen, key=lambda s: s.at):
        by_user[s.user].append(s)
    # per user: (notification time, fences) with a raced read moved to the next notification
    writes: dict[str, list[tuple[float, dict[int, int]]]] = {}
    raced = 0
    for user, notes in by_user.items():
        out: list[tuple[float, dict[int, int]]] = []
        for i, s in enumerate(notes):
            nxt = notes[i + 1] if i + 1 < len(notes) else None
            if nxt is not None and nxt.at <= s.replied:
                raced += 1
                out.append((nxt.at, s.fences))
            else:
                out.append((s.at, s.fences))
        out.sort(key=lambda w: w[0])
        writes[user] = out
    latencies: list[float | None] = []
    for p in produced:
        found = None
        for at, fences in writes.get(p.user, ()):
            if fences.get(p.partition, -1) >= p.offset:
                found = at - p.at
                break
        latencies.append(found)
    return latencies, raced
