"""TriggerRules.ops as the worker drives it: Before.of, apply a batch, settle, then the rules."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from profiles.events import Event, from_dict
from profiles.model import APPLIED, DUPLICATE, REPLAYED, ProfileModel, State
from tests.factories import contract_event
from triggers.config import KINDS, KindConfig, TriggerConfig
from triggers.model import Cancel, Op, Schedule, make_trigger_id
from triggers.rules import Before, TriggerRules

MIN, HOUR, DAY = 60_000, 3_600_000, 86_400_000
MODEL = ProfileModel()
RULES = TriggerRules(MODEL, TriggerConfig())
Ev = tuple[str, int, dict[str, Any]]  # type, ts, properties


def at(text: str) -> int:
    return int(datetime.fromisoformat(text + "+00:00").timestamp() * 1000)


def to_event(ev: Ev) -> Event:
    return from_dict(contract_event(ev[0], "u1", ev[1], **ev[2]))


def apply(state: State, batch: list[Ev], now: int, rules: TriggerRules = RULES) -> list[Op]:
    """One user's batch as streams/pipeline/processor.py applies it, then the rules' operations."""
    before, applied = Before.of(state), set()
    for event in map(to_event, batch):
        if MODEL.apply_event(state, event) is APPLIED:
            applied.add(event.type)
    changed = MODEL.settle(state)
    return rules.ops("u1", before, state, applied, changed, now)


def run(batches: list[list[Ev]], now: int | None = None, rules: TriggerRules = RULES) -> list[Op]:
    """The operations of the last batch (each batch read a minute after its last event)."""
    state, ops = MODEL.initial(), []
    for batch in batches:
        ops = apply(state, batch, batch[-1][1] + MIN if now is None else now, rules)
    return ops


def slot(ops: list[Op], name: str) -> list[Any]:
    """A slot's operations; a Schedule as (trigger_id, due_at, expires_at, payload)."""
    return [
        (o.trigger.trigger_id, o.trigger.due_at, o.trigger.expires_at, o.trigger.payload)
        if isinstance(o, Schedule)
        else o
        for o in ops
        if (o.trigger.slot if isinstance(o, Schedule) else o.slot) == name
    ]


def S(kind: str, due: int, ttl: int, payload: dict[str, Any], *parts: object) -> tuple[Any, ...]:
    return (make_trigger_id(kind, "u1", *parts), due, due + ttl, payload)


def add(item: str, ts: int, price: float = 10.0, quantity: int = 1) -> Ev:
    return ("add_to_cart", ts, {"item_id": item, "price": price, "quantity": quantity})


def buy(ts: int, revenue: float = 50.0, items: tuple[str, ...] = ()) -> Ev:
    return ("purchase", ts, {"revenue": revenue, "products": [{"item_id": i} for i in items]})


def view(ts: int) -> Ev:
    return ("view", ts, {"item_id": "v"})


def search(query: str, ts: int) -> Ev:
    return ("search", ts, {"query": query})


T0 = at("2024-05-31T10:00:00")
A2, B1 = (
    {"item_id": "A", "quantity": 2, "price": 10.0},
    {"item_id": "B", "quantity": 1, "price": 5.5},
)
CHURN = at("2024-11-28T00:00:00")  # T0 + 180 d = 2024-11-27T10:00: the start of the next UTC day
S3 = [search("shoes", T0 + d * DAY) for d in range(3)]  # 3 days of 7: repeated_search = shoes
S_AT = T0 + 2 * DAY


def cart(due: int, items: list[Any], value: float) -> tuple[Any, ...]:
    count = sum(i["quantity"] for i in items)
    payload = {"items": items, "item_count": count, "value": value}
    return S("cart_reminder", due, DAY, payload, T0)  # the id: the cart's first add


def win_back(moment: int, last_seen: int) -> tuple[Any, ...]:
    return S("win_back", moment, 7 * DAY, {}, moment)


SEARCH = S(
    "repeated_search", S_AT, 2 * DAY, {"query": "shoes", "days": 3}, "shoes", S_AT // DAY // 7
)


def first(bought: int, value: float) -> tuple[Any, ...]:
    return S("first_purchase", bought + 3 * DAY, 3 * DAY, {"order_value": value})


CR, WB, RS, FP, HV = (
    "cart_reminder", "win_back", "repeated_search", "first_purchase", "high_value_welcome",
)  # fmt: skip
REMOVE_A = ("remove_from_cart", T0 + MIN, {"item_id": "A"})
MIDNIGHT = at("2024-05-31T00:00:00")

