"""The open cart and declared attributes, as order-independent aggregators.

An item is open when its latest add lies inside the cart window (default: the 30 UTC calendar
days ending on the day of the user's newest event) and is later, by event time, than its latest
removal, than the latest purchase naming it, and than the latest purchase naming no items (a
whole-cart checkout).

Everything older than the window is dropped, open or closed, and an add older than the window is
ignored when it arrives. That makes the cart independent of arrival order: a late add can only
be older than a dropped removal if it is itself outside the window.
"""

from __future__ import annotations

from typing import Any, ClassVar

from profiles.aggregators import DAY_MS, Tags, whole_days, window_start
from profiles.events import Event

# item state: [added_at, closed_at, quantity of the latest add, price of the latest add]
_ADDED, _CLOSED, _QTY, _PRICE = range(4)
_CART_TYPES = frozenset({"add_to_cart", "remove_from_cart", "purchase"})


class Cart:
    """State: ``{"i": {item_id: [added, closed, qty, price]}, "c": cleared_at, "x": newest}``."""

    key: ClassVar[str] = "k"
    types: ClassVar[frozenset[str] | None] = None  # every event moves the window

    def __init__(self, window_ms: int = 30 * DAY_MS) -> None:
        self.window_days = whole_days(window_ms)

    def horizon(self, newest_ts: int) -> int:
        """Start of the oldest UTC day of the window that ends on the newest event's day."""
        return window_start(newest_ts, self.window_days) * DAY_MS

    def initial(self) -> dict[str, Any]:
        return {"i": {}, "c": 0, "x": 0}

    def apply(self, state: dict[str, Any], event: Event, newest_ts: int = 0) -> dict[str, Any]:
        etype = event.type
        ts = event.ts
        newest = newest_ts if newest_ts > ts else ts
        if newest > state["x"]:
            state["x"] = newest
        if etype not in _CART_TYPES:  # only moves the window
            return state
        if ts < self.horizon(state["x"]):
            return state  # outside the window: cannot change what is open
        if etype == "add_to_cart" and event.item_id is not None:
            item = state["i"].setdefault(event.item_id, [0, 0, 0, None])
            latest = (event.ts, event.quantity, event.price or 0.0)
            if latest > (item[_ADDED], item[_QTY], item[_PRICE] or 0.0):  # ties: a fixed order
                item[_ADDED] = event.ts
                item[_QTY] = event.quantity
                item[_PRICE] = event.price
        elif etype == "remove_from_cart" and event.item_id is not None:
            self._close(state, event.item_id, event.ts)
        elif etype == "purchase":
            named = event.item_ids or ((event.item_id,) if event.item_id is not None else ())
            for item_id in named:
                self._close(state, item_id, event.ts)
            if not named and event.ts > state["c"]:
                state["c"] = event.ts
        return state

    @staticmethod
    def _close(state: dict[str, Any], item_id: str, ts: int) -> None:
        item = state["i"].setdefault(item_id, [0, 0, 0, None])
        if ts > item[_CLOSED]:
            item[_CLOSED] = ts

    def compact(self, state: dict[str, Any], newest_ts: int) -> dict[str, Any]:
        horizon = self.horizon(state["x"])
        items = state["i"]
        for item_id, item in list(items.items()):
            if max(item[_ADDED], item[_CLOSED]) < horizon:
                del items[item_id]
                continue
            # canonical form: what lies before the window cannot matter, so forget it
            if item[_CLOSED] < horizon:
                item[_CLOSED] = 0
            if item[_ADDED] < horizon:
                item[_ADDED], item[_QTY], item[_PRICE] = 0, 0, None
        if state["c"] < horizon:
            state["c"] = 0
        return state

    def open_items(self, state: dict[str, Any]) -> list[dict[str, Any]]:
        cleared = state["c"]
        horizon = self.horizon(state["x"])  # so that the answer never depends on compaction
        return [
            {"item_id": k, "quantity": v[_QTY], "price": v[_PRICE], "added_at": v[_ADDED]}
            for k, v in sorted(state["i"].items())
            if v[_ADDED] > max(v[_CLOSED], cleared) and v[_ADDED] >= horizon
        ]

    def tags(self, state: dict[str, Any], as_of_ms: int) -> Tags:
        return {"cart_open_items": len(self.open_items(state))}


class Attributes:
    """Declared traits from identify events; the latest by event time wins per trait.

    State: ``{trait: [value, ts]}``.
    """

    key: ClassVar[str] = "a"
    types: ClassVar[frozenset[str] | None] = frozenset({"identify"})

    def initial(self) -> dict[str, Any]:
        return {}

    def apply(self, state: dict[str, Any], event: Event, newest_ts: int = 0) -> dict[str, Any]:
        if event.traits:
            for name, value in event.traits.items():
                current = state.get(name)
                if (
                    current is None
                    or event.ts > current[1]
                    or (event.ts == current[1] and str(value) > str(current[0]))
                ):
                    state[name] = [value, event.ts]
        return state

    def compact(self, state: dict[str, Any], newest_ts: int) -> dict[str, Any]:
        return state

    def values(self, state: dict[str, Any]) -> dict[str, Any]:
        return {name: pair[0] for name, pair in sorted(state.items())}

    def tags(self, state: dict[str, Any], as_of_ms: int) -> Tags:
        return {}
