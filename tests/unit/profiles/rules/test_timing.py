"""profiles/rules/timing.py: the moments the clock alone can change a built-in tag.

Tables: each tag family's exact moments, and the tag really changing there (and not a
millisecond before). A hypothesis property holds the candidates complete against the model
itself: random profiles, the tags at every hour boundary of 200 days and at every candidate.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from profiles.config import LayerConfig, ModelConfig, RfmConfig
from profiles.events import Event
from profiles.model import ProfileModel, State
from profiles.rules.timing import Flip, candidate_moments, next_flip
from profiles.timeutil import DAY_MS, HOUR_MS, decay

_ids = itertools.count()
BASE = 1_700_006_400_000  # 2023-11-15T00:00:00Z
T = BASE + 10 * HOUR_MS + 123_456  # an event time inside day D
D = T // DAY_MS
NEVER: frozenset[int] = frozenset()


def E(etype: str, ts: int, **fields: Any) -> Event:
    return Event(event_id=f"e{next(_ids)}", type=etype, user_id="u", ts=ts, **fields)


def profile(events: list[Event], config: ModelConfig | None = None) -> tuple[ProfileModel, State]:
    model = ProfileModel(config)
    state = model.initial()
    for event in events:
        model.apply_event(state, event)
    model.settle(state)
    return model, state


def moments(
    model: ProfileModel,
    state: State,
    names: set[str] | None,
    marks: frozenset[int] = NEVER,
    days: int = 400,
) -> list[int]:
    chosen = None if names is None else frozenset(names)
    until = state.newest + days * DAY_MS
    return list(candidate_moments(model, state, state.newest, until, marks, chosen))


def flips(model: ProfileModel, state: State, tag: str, at: list[int]) -> list[tuple[Any, Any]]:
    """The tag's value a millisecond before and at each moment."""
    return [(model.tags(state, t - 1)[tag], model.tags(state, t)[tag]) for t in at]


@pytest.mark.parametrize(
    ("etype", "tag", "width"),
    [
        ("view", "views_1d", 1),
        ("view", "views_7d", 7),
        ("view", "views_30d", 30),
        ("view", "views_180d", 180),
        ("login", "logins_7d", 7),
        ("view", "active_days_30d", 30),
        ("purchase", "spend_7d", 7),
        ("purchase", "orders_30d", 30),
        ("purchase", "order_days_180d", 180),
    ],
)
def test_a_window_drops_the_midnight_its_bucket_leaves(etype: str, tag: str, width: int) -> None:
    model, state = profile([E(etype, T, price=12.5)])
    got = moments(model, state, {tag})
    assert got == [(D + width) * DAY_MS]
    assert flips(model, state, tag, got) == [(1 if "spend" not in tag else 12.5, 0)]


def test_a_window_of_another_behaviour_gives_no_moment() -> None:
    model, state = profile([E("view", T)])
    assert moments(model, state, {"logins_7d", "spend_30d", "orders_180d"}) == []


@pytest.mark.parametrize(
    ("etype", "tag", "marks", "days"),
    [
        ("view", "days_since_last_seen", {10, 11}, [10, 11]),  # ">= 10" and "> 10"
        ("view", "days_since_first_seen", {3, 7}, [3, 7]),
        ("purchase", "days_since_last_purchase", {31}, [31]),  # "> 30"
        ("purchase", "days_since_last_purchase", {0, 1}, [1]),  # max(0, .) is 0 before day 1
        ("view", "days_since_last_purchase", {30}, []),  # no purchase: always None
        ("view", "days_since_last_seen", set(), []),
        ("view", "days_since_last_seen", {500}, []),  # beyond the horizon
    ],
)
def test_days_since_moves_a_rule_only_at_its_marks(
    etype: str, tag: str, marks: set[int], days: list[int]
) -> None:
    model, state = profile([E(etype, T)])
    got = moments(model, state, {tag}, frozenset(marks))
    assert got == [T + k * DAY_MS for k in days]  # anchor-relative, not midnights
    assert flips(model, state, tag, got) == [(k - 1, k) for k in days]


