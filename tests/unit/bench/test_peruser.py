"""bench.peruser does the worker's per-user work: whatever the batch size, every user ends
with the profile and the rule outcome of the pure model applied once to all their events."""

from __future__ import annotations

import pytest

from bench.peruser import cut, run
from bench.sources import events
from profiles.model import ProfileModel
from profiles.rules.engine import RulesEngine
from profiles.rules.load import default_rules
from profiles.wire import decode

RULES = default_rules()
LOCATED = [(k.decode(), decode(v)) for k, v in events("synthetic", 3_000, 200, "t-")]


def once() -> dict[str, tuple[object, ...]]:
    """Each user's events applied once, in one batch (the oracle: no bench code)."""
    model = ProfileModel()
    engine = RulesEngine(model, RULES)
    out = {}
    for uid in {uid for uid, _ in LOCATED}:
        state = model.initial()
        for other, event in LOCATED:
            if other == uid:
                model.apply_event(state, event)
        model.settle(state)
        outcome = engine.evaluate(state, engine.moment(state))
        out[uid] = (model.tags(state, state.newest), outcome.values, outcome.members)
    return out


ONCE = once()


@pytest.mark.parametrize("size", [1, 7, 500, 3_000])
def test_every_batch_size_ends_where_one_pass_does(size: int) -> None:
    spent, user_batches, states = run(cut(LOCATED, size), RULES, progress=False)
    model = ProfileModel()
    got = {
        uid: (model.tags(s, s.newest), s.rules.values, s.rules.members) for uid, s in states.items()
    }
    assert got == ONCE
    assert user_batches == sum(len(batch) for batch in cut(LOCATED, size))
    assert user_batches >= len(ONCE) and (size > 1 or user_batches == len(LOCATED))
    assert all(seconds >= 0 for seconds in spent.values())
