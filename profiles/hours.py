"""Active hours: a decayed hour-of-week histogram in the user's local time (docs/tags.md)."""

from __future__ import annotations

from typing import Any, ClassVar

from profiles.aggregators import SLOT, Tags
from profiles.events import Event
from profiles.timeutil import DAY_MS, day_of, decay, hour_of_week, rescaled, valid_zone

PEAK_HOURS = 3
_REF, _BINS, _ZONE, _ZONE_TS = range(4)


class ActiveHours:
    """State: ``[ref, {hour_of_week: score as of ref}, zone, zone_ts]``: the zone is that of the
    latest event carrying a known one (None: the configured default)."""

    key: ClassVar[str] = "hours"  # its field of profiles.state.State
    types: ClassVar[frozenset[str] | None] = None  # any event may carry the user's zone

    def __init__(self, half_life_ms: int, default_zone: str = "UTC") -> None:
        self.half_life = half_life_ms
        self.default_zone = default_zone

    def initial(self) -> list[Any]:
        return [0, {}, None, 0]

    def apply(self, state: list[Any], event: Event, newest_ts: int = 0) -> list[Any]:
        zone = event.timezone
        ts = event.ts
        if zone is not None and valid_zone(zone):
            if ts > state[_ZONE_TS] or (ts == state[_ZONE_TS] and zone > (state[_ZONE] or "")):
                state[_ZONE], state[_ZONE_TS] = zone, ts
        else:
            zone = self.default_zone
        if event.type not in SLOT:
            return state
        if not state[_REF]:
            state[_REF] = day_of(max(newest_ts, ts)) * DAY_MS
        how = hour_of_week(ts, zone)
        bins = state[_BINS]
        bins[how] = bins.get(how, 0.0) + decay(ts, state[_REF], self.half_life)
        return state

    def compact(self, state: list[Any], newest_ts: int) -> list[Any]:
        bins: dict[int, float] = state[_BINS]
        if not bins:
            return state
        ref = day_of(newest_ts) * DAY_MS
        if ref != state[_REF]:
            factor = decay(state[_REF], ref, self.half_life)
            for how in bins:
                bins[how] *= factor
            state[_REF] = ref
        return state  # at most 168 bins: none is dropped, so no arrival order can matter

    def merge(self, state: list[Any], other: list[Any]) -> list[Any]:
        """Bins add once both are as of the later reference day; the zone of the later event
        that named one wins (ties: the larger name, as :meth:`apply` decides)."""
        if (other[_ZONE_TS], other[_ZONE] or "") > (state[_ZONE_TS], state[_ZONE] or ""):
            state[_ZONE], state[_ZONE_TS] = other[_ZONE], other[_ZONE_TS]
        if not other[_BINS]:
            return state
        if not state[_BINS]:
            state[_REF], state[_BINS] = other[_REF], dict(other[_BINS])
            return state
        ref = max(state[_REF], other[_REF])
        bins = rescaled(state[_BINS], state[_REF], ref, self.half_life)
        for how, score in rescaled(other[_BINS], other[_REF], ref, self.half_life).items():
            bins[how] = bins.get(how, 0.0) + score
        state[_REF], state[_BINS] = ref, bins
        return state

    def histogram(self, state: list[Any], as_of_ms: int) -> dict[int, float]:
        """Every bin's score at ``as_of_ms``, by hour of the week."""
        factor = decay(state[_REF], as_of_ms, self.half_life)
        return {how: score * factor for how, score in sorted(state[_BINS].items())}

    def zone_changed_at(self, state: list[Any]) -> int | None:
        return state[_ZONE_TS] if state[_ZONE] else None

    def timezone(self, state: list[Any]) -> str:
        return state[_ZONE] or self.default_zone

    def _sums(self, state: list[Any], as_of_ms: int) -> tuple[list[float], list[float]]:
        """Scores by local hour of day and by weekday at ``as_of_ms``."""
        by_hour = [0.0] * 24
        by_weekday = [0.0] * 7
        for how, score in state[_BINS].items():
            by_hour[how % 24] += score
            by_weekday[how // 24] += score
        factor = decay(state[_REF], as_of_ms, self.half_life)
        return [s * factor for s in by_hour], [s * factor for s in by_weekday]

    def peak_hour(self, state: list[Any], as_of_ms: int) -> int | None:
        """The first of the peak hours (one pass: what each batch records)."""
        bins: dict[int, float] = state[_BINS]
        if not bins:
            return None
        raw = [0.0] * 24
        for how, score in bins.items():
            raw[how % 24] += score
        factor = decay(state[_REF], as_of_ms, self.half_life)
        high = max(raw)
        if not high * factor > 0:
            return None
        floor = high - 2e-9 / factor  # only hours within rounding distance can tie
        if sorted(raw)[-2] < floor:
            return raw.index(high)  # the usual case: no second hour within rounding distance
        close = [h for h in range(24) if raw[h] >= floor and raw[h] > 0]
        if len(close) == 1:
            return close[0]
        scaled = [s * factor for s in raw]
        return min(close, key=lambda h: _rank(scaled, h))

    def tags(self, state: list[Any], as_of_ms: int) -> Tags:
        by_hour, by_weekday = self._sums(state, as_of_ms)
        ranked = sorted((h for h in range(24) if by_hour[h] > 0), key=lambda h: _rank(by_hour, h))
        peaks = ranked[:PEAK_HOURS]
        zone = self.timezone(state)
        now_hour = hour_of_week(as_of_ms, zone) % 24
        return {
            "peak_hours": peaks,
            "peak_hour": peaks[0] if peaks else None,
            "peak_weekday": min(range(7), key=lambda d: _rank(by_weekday, d)) if peaks else None,
            "active_now": (now_hour in peaks) if peaks else None,
            "timezone": zone,
        }


def _rank(scores: list[float], index: int) -> tuple[float, int]:
    """Score descending (to 9 decimals, so that sums in another order tie), index ascending."""
    return (-round(scores[index], 9), index)