# (batches, now (None: a minute after the last event), slot, expected operations)
# fmt: off
CASES = [
    # cart_reminder: due after the latest open add; one id per cart (its first add)
    ([[add("A", T0, 10.0, 2)]], None, CR, [cart(T0 + 30 * MIN, [A2], 20.0)]),
    ([[add("A", T0, 10.0, 2)], [add("B", T0 + 10 * MIN, 5.5)]], None, CR,
     [cart(T0 + 40 * MIN, [A2, B1], 25.5)]),  # a further add: same id, payload updated
    ([[add("A", T0, 10.0, 2), add("B", T0 + MIN)], [buy(T0 + 5 * MIN, items=("B",))]], None, CR,
     [cart(T0 + 30 * MIN, [A2], 20.0)]),  # B bought: due after the latest *open* add
    ([[add("A", T0, 10.0, 2)]], T0 + 30 * MIN + DAY - 1, CR, [cart(T0 + 30 * MIN, [A2], 20.0)]),
    ([[add("A", T0)], [REMOVE_A]], None, CR, [Cancel("u1", CR, "removed")]),
    ([[add("A", T0), add("B", T0)], [buy(T0 + MIN, items=("A", "B"))]], None, CR,
     [Cancel("u1", CR, "purchase")]),
    ([[add("A", T0), add("B", T0)], [buy(T0 + MIN)]], None, CR,  # a whole-cart checkout
     [Cancel("u1", CR, "purchase")]),
    ([[add("A", T0)]], T0 + 30 * MIN + DAY, CR, [Cancel("u1", CR, "expired")]),  # after due+ttl
    ([[add("A", T0)]], T0 + 90 * DAY, CR, [Cancel("u1", CR, "expired")]),
    # win_back: at the churn moment of the last event, while orders <= churn_risk_max_orders
    ([[view(T0)]], None, WB, [win_back(CHURN, T0)]),
    ([[view(T0)], [view(T0 + 3 * HOUR)]], None, WB, []),  # same UTC day: the moment stays
    ([[view(T0)], [view(at("2024-05-31T23:59:59"))]], None, WB, []),
    ([[view(T0)], [view(T0 + 14 * HOUR)]], None, WB, []),  # 06-01T00:00 + 180 d: 11-28 too
    ([[view(T0)], [view(T0 + 15 * HOUR)]], None, WB, [win_back(CHURN + DAY, T0 + 15 * HOUR)]),
    ([[view(T0)], [view(T0 + 40 * DAY)]], None, WB, [win_back(CHURN + 40 * DAY, T0 + 40 * DAY)]),
    ([[view(MIDNIGHT)]], None, WB, [win_back(at("2024-11-27T00:00:00"), MIDNIGHT)]),
    ([[buy(T0)]], None, WB, [win_back(CHURN, T0)]),  # 1 order
    ([[buy(T0), buy(T0 + MIN)]], None, WB, []),  # 2 orders from the start
    ([[buy(T0 - DAY), buy(T0)], [view(T0 + DAY)]], None, WB, []),
    ([[buy(T0)], [buy(T0 + DAY)]], None, WB, [Cancel("u1", WB, "ordered")]),
    ([[view(T0)]], CHURN + 7 * DAY, WB, []),  # read after it expired
    # repeated_search: a query searched on 3 days of 7, no purchase in those 7 days
    ([S3], None, RS, [SEARCH]),
    ([S3[:2], S3[2:]], None, RS, [SEARCH]),
    ([[buy(T0 - 20 * DAY)], S3], None, RS, [SEARCH]),
    ([[buy(T0 - 4 * DAY)], S3], None, RS, []),
    ([S3[:2]], None, RS, []),
    ([S3, [buy(S_AT + HOUR)]], None, RS, [Cancel("u1", RS, "purchase")]),
    # first_purchase: orders 0 -> 1, due 3 days after it
    ([[view(T0)], [buy(T0 + HOUR, 123.456)]], None, FP, [first(T0 + HOUR, 123.46)]),
    ([[buy(T0, 80.0)]], None, FP, [first(T0, 80.0)]),
    ([[buy(T0)], [buy(T0 + HOUR)]], None, FP, []),  # 1 -> 2
    ([[view(T0)]], None, FP, []),
    # high_value_welcome: high_value goes True (spend_30d >= 5000)
    ([[buy(T0, 6000.0)]], None, HV, [S(HV, T0, 3 * DAY, {}, T0 // DAY)]),
    ([[buy(T0, 100.0)]], None, HV, []),
    ([[buy(T0, 6000.0)], [buy(T0 + HOUR, 10.0)]], None, HV, []),  # already high_value
]
# fmt: on


@pytest.mark.parametrize("batches,now,name,expected", CASES)
def test_ops(batches: list[list[Ev]], now: int | None, name: str, expected: list[Any]) -> None:
    assert slot(run(batches, now), name) == expected


@pytest.mark.parametrize(
    "kind,created,priority,channels,active_hour",
    [
        ("cart_reminder", T0 + MIN, 80, ("push",), False),
        ("win_back", T0 + MIN, 60, ("push",), True),
        ("first_purchase", T0 + MIN, 40, ("email", "push"), False),
        ("high_value_welcome", T0 + MIN, 90, ("sms", "push"), False),
    ],
)
def test_trigger_fields_from_the_kind_config(
    kind: str, created: int, priority: int, channels: tuple[str, ...], active_hour: bool
) -> None:
    ops = run([[add("A", T0), buy(T0, 6000.0, ("B",))]])
    (t,) = [o.trigger for o in ops if isinstance(o, Schedule) and o.trigger.kind == kind]
    assert (t.user_id, t.created_at, t.priority, t.channels) == ("u1", created, priority, channels)
    assert (t.at_active_hour, t.campaign_id, t.deferrals) == (active_hour, None, 0)


OFF = KindConfig(enabled=False)
CART_OFF = TriggerConfig(kinds={**TriggerConfig().kinds, "cart_reminder": OFF})
ALL_OFF = dataclasses.replace(TriggerConfig(), enabled=False)


@pytest.mark.parametrize("config", [CART_OFF, ALL_OFF], ids=["cart_off", "all_off"])
def test_disabled_cart_reminder_gives_nothing(config: TriggerConfig) -> None:
    assert slot(run([[add("A", T0)]], rules=TriggerRules(MODEL, config)), "cart_reminder") == []


@pytest.mark.parametrize("config,win_back", [(CART_OFF, 1), (ALL_OFF, 0)])
def test_disabled_kinds_schedule_nothing(config: TriggerConfig, win_back: int) -> None:
    ops = run([[add("A", T0)]], rules=TriggerRules(MODEL, config))
    assert [o.trigger.kind for o in ops if isinstance(o, Schedule)] == ["win_back"] * win_back


def test_churn_moment_is_a_day_start_at_or_after_churn_risk() -> None:
    for last in (T0, T0 + 1, at("2024-05-31T00:00:00"), at("2024-05-31T23:59:59")):
        moment = RULES.churn_moment(last)
        assert moment % DAY == 0 and last + 180 * DAY <= moment < last + 181 * DAY


# --- redelivery ------------------------------------------------------------------------------
KIND = st.sampled_from(["add", "remove", "buy", "buy_a", "search", "view"])
KEY = st.sampled_from(["A", "B", "shoes"])
EARLIER = st.tuples(KIND, st.integers(0, 9 * DAY), KEY)  # expired by now: no edge at now
BATCH = st.tuples(KIND, st.integers(10 * DAY, 10 * DAY + 12 * HOUR), KEY)  # in the dedupe window
MAKE = {
    "add": lambda ts, k: add(k, ts),
    "remove": lambda ts, k: ("remove_from_cart", ts, {"item_id": k}),
    "buy": lambda ts, k: buy(ts),
    "buy_a": lambda ts, k: buy(ts, items=(k,)),
    "search": lambda ts, k: search(k, ts),
    "view": lambda ts, k: view(ts),
}


@settings(max_examples=60, deadline=None)
@given(st.lists(EARLIER, max_size=6), st.lists(BATCH, min_size=1, max_size=6))
def test_a_batch_read_twice_gives_the_same_triggers(earlier: list[Any], second: list[Any]) -> None:
    state, now = MODEL.initial(), T0 + 11 * DAY
    apply(state, [MAKE[k](T0 + ts, v) for k, ts, v in earlier] or [view(T0)], now)
    batch = [to_event(MAKE[k](T0 + ts, v)) for k, ts, v in second]
    stored = MODEL.encode(state)

    def deliver(s: State, offset: int, now: int) -> tuple[list[Any], set[Any]]:
        before, applied, outcomes = Before.of(s), set(), set()
        for i, event in enumerate(batch):
            outcomes.add(outcome := MODEL.apply_event(s, event, 0, offset + i))
            if outcome is APPLIED:
                applied.add(event.type)
        ops = RULES.ops("u1", before, s, applied, MODEL.settle(s), now)
        return [x for name in KINDS for x in slot(ops, name)], outcomes

    ops, _ = deliver(after := MODEL.decode(stored), 100, now)
    assert deliver(MODEL.decode(stored), 100, now + 5 * MIN)[0] == ops  # crash before the commit
    assert deliver(after, 100, now + 5 * MIN)[1] == {REPLAYED}  # committed: the fence
    dup, outcomes = deliver(after, 500, now + 5 * MIN)  # new offsets: the dedupe window
    assert outcomes == {DUPLICATE}
    assert {x[0] for x in dup if isinstance(x, tuple)} <= {
        x[0] for x in ops if isinstance(x, tuple)
    }
