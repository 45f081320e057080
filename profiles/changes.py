"""When each tag last changed (docs/tags.md, "When a tag changed").

Two kinds of tags:

* **Segments** (``SEGMENTS``: lifecycle, layers, RFM, shopping type, top category, ...) are
  *recorded*: at the end of each batch the worker evaluates them as of the user's newest event
  (:meth:`ProfileModel.segments`, the lean path) and, for each that changed, notes the newest
  event time. The log (:class:`~profiles.state.ChangeTimes`) is the distinct times (epoch
  seconds) and one byte per segment pointing into them (255: never changed). The values need no
  storing: they are the segments as of the newest event. A value read later that differs from
  that changed with the clock alone; its time is found by evaluating at each moment the clock
  can move one (a UTC day boundary, or a whole number of days after a recency time).
* Every other tag moves with its inputs (a count, a sum, a score, a ratio): its change time is
  that of its latest input, which the state knows (the latest event of a type, the day a bucket
  left a window, the latest identify of a trait).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Final, Protocol

from profiles.aggregators import PREFIXES, WINDOWS, Counters, Tags
from profiles.hours import ActiveHours
from profiles.names import SEGMENTS as SEGMENTS  # importers of changes keep it
from profiles.recency import Recency
from profiles.state import ChangeTimes, State
from profiles.timeutil import DAY_MS, day_of, latest
from profiles.traits import Attributes, Devices

NEVER: Final = 255
assert len(SEGMENTS) < NEVER
MAX_SCAN_DAYS: Final = 1100
_CODE: Final = {name: code for code, name in enumerate(SEGMENTS)}

# Input-timed tags -> the tag whose change time is theirs (counters carry their own).
_SAME_AS: Final = {
    "orders_total": "purchases_total",
    "orders_30d": "purchases_30d",
    "orders_180d": "purchases_180d",
    "order_days_180d": "purchases_180d",
    "max_order_value": "purchases_total",
    "avg_order_value": "purchases_total",
    "coupon_share": "purchases_total",
    "repeated_search_days": "searches_7d",
}
_CART_INPUTS: Final = (
    "cart_adds_total",
    "cart_removes_total",
    "purchases_total",
    "favorites_total",
)
_CART_TAGS: Final = (
    "cart_open_items",
    "cart_to_purchase_rate",
    "favorite_to_purchase_rate",
    "first_sight_share",
    "decision_hours",
)
_BEHAVIOUR_INPUTS: Final = ("top_categories", "top_brands", "peak_hours", "peak_weekday")
UNTRACKED: Final = frozenset({"active_now"})  # changes with the clock, hour by hour


class Model(Protocol):
    """What the change log reads of the model (profiles.model.ProfileModel; a protocol, so that
    the model can import this module and not the other way round)."""

    counters: Counters
    recency: Recency
    attributes: Attributes
    devices: Devices
    hours: ActiveHours

    def segments(
        self, state: State, as_of_ms: int, names: Collection[str] | None = None
    ) -> Tags: ...

    def bare(self) -> State: ...


class ChangeLog:
    def __init__(self, model: Model) -> None:
        self.model = model
        self._baseline: Tags | None = None

    def baseline(self) -> Tags:
        """The segments of a profile with no events (a segment starts there)."""
        if self._baseline is None:
            self._baseline = self.model.segments(self.model.bare(), 0)
        return self._baseline

    @staticmethod
    def initial_log() -> ChangeTimes:
        return ChangeTimes([], bytes([NEVER]) * len(SEGMENTS))

    def current(self, state: State) -> Tags:
        """The segments as of the user's newest event."""
        if not state.newest:
            return dict(self.baseline())
        return self.model.segments(state, state.newest)

    def record(self, state: State) -> dict[str, tuple[Any, Any]]:
        """Note the segments that changed since ``state.segments``; return them."""
        before: Tags = state.segments or self.baseline()
        after = self.current(state)
        state.segments = after
        if after == before:  # the usual batch: one C-level comparison
            return {}
        changed = {n: (before[n], v) for n, v in after.items() if v != before[n]}
        times, index = state.changes.times, state.changes.index
        now = state.newest // 1000
        if now not in times:
            times.append(now)
        at = times.index(now)
        marks = bytearray(index)
        for name in changed:
            marks[_CODE[name]] = at
        used = sorted(set(marks) - {NEVER})
        if len(used) < len(times):  # drop the times no segment points to any more
            remap = {old: new for new, old in enumerate(used)}
            times[:] = [times[i] for i in used]
            marks = bytearray(remap.get(m, NEVER) for m in marks)
        state.changes = ChangeTimes(times, bytes(marks))
        return changed

    def changed_at(self, state: State, as_of_ms: int, tags: Tags) -> dict[str, int | None]:
        """Every tag's last change time (epoch ms; None: never, or not tracked)."""
        model = self.model
        out = model.counters.changed_at(state.counters, as_of_ms)
        for days in WINDOWS:
            out[f"spend_{days}d"] = out[f"purchases_{days}d"]
        out["spend_total"] = out["purchases_total"]
        out.update(model.recency.changed_at(state.recency, as_of_ms))
        newest = state.newest or None
        out["events_total"] = newest
        out["active_days_30d"] = latest(*(out[f"{p}_30d"] for p in PREFIXES))
        for name, source in _SAME_AS.items():
            out[name] = out[source]
        out["price_ratio"] = latest(out["cart_adds_total"], out["purchases_total"])
        cart = latest(*(out[name] for name in _CART_INPUTS))
        out.update(dict.fromkeys(_CART_TAGS, cart))
        out.update(dict.fromkeys(_BEHAVIOUR_INPUTS, out["active_days_30d"]))
        out.update(model.attributes.changed_at(state.attributes))
        out.update(model.devices.changed_at(state.devices))
        out["timezone"] = model.hours.zone_changed_at(state.hours)
        out.update(self._segments_changed_at(state, as_of_ms, tags))
        for name in UNTRACKED:
            out[name] = None
        return {name: out.get(name) for name in tags}

    def _segments_changed_at(
        self, state: State, as_of_ms: int, tags: Tags
    ) -> dict[str, int | None]:
        recorded = self.current(state)
        times, index = state.changes.times, state.changes.index
        out: dict[str, int | None] = {}
        pending: dict[str, Any] = {}
        for code, name in enumerate(SEGMENTS):
            if tags[name] == recorded[name]:
                mark = index[code]
                out[name] = times[mark] * 1000 if mark != NEVER else None
            else:
                pending[name] = recorded[name]
        out.update(self._clock_changes(state, as_of_ms, pending))
        return out

    def _clock_changes(
        self, state: State, as_of_ms: int, pending: dict[str, Any]
    ) -> dict[str, int | None]:
        """For segments whose recorded value no longer holds: the first moment after the
        newest event at which each differs from it."""
        found: dict[str, int | None] = {}
        for moment in self._moments(state, as_of_ms) if pending else []:
            values = self.model.segments(state, moment, frozenset(pending))
            for name in [n for n, v in pending.items() if values[n] != v]:
                found[name] = moment
                del pending[name]
            if not pending:
                break
        for name in pending:  # as of a time before the newest event, or beyond the scan
            found[name] = None
        return found

    def _moments(self, state: State, as_of_ms: int) -> list[int]:
        newest = state.newest
        first_day = day_of(newest) + 1
        last_day = min(day_of(as_of_ms), first_day + MAX_SCAN_DAYS)
        moments = {d * DAY_MS for d in range(first_day, last_day + 1)}
        times = state.recency
        for anchor in (times.first, times.last, times.purchase):
            if anchor is None:
                continue
            k = max(1, (newest - anchor) // DAY_MS + 1)
            while anchor + k * DAY_MS <= as_of_ms and k <= MAX_SCAN_DAYS:
                moments.add(anchor + k * DAY_MS)
                k += 1
        return sorted(m for m in moments if newest < m <= as_of_ms)
