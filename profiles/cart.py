"""The open cart and declared attributes, as order-independent aggregators.

An item is open when its latest add is later (by event time) than its latest removal, than the
latest purchase naming it, and than the latest purchase naming no items (a whole-cart checkout).
Closed items are kept for ``closed_retention_ms`` after the user's newest event so that a late,
older add cannot reopen them; then they are dropped.
"""

from __future__ import annotations

from typing import Any, ClassVar

from profiles.aggregators import Tags
from profiles.events import Event

# item state: [added_at, closed_at, quantity of the latest add, price of the latest add]
_ADDED, _CLOSED, _QTY, _PRICE = range(4)


class Cart:
    """State: ``{"i": {item_id: [added, closed, qty, price]}, "c": cleared_at}``."""

    key: ClassVar[str] = "k"

    def __init__(self, closed_retention_ms: int = 7 * 86_400_000) -> None:
        self.closed_retention_ms = closed_retention_ms

    def initial(self) -> dict[str, Any]:
        return {"i": {}, "c": 0}

    def apply(self, state: dict[str, Any], event: Event) -> dict[str, Any]:
        etype = event.type
        if etype == "add_to_cart" and event.item_id is not None:
            item = state["i"].setdefault(event.item_id, [0, 0, 0, None])
            if event.ts > item[_ADDED]:
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
        horizon = newest_ts - self.closed_retention_ms
        items = state["i"]
        cleared = state["c"]
        for item_id in [
            k
            for k, v in items.items()
            if max(v[_CLOSED], cleared) >= v[_ADDED] and max(v[_CLOSED], cleared) < horizon
        ]:
            del items[item_id]
        return state

    def open_items(self, state: dict[str, Any]) -> list[dict[str, Any]]:
        cleared = state["c"]
        return [
            {"item_id": k, "quantity": v[_QTY], "price": v[_PRICE], "added_at": v[_ADDED]}
            for k, v in sorted(state["i"].items())
            if v[_ADDED] > max(v[_CLOSED], cleared)
        ]

    def tags(self, state: dict[str, Any], as_of_ms: int) -> Tags:
        return {"cart_open_items": len(self.open_items(state))}


class Attributes:
    """Declared traits from identify events; the latest by event time wins per trait.

    State: ``{trait: [value, ts]}``.
    """

    key: ClassVar[str] = "a"

    def initial(self) -> dict[str, Any]:
        return {}

    def apply(self, state: dict[str, Any], event: Event) -> dict[str, Any]:
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
