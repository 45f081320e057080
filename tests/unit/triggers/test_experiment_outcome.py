"""experiment_outcome: the recorded exposure, its baseline, the window and the outcome, judged on
real profile states built by the model from contract events."""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from profiles.events import from_dict
from profiles.model import ProfileModel
from profiles.state import State
from profiles.timeutil import DAY_MS, rfc3339
from triggers.config import Metric
from triggers.experiment_outcome import Exposure, baseline, outcome, window_end

MODEL = ProfileModel()
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ids = itertools.count()


def at(text: str) -> int:
    """An instant with its UTC offset -> epoch ms, exact."""
    return (datetime.fromisoformat(text) - EPOCH) // timedelta(milliseconds=1)


EXPOSED = at("2024-05-31T12:00:00+00:00")


def state_of(events: Sequence[tuple[str, int]]) -> State:
    """A profile that applied ``(type, ts)`` events, each a distinct order."""
    state = MODEL.initial()
    for etype, ts in events:
        n = next(_ids)
        body = {"event_id": f"e{n}", "type": etype, "user_id": "u1", "ts": rfc3339(ts),
                "properties": {"item_id": "A", "price": 10.0, "order_id": f"o{n}"}}  # fmt: skip
        MODEL.apply_event(state, from_dict(body))
    return state


def exposure_of(events: Sequence[tuple[str, int]], metric: Metric, exposed: int) -> Exposure:
    """The exposure as the scheduler records it: the baseline of the profile at that moment."""
    before = state_of([e for e in events if e[1] < exposed])
    return Exposure("plain", exposed, baseline(before, metric, exposed))


@pytest.mark.parametrize(
    "exposure",
    [Exposure("plain", EXPOSED, 0), Exposure("holdout", 0, 3), Exposure("a_b_9", 1, 12)],
)
def test_exposure_round_trip(exposure: Exposure) -> None:
    assert Exposure.decode(exposure.encode()) == exposure
    assert exposure.encode().count("|") == 2


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("plain", Exposure("plain", 0, 0)),
        ("plain|", Exposure("plain", 0, 0)),
        ("plain|5", Exposure("plain", 5, 0)),
        ("plain||3", Exposure("plain", 0, 3)),
        ("plain|5|2|later", Exposure("plain", 5, 2)),  # fields added later are ignored
        ("", Exposure("", 0, 0)),
    ],
)
def test_decode_of_short_or_odd_records(raw: str, expected: Exposure) -> None:
    assert Exposure.decode(raw) == expected


def test_baseline_is_the_exposure_days_count() -> None:
    day_before, earlier, later = EXPOSED - DAY_MS, EXPOSED - 3_600_000, EXPOSED + 3_600_000
    state = state_of([("purchase", day_before), ("purchase", earlier), ("purchase", earlier),
                      ("view", earlier), ("purchase", later)])  # fmt: skip
    assert baseline(state, "converted", EXPOSED) == 3  # the whole UTC day as of the state
    assert baseline(state, "recalled", EXPOSED) == 4  # a purchase is a behaviour event too
    assert baseline(None, "converted", EXPOSED) == 0
    assert baseline(MODEL.initial(), "recalled", EXPOSED) == 0


@pytest.mark.parametrize(
    "exposed,days,end",
    [
        ("2024-05-31T12:00:00+00:00", 7, "2024-06-08T00:00:00+00:00"),
        ("2024-05-31T00:00:00+00:00", 7, "2024-06-08T00:00:00+00:00"),
        ("2024-05-31T23:59:59.999+00:00", 0, "2024-06-01T00:00:00+00:00"),
        ("2024-05-31T12:00:00+08:00", 1, "2024-06-02T00:00:00+00:00"),  # UTC days: 04:00Z
    ],
)
def test_window_end(exposed: str, days: int, end: str) -> None:
    assert window_end(at(exposed), days) == at(end)


# (metric, events as (type, UTC time), expected) with exposure at 2024-05-31T12:00Z, 7 days
OUTCOMES: list[tuple[Metric, list[tuple[str, str]], bool]] = [
    ("converted", [], False),
    ("converted", [("purchase", "2024-05-31T09:00")], False),  # before exposure: baseline
    ("converted", [("purchase", "2024-05-31T13:00")], True),
    ("converted", [("purchase", "2024-05-31T09:00"), ("purchase", "2024-05-31T23:59")], True),
    ("converted", [("purchase", "2024-05-30T23:59")], False),
    ("converted", [("purchase", "2024-06-01T00:00")], True),  # day 1
    ("converted", [("purchase", "2024-06-07T23:59")], True),  # day 7
    ("converted", [("purchase", "2024-06-08T00:00")], False),  # day 8
    ("converted", [("view", "2024-06-01T10:00")], False),  # not an order
    ("recalled", [("view", "2024-05-31T09:00")], False),
    ("recalled", [("view", "2024-05-31T13:00")], True),
    ("recalled", [("search", "2024-06-04T13:00")], True),
    ("recalled", [("purchase", "2024-06-07T23:59")], True),
    ("recalled", [("view", "2024-06-08T00:00")], False),
]


@pytest.mark.parametrize("metric,events,expected", OUTCOMES)
def test_outcome(metric: Metric, events: list[tuple[str, str]], expected: bool) -> None:
    timed = [(etype, at(f"{when}:00+00:00")) for etype, when in events]
    exposure = exposure_of(timed, metric, EXPOSED)
    assert outcome(state_of(timed), metric, exposure, 7) is expected


@pytest.mark.parametrize("metric", ["converted", "recalled"])
def test_no_profile_is_no_outcome(metric: Metric) -> None:
    assert outcome(None, metric, Exposure("plain", EXPOSED, 0), 7) is False


def oracle(events: Sequence[tuple[str, int]], metric: Metric, exposed: int, days: int) -> bool:
    """Written apart from the code: an event that counts, after exposure, within the window."""
    first = exposed // DAY_MS
    for etype, ts in events:
        if metric == "converted" and etype != "purchase":
            continue
        day = ts // DAY_MS
        if first < day <= first + days or (day == first and ts > exposed):
            return True
    return False


MINUTE = 60_000
offsets = st.integers(-3 * DAY_MS // MINUTE, 12 * DAY_MS // MINUTE).filter(bool)


@settings(max_examples=300, deadline=None)
@given(
    metric=st.sampled_from(["converted", "recalled"]),
    exposed=st.integers(0, DAY_MS - 1).map(lambda ms: EXPOSED // DAY_MS * DAY_MS + ms),
    days=st.integers(0, 10),
    events=st.lists(st.tuples(st.sampled_from(["purchase", "view"]), offsets), max_size=8),
    shuffle=st.randoms(use_true_random=False),
)
def test_outcome_matches_the_oracle(
    metric: Metric,
    exposed: int,
    days: int,
    events: list[tuple[str, int]],
    shuffle: random.Random,
) -> None:
    timed = [(etype, exposed + minutes * MINUTE) for etype, minutes in events]
    arrival = list(timed)
    shuffle.shuffle(arrival)  # the profile applies them in any order
    exposure = exposure_of(timed, metric, exposed)
    assert outcome(state_of(arrival), metric, exposure, days) == oracle(
        timed, metric, exposed, days
    )