CART_TAGS = ("cart_open_items", "cart_to_purchase_rate", "first_sight_share", "decision_hours")


@pytest.mark.parametrize("tag", CART_TAGS)
def test_the_cart_does_not_expire_with_the_clock(tag: str) -> None:
    """An open item leaves the cart window when a *newer event* moves the window, never by
    the as-of time alone: no candidate, and the value holds for 400 days."""
    model, state = profile([E("add_to_cart", T, item_id="i1"), E("view", T + HOUR_MS)])
    assert moments(model, state, {tag}) == []
    values = {repr(model.tags(state, state.newest + d * DAY_MS)[tag]) for d in range(0, 400, 7)}
    assert len(values) == 1
    assert model.tags(state, state.newest + 399 * DAY_MS)["cart_open_items"] == 1


LAYERS = LayerConfig(new_days=3, dormant_days=5, churn_risk_days=9, churn_risk_strong_days=12)


@pytest.mark.parametrize(
    ("layers", "tag", "expected"),
    [
        # default: new until 30 days after the first event, dormant 30 days after the last,
        # churn_risk at 180 (at most one order)
        (LayerConfig(), "lifecycle", [("first", 30, "new", "active"),
                                      ("last", 30, "active", "dormant"),
                                      ("last", 180, "dormant", "churn_risk")]),
        (LAYERS, "lifecycle", [("first", 3, "new", "active"), ("last", 5, "active", "dormant"),
                               ("last", 9, "dormant", "churn_risk")]),
        (LAYERS, "churn_risk", [("last", 9, False, True)]),
        (LAYERS, "churn_risk_strong", [("last", 9, False, False), ("last", 12, False, True)]),
    ],
)  # fmt: skip
def test_lifecycle_turns_at_the_configured_days(
    layers: LayerConfig, tag: str, expected: list[tuple[str, int, Any, Any]]
) -> None:
    """(anchor, whole days after it, value before, value at) per moment; the thresholds are
    the model's config, not constants."""
    anchors = {"first": T, "last": T + DAY_MS + 777}  # the first and last events' times
    events = [E("view", anchors["first"]), E("view", anchors["last"])]
    model, state = profile(events, ModelConfig(layers=layers))
    got = moments(model, state, {tag})
    assert got == [anchors[anchor] + k * DAY_MS for anchor, k, *_ in expected]
    assert flips(model, state, tag, got) == [(old, new) for *_, old, new in expected]


@pytest.mark.parametrize(
    ("cuts", "scores"),
    [((7, 30, 90, 180), [(5, 4), (4, 3), (3, 2), (2, 1)]),
     ((1, 2, 3, 4), [(5, 4), (4, 3), (3, 2), (2, 1)])],
)  # fmt: skip
def test_rfm_r_drops_a_day_after_each_recency_cut(
    cuts: tuple[int, ...], scores: list[tuple[int, int]]
) -> None:
    config = ModelConfig(rfm=RfmConfig(recency_days=cuts))
    model, state = profile([E("purchase", T, price=5.0)], config)
    got = moments(model, state, {"rfm_r"})
    assert got == [T + (cut + 1) * DAY_MS for cut in cuts]  # R counts days > cut
    assert flips(model, state, "rfm_r", got) == scores


def new_year(year: int) -> int:
    return int(datetime(year, 1, 1, tzinfo=UTC).timestamp()) * 1000


@pytest.mark.parametrize(
    ("birth", "years", "bands"),
    [
        (2006, [2024], [("<18", "18-24")]),  # 17 in 2023, 18 in 2024, 19 in 2025: one turn
        (1999, [2024], [("18-24", "25-34")]),
        (1969, [2024], [("45-54", "55-64")]),
        (1990, [2025], [("25-34", "35-44")]),
        (2024, [2024], [(None, "<18")]),  # born next year: no band until then
        (1800, [], []),  # older than any band: None for good
    ],
)
def test_the_age_band_turns_at_a_utc_new_year(
    birth: int, years: list[int], bands: list[tuple[Any, Any]]
) -> None:
    """The age is the UTC year of the as-of time minus the birth year (traits.age_band)."""
    model, state = profile([E("identify", T, traits={"birth_year": 2000})])
    state.attributes = {code: [birth, sec] for code, (_, sec) in state.attributes.items()}
    got = moments(model, state, {"age_band"}, days=800)  # up to 2026-01-23
    assert got == [new_year(y) for y in years]
    assert flips(model, state, "age_band", got) == bands


