"""The cart window: open items, favourites and purchases, as an order-independent aggregator.

An item is open when its latest add lies inside the cart window (default: the 30 UTC calendar
days ending on the day of the user's newest event) and is later, by event time, than its latest
removal, than the latest purchase naming it, and than the latest purchase naming no items (a
whole-cart checkout).

Everything older than the window is dropped, open or closed, and an add older than the window is
ignored when it arrives. That makes the cart independent of arrival order: a late add can only
be older than a dropped removal if it is itself outside the window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import median
from typing import Any, ClassVar

from profiles.aggregators import DAY_MS, Tags, whole_days, window_start
from profiles.events import Event

# item state: [latest add, closed at, quantity and price of the latest add, latest purchase]
_ADDED, _CLOSED, _QTY, _PRICE, _BOUGHT = range(5)


def _new_item() -> list[Any]:
    return [0, 0, 0, None, 0]


class Cart:
    """The cart window's items, favourites and purchases.

    State: ``{"i": {item_id: [added, closed, qty, price, bought]}, "f": {item_id: favourited},
    "c": cleared_at, "x": newest}`` (times are the latest of their kind in the window).
    """

    key: ClassVar[str] = "cart"  # its field of profiles.state.State
    # Only these move items; the window follows the user's newest event, which ``apply`` is
    # given and ``compact`` (run whenever that event's day changes) writes into ``x``.
    types: ClassVar[frozenset[str] | None] = frozenset(
        {"add_to_cart", "remove_from_cart", "purchase", "favorite"}
    )

    def __init__(self, window_ms: int = 30 * DAY_MS) -> None:
        self.window_days = whole_days(window_ms)

    def horizon(self, newest_ts: int) -> int:
        """Start of the oldest UTC day of the window that ends on the newest event's day."""
        return window_start(newest_ts, self.window_days) * DAY_MS

    def initial(self) -> dict[str, Any]:
        return {"i": {}, "f": {}, "c": 0, "x": 0}

    def apply(self, state: dict[str, Any], event: Event, newest_ts: int = 0) -> dict[str, Any]:
        etype = event.type
        ts = event.ts
        newest = newest_ts if newest_ts > ts else ts
        if newest > state["x"]:
            state["x"] = newest
        if ts < self.horizon(state["x"]):
            return state  # outside the window: cannot change what is open
        if etype == "add_to_cart" and event.item_id is not None:
            item = state["i"].get(event.item_id) or state["i"].setdefault(
                event.item_id, _new_item()
            )
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
                item = self._close(state, item_id, event.ts)
                if event.ts > item[_BOUGHT]:
                    item[_BOUGHT] = event.ts
            if not named and event.ts > state["c"]:
                state["c"] = event.ts
        elif etype == "favorite" and event.item_id is not None:
            favourites = state["f"]
            if event.ts > favourites.get(event.item_id, 0):
                favourites[event.item_id] = event.ts
        return state

    @staticmethod
    def _close(state: dict[str, Any], item_id: str, ts: int) -> list[Any]:
        item: list[Any] = state["i"].get(item_id) or state["i"].setdefault(item_id, _new_item())
        if ts > item[_CLOSED]:
            item[_CLOSED] = ts
        return item

    def compact(self, state: dict[str, Any], newest_ts: int) -> dict[str, Any]:
        if newest_ts > state["x"]:
            state["x"] = newest_ts
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
            if item[_BOUGHT] < horizon:
                item[_BOUGHT] = 0
        if state["c"] < horizon:
            state["c"] = 0
        favourites = state["f"]
        for item_id in [i for i, ts in favourites.items() if ts < horizon]:
            del favourites[item_id]
        return state

    def merge(self, state: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
        """Item by item the latest of each kind wins (the add by the same order as
        :meth:`apply`), favourites take the later, and the window follows the newer state."""
        items = state["i"]
        for item_id, theirs in other["i"].items():
            mine = items.get(item_id)
            if mine is None:
                items[item_id] = list(theirs)
                continue
            add = max(
                (mine[_ADDED], mine[_QTY], mine[_PRICE] or 0.0, mine[_PRICE]),
                (theirs[_ADDED], theirs[_QTY], theirs[_PRICE] or 0.0, theirs[_PRICE]),
                key=lambda a: a[:3],
            )
            mine[_ADDED], mine[_QTY], mine[_PRICE] = add[0], add[1], add[3]
            mine[_CLOSED] = max(mine[_CLOSED], theirs[_CLOSED])
            mine[_BOUGHT] = max(mine[_BOUGHT], theirs[_BOUGHT])
        favourites = state["f"]
        for item_id, ts in other["f"].items():
            if ts > favourites.get(item_id, 0):
                favourites[item_id] = ts
        state["c"] = max(state["c"], other["c"])
        state["x"] = max(state["x"], other["x"])
        return state

    def open_items(self, state: dict[str, Any]) -> list[dict[str, Any]]:
        cleared = state["c"]
        horizon = self.horizon(state["x"])  # so that the answer never depends on compaction
        return [
            {"item_id": k, "quantity": v[_QTY], "price": v[_PRICE], "added_at": v[_ADDED]}
            for k, v in sorted(state["i"].items())
            if v[_ADDED] > max(v[_CLOSED], cleared) and v[_ADDED] >= horizon
        ]

    def features(self, state: dict[str, Any]) -> CartFeatures:
        """One pass over the window's items (docs/tags.md, "Interest")."""
        horizon = self.horizon(state["x"])
        favourites = state["f"]
        f = CartFeatures()
        for item_id, v in state["i"].items():
            add, closed, when = v[_ADDED], v[_CLOSED], v[_BOUGHT]
            if max(add, closed) < horizon:
                continue
            if add >= horizon and add:
                f.added += 1
                if when >= add:
                    f.converted += 1
                    f.decisions.append(when - add)
            if when >= horizon and when:
                f.bought += 1
                fav = favourites.get(item_id, 0)
                if (not add or add > when) and (fav < horizon or fav > when):
                    f.first_sight += 1
        items = state["i"]
        for item_id, fav in favourites.items():
            if fav >= horizon:
                f.favourited += 1
                item = items.get(item_id)
                if item is not None and max(item[_ADDED], item[_CLOSED]) >= horizon:
                    f.favourites_bought += item[_BOUGHT] >= fav
        return f

    def tags(self, state: dict[str, Any], as_of_ms: int) -> Tags:
        """Conversion and decision features of the window's items (docs/tags.md)."""
        f = self.features(state)
        return {
            "cart_open_items": len(self.open_items(state)),
            "cart_to_purchase_rate": f.converted / f.added if f.added else None,
            "favorite_to_purchase_rate": (
                f.favourites_bought / f.favourited if f.favourited else None
            ),
            "first_sight_share": f.first_sight_share(),
            "decision_hours": f.decision_hours(),
        }


@dataclass(slots=True)
class CartFeatures:
    added: int = 0  # items added in the window
    converted: int = 0  # of them, purchased at or after their latest add
    favourited: int = 0
    favourites_bought: int = 0
    bought: int = 0  # items purchased in the window
    first_sight: int = 0  # of them, neither added nor favourited before the purchase
    decisions: list[int] = field(default_factory=list)  # latest add -> purchase, ms

    def first_sight_share(self) -> float | None:
        return self.first_sight / self.bought if self.bought else None

    def decision_hours(self) -> float | None:
        return median(self.decisions) / 3_600_000 if self.decisions else None
