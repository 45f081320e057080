"""The rules engine on one user's state: transitions by event, by time alone and by a change of
the rules; time only moves forward; change ids; the next due moment; the ``profile.changes``
message. Tables first, then properties against a brute-force scan of the clock."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from profiles.aggregators import DAY_MS
from profiles.events import Event
from profiles.model import State
from profiles.rules import BUILTIN_TYPES, load_rules
from profiles.rules.engine import Outcome, RulesEngine, Transition
from profiles.rules.inputs import read_inputs
from profiles.rules.timing import needs
from tests.unit.profiles.rules.helpers import MODEL, profiles
from tests.unit.profiles.test_model import E

T = 1_700_000_000_000
RULES = load_rules(
    """
tags:
  - name: big_spender
    path: consumption/value
    rule: {spend_total: {">=": 100}}
  - name: vip
    path: marketing/manual
    manual: {values: [gold, silver]}
segments:
  - name: repeat_buyers
    where: {purchases_total: {">=": 2}}
  - name: lapsed
    where: {purchases_total: {">=": 1}, days_since_last_purchase: {">=": 30}}
  - name: recent_viewers
    where: {views_7d: {">=": 1}}
  - name: gold
    where: {vip: gold}
"""
)


def buy(ts: int, n: int, revenue: float = 60.0) -> Event:
    return E("purchase", ts, f"p{n}", revenue=revenue, order_id=f"o{n}")


def settled(events: list[Event]) -> State:
    state = MODEL.initial()
    for event in events:
        MODEL.apply_event(state, event)
    MODEL.settle(state)
    return state


def run(engine: RulesEngine, state: State, cause: str = "event") -> list[tuple[Any, ...]]:
    out = engine.apply("u", state, engine.moment(state), cause)
    return [(t.kind, t.name, t.change, t.old, t.new) for t in out]


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        pytest.param([], [("tag", "big_spender", "changed", None, False)], id="nothing yet"),
        pytest.param(
            [E("view", T, "v")],
            [
                ("segment", "recent_viewers", "entered", False, True),
                ("tag", "big_spender", "changed", None, False),
            ],
            id="a view",
        ),
        pytest.param(
            [buy(T, 1), buy(T + 1, 2)],
            [
                ("segment", "repeat_buyers", "entered", False, True),
                ("tag", "big_spender", "changed", None, True),
            ],
            id="two purchases",
        ),
        pytest.param(
            [Event("t", "tag", "u-1", T, traits={"tag": "vip", "value": "gold"})],
            [
                ("segment", "gold", "entered", False, True),
                ("tag", "big_spender", "changed", None, False),
                ("tag", "vip", "changed", None, "gold"),
            ],
            id="a manual tag",
        ),
    ],
)
def test_a_first_evaluation_starts_from_nothing(events: list[Event], expected: list[Any]) -> None:
    engine = RulesEngine(MODEL, RULES)
    state = MODEL.initial()
    for event in events:
        MODEL.apply_event(state, event)
    MODEL.settle(state)
    assert run(engine, state) == expected
    assert run(engine, state) == []  # the same state again: nothing changed


def test_leaving_and_the_recorded_state() -> None:
    engine = RulesEngine(MODEL, RULES)
    state = settled([E("view", T, "v")])
    run(engine, state)
    assert state.rules.members == ["recent_viewers"]
    assert state.rules.version == RULES.version and state.rules.at == T
    assert state.rules.since == {"recent_viewers": T // 1000, "big_spender": T // 1000}
    MODEL.apply_event(state, buy(T + 8 * DAY_MS, 1))  # the view left the 7-day window
    MODEL.settle(state)
    assert run(engine, state) == [("segment", "recent_viewers", "exited", True, False)]
    assert state.rules.members == []
    assert state.rules.since["recent_viewers"] == (T + 8 * DAY_MS) // 1000


def test_time_only_moves_forward() -> None:
    """A late event is evaluated as of the last evaluation: it cannot undo a time flip."""
    engine = RulesEngine(MODEL, RULES)
    state = settled([buy(T, 1)])
    run(engine, state)
    later = T + 40 * DAY_MS
    flips = engine.catch_up("u", state, later)
    assert [(t.name, t.change, t.at) for t in flips] == [("lapsed", "entered", T + 30 * DAY_MS)]
    MODEL.apply_event(state, E("view", T + DAY_MS, "late"))  # arrives now, dated long ago
    MODEL.settle(state)
    assert engine.moment(state) == state.rules.at >= T + 30 * DAY_MS
    assert run(engine, state) == []  # as of then, the old view is out of every window
    assert "lapsed" in state.rules.members


def test_a_time_flip_happens_at_its_exact_moment_and_the_due_moment_leads_there() -> None:
    engine = RulesEngine(MODEL, RULES)
    state = settled([buy(T, 1)])
    run(engine, state)
    flip = T + 30 * DAY_MS
    state.rules.due = engine.due(state, state.rules.at)
    assert T < state.rules.due <= flip
    assert engine.catch_up("u", state, flip - 1) == []  # not yet
    assert "lapsed" not in state.rules.members and state.rules.due == flip
    (entered,) = engine.catch_up("u", state, flip)
    assert (entered.name, entered.change, entered.at, entered.cause) == (
        "lapsed", "entered", flip, "time",
    )  # fmt: skip
    assert engine.evaluate(state, flip - 1).members == []
    assert engine.catch_up("u", state, flip + 400 * DAY_MS) == []  # nothing flips back


def test_a_change_of_rules_is_its_own_cause_and_does_not_change_the_ids() -> None:
    state = settled([buy(T, 1), buy(T + 1, 2)])
    old = RulesEngine(MODEL, RULES)
    (entered, _) = old.apply("u", state, old.moment(state), "event")
    narrower = load_rules(
        "segments:\n  - name: repeat_buyers\n    where: {purchases_total: {'>=': 3}}\n"
    )
    new = RulesEngine(MODEL, narrower)
    changes = new.apply("u", state, T + 5, "event")
    assert [(t.kind, t.name, t.change, t.cause) for t in changes] == [
        ("segment", "repeat_buyers", "exited", "rules"),
        ("tag", "big_spender", "changed", "rules"),  # a tag the new rules do not define
    ]
    assert state.rules.since.keys() == {"repeat_buyers"}
    again = Transition(
        "u", "segment", "repeat_buyers", False, True, entered.at, "another-version", "rules"
    )
    assert again.change_id == entered.change_id  # the version is not part of the id
    moved = Transition("u", "segment", "repeat_buyers", False, True, entered.at + 1, "v", "event")
    assert moved.change_id != entered.change_id


def test_the_message_contract() -> None:
    seg = Transition("u1", "segment", "vip_club", False, True, T, "abc123", "event").message()
    assert seg == {
        "change_id": seg["change_id"],
        "user_id": "u1",
        "segment": "vip_club",
        "change": "entered",
        "at": "2023-11-14T22:13:20.000Z",
        "at_ms": T,
        "rules_version": "abc123",
        "cause": "event",
    }
    assert len(seg["change_id"]) == 32
    tag = Transition("u1", "tag", "tier", "silver", "gold", T, "abc123", "manual").message()
    assert (tag["tag"], tag["change"], tag["from"], tag["to"]) == (
        "tier",
        "changed",
        "silver",
        "gold",
    )


def test_rules_that_read_no_clock_never_fall_due() -> None:
    timeless = load_rules("segments:\n  - name: buyers\n    where: {purchases_total: {'>=': 1}}\n")
    engine = RulesEngine(MODEL, timeless)
    state = settled([buy(T, 1)])
    run(engine, state)
    assert engine.due(state, state.rules.at) == 0


# --- properties ----------------------------------------------------------------------------

TIMED = load_rules(
    """