def test_repeated_search_ends_the_midnights_its_days_leave_the_week() -> None:
    model, state = profile([E("search", T + k * DAY_MS, query="shoes") for k in range(3)])
    got = moments(model, state, {"repeated_search"})
    assert got == [(D + 7 + k) * DAY_MS for k in range(3)]
    assert flips(model, state, "repeated_search", got) == [
        ("shoes", None),  # 2 of the 3 days left in the week: below min_days
        (None, None),
        (None, None),
    ]


def test_a_key_on_too_few_days_gives_no_moment() -> None:
    model, state = profile([E("search", T + k * DAY_MS, query="shoes") for k in range(2)])
    assert moments(model, state, {"repeated_search", "repeated_search_days"}) == []


def set_categories(model: ProfileModel, state: State, scores: dict[str, float]) -> int:
    ref: int = state.newest // DAY_MS * DAY_MS
    state.categories = [ref, dict(scores)]
    return ref


def test_a_decayed_ranking_holds_until_the_scores_may_round_to_a_tie() -> None:
    """b leads a by 1e-6: the lead survives uniform decay until it is below the 9-decimal
    rounding (~269 days at a 30-day half-life), and a (the smaller name) leads for good once
    both round to zero (~927 days)."""
    model, state = profile([E("view", T)])
    ref = set_categories(model, state, {"b": 1.0, "a": 1.0 - 1e-6})
    got = moments(model, state, {"top_category"}, days=1000)
    assert len(got) == 4
    tie, zero = got[0], got[2]
    assert got == [tie, tie + 1, zero, zero + 1]
    half_life = model.config.affinity_half_life_ms
    assert abs(tie - (ref + 8.966 * half_life)) < DAY_MS
    assert abs(zero - (ref + 30.897 * half_life)) < DAY_MS
    before = range(state.newest, tie, 6 * HOUR_MS)
    assert {model.tags(state, t)["top_category"] for t in before} == {"b"}
    assert 1e-6 * decay(ref, tie - 2, half_life) >= 2e-9 > 1e-6 * decay(ref, tie, half_life)
    after = range(zero + 1, zero + 400 * DAY_MS, 6 * HOUR_MS)
    assert {model.tags(state, t)["top_category"] for t in after} == {"a"}


@pytest.mark.parametrize(
    "scores",
    [{"a": 1.0, "b": 0.5}, {"a": 1.0, "b": 1.0}, {"z": 3.0}, {}],
)
def test_a_ranking_in_name_order_never_moves(scores: dict[str, float]) -> None:
    model, state = profile([E("view", T)])
    set_categories(model, state, scores)
    assert moments(model, state, {"top_category", "top_categories"}, days=3000) == []
    top = [model.tags(state, state.newest + d * DAY_MS)["top_category"] for d in (0, 3000)]
    assert top[0] == top[1] == min(scores, default=None)


def test_peak_hours_hold_for_years() -> None:
    events = [E("view", BASE + h * HOUR_MS + k) for h in (10, 10, 3) for k in range(1)]
    model, state = profile(events)
    assert moments(model, state, {"peak_hour", "peak_hours", "peak_weekday"}, days=800) == []
    assert model.tags(state, state.newest + 800 * DAY_MS)["peak_hours"] == [10, 3]


def test_every_tag_asked_for_gives_a_subset_of_all() -> None:
    model, state = profile([E(t, T + k * HOUR_MS, price=3.0, query="q") for k, t in
                            enumerate(("view", "purchase", "search", "login"))])  # fmt: skip
    every = set(moments(model, state, None, frozenset({5})))
    for name in model.tags(state, T):
        assert set(moments(model, state, {name}, frozenset({5}))) <= every


