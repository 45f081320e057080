"""The trigger rules: what one user's batch of events schedules or cancels (pure, no I/O).

The worker calls :meth:`TriggerRules.ops` once per user per batch, after the profile settled,
with the little it noted before applying (:class:`Before`). Each rule answers with
:class:`~triggers.model.Schedule` and :class:`~triggers.model.Cancel` operations, which are
idempotent: a batch read twice (a crash before the commit) schedules the same triggers again.

Time-driven triggers are scheduled ahead: a win-back is pending from the moment the user could
become churn-risk by time alone (their last event + ``churn_risk_days``); every later event moves
it. The scheduler re-checks the profile when it comes due (triggers/policy.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from profiles.model import ProfileModel, State
from profiles.timeutil import DAY_MS, day_of, window_start
from triggers.config import TriggerConfig
from triggers.model import Cancel, Op, Schedule, Trigger, make_trigger_id

CART_TYPES = frozenset({"add_to_cart", "remove_from_cart", "purchase"})
_SEARCH_WINDOW_DAYS = 7


@dataclass(frozen=True, slots=True)
class Before:
    """What the rules compare against: the user's state before this batch."""

    last_seen: int | None
    orders: int

    @classmethod
    def of(cls, state: State) -> Before:
        return cls(state.last_seen, state.orders)


class TriggerRules:
    def __init__(self, model: ProfileModel, config: TriggerConfig) -> None:
        self.model = model
        self.config = config
        self.layers = model.config.layers

    def enabled(self, kind: str) -> bool:
        return self.config.enabled and self.config.kind(kind).enabled

    def ops(
        self,
        user_id: str,
        before: Before,
        state: State,
        applied: AbstractSet[str],
        changed: Mapping[str, tuple[Any, Any]],
        now: int,
    ) -> list[Op]:
        """The operations for one user whose batch applied events of the types ``applied``
        and changed the segments ``changed`` (``{name: (old, new)}``)."""
        ops: list[Op] = []
        if not applied.isdisjoint(CART_TYPES) and self.enabled("cart_reminder"):
            self._cart(user_id, state, applied, now, ops)
        self._win_back(user_id, before, state, now, ops)
        if "repeated_search" in changed or "purchase" in applied:
            self._repeated_search(user_id, state, changed, applied, now, ops)
        if before.orders == 0 and state.orders > 0:
            self._first_purchase(user_id, state, now, ops)
        if changed.get("high_value", (None, None))[1] is True:
            self._welcome(user_id, state, now, ops)
        return ops

    def _trigger(
        self, kind: str, user_id: str, moment: int, now: int, parts: tuple[object, ...]
    ) -> Trigger | None:
        """A trigger of ``kind`` due ``delay`` after ``moment``; None when disabled or when it
        would already have expired (history read late must not fire stale messages)."""
        k = self.config.kind(kind)
        if not (self.config.enabled and k.enabled):
            return None
        due = moment + k.delay_ms
        expires = due + k.ttl_ms
        if expires <= now:
            return None
        return Trigger(
            make_trigger_id(kind, user_id, *parts), kind, user_id, due, now, expires,
            k.priority, k.channels, {}, None, k.at_active_hour,
        )  # fmt: skip

    def _cart(
        self, user_id: str, state: State, applied: AbstractSet[str], now: int, ops: list[Op]
    ) -> None:
        items = self.model.open_cart(state)
        if not items:
            reason = "purchase" if "purchase" in applied else "removed"
            ops.append(Cancel(user_id, "cart_reminder", reason))
            return
        first = min(i["added_at"] for i in items)
        last = max(i["added_at"] for i in items)
        trigger = self._trigger("cart_reminder", user_id, last, now, (first,))
        if trigger is None:
            ops.append(Cancel(user_id, "cart_reminder", "expired"))
            return
        trigger.payload.update(cart_payload(items))
        ops.append(Schedule(trigger))

    def _win_back(
        self, user_id: str, before: Before, state: State, now: int, ops: list[Op]
    ) -> None:
        last_seen, orders = state.last_seen, state.orders
        if last_seen is None:
            return
        limit = self.layers.churn_risk_max_orders
        if orders > limit:
            if before.orders <= limit and before.last_seen is not None:
                ops.append(Cancel(user_id, "win_back", "ordered"))
            return
        churn_at = self.churn_moment(last_seen)
        unmoved = before.last_seen is not None and self.churn_moment(before.last_seen) == churn_at
        if unmoved and before.orders <= limit:
            return  # the moment did not move: what is pending stands
        trigger = self._trigger("win_back", user_id, churn_at, now, (churn_at,))
        if trigger is not None:
            ops.append(Schedule(trigger))  # kept in the due index alone (LAZY_KINDS)

    def rebuild(self, slot: str, user_id: str, due: int) -> Trigger | None:
        """The record of a lazy trigger from its due entry (``TriggerStore.claim``)."""
        if slot != "win_back":
            return None
        k = self.config.kind(slot)
        churn_at = due - k.delay_ms
        return Trigger(
            make_trigger_id(slot, user_id, churn_at), slot, user_id, due, churn_at,
            due + k.ttl_ms, k.priority, k.channels, {}, None, k.at_active_hour,
        )  # fmt: skip

    def churn_moment(self, last_seen: int) -> int:
        """The start of the UTC day after the user becomes churn-risk by time alone: one write
        per user per day at most, and the check when due sees churn_risk already true."""
        at = last_seen + self.layers.churn_risk_days * DAY_MS
        return -(-at // DAY_MS) * DAY_MS

    def _repeated_search(
        self,
        user_id: str,
        state: State,
        changed: Mapping[str, tuple[Any, Any]],
        applied: AbstractSet[str],
        now: int,
        ops: list[Op],
    ) -> None:
        newest = state.newest
        last_purchase = state.last_purchase
        window = window_start(newest, _SEARCH_WINDOW_DAYS) * DAY_MS
        if last_purchase is not None and last_purchase >= window:
            if "purchase" in applied:
                ops.append(Cancel(user_id, "repeated_search", "purchase"))
            return
        query = changed.get("repeated_search", (None, None))[1]
        if query is None:
            return
        days = self.model.repeated_search(state, newest)[1]
        # one offer per query per week of searching
        trigger = self._trigger(
            "repeated_search", user_id, newest, now, (query, day_of(newest) // 7)
        )
        if trigger is not None:
            trigger.payload.update({"query": query, "days": days})
            ops.append(Schedule(trigger))

    def _first_purchase(self, user_id: str, state: State, now: int, ops: list[Op]) -> None:
        bought_at = state.last_purchase
        if bought_at is None:
            return
        trigger = self._trigger("first_purchase", user_id, bought_at, now, ())
        if trigger is not None:
            trigger.payload["order_value"] = round(state.spend, 2)
            ops.append(Schedule(trigger))

    def _welcome(self, user_id: str, state: State, now: int, ops: list[Op]) -> None:
        newest = state.newest
        trigger = self._trigger("high_value_welcome", user_id, newest, now, (day_of(newest),))
        if trigger is not None:
            ops.append(Schedule(trigger))


def cart_payload(items: list[dict[str, Any]]) -> dict[str, Any]:
    """The reminder's template data: the open items and their value."""
    value = sum((i["price"] or 0.0) * i["quantity"] for i in items)
    return {
        "items": [
            {"item_id": i["item_id"], "quantity": i["quantity"], "price": i["price"]} for i in items
        ],
        "item_count": sum(i["quantity"] for i in items),
        "value": round(value, 2),
    }
