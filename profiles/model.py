"""The profile model: pure functions of (state, events, as-of time), no I/O.

A profile state is a :class:`profiles.state.State`: one sub-state per aggregator (the field
named by its ``key``) plus bookkeeping: the write fences, the dedupe window (digests of the event
ids by *arrival* day: producer retries happen in arrival time, whatever the event's own time),
the newest event and arrival times, the day of the last compaction, and the change log.

``apply_event`` mutates the state it is given; ``settle`` ends a user's batch.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from enum import StrEnum
from typing import Any

import xxhash

from profiles import codec
from profiles.aggregators import Aggregator, Counters, Tags
from profiles.cart import Cart
from profiles.changes import ChangeLog
from profiles.config import ModelConfig
from profiles.events import Event
from profiles.hours import ActiveHours
from profiles.interest import BrandAffinity, CategoryAffinity, SearchIntent
from profiles.layers import Inputs, derived
from profiles.merge import DIGEST, merge_absorbed, merge_rules, merge_seen
from profiles.money import Monetary
from profiles.names import EVENT_TYPES, TAG_EVENT
from profiles.recency import Recency
from profiles.state import VERSION, State
from profiles.timeutil import DAY_MS, rfc3339, whole_days, window_start
from profiles.traits import Attributes, Devices, PurchaseGender

__all__ = ["ModelConfig", "Outcome", "ProfileModel", "State", "event_digest"]

_DIGEST = DIGEST  # bytes per remembered event id: 48 bits, a collision in a user's window ~1e-12


class Outcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"  # same event_id seen inside the dedupe window
    REPLAYED = "replayed"  # offset at or below the user's fence: already applied


class ProfileModel:
    """The aggregators wired together under one config."""

    def __init__(self, config: ModelConfig | None = None) -> None:
        c = self.config = config or ModelConfig()
        self.counters = Counters(c.bucket_days)
        self.monetary = Monetary(
            c.bucket_days, c.price_reference, (c.price_band_low, c.price_band_high)
        )
        self.recency = Recency()
        self.cart = Cart(c.cart_window_ms)
        self.attributes = Attributes()
        self.categories = CategoryAffinity(
            c.affinity_weights, c.affinity_half_life_ms, c.affinity_max_entries
        )
        self.brands = BrandAffinity(
            c.affinity_weights, c.affinity_half_life_ms, c.affinity_max_entries
        )
        self.hours = ActiveHours(c.active_hours_half_life_ms, c.default_timezone)
        self.search = SearchIntent(c.repeated_search_days)
        self.gender = PurchaseGender()
        self.devices = Devices()
        self.aggregators: tuple[Aggregator, ...] = (
            self.counters,
            self.monetary,
            self.recency,
            self.cart,
            self.attributes,
            self.categories,
            self.brands,
            self.search,
            self.hours,
            self.gender,
            self.devices,
        )
        self._template = codec.encode(self._build_initial())
        self.changes = ChangeLog(self)
        self._baseline = self.changes.baseline()
        # Per event type, the aggregators that look at it (saves calls on the hot path).
        self._by_type: dict[str, tuple[tuple[str, Callable[[Any, Event, int], Any]], ...]] = {
            etype: tuple(
                (a.key, a.apply) for a in self.aggregators if a.types is None or etype in a.types
            )
            for etype in EVENT_TYPES
        }
        self._dedupe_days = whole_days(c.dedupe_window_ms) + 1  # stretched to a day boundary

    def initial(self) -> State:
        """A new user's state: a fresh copy of a template."""
        state = codec.decode(self._template)
        state.segments = self._baseline
        return state

    def bare(self) -> State:
        """A new user's state without the change log's transient tags."""
        return codec.decode(self._template)

    def _build_initial(self) -> State:
        parts = {agg.key: agg.initial() for agg in self.aggregators}
        return State(VERSION, {}, 0, 0, 0, ChangeLog.initial_log(), **parts)

    encode = staticmethod(codec.encode)

    def decode(self, blob: bytes | bytearray | memoryview) -> State:
        """A stored state, ready for :meth:`apply_event` and :meth:`settle`."""
        state = codec.decode(blob)
        state.segments = self.changes.current(state)
        return state

    def apply_event(
        self,
        state: State,
        event: Event,
        partition: int | str = -1,
        offset: int = -1,
        arrival: int | None = None,
    ) -> Outcome:
        """Apply one event unless the fence or the dedupe window says it was seen.

        ``arrival`` is when the record reached Kafka (its timestamp, which a replay of the topic
        reproduces); without one the event's own time stands in for it."""
        if offset >= 0:
            fences = state.fences
            pkey = str(partition)
            if offset <= fences.get(pkey, -1):
                return REPLAYED
            fences[pkey] = offset
        digest = _xxh64(event.event_id.encode())[:_DIGEST]
        seen = state.seen
        for blob in seen.values():
            at = blob.find(digest)
            while at >= 0:
                if at % _DIGEST == 0:
                    return DUPLICATE
                at = blob.find(digest, at + 1)
        ts = event.ts
        at = ts if arrival is None or arrival < 0 else arrival
        day = at // DAY_MS
        seen[day] = seen.get(day, b"") + digest
        if at > state.arrival:
            state.arrival = at
        if event.type == TAG_EVENT:  # a manual tag: the rules' state alone (docs/rules.md)
            set_manual(state, event)
            return APPLIED
        newest = state.newest
        if ts > newest:
            newest = state.newest = ts
        for key, apply in self._by_type[event.type]:
            setattr(state, key, apply(getattr(state, key), event, newest))
        return APPLIED

    def compact(self, state: State) -> State:
        """Drop what no query can see any more; call once per user per batch.

        Every horizon is a UTC day boundary relative to the user's newest event, so nothing can
        age out until that day changes: the full pass runs only then (or when the dedupe window
        is over its size), and its result is the same whatever the batching.
        """
        self._forget(state)
        newest = state.newest
        day = newest // DAY_MS
        if state.compacted_day == day:
            return state
        state.compacted_day = day
        first = state.recency.first
        if first is not None and first // DAY_MS >= window_start(newest, self._dedupe_days):
            # the whole history lies inside the shortest horizon (a new user, mostly): nothing
            # can be dropped; decayed scores keep their older reference day
            return state
        for agg in self.aggregators:
            setattr(state, agg.key, agg.compact(getattr(state, agg.key), newest))
        return state

    def merge(self, state: State, other: State) -> State:
        """Fold ``other`` (another profile of the same person; their events are disjoint)
        into ``state``, mutated and returned: every aggregator merges its part, then a full
        compaction at the newest time of both. Tags read from the result equal those of one
        profile that had seen every event of both (tests/unit/profiles/test_merge.py); end
        the batch with :meth:`settle` to record what the merge changed."""
        for agg in self.aggregators:
            setattr(state, agg.key, agg.merge(getattr(state, agg.key), getattr(other, agg.key)))
        state.seen = merge_seen(state.seen, other.seen)
        state.newest = max(state.newest, other.newest)
        state.arrival = max(state.arrival, other.arrival)
        state.rules = merge_rules(state.rules, other.rules)
        state.absorbed = merge_absorbed(state.absorbed, other.absorbed)
        state.compacted_day = -1  # the full pass: other's history may lie beyond a horizon
        return self.compact(state)

    def _forget(self, state: State) -> None:
        """Keep the dedupe window: the ids that arrived in the last ``dedupe_window`` (stretched
        to a UTC midnight) before the newest arrival, at most ``dedupe_max_ids`` of them."""
        seen = state.seen
        if not seen:
            return
        horizon = window_start(state.arrival, self._dedupe_days)
        budget = self.config.dedupe_max_ids * _DIGEST
        if min(seen) >= horizon and sum(map(len, seen.values())) <= budget:
            return
        kept = {d: seen[d] for d in sorted(seen, reverse=True) if d >= horizon}
        for d, blob in kept.items():  # newest days first: the oldest ids go over the cap
            kept[d] = blob[-budget:] if budget > 0 else b""
            budget -= len(kept[d])
        state.seen = {d: b for d, b in kept.items() if b}

    def settle(self, state: State) -> dict[str, tuple[Any, Any]]:
        """End of a user's batch: compact, then record the tags that changed (as of the user's
        newest event); returns them as ``{tag: (old, new)}``."""
        self.compact(state)
        return self.changes.record(state)

    def tags(self, state: State, as_of_ms: int) -> Tags:
        out: Tags = {}
        for agg in self.aggregators:
            out.update(agg.tags(getattr(state, agg.key), as_of_ms))
        inputs = Inputs.from_tags(state.counters["t"], out)
        out.update(derived(inputs, self.config.rfm, self.config.layers))
        return out

    def segments(self, state: State, as_of_ms: int, names: Collection[str] | None = None) -> Tags:
        """The recorded (segment) tags alone, by lean paths: what each batch evaluates; with
        ``names``, those only (the RFM and layer tags come together, the others one by one).

        Equal to the same names of :meth:`tags` (a property test holds them so)."""
        out: Tags = {}
        if names is None or any(name not in _SINGLES for name in names):
            out.update(self._layered(state, as_of_ms))
        for name, read in _SINGLES.items():
            if names is None or name in names:
                out[name] = read(self, state, as_of_ms)
        return out

    def _layered(self, state: State, as_of_ms: int) -> Tags:
        """RFM, lifecycle and value layers, shopping type: from one set of lean inputs."""
        money = state.money
        spend_30d, spend_180d, orders_180d, order_days = self.monetary.lean(money, as_of_ms)
        cart = self.cart.features(state.cart)
        inputs = Inputs(
            state.counters["t"],
            *self.counters.lean(state.counters, as_of_ms),
            *self.recency.lean(state.recency, as_of_ms),
            money.spend,
            spend_30d,
            spend_180d,
            money.orders,
            orders_180d,
            order_days,
            cart.first_sight_share(),
            cart.decision_hours(),
        )
        return derived(inputs, self.config.rfm, self.config.layers)

    # Named reads of the parts, for the triggers and the read side.

    def open_cart(self, state: State) -> list[dict[str, Any]]:
        return self.cart.open_items(state.cart)

    def repeated_search(self, state: State, as_of_ms: int) -> tuple[str | None, int]:
        """The query searched on enough distinct days (or None), and its number of days."""
        return self.search.repeated(state.search, as_of_ms)

    def timezone(self, state: State) -> str:
        return self.hours.timezone(state.hours)

    def peak_hour(self, state: State, as_of_ms: int) -> int | None:
        return self.hours.peak_hour(state.hours, as_of_ms)

    def active_hours(self, state: State, as_of_ms: int) -> dict[int, float]:
        return self.hours.histogram(state.hours, as_of_ms)

    def tags_of(self, agg: Aggregator, state: State, as_of_ms: int) -> Tags:
        """The tags of one aggregator alone."""
        return agg.tags(getattr(state, agg.key), as_of_ms)

    def view(self, user_id: str, state: State, as_of_ms: int) -> dict[str, Any]:
        """The read-side document of ``portrait profile get``."""
        tags = self.tags(state, as_of_ms)
        return {
            "user_id": user_id,
            "as_of": rfc3339(as_of_ms),
            "tags": tags,
            "changed_at": {
                k: rfc3339(v) for k, v in self.changes.changed_at(state, as_of_ms, tags).items()
            },
            "attributes": self.attributes.values(state.attributes),
            "cart": [
                {**item, "added_at": rfc3339(item["added_at"])}
                for item in self.cart.open_items(state.cart)
            ],
            "categories": [
                [n, s] for n, s in self.categories.scores(state.categories, as_of_ms)[:20]
            ],
            "brands": [[n, s] for n, s in self.brands.scores(state.brands, as_of_ms)[:20]],
            "active_hours": self.hours.histogram(state.hours, as_of_ms),
        }


