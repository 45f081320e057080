"""Model tags: logistic scoring against an independent computation, null features, labels."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from profiles.rules.catalogue import BUILTIN_TYPES
from profiles.rules.scoring import Logistic, feature, parse_model, probability, scorer

SPEC = {"kind": "logistic", "features": {"category_affinity.baby": 3.1, "spend_30d": 0.001,
        "high_value": 0.5}, "intercept": -2.0}  # fmt: skip


def oracle(z: float) -> float:
    return 1 / (1 + math.exp(-z)) if z > -700 else 0.0


@pytest.mark.parametrize(
    ("tags", "z"),
    [
        ({}, -2.0),  # every feature null or missing: 0
        ({"spend_30d": None, "category_affinity": None, "high_value": None}, -2.0),
        ({"spend_30d": 1000.0}, -1.0),
        ({"category_affinity": {"baby": 0.5}}, -2.0 + 1.55),
        ({"category_affinity": {"toys": 1.0}}, -2.0),  # a missing key: share 0
        ({"high_value": True, "spend_30d": 2000}, -2.0 + 0.5 + 2.0),
        ({"high_value": False}, -2.0),
        ({"spend_30d": "x"}, -2.0),  # not a number: 0
    ],
)
def test_probability(tags: dict[str, Any], z: float) -> None:
    model = parse_model(SPEC, BUILTIN_TYPES)
    assert abs(scorer(model)(tags) - oracle(z)) <= 1e-6


@pytest.mark.parametrize(
    ("tags", "label"),
    [({}, "no"), ({"spend_30d": 2000.0}, "yes"), ({"spend_30d": 1999.0}, "no")],
)
def test_label(tags: dict[str, Any], label: str) -> None:
    spec = {"kind": "logistic", "features": {"spend_30d": 0.001}, "intercept": -2.0,
            "output": "label", "threshold": 0.5}  # fmt: skip
    model = parse_model(spec, BUILTIN_TYPES)
    assert scorer(model)(tags) == label
    assert model.tag_type().values == ("no", "yes")


def test_parsed_model() -> None:
    model = parse_model(SPEC, BUILTIN_TYPES)
    assert model == Logistic(
        (("category_affinity", "baby", 3.1), ("high_value", None, 0.5), ("spend_30d", None, 0.001)),
        -2.0,
    )
    assert model.reads() == {"category_affinity", "high_value", "spend_30d"}


@given(st.floats(-1e6, 1e6))
def test_probability_is_stable_and_bounded(z: float) -> None:
    p = probability(z)
    assert 0.0 <= p <= 1.0
    assert abs(p - oracle(z)) <= 1e-6  # rounded to 6 decimals (the last may differ by one)
    assert probability(z) == p and p == round(p, 6)


@pytest.mark.parametrize(
    ("value", "key", "x"),
    [
        (None, None, 0.0),
        (True, None, 1.0),
        (2, None, 2.0),
        ({"a": 0.3}, "a", 0.3),
        ({"a": 0.3}, "b", 0.0),
        (None, "a", 0.0),
        ([1], None, 0.0),
    ],
)
def test_feature(value: object, key: str | None, x: float) -> None:
    assert feature(value, key) == x
