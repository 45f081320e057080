"""Synthetic persona traffic: contract, determinism, continuity, persona signatures, rhythm."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from profiles.events import REJECT_REASONS, Rejected, decode, from_dict
from streams.sim.catalogue import PERSONA_NAMES, TIMEZONES
from streams.sim.personas import TrafficModel, malformed_event

T0 = 1_717_372_800_000  # 2024-06-03T00:00:00Z, a Monday
HOUR = 3_600_000
DAY = 24 * HOUR
WEEK = 7 * DAY

Events = list[dict[str, Any]]


@pytest.fixture(scope="module")
def week() -> tuple[TrafficModel, Events]:
    model = TrafficModel(500, seed=11)
    return model, model.events_between(T0, T0 + WEEK)


@pytest.fixture(scope="module")
def stats(week: tuple[TrafficModel, Events]) -> dict[str, Counter[str]]:
    """Per persona: event counts by type, plus ``third0..2`` (events per third of the week)."""
    model, events = week
    out: dict[str, Counter[str]] = defaultdict(Counter)
    bought: dict[str, set[str]] = defaultdict(set)
    for e in events:
        c = out[model.persona_of(e["user_id"])]
        c[e["type"]] += 1
        c[f"third{(e['ts'] - T0) * 3 // WEEK}"] += 1
        for line in e["properties"].get("products", ()):
            seen = bought[e["user_id"]]
            c["lines"] += 1
            c["repeat_lines"] += line["item_id"] in seen
            seen.add(line["item_id"])
    return out


def chunked(model: TrafficModel, start: int, end: int, step: int) -> list[Events]:
    return [model.events_between(t, min(t + step, end)) for t in range(start, end, step)]


# --- determinism and continuity ---------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 42, 2024])
def test_same_seed_gives_identical_events(seed: int) -> None:
    first = TrafficModel(100, seed=seed).events_between(T0, T0 + DAY)
    again = TrafficModel(100, seed=seed).events_between(T0, T0 + DAY)
    assert first and first == again
    assert first != TrafficModel(100, seed=seed + 1).events_between(T0, T0 + DAY)


@pytest.mark.parametrize("step", [60_000, 7 * 60_000, HOUR, DAY // 3])
def test_stream_does_not_depend_on_how_it_is_cut(step: int) -> None:
    whole = TrafficModel(80, seed=5).events_between(T0, T0 + 2 * DAY)
    pieces = chunked(TrafficModel(80, seed=5), T0, T0 + 2 * DAY, step)
    assert [e for piece in pieces for e in piece] == whole


@pytest.mark.parametrize(
    ("users", "step"), [(50, 100), (200, 60_000), (200, HOUR), (200, DAY)]
)  # fmt: skip
def test_events_sorted_and_inside_their_interval(users: int, step: int) -> None:
    model = TrafficModel(users, seed=3, activity=10.0)
    start = T0 + 5 * HOUR
    for k, piece in enumerate(chunked(model, start, start + min(300 * step, 2 * DAY), step)):
        lo = start + k * step
        assert all(lo <= e["ts"] < lo + step for e in piece)
        assert [e["ts"] for e in piece] == sorted(e["ts"] for e in piece)


def test_event_ids_unique_across_consecutive_intervals() -> None:
    model = TrafficModel(300, seed=9)
    ids = [e["event_id"] for piece in chunked(model, T0, T0 + 3 * DAY, HOUR) for e in piece]
    assert len(ids) > 10_000
    assert len(set(ids)) == len(ids)


def test_empty_past_and_skipped_intervals() -> None:
    model = TrafficModel(50, seed=1, activity=5.0)
    assert model.events_between(T0, T0) == []
    model.events_between(T0, T0 + DAY)
    assert model.events_between(T0, T0 + HOUR) == []
    later = model.events_between(T0 + 2 * DAY, T0 + 3 * DAY)  # the day in between is skipped
    assert later and all(T0 + 2 * DAY <= e["ts"] < T0 + 3 * DAY for e in later)


# --- the contract ---------------------------------------------------------------------------
def test_every_event_passes_the_contract(week: tuple[TrafficModel, Events]) -> None:
    _, events = week
    for raw in events:
        event = from_dict(raw)
        assert event.event_id == raw["event_id"] and event.ts == raw["ts"]
        assert set(raw["context"]) == {"device", "os", "channel", "timezone"}
        assert ("traits" in raw) == (raw["type"] == "identify")
        assert event.type != "identify" or event.traits


def test_purchase_revenue_is_the_sum_of_its_lines(week: tuple[TrafficModel, Events]) -> None:
    _, events = week
    purchases = [e["properties"] for e in events if e["type"] == "purchase"]
    assert purchases
    for order in purchases:
        total = sum(line["price"] * line["quantity"] for line in order["products"])
        assert order["revenue"] == pytest.approx(total, abs=0.01)
    assert len({order["order_id"] for order in purchases}) == len(purchases)


def test_every_user_registers_once_with_traits(week: tuple[TrafficModel, Events]) -> None:
    _, events = week
    registered = Counter(e["user_id"] for e in events if e["type"] == "register")
    assert set(registered.values()) == {1}
    first: dict[str, dict[str, Any]] = {}
    for e in events:
        first.setdefault(e["user_id"], e)
    assert {e["type"] for e in first.values()} == {"register"}
    identified = {e["user_id"] for e in events if e["type"] == "identify"}
    assert identified >= set(registered)


# --- persona signatures over a week ---------------------------------------------------------
def ratio(c: Counter[str], a: str, b: str) -> float:
    return c[a] / max(c[b], 1)


Stats = dict[str, Counter[str]]
SIGNATURES: list[tuple[str, Callable[[Stats], bool]]] = [
    ("every persona is present", lambda s: set(s) == set(PERSONA_NAMES)),
    (
        "impulse buyers: purchases/views far above browsers'",
        lambda s: (
            ratio(s["impulse_buyer"], "purchase", "view")
            > 10 * ratio(s["browser"], "purchase", "view")
        ),
    ),
    (
        "browsers: most views per purchase of all personas",
        lambda s: all(
            ratio(s["browser"], "view", "purchase") > ratio(c, "view", "purchase")
            for name, c in s.items()
            if name != "browser"
        ),
    ),
    (
        "cart abandoners: many more adds than purchases, and many removals",
        lambda s: (
            s["cart_abandoner"]["add_to_cart"] > 10 * s["cart_abandoner"]["purchase"]
            and s["cart_abandoner"]["remove_from_cart"] > s["cart_abandoner"]["purchase"]
        ),
    ),
    (
        "loyal buyers: re-buy items they bought before, far more than anyone else",
        lambda s: (
            ratio(s["loyal_buyer"], "repeat_lines", "lines") > 0.3
            and all(
                ratio(s["loyal_buyer"], "repeat_lines", "lines")
                > 3 * ratio(c, "repeat_lines", "lines")
                for name, c in s.items()
                if name != "loyal_buyer"
            )
        ),
    ),
    (
        "churners: last third of the week far below the first",
        lambda s: s["churner"]["third2"] < 0.25 * s["churner"]["third0"],
    ),
    (
        "non-churners keep going",
        lambda s: all(
            c["third2"] > 0.6 * c["third0"] for name, c in s.items() if name != "churner"
        ),
    ),
]


@pytest.mark.parametrize(("signature", "holds"), SIGNATURES, ids=[s[0] for s in SIGNATURES])
def test_persona_signature(stats: Stats, signature: str, holds: Callable[[Stats], bool]) -> None:
    assert holds(stats), {name: dict(c) for name, c in stats.items()}


# --- day / night rhythm ---------------------------------------------------------------------
@pytest.mark.parametrize("zone", [z[0] for z in TIMEZONES])
def test_nights_are_quiet_and_evenings_busy(week: tuple[TrafficModel, Events], zone: str) -> None:
    _, events = week
    tz = ZoneInfo(zone)
    by_hour = Counter(
        datetime.fromtimestamp(e["ts"] / 1000, UTC).astimezone(tz).hour
        for e in events
        if e["context"]["timezone"] == zone
    )
    night = sum(by_hour[h] for h in range(1, 5))  # 01:00-05:00
    evening = sum(by_hour[h] for h in range(18, 22))  # 18:00-22:00
    assert evening > 200
    assert night < evening / 4


# --- rate calibration (the simulator relies on it) --------------------------------------------
@pytest.mark.parametrize(("users", "target"), [(300, 2.0), (600, 3.0), (2000, 500.0)])
def test_tune_sets_the_expected_rate(users: int, target: float) -> None:
    model = TrafficModel(users, seed=4)
    model.tune(target)
    assert model.expected_rate() == pytest.approx(target, rel=0.01)


@pytest.mark.parametrize(("users", "target"), [(300, 2.0), (600, 3.0)])
def test_measured_rate_follows_the_target(users: int, target: float) -> None:
    model = TrafficModel(users, seed=4)
    model.tune(target)
    model.events_between(T0, T0 + DAY)  # registrations done, churners gone
    measured = len(model.events_between(T0 + DAY, T0 + 2 * DAY)) / (DAY / 1000)
    assert measured == pytest.approx(target, rel=0.15)


# --- malformed payloads ---------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(5))
def test_every_malformed_event_is_rejected(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(200):
        raw = malformed_event(rng)
        with pytest.raises(Rejected) as caught:
            decode(raw)
        assert caught.value.reason in REJECT_REASONS


MALFORMED_KINDS = ["invalid_json", "missing_event_id", "unknown_type", "bad_timestamp",
                   "not_an_object", "bad_field"]  # fmt: skip


@pytest.mark.parametrize("reason", MALFORMED_KINDS)
def test_each_malformed_kind_is_produced(reason: str) -> None:
    rng = random.Random(7)
    reasons = set()
    for _ in range(300):
        try:
            decode(malformed_event(rng))
        except Rejected as exc:
            reasons.add(exc.reason)
    assert reason in reasons


def test_malformed_events_are_deterministic() -> None:
    a, b = random.Random(3), random.Random(3)
    assert [malformed_event(a) for _ in range(50)] == [malformed_event(b) for _ in range(50)]


# --- population -----------------------------------------------------------------------------
def test_users_have_stable_ids_and_personas() -> None:
    a, b = TrafficModel(1000, seed=8), TrafficModel(1000, seed=8)
    assert a.user_ids[:3] == ["u000000", "u000001", "u000002"]
    assert [a.persona_of(u) for u in a.user_ids] == [b.persona_of(u) for u in b.user_ids]
    shares = Counter(a.persona_of(u) for u in a.user_ids)
    assert set(shares) == set(PERSONA_NAMES) and min(shares.values()) > 80
    with pytest.raises(KeyError):
        a.persona_of("nobody")