segments:
  - name: lapsed
    where: {purchases_total: {">=": 1}, days_since_last_purchase: {">=": 30}}
  - name: weekly
    where: {views_7d: {">=": 2}}
  - name: fading
    where: {any: [{spend_30d: {">": 100}}, {days_since_last_seen: {"<": 3}}]}
  - name: dormant
    where: {lifecycle: dormant}
"""
)


@settings(max_examples=25, deadline=None)
@given(profiles(), st.integers(1, 200))
def test_catch_up_finds_every_flip_a_scan_of_the_clock_sees(
    profile: tuple[State, int], days: int
) -> None:
    state, _ = profile
    engine = RulesEngine(MODEL, TIMED)
    start = engine.moment(state)
    engine.apply("u", state, start, "event")
    now = start + days * DAY_MS
    flips: list[Transition] = []
    for _ in range(50):  # rounds, as the worker would run them, until nothing is left due
        flips.extend(engine.catch_up("u", state, now))
        if not state.rules.due or state.rules.due > now:
            break
    # the scan: membership on an hourly grid, and just before and at each reported flip
    grid = sorted({*range(start, now + 1, 3_600_000), *(t.at for t in flips), now})
    grid += [t.at - 1 for t in flips]
    seen = {m: engine.evaluate(state, m).members for m in sorted(set(grid)) if m >= start}
    for t in flips:
        assert (t.name in seen[t.at - 1]) == t.old if t.at - 1 >= start else True
        assert (t.name in seen[t.at]) == t.new
    moments = list(seen)
    for a, b in itertools.pairwise(moments):
        if seen[a] != seen[b]:  # every change the scan sees is a reported flip in (a, b]
            assert any(a < t.at <= b for t in flips), (a, b, seen[a], seen[b])
    assert state.rules.members == engine.evaluate(state, now).members


def _timeless() -> frozenset[str]:
    """The built-in tags timing.py says never move with the clock, whatever day a rule marks
    (``active_now`` aside: it moves hour by hour and timing.py does not list it)."""
    rfm, layers = MODEL.config.rfm, MODEL.config.layers
    marks = frozenset(range(1, 900))
    return frozenset(
        n
        for n in BUILTIN_TYPES
        if n != "active_now" and not needs(frozenset({n}), marks, rfm, layers).moves
    )


TIMELESS = _timeless()


@settings(max_examples=40, deadline=None)
@given(profiles())
def test_timeless_tags_do_not_move_with_the_clock(profile: tuple[State, int]) -> None:
    state, as_of = profile
    as_of = max(as_of, state.newest)
    names = TIMELESS
    now = read_inputs(MODEL, state, as_of, names)
    later = read_inputs(MODEL, state, as_of + 800 * DAY_MS, names)
    assert {n: now[n] for n in names} == {n: later[n] for n in names}


def test_a_model_fed_a_day_count_falls_due_every_day() -> None:
    """No day mark covers a continuous score of days_since_*: every whole day is a moment."""
    rules = load_rules(
        """