def set_manual(state: State, event: Event) -> None:
    """Set (or, with a null value, clear) a manual tag; the latest setting in event time wins,
    so a retried older command arriving late does not undo a newer one."""
    traits = event.traits or {}
    name, value = traits.get("tag"), traits.get("value")
    if not isinstance(name, str):
        return
    manual = state.rules.manual
    current = manual.get(name)
    if current is not None and current[1] > event.ts:
        return
    manual[name] = [value, event.ts]  # a null is kept: an older setting cannot come back


def event_digest(event_id: str) -> bytes:
    """The digest of an event id that the dedupe window stores instead of the id."""
    return _xxh64(event_id.encode())[:_DIGEST]  # inlined in apply_event


_xxh64 = xxhash.xxh3_64_digest  # 64-bit, ~5x cheaper than blake2b here
APPLIED, DUPLICATE, REPLAYED = Outcome.APPLIED, Outcome.DUPLICATE, Outcome.REPLAYED


# The segments read one by one (the others come from the RFM and layer inputs together), in
# the order they are recorded.
_SINGLES: dict[str, Callable[[ProfileModel, State, int], Any]] = {
    "top_category": lambda m, s, t: m.categories.top(s.categories, t),
    "top_brand": lambda m, s, t: m.brands.top(s.brands, t),
    "peak_hour": lambda m, s, t: m.hours.peak_hour(s.hours, t),
    "price_band": lambda m, s, t: m.monetary.band(s.money),
    "purchase_gender": lambda m, s, t: m.gender.infer(s.gender),
    "repeated_search": lambda m, s, t: m.search.repeated(s.search, t)[0],
    "device_top": lambda m, s, t: m.devices.top(s.devices, 0),
    "channel_top": lambda m, s, t: m.devices.top(s.devices, 1),
    "age_band": lambda m, s, t: m.attributes.age_band(s.attributes, t),
}
