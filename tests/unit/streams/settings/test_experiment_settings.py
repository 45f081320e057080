"""``triggers.experiments`` in the YAML section -> TriggerConfig.experiments, and its errors: one
line that starts with the path of the bad value."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from streams.settings.base import ConfigError
from streams.settings.triggers import trigger_config
from triggers.config import Experiment, Variant

CART_COPY: dict[str, Any] = {
    "name": "cart_copy",
    "kinds": ["cart_reminder"],
    "holdout": 0.1,
    "variants": [
        {"name": "plain", "weight": 1},
        {
            "name": "urgent",
            "weight": 2,
            "channel": "sms",
            "copy": "cart_urgent",
            "send_time": "fixed_hour",
            "hour": 8,
        },
    ],
}


def experiment(**changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(CART_COPY), **changes}


def with_variant(**fields: Any) -> dict[str, Any]:
    """The experiment with its second variant replaced by ``fields``."""
    return experiment(
        variants=[{"name": "plain", "weight": 1}, {"name": "b", "weight": 1, **fields}]
    )


def test_a_valid_experiment() -> None:
    config = trigger_config({"experiments": [experiment(window_days=3, horizon=500)]})
    assert config.experiments == (
        Experiment(
            "cart_copy", frozenset({"cart_reminder"}), frozenset(), 0.1,
            (Variant("plain", 1.0), Variant("urgent", 2.0, "sms", "cart_urgent", "fixed_hour", 8)),
            horizon=500, window_days=3,
        ),
    )  # fmt: skip


def test_several_experiments_on_kinds_and_campaigns() -> None:
    win_back = {
        "name": "win_back_offer",
        "kinds": "win_back",  # one name, not a list
        "holdout": 0,
        "metric": "recalled",
        "variants": [{"name": "gift", "weight": 1, "send_time": "active_hour"}],
    }
    spring = {
        "name": "spring",
        "campaigns": ["spring-sale.2024"],
        "holdout": 0.5,
        "variants": [{"name": "email", "weight": 1, "channel": "email"}],
    }
    config = trigger_config({"experiments": [experiment(), win_back, spring]})
    names = [(e.name, sorted(e.kinds), sorted(e.campaigns), e.metric) for e in config.experiments]
    assert names == [
        ("cart_copy", ["cart_reminder"], [], "converted"),
        ("win_back_offer", ["win_back"], [], "recalled"),
        ("spring", [], ["spring-sale.2024"], "converted"),
    ]


@pytest.mark.parametrize("raw", [None, {}, {"experiments": []}])
def test_no_experiments(raw: dict[str, Any] | None) -> None:
    assert trigger_config(raw).experiments == ()


# (the experiments list, the path the message starts with, a part of the message)
ERRORS: list[tuple[list[dict[str, Any]], str, str]] = [
    ([with_variant(send_time="fixed_hour", hour=25)], "triggers.experiments[0].variants[1].hour",
     "needs an hour 0..23, got 25"),
    ([with_variant(send_time="fixed_hour")], "triggers.experiments[0].variants[1].hour", "None"),
    ([with_variant(hour=8)], "triggers.experiments[0].variants[1].hour", "fixed_hour only"),
    ([experiment(holdout=0.7)], "triggers.experiments[0].holdout", "between 0 and 0.5"),
    ([experiment(holdout="x")], "triggers.experiments[0].holdout", "expected a number"),
    ([with_variant(colour="red")], "triggers.experiments[0].variants[1].colour", "unknown key"),
    ([experiment(), experiment(name="other")], "triggers.experiments[1].kinds",
     "'cart_reminder' is already in experiment 'cart_copy'"),
    ([with_variant(channel="fax")], "triggers.experiments[0].variants[1].channel", "'fax'"),
    ([experiment(window_days=91)], "triggers.experiments[0].window_days", "0..90, got 91"),
    ([experiment(variants=[])], "triggers.experiments[0].variants", "length >= 1"),
    ([experiment(metric="recalled")], "triggers.experiments[0].metric", "win_back only"),
    ([with_variant(name="holdout")], "triggers.experiments[0].variants[1].name", "holdout"),
]  # fmt: skip


@pytest.mark.parametrize("experiments,path,words", ERRORS)
def test_errors_are_one_line_naming_the_path(
    experiments: list[dict[str, Any]], path: str, words: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        trigger_config({"experiments": experiments})
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(path) and message[len(path)] in ".:"
    assert words in message