tags:
  - name: cooling
    path: behaviour/recency
    model: {kind: logistic, features: {days_since_last_seen: 0.2}, intercept: -3.0,
            output: label, threshold: 0.5, labels: [warm, cool]}
"""
    )
    engine = RulesEngine(MODEL, rules)
    state = settled([E("view", T, "v")])
    run(engine, state)
    assert state.rules.values == {"cooling": "warm"}
    assert engine.due(state, state.rules.at) == T + DAY_MS
    flips = engine.catch_up("u", state, T + 40 * DAY_MS)
    # the score reaches the 0.5 threshold when 0.2 * days - 3 reaches 0: day 15, exactly
    assert [(t.name, t.new, t.at) for t in flips] == [("cooling", "cool", T + 15 * DAY_MS)]


@pytest.mark.parametrize(
    ("rules", "old", "new", "published"),
    [
        pytest.param("bool", None, False, False, id="a new user's false is not news"),
        pytest.param("bool", None, True, True, id="tagged at once"),
        pytest.param("bool", False, True, True, id="tagged"),
        pytest.param("bool", True, False, True, id="untagged"),
        pytest.param("bool", False, None, False, id="a removed rule's false"),
        pytest.param("enum", None, "regular", True, id="a first bucket"),
        pytest.param("score", 0.2, 0.3, False, id="a probability moves all the time"),
        pytest.param("label", "warm", "cool", True, id="a model's label"),
    ],
)
def test_which_tag_changes_are_published(rules: str, old: Any, new: Any, published: bool) -> None:
    text = {
        "bool": "rule: {views_total: {'>=': 1}}",
        "enum": "buckets: [[regular, {}]]",
        "score": "model: {kind: logistic, features: {views_total: 1.0}, intercept: 0}",
        "label": "model: {kind: logistic, features: {views_total: 1.0}, intercept: 0,"
        " output: label, threshold: 0.5, labels: [warm, cool]}",
    }[rules]
    engine = RulesEngine(MODEL, load_rules(f"tags:\n  - name: t\n    path: a/b\n    {text}\n"))
    state = MODEL.initial()
    state.rules.values = {} if old is None else {"t": old}
    state.rules.version = engine.version
    outcome = Outcome({} if new is None else {"t": new}, [])
    (transition,) = engine._record("u", state, outcome, T, "event")
    assert transition.published is published
    assert state.rules.since["t"] == T // 1000  # recorded either way


@pytest.mark.parametrize(
    ("old", "new", "members", "changes"),
    [
        pytest.param({"t": 1}, {"t": 1}, ([], []), 0, id="the same outcome: nothing"),
        pytest.param({}, {}, (["s"], ["s"]), 0, id="the same membership: nothing"),
        pytest.param({"t": 1}, {"t": 1.0}, ([], []), 1, id="an int becomes an equal float"),
        pytest.param({"t": 1}, {"t": True}, ([], []), 1, id="an int becomes an equal bool"),
        pytest.param({"t": 1}, {"t": 2}, ([], []), 1, id="a new value"),
        pytest.param({"t": 1}, {}, ([], []), 1, id="a value goes"),
        pytest.param({}, {}, (["s"], []), 1, id="a segment left"),
    ],
)
def test_an_unchanged_outcome_moves_only_the_moment(
    old: dict[str, Any], new: dict[str, Any], members: tuple[list[str], list[str]], changes: int
) -> None:
    engine = RulesEngine(MODEL, load_rules("tags:\n  - name: t\n    path: a/b\n    rule: {}\n"))
    state = MODEL.initial()
    rules = state.rules
    rules.version, rules.at, rules.values, rules.members = engine.version, T, old, members[0]
    rules.since = {"t": T // 1000}
    out = engine._record("u", state, Outcome(new, members[1]), T + DAY_MS, "event")
    assert len(out) == changes
    assert state.rules.at == T + DAY_MS
    assert state.rules.values == new and state.rules.members == members[1]
    assert [type(v) for v in state.rules.values.values()] == [type(v) for v in new.values()]
    if not changes:
        assert state.rules.since == {"t": T // 1000}  # the last change stays where it was
