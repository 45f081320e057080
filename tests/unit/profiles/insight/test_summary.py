"""The plain-language paragraph per audience (profiles/insight/summary.py)."""

from __future__ import annotations

from typing import Any

import pytest

from profiles.insight.report import compare
from profiles.insight.summary import number, summarize
from profiles.insight.tally import Tally

Users = list[tuple[dict[str, Any], dict[int, float]]]


def users(n: int, hour: int | None = None, **tags: Any) -> Users:
    """``n`` users with these tags, active at ``hour`` on Mondays (none: no activity)."""
    return [(dict(tags), {} if hour is None else {hour: 1.0})] * n


def summary(crowd: Users) -> str:
    t = Tally("a")
    for tags, hours in crowd:
        t.add(tags, hours)
    report = compare([t], as_of="2019-10-31T00:00:00Z")
    by_name = {s["name"]: s for s in report["sections"]}
    assert summarize(by_name, 0, users=len(crowd)) == report["audiences"][0]["summary"]
    return str(report["audiences"][0]["summary"])


FULL = {"lifecycle": "active", "spend_total": 221, "top_categories": ["apparel.shoes", "beauty"]}

CASES: list[tuple[str, Users, str]] = [
    (
        "the whole portrait",
        users(68, 20, gender="female", age_band="25-34", **FULL)
        + users(32, 21, gender="male", age_band="35-44", **FULL),
        "68 % women, mostly 25\u201334, evenings, shoes and beauty; median spend 221; "
        "mostly active customers.",
    ),
    (
        "men, shares of the known genders",
        users(29, gender="male") + users(21, gender="female") + users(10, gender=None),
        "58 % men.",
    ),
    (
        "gender mostly unknown: by purchases",
        users(30, gender=None, purchase_gender="female")
        + users(10, gender="female", purchase_gender="female")
        + users(10, gender=None, purchase_gender="male")
        + users(10, gender=None),
        "80 % women (by purchases).",
    ),
    (
        "both genders mostly unknown: no gender",
        users(3, gender="female", purchase_gender="male") + users(7, lifecycle="new"),
        "Mostly new customers.",
    ),
    ("age mostly unknown", users(4, age_band="65+") + users(6), ""),
    ("under 18", users(6, age_band="<18") + users(4, age_band="18-24"), "Mostly under 18."),
    ("night", users(3, 3), "Nights."),
    ("night ends at 5", users(3, 5) + users(2, 6), "Nights."),
    ("morning", users(3, 6), "Mornings."),
    ("morning ends at 11", users(3, 11 + 24), "Mornings."),  # Tuesday 11:00
    ("afternoon", users(3, 12) + users(2, 23), "Afternoons."),
    ("evening", users(3, 18), "Evenings."),
    ("evening ends at 23", users(3, 167), "Evenings."),  # Sunday 23:00
    ("activity mostly missing", users(2, 18) + users(3), ""),
    (
        "one category",
        users(6, top_categories=["electronics.audio.headphone"]),
        "headphone.",
    ),
    (
        "the two top categories of the audience",
        users(5, top_categories=["a.x", "b.y"])
        + users(5, top_categories=["b.y", "c.z"])
        + users(2, top_categories=["c.z"]),
        "y and z.",
    ),
    (
        "names keep their case",
        users(1, top_categories=["iPhone"], spend_total=5),
        "iPhone; median spend 5.",
    ),
    ("lists mostly empty", users(2, top_categories=["a"]) + users(3, top_categories=[]), ""),
    ("median spend", users(2, spend_total=50) + users(1, spend_total=99), "Median spend 50."),
    ("median spend, decimals", users(1, spend_total=74.5), "Median spend 74.5."),
    ("median spend, thousands", users(1, spend_total=1234), "Median spend 1,230."),
    ("no spend, no order", users(3, spend_total=0, orders_total=0), "Most have not bought."),
    (
        "orders without prices",
        users(2, spend_total=0, orders_total=3) + users(1, spend_total=0, orders_total=1),
        "Median 3 orders.",
    ),
    ("one order", users(1, spend_total=0, orders_total=1), "Median 1 order."),
    (
        "churn",
        users(3, lifecycle="churn_risk") + users(1, lifecycle="new"),
        "Mostly at risk of churning.",
    ),
    ("lifecycle mostly unknown", users(2, lifecycle="new") + users(3), ""),
]


@pytest.mark.parametrize("crowd,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_summary(crowd: Users, expected: str) -> None:
    text = summary(crowd)
    if expected:
        assert text == expected
    else:
        assert text == "Too little is known about most of these users to summarise them."
    assert "(unknown)" not in text and "(other)" not in text


def test_no_users() -> None:
    assert summarize({}, 0) == "No users."
    assert summarize({}, 0, users=0) == "No users."


def test_the_size_from_a_category_section_without_users() -> None:
    crowd = users(2, 18, lifecycle="new") + users(3, lifecycle="new")  # activity: 2 of 5
    t = Tally("a")
    for tags, hours in crowd:
        t.add(tags, hours)
    report = compare([t], as_of="2019-10-31T00:00:00Z")
    by_name = {s["name"]: s for s in report["sections"]}
    assert summarize(by_name, 0) == summarize(by_name, 0, users=5) == "Mostly new customers."


def test_each_audience_its_own() -> None:
    a, b = Tally("a"), Tally("b")
    for tags, hours in users(3, 9, gender="female"):
        a.add(tags, hours)
    for tags, hours in users(2, 21, gender="male"):
        b.add(tags, hours)
    report = compare([a, b], as_of="2019-10-31T00:00:00Z")
    assert [x["summary"] for x in report["audiences"]] == [
        "100 % women, mornings.",
        "100 % men, evenings.",
    ]


@pytest.mark.parametrize(
    "x,expected",
    [(221.0, "221"), (1230.0, "1,230"), (74.5, "74.5"), (0.125, "0.125"), (1234.5, "1,234")],
)
def test_number(x: float, expected: str) -> None:
    assert number(x) == expected
