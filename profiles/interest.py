"""Interest: decayed category and brand affinity, repeated search intent (docs/tags.md)."""

from __future__ import annotations

from collections.abc import Mapping
from operator import itemgetter
from typing import Any, ClassVar

from profiles.aggregators import Tags
from profiles.events import Event
from profiles.timeutil import DAY_MS, day_of, decay, rescaled, window_start

TOP_N = 5
_SCORE = itemgetter(1)
# Entries decayed below this are dropped once a day: ~20 half-lives (600 days at 30) after
# their last event, when no arrival order can still make them matter to 1e-6.
MIN_SCORE = 1e-6


def rank_key(entry: tuple[Any, float]) -> tuple[float, Any]:
    """Score descending (to 9 decimals: sums of the same terms in another order tie), then
    name ascending."""
    return (-round(entry[1], 9), entry[0])


def ranked(scores: Mapping[Any, float], factor: float = 1.0) -> list[tuple[Any, float]]:
    """Entries by score (times ``factor``) descending, then by name ascending."""
    return sorted(((k, v * factor) for k, v in scores.items()), key=rank_key)


class Affinity:
    """Decayed scores of one event field (``category`` or ``brand``).

    State: ``[ref, {name: score}]``: scores are as of ``ref`` (the start of the user's newest
    day when last compacted), so reading at ``T`` multiplies by ``2^((ref - T) / half_life)``
    and moving ``ref`` forward (once a day) rescales them all.
    """

    key: ClassVar[str]
    types: ClassVar[frozenset[str] | None] = None
    field: ClassVar[str]  # the Event attribute scored
    tag: ClassVar[str]
    plural: ClassVar[str]

    def __init__(
        self, weights: Mapping[str, float], half_life_ms: int, max_entries: int = 128
    ) -> None:
        self.weights = dict(weights)
        # an instance attribute: the event types with a weight are the ones it reads
        self.types = frozenset(t for t, w in self.weights.items() if w)  # type: ignore[misc]
        self.half_life = half_life_ms
        self.max_entries = max_entries

    def initial(self) -> list[Any]:
        return [0, {}]

    def apply(self, state: list[Any], event: Event, newest_ts: int = 0) -> list[Any]:
        name = getattr(event, self.field)
        weight = self.weights.get(event.type)
        if name is None or not weight:
            return state
        if not state[0]:
            state[0] = day_of(max(newest_ts, event.ts)) * DAY_MS
        scores = state[1]
        scores[name] = scores.get(name, 0.0) + weight * decay(event.ts, state[0], self.half_life)
        return state

    def compact(self, state: list[Any], newest_ts: int) -> list[Any]:
        ref = day_of(newest_ts) * DAY_MS
        scores: dict[str, float] = state[1]
        if not scores:
            return state
        if ref != state[0]:
            factor = decay(state[0], ref, self.half_life)
            for name in scores:
                scores[name] *= factor
            state[0] = ref
        for name in [n for n, s in scores.items() if s < MIN_SCORE]:
            del scores[name]
        if len(scores) > self.max_entries:
            state[1] = dict(ranked(scores)[: self.max_entries])
        return state

    def merge(self, state: list[Any], other: list[Any]) -> list[Any]:
        """Scores add, once both are as of the later reference day."""
        if not other[1]:
            return state
        if not state[1]:
            return [other[0], dict(other[1])]
        ref = max(state[0], other[0])
        mine = rescaled(state[1], state[0], ref, self.half_life)
        for name, score in rescaled(other[1], other[0], ref, self.half_life).items():
            mine[name] = mine.get(name, 0.0) + score
        return [ref, mine]

    def scores(self, state: list[Any], as_of_ms: int) -> list[tuple[str, float]]:
        """Every entry with its score at ``as_of_ms``, best first."""
        return ranked(state[1], decay(state[0], as_of_ms, self.half_life))

    def top(self, state: list[Any], as_of_ms: int) -> str | None:
        """The best entry at ``as_of_ms`` (one pass: what the hot path records)."""
        scores: dict[str, float] = state[1]
        if not scores:
            return None
        best, high = max(scores.items(), key=_SCORE)
        factor = decay(state[0], as_of_ms, self.half_life)
        # only entries within rounding distance of the best can tie with it
        floor = high - 2e-9 / factor if factor > 0 else float("-inf")
        if len(scores) == 1 or sorted(scores.values())[-2] < floor:
            return best  # the usual case: no second entry within rounding distance
        close = [(k, v * factor) for k, v in scores.items() if v >= floor]  # two or more
        top: str = min(close, key=rank_key)[0]
        return top

    def tags(self, state: list[Any], as_of_ms: int) -> Tags:
        top = [name for name, _ in self.scores(state, as_of_ms)[:TOP_N]]
        return {f"top_{self.tag}": self.top(state, as_of_ms), f"top_{self.plural}": top}


