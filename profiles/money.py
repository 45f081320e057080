"""Spend, orders and price sensitivity (docs/tags.md, "Monetary")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import xxhash

from profiles.aggregators import WINDOWS, Tags, add_buckets, prune_days, window_sums
from profiles.events import Event
from profiles.state import Money
from profiles.timeutil import DAY_MS, day_of, window_start

_S, _O = 0, 1  # day bucket: [spend, orders]
_order_digest = xxhash.xxh3_64_intdigest


def purchase_amount(event: Event) -> float:
    """Revenue if given, else price x quantity, else 0."""
    if event.revenue is not None:
        return event.revenue
    if event.price is not None:
        return event.price * event.quantity
    return 0.0


class Monetary:
    """State: a :class:`~profiles.state.Money`."""

    key: ClassVar[str] = "money"  # its field of profiles.state.State
    types: ClassVar[frozenset[str] | None] = frozenset({"purchase", "add_to_cart"})

    def __init__(
        self,
        keep_days: int = 180,
        price_reference: Mapping[str, float] | None = None,
        bands: tuple[float, float] = (0.8, 1.25),
    ) -> None:
        self.keep_days = keep_days
        self.reference = price_reference
        self.bands = bands

    def initial(self) -> Money:
        return Money()

    def apply(self, state: Money, event: Event, newest_ts: int = 0) -> Money:
        if self.reference is not None:
            self._price_ratio(state, event)
        if event.type != "purchase":
            return state
        amount = purchase_amount(event)
        state.spend += amount
        state.purchases += 1
        if event.coupon is not None:
            state.coupons += 1
        day = event.ts // DAY_MS
        kept = day >= window_start(newest_ts, self.keep_days)
        buckets = state.days
        if kept:
            bucket = buckets.get(day)
            if bucket is None:
                bucket = buckets[day] = [0.0, 0]
            bucket[_S] += amount
        order = None
        if event.order_id is not None:
            digest = _order_digest(event.order_id.encode())
            order = state.open.get(digest)
            if order is None and kept:
                state.open[digest] = [day, amount]
        if order is None:  # a new order
            state.orders += 1
            if kept:
                buckets[day][_O] += 1
            value = amount
        else:
            order[1] += amount
            value = order[1]
            if kept and day < order[0]:  # an earlier event of the order: the order moves day
                buckets.setdefault(order[0], [0.0, 0])[_O] -= 1
                buckets[day][_O] += 1
                order[0] = day
        if value > state.max_order:
            state.max_order = value
        return state

    def _price_ratio(self, state: Money, event: Event) -> None:
        assert self.reference is not None
        if event.price and event.category is not None:
            reference = self.reference.get(event.category)
            if reference:
                ratio = state.ratio
                ratio[0] += 1
                ratio[1] += event.price / reference

    def compact(self, state: Money, newest_ts: int) -> Money:
        prune_days(state.days, newest_ts, self.keep_days)
        oldest = window_start(newest_ts, self.keep_days)
        orders = state.open
        for digest in [d for d, (day, _) in orders.items() if day < oldest]:
            del orders[digest]
        return state

    def merge(self, state: Money, other: Money) -> Money:
        """Sums add; an order seen by both (one ``order_id``) counts once, on its earlier day,
        at its combined value."""
        state.spend += other.spend
        state.purchases += other.purchases
        state.coupons += other.coupons
        state.orders += other.orders
        state.max_order = max(state.max_order, other.max_order)
        add_buckets(state.days, other.days)
        for digest, (day, value) in other.open.items():
            mine = state.open.get(digest)
            if mine is None:
                state.open[digest] = [day, value]
                continue
            state.orders -= 1
            later = state.days.get(max(day, mine[0]))
            if later is not None:  # counted on both days (or twice on one): keep the earlier
                later[_O] -= 1
            mine[0], mine[1] = min(day, mine[0]), mine[1] + value
            state.max_order = max(state.max_order, mine[1])
        state.ratio = [state.ratio[0] + other.ratio[0], state.ratio[1] + other.ratio[1]]
        return state

    def lean(self, state: Money, as_of_ms: int) -> tuple[float, float, int, int]:
        """``spend_30d``, ``spend_180d``, ``orders_180d``, ``order_days_180d`` in one pass,
        summed in the same order as :meth:`tags` (so the floats are identical)."""
        last = day_of(as_of_ms)
        spend_30d = spend_180d = 0
        orders = order_days = 0
        for day, bucket in state.days.items():
            age = last - day
            if 0 <= age < 180:
                spend_180d += bucket[_S]
                orders += bucket[_O]
                order_days += bucket[_O] > 0
                if age < 30:
                    spend_30d += bucket[_S]
        return float(spend_30d), float(spend_180d), orders, order_days

    def band(self, state: Money) -> str | None:
        count, total = state.ratio
        return self._band(total / count) if count else None

    def tags(self, state: Money, as_of_ms: int) -> Tags:
        sums = window_sums(state.days, as_of_ms, 2)
        out: Tags = {f"spend_{days}d": float(sums[w][_S]) for w, days in enumerate(WINDOWS)}
        orders = state.orders
        out["spend_total"] = state.spend
        out["orders_total"] = orders
        out["orders_30d"] = sums[WINDOWS.index(30)][_O]
        out["orders_180d"] = sums[WINDOWS.index(180)][_O]
        first = window_start(as_of_ms, 180)
        out["order_days_180d"] = sum(
            1 for d, b in state.days.items() if b[_O] > 0 and first <= d <= day_of(as_of_ms)
        )
        out["max_order_value"] = state.max_order if orders else None
        out["avg_order_value"] = state.spend / orders if orders else None
        out["coupon_share"] = state.coupons / state.purchases if state.purchases else None
        count, total = state.ratio
        out["price_ratio"] = total / count if count else None
        out["price_band"] = self.band(state)
        return out

    def _band(self, ratio: float) -> str:
        low, high = self.bands
        return "budget" if ratio < low else "premium" if ratio > high else "mid"
