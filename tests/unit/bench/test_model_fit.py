"""bench.model_fit's traffic (pure parts): who declares, what identify carries, the records."""

from __future__ import annotations

import math

import orjson
import pytest
import yaml

from bench.model_fit import EXAMPLE
from bench.model_fit_feed import FENCE, HOUR, simulate
from profiles.rules import load_rules_file

T0 = 1_717_372_800_000


@pytest.mark.parametrize(("users", "share"), [(2000, 0.8), (2000, 0.5), (500, 0.2)])
def test_a_seeded_share_declares(users: int, share: float) -> None:
    truth, _ = simulate(users, 7, share, T0)
    again, _ = simulate(users, 7, share, T0)
    assert truth.declared == again.declared
    assert abs(len(truth.declared) / users - share) < 0.05
    assert truth.declared != simulate(users, 8, share, T0)[0].declared


def test_only_declared_users_identify_with_a_gender() -> None:
    truth, feeder = simulate(300, 3, 0.8, T0)
    events = [e for _ in range(24) for e in feeder.hour()]
    assert feeder.clock == T0 + 24 * HOUR
    assert all(T0 <= e["ts"] < T0 + 24 * HOUR for e in events)
    first: dict[str, dict[str, object]] = {}
    for e in events:
        if e["type"] == "identify":
            first.setdefault(e["user_id"], e["traits"])
    assert len(first) > 200  # most of the 300 users have a first session on the first day
    for uid, traits in first.items():  # the first identify carries every trait but gender
        assert ("gender" in traits) == (uid in truth.declared)
        assert {"birth_year", "city", "occupation"} <= set(traits)
        assert truth.gender[uid] in ("female", "male", "non_binary")
    assert set(truth.gender) == set(first)
    edits = [e for e in events if e["type"] == "identify" and "gender" in e["traits"]]
    assert {e["user_id"] for e in edits} <= truth.declared


def test_the_same_seed_gives_the_same_truth_and_events() -> None:
    a_truth, a = simulate(100, 5, 0.8, T0)
    b_truth, b = simulate(100, 5, 0.8, T0)
    assert [a.hour() for _ in range(6)] == [b.hour() for _ in range(6)]
    assert a_truth == b_truth


def test_records_number_on_across_calls() -> None:
    _, feeder = simulate(50, 1, 0.8, T0)
    first = feeder.records(feeder.hour() + feeder.hour())
    second = feeder.records(feeder.hour())
    offsets = [r.offset for r in first + second]
    assert offsets == list(range(len(first) + len(second)))
    assert {r.partition for r in first + second} == {FENCE}
    for record in first:
        event = orjson.loads(record.value or b"")
        assert record.key == event["user_id"].encode()


# (category shares, value of likely_gender) in the fitted example file; the expected value is
# recomputed below from the file's numbers with plain arithmetic (no profiles.rules).
SHARES = [
    ({"beauty": 1.0}, "female"),
    ({"electronics": 1.0}, "male"),
    ({"fashion": 0.5, "sports": 0.5}, "male"),
    ({"fashion": 0.6, "sports": 0.4}, "female"),
    ({"books": 0.5, "grocery": 0.5}, "male"),
    ({}, "male"),  # no category yet: the intercept alone, slightly negative
]


@pytest.mark.parametrize(("shares", "value"), SHARES)
def test_the_fitted_example_scores_as_its_numbers_say(shares: dict[str, float], value: str) -> None:
    spec = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))["tags"][0]["model"]
    z = spec["intercept"] + sum(
        c * shares.get(name.removeprefix("category_affinity."), 0.0)
        for name, c in spec["features"].items()
    )
    oracle = spec["labels"][1] if 1 / (1 + math.exp(-z)) >= spec["threshold"] else spec["labels"][0]
    assert oracle == value
    rules = load_rules_file(EXAMPLE)
    values, segments = rules.evaluate({"category_affinity": shares})
    assert values == {"likely_gender": value}
    assert segments == (["beauty_offer_women"] if value == "female" else [])
