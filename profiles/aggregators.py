"""Profile aggregators: small objects with ``initial()``, ``apply(state, event)``, ``tags(state)``.

Every aggregator owns one sub-state of the profile under its ``key``. ``apply`` may mutate the
sub-state it is given and returns it; ``compact`` drops what no query can see any more (it runs
once per user per new newest day); ``tags`` is a pure read relative to an as-of time. All of
them are order-independent by event time (a late event lands in its own day bucket, first/last
are min/max), so a replay of an unsorted log gives the same profile as a sorted one. Windows are
UTC calendar days: an ``N``-day window at as-of day ``D`` holds days ``D-N+1 .. D``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final, Protocol

from profiles.events import Event
from profiles.names import BEHAVIOURS, OTHER_TYPES
from profiles.timeutil import (
    DAY_MS,
    day_of,
    latest,
    rfc3339,
    whole_days,
    window_start,
)

__all__ = ["BEHAVIOURS", "DAY_MS", "day_of", "rfc3339", "whole_days", "window_start"]  # re-exported

# The tag prefix of each behaviour, in BEHAVIOURS order.
PREFIXES: Final = (
    "views",
    "clicks",
    "searches",
    "cart_adds",
    "cart_removes",
    "purchases",
    "favorites",
    "logins",
)
SLOT: Final = {name: i for i, name in enumerate(BEHAVIOURS)}
assert (SLOT["view"], SLOT["add_to_cart"]) == (0, 3)  # Counters.lean spells them out
# Lifetime totals: the behaviours, then the other types.
TOTAL_SLOT: Final = {name: i for i, name in enumerate((*BEHAVIOURS, *OTHER_TYPES))}
WINDOWS: Final = (1, 7, 30, 180)
assert len(BEHAVIOURS) == 8  # Counters.apply spells out a bucket of 8 slots
_WINDOW_NAMES: Final = tuple(tuple(f"{p}_{d}d" for d in WINDOWS) for p in PREFIXES)
_TOTAL_NAMES: Final = tuple(f"{p}_total" for p in PREFIXES)

TagValue = int | float | str | bool | list[str] | list[int] | None
Tags = dict[str, TagValue]


class Aggregator(Protocol):
    key: ClassVar[str]
    types: ClassVar[frozenset[str] | None]  # the event types it reads; None: every event

    def initial(self) -> Any: ...

    def apply(self, state: Any, event: Event, newest_ts: int = 0) -> Any:
        """Fold in one event; ``newest_ts`` is the user's newest event time, this one included
        (windows are relative to it, so what is older than every window can be ignored)."""
        ...

    def compact(self, state: Any, newest_ts: int) -> Any: ...

    def merge(self, state: Any, other: Any) -> Any:
        """Fold ``other`` (another profile's sub-state of the same person: their events are
        disjoint) into ``state``, which it may mutate, and return it. Compacted afterwards at
        the newest time of both, the result reads as if every event of both had been applied
        to one state (docs/identity.md, "Merging state")."""
        ...

    def tags(self, state: Any, as_of_ms: int) -> Tags: ...


def prune_days(buckets: dict[int, Any], newest_ts: int, keep_days: int) -> None:
    oldest = window_start(newest_ts, keep_days)
    for day in [d for d in buckets if d < oldest]:
        del buckets[day]


def add_slots(mine: list[Any], other: list[Any]) -> list[Any]:
    """Slot-wise sums of two lists (the shorter one, from an older state, counts as zeros)."""
    if len(mine) < len(other):
        mine, other = other, mine
    return [n + (other[i] if i < len(other) else 0) for i, n in enumerate(mine)]


def add_buckets(buckets: dict[int, list[Any]], other: dict[int, list[Any]]) -> None:
    """Add ``other``'s day buckets into ``buckets`` slot by slot."""
    for day, bucket in other.items():
        mine = buckets.get(day)
        buckets[day] = list(bucket) if mine is None else add_slots(mine, bucket)


