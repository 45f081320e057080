"""Recency: the first and last event, the last purchase, the registration."""

from __future__ import annotations

from typing import ClassVar

from profiles.aggregators import Tags
from profiles.events import Event
from profiles.state import Times
from profiles.timeutil import DAY_MS, days_since, earliest, latest, rfc3339


class Recency:
    """First and last event, last purchase, registration (a :class:`~profiles.state.Times`)."""

    key: ClassVar[str] = "recency"  # its field of profiles.state.State
    types: ClassVar[frozenset[str] | None] = None

    def initial(self) -> Times:
        return Times()

    def apply(self, state: Times, event: Event, newest_ts: int = 0) -> Times:
        ts = event.ts
        first = state.first
        if first is None or ts < first:
            state.first = ts
        last = state.last
        if last is None or ts > last:
            state.last = ts
        etype = event.type
        if etype == "purchase":
            purchase = state.purchase
            if purchase is None or ts > purchase:
                state.purchase = ts
        elif etype == "register":
            registered = state.registered
            if registered is None or ts < registered:
                state.registered = ts
        return state

    def compact(self, state: Times, newest_ts: int) -> Times:
        return state

    def merge(self, state: Times, other: Times) -> Times:
        return Times(
            earliest(state.first, other.first),
            latest(state.last, other.last),
            latest(state.purchase, other.purchase),
            earliest(state.registered, other.registered),
        )

    def lean(self, state: Times, as_of_ms: int) -> tuple[int | None, int | None, int | None]:
        """Days since first seen, last seen, last purchase."""
        return (
            days_since(as_of_ms, state.first),
            days_since(as_of_ms, state.last),
            days_since(as_of_ms, state.purchase),
        )

    def tags(self, state: Times, as_of_ms: int) -> Tags:
        first, last, purchase = state.first, state.last, state.purchase
        return {
            "first_seen": rfc3339(first),
            "last_seen": rfc3339(last),
            "last_purchase_at": rfc3339(purchase),
            "registered_at": rfc3339(state.registered),
            "days_since_first_seen": days_since(as_of_ms, first),
            "days_since_last_seen": days_since(as_of_ms, last),
            "days_since_last_purchase": days_since(as_of_ms, purchase),
        }

    def changed_at(self, state: Times, as_of_ms: int) -> dict[str, int | None]:
        first, last, purchase = state.first, state.last, state.purchase
        out: dict[str, int | None] = {
            "first_seen": first,
            "last_seen": last,
            "last_purchase_at": purchase,
            "registered_at": state.registered,
        }
        for tag, ts in (
            ("days_since_first_seen", first),
            ("days_since_last_seen", last),
            ("days_since_last_purchase", purchase),
        ):
            elapsed = days_since(as_of_ms, ts)
            out[tag] = None if ts is None or elapsed is None else ts + elapsed * DAY_MS
        return out