def test_nothing_outside_the_range() -> None:
    model, state = profile([E("view", T)])
    got = list(candidate_moments(model, state, T + 7 * DAY_MS, T + 30 * DAY_MS, NEVER))
    assert got == [(D + 30) * DAY_MS, T + 30 * DAY_MS]  # views_30d; dormant and no longer new
    assert list(candidate_moments(model, state, T, T, frozenset({1}))) == []


def gives(flip_at: int | None) -> Any:
    return lambda t: flip_at is not None and t >= flip_at


@pytest.mark.parametrize(
    ("moments_", "flip_at", "limit", "expected"),
    [
        ([1, 2, 3], 2, 16, Flip(2, None, 2)),
        ([1, 2, 3], None, 16, Flip(None, None, 3)),  # walked them all: nothing to schedule
        ([1, 2, 3], None, 2, Flip(None, 2, 2)),  # the limit with moments left: re-check at 2
        ([1, 2, 3], None, 3, Flip(None, None, 3)),  # the limit on the last one: none left
        ([1, 2, 3], 3, 3, Flip(3, None, 3)),
        ([1, 2, 3], 3, 2, Flip(None, 2, 2)),
        ([], 1, 16, Flip(None, None, 0)),
        ([5], 5, 1, Flip(5, None, 1)),
    ],
)
def test_next_flip(moments_: list[int], flip_at: int | None, limit: int, expected: Flip) -> None:
    assert next_flip(moments_, gives(flip_at), False, limit) == expected


def test_next_flip_reads_no_further_than_it_must() -> None:
    seen: list[int] = []

    def counting() -> Iterator[int]:
        for t in itertools.count(1):
            seen.append(t)
            yield t

    assert next_flip(counting(), gives(None), False, 4) == Flip(None, 4, 4)
    assert seen == [1, 2, 3, 4, 5]  # one past the limit, to know that more are left


def test_next_flip_refuses_a_limit_below_one() -> None:
    with pytest.raises(ValueError, match="limit must be at least 1"):
        next_flip([1], gives(1), False, 0)


# The completeness property.

HORIZON_DAYS = 200
TYPES = ("view", "click", "search", "add_to_cart", "remove_from_cart", "purchase", "favorite",
         "login", "identify")  # fmt: skip
RANKED = {"top_category": "categories", "top_categories": "categories", "top_brand": "brands",
          "top_brands": "brands", "peak_hours": "hours", "peak_hour": "hours",
          "peak_weekday": "weekdays"}  # fmt: skip
DAYS_SINCE = ("days_since_first_seen", "days_since_last_seen", "days_since_last_purchase")
ALL_TAGS = sorted(ProfileModel().tags(ProfileModel().initial(), BASE))


@st.composite
def events(draw: st.DrawFn) -> list[Event]:
    """Up to 14 events over ~400 days, on whole minutes (so that distinct events give scores
    that differ by more than the 9-decimal rounding)."""
    out = []
    for _ in range(draw(st.integers(1, 14))):
        etype = draw(st.sampled_from(TYPES))
        ts = BASE + draw(st.integers(0, 400 * 1440)) * 60_000
        fields: dict[str, Any] = {"category": draw(st.sampled_from(["a", "b", "c"]))}
        fields["brand"] = draw(st.sampled_from(["x", "y"]))
        fields["item_id"] = draw(st.sampled_from(["1", "2"]))
        if etype == "purchase":
            fields["price"] = draw(st.sampled_from([0.0, 40.0, 300.0, 6000.0]))
        elif etype == "search":
            fields["query"] = "q"
        elif etype == "identify":
            # often a year whose band turns on 2025-01-01, inside most horizons
            years = st.sampled_from([2007, 2000, 1990, 1980, 1960]) | st.integers(1955, 2008)
            fields = {"traits": {"birth_year": draw(years)}}
        out.append(E(etype, ts, **fields))
    return out


