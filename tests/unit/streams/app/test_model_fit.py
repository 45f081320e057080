"""``portrait model fit``'s pure parts: features as the stream scores them, the stratified
split, the fit's report on data with a known answer, and the rewrite of one model block that
leaves the rest of the rules file byte for byte."""

from __future__ import annotations

import math
import random

import pytest
import yaml

from profiles.rules import Logistic, TagRule, load_rules
from profiles.rules.scoring import scorer
from streams.app.model_fit import (
    Fit,
    feature_names,
    feature_row,
    fit_logistic,
    new_model_block,
    positive_value,
    rewrite_model,
    split,
)
from streams.errors import CommandError

RULES_TEXT = """\
# Business rules of the shop (a comment that must survive)
tags:
  - name: new_parent
    path: preference/life_stage
    description: Probably a new parent.
    model:
      kind: logistic
      # fitted by portrait model fit
      features:
        category_affinity.baby: 0.0
        spend_30d: 0.0
      intercept: 0.0
      output: probability

  - name: buys_for_women
    path: attributes/inferred
    model: {kind: logistic, features: {"category_affinity.women": 0.0}, intercept: 0.0,
            output: label, threshold: 0.5, labels: ["no", "yes"]}   # flow style stays flow

  # the rest is not touched
segments:
  - name: parents
    where: {new_parent: {">": 0.7}}
"""


def model(name: str, text: str = RULES_TEXT) -> Logistic:
    rule = load_rules(text, "t.yaml").find(name)
    assert isinstance(rule, TagRule) and rule.model is not None
    return rule.model


def fit(features: dict[str, float], intercept: float) -> Fit:
    return Fit(list(features), list(features.values()), intercept, 0.9, 0.95, 8, 2, 5)


def test_feature_names_and_rows_are_the_streams_features() -> None:
    m = model("new_parent")
    assert feature_names(m) == ["category_affinity.baby", "spend_30d"]
    assert feature_row(m, {"category_affinity": {"baby": 0.4}, "spend_30d": 120.0}) == (
        [0.4, 120.0], True,
    )  # fmt: skip
    assert feature_row(m, {"category_affinity": {"toys": 1.0}, "spend_30d": None}) == (
        [0.0, 0.0], False,
    )  # fmt: skip
    assert feature_row(m, {"category_affinity": {}, "spend_30d": 0.0}) == ([0.0, 0.0], True)


@pytest.mark.parametrize("share", [0.1, 0.2, 0.5, 0.9])
def test_split_is_stratified_disjoint_and_complete(share: float) -> None:
    labels = [1] * 30 + [0] * 70
    train, test = split(100, labels, share)
    assert sorted(train + test) == list(range(100))
    assert not set(train) & set(test)
    for label, n in ((1, 30), (0, 70)):
        in_test = sum(labels[i] == label for i in test)
        assert in_test == min(n - 1, max(1, round(n * share)))
    assert split(100, labels, share) == (train, test)  # seeded: the same report twice


def test_fit_finds_the_direction_of_a_known_model() -> None:
    rng = random.Random(7)
    rows, labels = [], []
    for _ in range(2000):
        x = [rng.random(), rng.random()]
        z = -1.0 + 6.0 * x[0] - 4.0 * x[1]
        labels.append(int(rng.random() < 1 / (1 + math.exp(-z))))
        rows.append(x)
    result = fit_logistic(rows, labels, ["a", "b"], 0.25)
    assert result.coefficients[0] > 2.0 and result.coefficients[1] < -1.5
    assert 0.7 < result.accuracy <= 1.0 and 0.8 < result.auc <= 1.0
    assert result.test == round(sum(labels) * 0.25) + round((2000 - sum(labels)) * 0.25)
    assert result.train + result.test == 2000 and result.positives == sum(labels)


def test_fit_needs_both_classes() -> None:
    with pytest.raises(CommandError, match="each class"):
        fit_logistic([[0.0]] * 5 + [[1.0]], [0] * 5 + [1], ["a"], 0.2)


@pytest.mark.parametrize(
    "given,seen,want",
    [(None, {"f": 3, "m": 2}, "m"), ("f", {"f": 3, "m": 2}, "f"),
     ("x", {"x": 1, "y": 1, "z": 1}, "x")],
)  # fmt: skip
def test_positive_value(given: str | None, seen: dict[str, int], want: str) -> None:
    assert positive_value(given, seen, "gender") == want


@pytest.mark.parametrize(
    "given,seen,message",
    [(None, {"f": 1, "m": 1, "x": 1}, "--positive"), (None, {}, "none"), ("q", {"f": 1}, "'q'")],
)
def test_positive_value_refusals(given: str | None, seen: dict[str, int], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        positive_value(given, seen, "gender")


def test_rewrite_changes_only_the_block_model_of_its_tag() -> None:
    block = new_model_block(
        yaml.safe_load(RULES_TEXT)["tags"][0]["model"],
        fit({"category_affinity.baby": 3.1234567, "spend_30d": -0.0001}, -2.5),
    )
    text = rewrite_model(RULES_TEXT, "new_parent", block)
    before, after = RULES_TEXT.splitlines(), text.splitlines()
    start = before.index("    model:") + 1
    assert after[:start] == before[:start]
    end = before.index("      output: probability") + 1
    assert after[-(len(before) - end) :] == before[end:]  # the flow block and segments untouched
    got = model("new_parent", text)
    assert feature_names(got) == ["category_affinity.baby", "spend_30d"]
    assert [c for _, _, c in got.features] == [3.123457, -0.0001]
    assert got.intercept == -2.5 and got.output == "probability"
    score = scorer(got)({"category_affinity": {"baby": 1.0}, "spend_30d": 0.0})
    assert score == round(1 / (1 + math.exp(-(3.123457 - 2.5))), 6)


def test_rewrite_keeps_a_flow_block_flow_and_its_other_keys() -> None:
    old = yaml.safe_load(RULES_TEXT)["tags"][1]["model"]
    block = new_model_block(old, fit({"category_affinity.women": 1.5}, -0.25))
    text = rewrite_model(RULES_TEXT, "buys_for_women", block)
    assert "# flow style stays flow" in text and "(a comment that must survive)" in text
    assert text.count("\n") == RULES_TEXT.count("\n") - 1  # two flow lines became one
    got = model("buys_for_women", text)
    assert (got.output, got.labels, got.intercept) == ("label", ("no", "yes"), -0.25)
    assert got.features == (("category_affinity", "women", 1.5),)
    assert text.startswith(RULES_TEXT[: RULES_TEXT.index("  - name: buys_for_women")])


def test_rewrite_refuses_a_tag_without_a_model_block() -> None:
    with pytest.raises(CommandError, match="no model: mapping for tag 'parents'"):
        rewrite_model(RULES_TEXT, "parents", {"kind": "logistic"})