def window_sums(buckets: dict[int, list[Any]], as_of_ms: int, width: int) -> list[list[Any]]:
    """Per window of :data:`WINDOWS`, the slot-wise sums of the buckets inside it."""
    last = day_of(as_of_ms)
    sums = [[0] * width for _ in WINDOWS]
    for day, bucket in buckets.items():
        age = last - day
        if age < 0 or age >= WINDOWS[-1]:
            continue
        for w, days in enumerate(WINDOWS):
            if age < days:
                total = sums[w]
                for i in range(width):
                    total[i] += bucket[i]
    return sums


class Counters:
    """Lifetime counts per event type, the latest time per type, per-day behaviour counts.

    State: ``{"t": [n per TOTAL_SLOT], "l": {slot: latest epoch second}, "b": {day: [n per
    SLOT]}}``.
    """

    key: ClassVar[str] = "counters"  # its field of profiles.state.State
    types: ClassVar[frozenset[str] | None] = None

    def __init__(self, keep_days: int = 180) -> None:
        self.keep_days = keep_days

    def initial(self) -> dict[str, Any]:
        return {"t": [0] * len(TOTAL_SLOT), "l": {}, "b": {}}

    def apply(self, state: dict[str, Any], event: Event, newest_ts: int = 0) -> dict[str, Any]:
        etype, ts = event.type, event.ts
        state["t"][TOTAL_SLOT[etype]] += 1
        slot = SLOT.get(etype)
        if slot is None:
            return state
        latest = state["l"]
        if ts // 1000 > latest.get(slot, 0):
            latest[slot] = ts // 1000
        day = ts // DAY_MS
        if day >= window_start(newest_ts, self.keep_days):
            buckets = state["b"]
            bucket = buckets.get(day)
            if bucket is None:
                bucket = buckets[day] = [0, 0, 0, 0, 0, 0, 0, 0]
            bucket[slot] += 1
        return state

    def compact(self, state: dict[str, Any], newest_ts: int) -> dict[str, Any]:
        prune_days(state["b"], newest_ts, self.keep_days)
        return state

    def merge(self, state: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
        state["t"] = add_slots(state["t"], other["t"])
        latest = state["l"]
        for slot, seconds in other["l"].items():
            if seconds > latest.get(slot, 0):
                latest[slot] = seconds
        add_buckets(state["b"], other["b"])
        return state

    def tags(self, state: dict[str, Any], as_of_ms: int) -> Tags:
        totals = state["t"]
        out: Tags = {"events_total": sum(totals)}
        sums = window_sums(state["b"], as_of_ms, len(BEHAVIOURS))
        for slot, names in enumerate(_WINDOW_NAMES):
            for w, name in enumerate(names):
                out[name] = sums[w][slot]
            out[_TOTAL_NAMES[slot]] = totals[slot]
        first = window_start(as_of_ms, 30)
        out["active_days_30d"] = sum(1 for d in state["b"] if first <= d <= day_of(as_of_ms))
        return out

    def lean(self, state: dict[str, Any], as_of_ms: int) -> tuple[int, int]:
        """``views_30d`` and ``cart_adds_30d`` alone (what the derived tags read)."""
        first, last = window_start(as_of_ms, 30), day_of(as_of_ms)
        views = adds = 0
        for day, bucket in state["b"].items():
            if first <= day <= last:
                views += bucket[0]
                adds += bucket[3]
        return views, adds

    def changed_at(self, state: dict[str, Any], as_of_ms: int) -> dict[str, int | None]:
        """When each counter last changed: its latest counted event, or the start of the day
        its latest counted day left the window, whichever is later (docs/tags.md)."""
        out: dict[str, int | None] = {}
        today = day_of(as_of_ms)
        seconds = state["l"]
        buckets = state["b"]
        for slot, prefix in enumerate(PREFIXES):
            last = seconds[slot] * 1000 if slot in seconds else None
            out[f"{prefix}_total"] = last
            # newest first: the latest day that has left a window is the first at or before
            # the window's start
            days = sorted((d for d, b in buckets.items() if b[slot] and d <= today), reverse=True)
            for window in WINDOWS:
                gone = next((d for d in days if d <= today - window), None)
                fell = (gone + window) * DAY_MS if gone is not None else None
                counted = last if last is not None and day_of(last) > today - window else None
                out[f"{prefix}_{window}d"] = latest(counted, fell)
        return out