def raw_scores(state: State, family: str) -> tuple[int, list[float]]:
    """A ranked family's stored scores and their reference time (the oracle's own reading)."""
    if family in ("categories", "brands"):
        ref, scores = getattr(state, family)
        return ref, list(scores.values())
    sums: dict[int, float] = {}
    for how, score in state.hours[1].items():
        key = how % 24 if family == "hours" else how // 24
        sums[key] = sums.get(key, 0.0) + score
    return state.hours[0], [*sums.values(), *([0.0] * (7 - len(sums)) * (family == "weekdays"))]


def fuzzy(model: ProfileModel, state: State, family: str, t: int) -> bool:
    """Whether two different scores are, at ``t``, close enough to round (9 decimals) to one
    value: from then their order may flicker by the millisecond (exempt, see timing.py)."""
    ref, scores = raw_scores(state, family)
    config = model.config
    half_life = config.active_hours_half_life_ms if family in ("hours", "weekdays") else None
    factor = decay(ref, t, half_life or config.affinity_half_life_ms)
    return any(a != b and abs(a - b) * factor < 3e-9 for a, b in itertools.combinations(scores, 2))


def counted(name: str, old: Any, new: Any, marks: frozenset[int]) -> bool:
    """A change a rule can see: a days_since tag only when it reaches a mark (the marks are
    the counts at which a clause can flip, RuleSet.day_marks); every other tag on any change."""
    if name not in DAYS_SINCE:
        return bool(old != new)
    if old is None or new is None:
        return old is not new
    return any((old >= m) != (new >= m) for m in marks)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events(),
    st.frozensets(st.integers(0, 60), max_size=4),
    st.none() | st.frozensets(st.sampled_from(ALL_TAGS), min_size=1, max_size=6),
)
def test_every_clock_change_has_a_candidate(
    history: list[Event], marks: frozenset[int], names: frozenset[str] | None
) -> None:
    """Sampled at every hour boundary of 200 days after the newest event and at every
    candidate: whenever a tag (of ``names``; not active_now) changes between two samples, the
    later one is a candidate, i.e. some candidate lies after the earlier sample and at or
    before the first sample that shows the new value."""
    model, state = profile(history)
    after, until = state.newest, state.newest + HORIZON_DAYS * DAY_MS
    got = list(candidate_moments(model, state, after, until, marks, names))
    assert got == sorted(set(got)) and all(after < t <= until for t in got)
    checked = [n for n in (names or ALL_TAGS) if n != "active_now"]
    hours = range((after // HOUR_MS + 1) * HOUR_MS, until + 1, HOUR_MS)
    candidates = set(got)
    previous, before = after, model.tags(state, after)
    for t in sorted(candidates.union(hours)):
        now = model.tags(state, t)
        for name in checked:
            if not counted(name, before[name], now[name], marks):
                continue
            family = RANKED.get(name)
            if family and (fuzzy(model, state, family, previous) or fuzzy(model, state, family, t)):
                continue
            assert t in candidates, (name, before[name], now[name], previous, t)
        previous, before = t, now


def test_a_segment_of_the_rules_flips_at_the_first_candidate_that_changes_it() -> None:
    """End to end with a ruleset: ``> 30`` days without a purchase holds from day 31 on."""
    from profiles.rules import load_rules, read_inputs

    rules = load_rules(
        "segments:\n  - name: lapsed\n    where: {days_since_last_purchase: {'>': 30}}\n"
    )
    model, state = profile([E("purchase", T, price=5.0), E("view", T + 3 * DAY_MS)])
    found = list(candidate_moments(model, state, state.newest, T + 400 * DAY_MS,
                                   rules.day_marks, rules.inputs))  # fmt: skip
    assert found == [T + 30 * DAY_MS, T + 31 * DAY_MS]

    def members(t: int) -> object:
        return rules.evaluate(read_inputs(model, state, t, rules.inputs))[1]

    assert next_flip(found, members, []) == Flip(T + 31 * DAY_MS, None, 2)
    assert members(T + 31 * DAY_MS - 1) == []
