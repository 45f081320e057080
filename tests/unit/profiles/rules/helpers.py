"""Shared by the rules tests: random populated profiles (generated events applied to a model)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from profiles.aggregators import DAY_MS
from profiles.model import ProfileModel, State
from tests.unit.profiles.test_model import AS_OF, events_strategy

SPAN = 400 * DAY_MS
# As-of times around the events: inside, just after, and long after (windows empty, day counts
# past every threshold of the default pack).
AS_OFS = (AS_OF - 100 * DAY_MS, AS_OF, AS_OF + 31 * DAY_MS, AS_OF + 200 * DAY_MS)
MODEL = ProfileModel()


@st.composite
def profiles(draw: st.DrawFn) -> tuple[State, int]:
    """A settled state built from generated events, and an as-of time to read it at."""
    events = draw(events_strategy(SPAN))
    state = MODEL.initial()
    for event in events:
        MODEL.apply_event(state, event)
    MODEL.settle(state)
    return state, draw(st.sampled_from(AS_OFS))


def tags_of(state: State, as_of: int) -> dict[str, Any]:
    return MODEL.tags(state, as_of)


@st.composite
def layer_profiles(draw: st.DrawFn) -> tuple[State, int]:
    """Profiles near the layers' thresholds (the generic events rarely reach them): up to 60
    views and 7 cart adds, up to 7 orders of 50 to 3000 on random days over 20, 150 or 400
    days, read at a random day up to 250 days after the last event."""
    from tests.unit.profiles.test_model import E

    start = AS_OF - SPAN
    events = []
    for i in range(draw(st.integers(0, 60))):
        events.append(E("view", start + draw(st.integers(0, SPAN)), f"v{i}"))
    for i in range(draw(st.integers(0, 7))):
        events.append(E("add_to_cart", start + draw(st.integers(0, SPAN)), f"a{i}", item_id="s"))
    revenues = st.sampled_from((50.0, 150.0, 250.0, 400.0, 600.0, 3000.0))
    spread = draw(st.sampled_from((20, 150, 400))) * DAY_MS  # orders close together, or not
    for i in range(draw(st.integers(0, 7))):
        ts = AS_OF - draw(st.integers(0, spread))
        events.append(E("purchase", ts, f"p{i}", revenue=draw(revenues), order_id=f"o{i}"))
    state = MODEL.initial()
    for event in events:
        MODEL.apply_event(state, event)
    MODEL.settle(state)
    newest = max((e.ts for e in events), default=AS_OF)
    return state, newest + draw(st.integers(0, 250)) * DAY_MS