class CategoryAffinity(Affinity):
    key: ClassVar[str] = "categories"  # its field of profiles.state.State
    field: ClassVar[str] = "category"
    tag: ClassVar[str] = "category"
    plural: ClassVar[str] = "categories"


class BrandAffinity(Affinity):
    key: ClassVar[str] = "brands"  # its field of profiles.state.State
    field: ClassVar[str] = "brand"
    tag: ClassVar[str] = "brand"
    plural: ClassVar[str] = "brands"


def search_keys(event: Event) -> list[str]:
    """The normalised query and ``category:<c>`` of a search event (docs/tags.md)."""
    keys = []
    if event.query:
        query = " ".join(event.query.lower().split())[:64]
        if query:
            keys.append(query)
    if event.category is not None:
        keys.append(f"category:{event.category}")
    return keys


class SearchIntent:
    """Days each search key was used in the last 7 days. State: ``{key: [day, ...]}``."""

    key: ClassVar[str] = "search"  # its field of profiles.state.State
    types: ClassVar[frozenset[str] | None] = frozenset({"search"})
    WINDOW_DAYS: ClassVar[int] = 7

    def __init__(self, min_days: int = 3) -> None:
        self.min_days = min_days

    def initial(self) -> dict[str, list[int]]:
        return {}

    def apply(
        self, state: dict[str, list[int]], event: Event, newest_ts: int = 0
    ) -> dict[str, list[int]]:
        day = event.ts // DAY_MS
        if day < window_start(newest_ts, self.WINDOW_DAYS):
            return state
        for key in search_keys(event):
            days = state.setdefault(key, [])
            if day not in days:
                days.append(day)
        return state

    def compact(self, state: dict[str, list[int]], newest_ts: int) -> dict[str, list[int]]:
        oldest = window_start(newest_ts, self.WINDOW_DAYS)
        for key in list(state):
            kept = sorted(d for d in state[key] if d >= oldest)
            if kept:
                state[key] = kept
            else:
                del state[key]
        return state

    def merge(
        self, state: dict[str, list[int]], other: dict[str, list[int]]
    ) -> dict[str, list[int]]:
        for key, days in other.items():
            mine = state.setdefault(key, [])
            mine.extend(d for d in days if d not in mine)
        return state

    def repeated(self, state: dict[str, list[int]], as_of_ms: int) -> tuple[str | None, int]:
        """The key used on the most days (at least ``min_days``) of the 7-day window, then the
        latest used, then the smallest; and its number of days."""
        last, first = day_of(as_of_ms), window_start(as_of_ms, self.WINDOW_DAYS)
        best: tuple[int, int, str] | None = None
        for key, days in state.items():
            inside = [d for d in days if first <= d <= last]
            if len(inside) >= self.min_days:
                rank = (len(inside), max(inside), key)
                if best is None or rank[:2] > best[:2] or (rank[:2] == best[:2] and key < best[2]):
                    best = rank
        return (best[2], best[0]) if best else (None, 0)

    def tags(self, state: dict[str, list[int]], as_of_ms: int) -> Tags:
        key, days = self.repeated(state, as_of_ms)
        return {"repeated_search": key, "repeated_search_days": days}
