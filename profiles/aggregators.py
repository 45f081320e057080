"""Profile aggregators: small objects with ``initial()``, ``apply(state, event)``, ``tags(state)``.

Every aggregator owns one sub-state of the profile (a JSON-able value under its ``key``). ``apply``
may mutate the sub-state it is given and returns it; ``tags`` is a pure read relative to an as-of
time. All of them are order-independent by event time (a late event lands in its own day bucket,
first/last are min/max), so a replay of an unsorted log gives the same profile as a sorted one.
Time windows are UTC calendar days: an ``N``-day window at as-of day ``D`` holds days
``D-N+1 .. D`` (docs/tags.md).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar, Final, Protocol

from profiles.events import Event

DAY_MS: Final = 86_400_000

# Behaviour types counted per day, in the order of a day bucket's slots.
BEHAVIOURS: Final = (
    "view",
    "click",
    "search",
    "add_to_cart",
    "remove_from_cart",
    "purchase",
    "favorite",
    "login",
)
SLOT: Final = {name: i for i, name in enumerate(BEHAVIOURS)}
assert len(BEHAVIOURS) == 8  # Counters.apply spells out a bucket of 8 slots

TagValue = int | float | str | None
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

    def tags(self, state: Any, as_of_ms: int) -> Tags: ...


def day_of(ts_ms: int) -> int:
    return ts_ms // DAY_MS


def window_start(ts_ms: int, days: int) -> int:
    """The first UTC day number of the ``days``-day window that ends on the day of ``ts_ms``.

    Every window and horizon of the model is one of these (docs/tags.md)."""
    return ts_ms // DAY_MS - days + 1


def whole_days(duration_ms: int) -> int:
    """A configured duration as whole UTC days, rounded up (at least one)."""
    return max(1, -(-duration_ms // DAY_MS))


def rfc3339(ts_ms: int | None) -> str | None:
    if ts_ms is None:
        return None
    return (
        datetime.fromtimestamp(ts_ms / 1000, tz=UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _prune_days(buckets: dict[str, Any], newest_ts: int, keep_days: int) -> None:
    oldest = window_start(newest_ts, keep_days)
    for day in [d for d in buckets if int(d) < oldest]:
        del buckets[day]


def _window_days(buckets: dict[str, Any], as_of_ms: int, days: int) -> list[Any]:
    last = day_of(as_of_ms)
    first = window_start(as_of_ms, days)
    return [v for d, v in buckets.items() if first <= int(d) <= last]


class Counters:
    """Lifetime counts per event type and per-day counts of the behaviour types.

    State: ``{"t": {type: n}, "b": {day: [n per BEHAVIOURS slot]}}``.
    """

    key: ClassVar[str] = "n"
    types: ClassVar[frozenset[str] | None] = None
    TOTALS: ClassVar[dict[str, str]] = {
        "views_total": "view",
        "clicks_total": "click",
        "searches_total": "search",
        "cart_adds_total": "add_to_cart",
        "purchases_total": "purchase",
    }
    WINDOWED: ClassVar[dict[str, str]] = {
        "views_30d": "view",
        "cart_adds_30d": "add_to_cart",
        "purchases_30d": "purchase",
    }

    def __init__(self, keep_days: int = 30) -> None:
        self.keep_days = keep_days

    def initial(self) -> dict[str, Any]:
        return {"t": {}, "b": {}}

    def apply(self, state: dict[str, Any], event: Event, newest_ts: int = 0) -> dict[str, Any]:
        etype = event.type
        totals = state["t"]
        totals[etype] = totals.get(etype, 0) + 1
        slot = SLOT.get(etype)
        day_number = event.ts // DAY_MS
        if slot is not None and day_number >= window_start(newest_ts, self.keep_days):
            buckets = state["b"]
            day = str(day_number)
            bucket = buckets.get(day)
            if bucket is None:
                bucket = buckets[day] = [0, 0, 0, 0, 0, 0, 0, 0]
            bucket[slot] += 1
        return state

    def compact(self, state: dict[str, Any], newest_ts: int) -> dict[str, Any]:
        _prune_days(state["b"], newest_ts, self.keep_days)
        return state

    def tags(self, state: dict[str, Any], as_of_ms: int) -> Tags:
        totals = state["t"]
        out: Tags = {"events_total": sum(totals.values())}
        for name, etype in self.TOTALS.items():
            out[name] = totals.get(etype, 0)
        window = _window_days(state["b"], as_of_ms, 30)
        for name, etype in self.WINDOWED.items():
            slot = SLOT[etype]
            out[name] = sum(bucket[slot] for bucket in window)
        return out


def purchase_amount(event: Event) -> float:
    """Revenue if given, else price x quantity, else 0."""
    if event.revenue is not None:
        return event.revenue
    if event.price is not None:
        return event.price * event.quantity
    return 0.0


class Monetary:
    """Spend of purchase events, lifetime and per day. State: ``{"t": total, "b": {day: sum}}``."""

    key: ClassVar[str] = "m"
    types: ClassVar[frozenset[str] | None] = frozenset({"purchase"})

    def __init__(self, keep_days: int = 30) -> None:
        self.keep_days = keep_days

    def initial(self) -> dict[str, Any]:
        return {"t": 0.0, "b": {}}

    def apply(self, state: dict[str, Any], event: Event, newest_ts: int = 0) -> dict[str, Any]:
        if event.type == "purchase":
            amount = purchase_amount(event)
            state["t"] += amount
            day_number = event.ts // DAY_MS
            if day_number >= window_start(newest_ts, self.keep_days):  # else older than all windows
                day = str(day_number)
                state["b"][day] = state["b"].get(day, 0.0) + amount
        return state

    def compact(self, state: dict[str, Any], newest_ts: int) -> dict[str, Any]:
        _prune_days(state["b"], newest_ts, self.keep_days)
        return state

    def tags(self, state: dict[str, Any], as_of_ms: int) -> Tags:
        return {
            "spend_total": round(state["t"], 6),
            "spend_30d": round(sum(_window_days(state["b"], as_of_ms, 30)), 6),
        }


class Recency:
    """First and last event time, last purchase time. State: ``[first, last, last_purchase]``."""

    key: ClassVar[str] = "r"
    types: ClassVar[frozenset[str] | None] = None

    def initial(self) -> list[int | None]:
        return [None, None, None]

    def apply(self, state: list[int | None], event: Event, newest_ts: int = 0) -> list[int | None]:
        first, last, purchase = state
        ts = event.ts
        state[0] = ts if first is None or ts < first else first
        state[1] = ts if last is None or ts > last else last
        if event.type == "purchase" and (purchase is None or ts > purchase):
            state[2] = ts
        return state

    def compact(self, state: list[int | None], newest_ts: int) -> list[int | None]:
        return state

    def tags(self, state: list[int | None], as_of_ms: int) -> Tags:
        return {
            "first_seen": rfc3339(state[0]),
            "last_seen": rfc3339(state[1]),
            "last_purchase_at": rfc3339(state[2]),
        }
