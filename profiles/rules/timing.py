"""When the clock alone can change a built-in tag (pure; docs/rules.md, "Time flips").

A user's segments can flip without an event (30 days without a purchase). The worker finds the
next such moment by evaluating the rules at each *candidate* this module gives: moments in
``(after, until]`` at which some built-in tag of :meth:`ProfileModel.tags` may change value with
the state fixed and only the as-of time moving. The set is a superset of those moments, kept
small by reading the aggregators' own arithmetic:

* windowed counts and sums (``views_7d``, ``spend_30d``, ``order_days_180d``,
  ``active_days_30d``, ``repeated_search``): the UTC midnight a non-empty day bucket enters or
  leaves a window (``(day + width) * DAY``);
* ``days_since_*`` (whole days since an anchor, ``(t - anchor) // DAY``): a rule only sees a
  day count reach a mark ``k`` of ``day_marks``, at ``anchor + k*DAY`` exactly. The marks are
  the counts whose arrival can flip a clause, as ``RuleSet.day_marks`` gives them (for
  ``> 30`` that is 31, for ``== 30`` both 30 and 31: its floor and the next day); the derived
  tags' thresholds come from ``model.config`` (lifecycle
  ``>= dormant/churn_risk/churn_risk_strong days`` on the last event, ``< new_days`` on the
  first; ``rfm_r``: ``> recency cut`` on the last purchase);
* ``age_band``: a UTC new year at which the band of the declared birth year changes;
* decayed rankings (top categories and brands, peak hours and weekday): scores decay uniformly,
  so their order holds until two scores, rounded to 9 decimals, may tie and the name decides:
  the moment a pair in the wrong name order comes within ``2e-9`` (from then the model's order
  of that pair may flicker by the millisecond, which no finite set can list) and the moment its
  higher score rounds to zero (tied for good).

Not candidates: the cart tags (the cart window follows the newest *event*, not the as-of time),
lifetime totals, attributes other than the age band, and ``active_now`` (it moves hour by hour
and rules may not read it). The lookup tags (category share of the decayed score) are assumed
to be computed from the stored scores, which uniform decay leaves in the same ratios.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final

from profiles.aggregators import PREFIXES, WINDOWS
from profiles.config import LayerConfig, RfmConfig
from profiles.hours import PEAK_HOURS
from profiles.interest import TOP_N
from profiles.model import ProfileModel
from profiles.state import State
from profiles.timeutil import DAY_MS

__all__ = ["Flip", "Needs", "candidate_moments", "needs", "next_flip"]

TIE: Final = 2e-9  # scaled scores closer than this may round (to 9 decimals) to one value
ZERO: Final = 5e-10  # a scaled score below this rounds to 0.0
ANCHORS: Final = ("first", "last", "purchase")  # profiles.state.Times fields
_SPEND, _ORDERS = 0, 1  # a money day bucket: [spend, orders]
_DERIVED: Final = ("rfm", "rfm_r", "rfm_f", "rfm_m", "rfm_segment", "high_value", "potential",
                   "churn_risk", "churn_risk_strong", "lifecycle")  # fmt: skip


@dataclass(slots=True)
class Needs:
    """What the tags asked for depend on, by family."""

    counts: set[tuple[int, int]] = field(default_factory=set)  # (slot or -1: any, window days)
    money: set[tuple[int, int]] = field(default_factory=set)  # (_SPEND or _ORDERS, window days)
    search: bool = False
    marks: dict[str, set[int]] = field(default_factory=dict)  # anchor -> whole days reached
    age: bool = False
    ranks: dict[str, int] = field(default_factory=dict)  # family -> places that matter

    @property
    def moves(self) -> bool:
        """Whether any of the tags can change with the clock alone (else no moment ever is)."""
        marks = any(self.marks.values())
        return bool(self.counts or self.money or self.search or marks or self.age or self.ranks)


@lru_cache(maxsize=64)
def needs(
    names: frozenset[str] | None, day_marks: frozenset[int], rfm: RfmConfig, layers: LayerConfig
) -> Needs:
    """The families the tags ``names`` (None: every built-in tag) read, once per ruleset."""

    def want(name: str) -> bool:
        return names is None or name in names

    out = Needs()
    for slot, prefix in enumerate(PREFIXES):
        out.counts.update((slot, w) for w in WINDOWS if want(f"{prefix}_{w}d"))
    if want("active_days_30d"):
        out.counts.add((-1, 30))
    out.money.update((_SPEND, w) for w in WINDOWS if want(f"spend_{w}d"))
    out.money.update((_ORDERS, w) for w in (30, 180) if want(f"orders_{w}d"))
    if want("order_days_180d"):
        out.money.add((_ORDERS, 180))
    out.search = want("repeated_search") or want("repeated_search_days")
    out.age = want("age_band")
    ranked = {"categories": ("top_category", "top_categories", TOP_N),
              "brands": ("top_brand", "top_brands", TOP_N),
              "hours": ("peak_hour", "peak_hours", PEAK_HOURS)}  # fmt: skip
    for family, (one, many, places) in ranked.items():
        if want(one) or want(many):
            out.ranks[family] = places if want(many) else 1
    if want("peak_weekday"):
        out.ranks["weekdays"] = 1
    for anchor, tag in zip(ANCHORS, ("first_seen", "last_seen", "last_purchase"), strict=True):
        out.marks[anchor] = set(day_marks) if want(f"days_since_{tag}") else set()
    derived = {n for n in _DERIVED if want(n)}
    if derived & {"rfm", "rfm_segment", "rfm_r"}:
        out.marks["purchase"].update(cut + 1 for cut in rfm.recency_days)  # days > cut
    if derived & {"rfm", "rfm_segment", "rfm_f", "high_value", "potential"}:
        out.money.add((_ORDERS, 180))
    if derived & {"rfm", "rfm_segment", "rfm_m"}:
        out.money.add((_SPEND, 180))
    if derived & {"high_value", "potential"}:
        out.money.add((_SPEND, 30))
    if "potential" in derived:
        out.counts.update(((0, 30), (3, 30)))  # views_30d, cart_adds_30d
    if derived & {"churn_risk", "churn_risk_strong", "lifecycle"}:
        out.marks["last"].add(layers.churn_risk_days)
    if "churn_risk_strong" in derived:
        out.marks["last"].add(layers.churn_risk_strong_days)
    if "lifecycle" in derived:
        out.marks["last"].add(layers.dormant_days)
        out.marks["first"].add(layers.new_days)  # days_since_first_seen < new_days
    return out


def candidate_moments(
    model: ProfileModel,
    state: State,
    after_ms: int,
    until_ms: int,
    day_marks: frozenset[int],
    names: frozenset[str] | None = None,
) -> Iterator[int]:
    """Ascending epoch-ms moments in ``(after_ms, until_ms]`` at which a built-in tag (of
    ``names``, e.g. ``RuleSet.inputs``; None: any) may change with the clock alone."""
    config = model.config
    need = needs(names, frozenset(day_marks), config.rfm, config.layers)
    found: set[int] = set()
    _windows(found, state.counters["b"], need.counts)
    _windows(found, state.money.days, need.money)
    if need.search:
        days = [d for ds in state.search.values() if len(ds) >= model.search.min_days for d in ds]
        _windows(found, {d: [1] for d in days}, {(0, model.search.WINDOW_DAYS)})
    times = state.recency
    for anchor, ks in need.marks.items():
        at = getattr(times, anchor)
        if at is not None:
            found.update(at + k * DAY_MS for k in ks if k > 0)  # max(0, .) is 0 before k = 1
    found = {t for t in found if after_ms < t <= until_ms}
    if need.age:
        found.update(_age_moments(model, state, after_ms, until_ms))
    for family, places in need.ranks.items():
        ref, scores, half_life = _scores(model, state, family)
        found.update(_rank_moments(scores, ref, half_life, places, after_ms, until_ms))
    return iter(sorted(found))


def _windows(
    found: set[int], buckets: Mapping[int, list[Any]], wanted: set[tuple[int, int]]
) -> None:
    """The midnights a non-empty slot of a day bucket enters (its day) or leaves a window."""
    for day, bucket in buckets.items() if wanted else ():
        for slot, width in wanted:
            if slot < 0 or bucket[slot]:
                found.add(day * DAY_MS)
                found.add((day + width) * DAY_MS)


def _age_moments(model: ProfileModel, state: State, after_ms: int, until_ms: int) -> list[int]:
    """UTC new years in range at which the age band (of the birth year as of that UTC year)
    changes."""
    band = model.attributes.age_band
    attributes = state.attributes
    if not attributes:
        return []
    first = datetime.fromtimestamp(max(after_ms, 0) / 1000, UTC).year + 1
    last = datetime.fromtimestamp(max(until_ms, 0) / 1000, UTC).year
    out = []
    for year in range(first, min(last, 9998) + 1):
        t = int(datetime(year, 1, 1, tzinfo=UTC).timestamp()) * 1000
        if after_ms < t <= until_ms and band(attributes, t) != band(attributes, t - 1):
            out.append(t)
    return out


def _scores(model: ProfileModel, state: State, family: str) -> tuple[int, dict[Any, float], int]:
    """A ranked family's stored scores (as of ``ref``) and half-life."""
    if family in ("categories", "brands"):
        ref, scores = getattr(state, family)
        affinity = model.categories if family == "categories" else model.brands
        return ref, scores, affinity.half_life
    ref, bins = state.hours[0], state.hours[1]
    hourly = family == "hours"
    sums = [0.0] * (24 if hourly else 7)
    for how, score in bins.items():  # as ActiveHours._sums adds them
        sums[how % 24 if hourly else how // 24] += score
    return ref, dict(enumerate(sums)), model.hours.half_life


def _rank_moments(
    scores: Mapping[Any, float], ref: int, half_life: int, places: int, after: int, until: int
) -> Iterator[int]:
    """For each pair that can change the first ``places`` of the ranking (a higher score with
    the later name): when the pair may first round to a tie, and when both round to zero."""
    order = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    for i, (name, high) in enumerate(order[:places]):
        low_names = [(n, s) for n, s in order[i + 1 :] if s < high and n < name]
        if low_names:
            yield from _crossing(high / ZERO, ref, half_life, after, until)
        for _, low in low_names:
            yield from _crossing((high - low) / TIE, ref, half_life, after, until)


def _crossing(ratio: float, ref: int, half_life: int, after: int, until: int) -> Iterator[int]:
    """The first milliseconds at which ``ratio * 2^((ref - t) / half_life)`` is below 1: the
    first after the exact crossing, and the next (the float decay factor may lag by one)."""
    if ratio <= 0:
        return
    t = math.floor(ref + half_life * math.log2(ratio)) + 1
    for moment in (t, t + 1):
        if after < moment <= until:
            yield moment


@dataclass(frozen=True, slots=True)
class Flip:
    """The outcome of :func:`next_flip`.

    ``at``: the first candidate whose evaluation differs from the current value (None: none
    found). ``recheck_at``: when the walk stopped at its limit with candidates left, the last
    moment evaluated (it still gave the current value): schedule a re-check there and resume
    with the candidates after it. Both None: no candidate flips (nothing to schedule)."""

    at: int | None
    recheck_at: int | None
    evaluations: int


def next_flip(
    moments: Iterable[int],
    evaluate: Callable[[int], object],
    current: object,
    limit: int = 16,
) -> Flip:
    """Walk the candidates in order, evaluating at each, until one differs from ``current``
    or ``limit`` evaluations are spent (so that one user cannot hold a worker's batch)."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    spent, last = 0, None
    for moment in moments:
        if spent == limit:
            return Flip(None, last, spent)
        spent, last = spent + 1, moment
        if evaluate(moment) != current:
            return Flip(moment, None, spent)
    return Flip(None, None, spent)
