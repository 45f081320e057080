"""The report document (profiles/insight/report.py): a two-audience example computed by hand,
ordering and folding rules, sections without data, tests and their significance."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from profiles.insight import stats
from profiles.insight.dimensions import DIMENSIONS, Dimension
from profiles.insight.report import compare
from profiles.insight.tally import Tally

DIMS = (
    Dimension("age_band", "Age band", "category"),
    Dimension("city", "City", "category"),
    Dimension("spend_total", "Total spend", "number"),
    Dimension("top_categories", "Top categories", "list"),
    Dimension("active_hours", "Active hours (local time)", "hours"),
)
AS_OF = "2019-10-31T00:00:00Z"


def _tally(
    name: str, users: list[tuple[dict[str, Any], dict[int, float]]], dims: Any = DIMS
) -> Tally:
    t = Tally(name, dims)
    for tags, hours in users:
        t.add(tags, hours)
    return t


A = [
    ({"age_band": "25-34", "spend_total": 10, "top_categories": ["x", "y"]}, {0: 1.0}),
    ({"age_band": "18-24", "spend_total": 20, "top_categories": ["x"]}, {0: 1.0, 1: 1.0}),
    ({"age_band": "25-34", "spend_total": 20, "top_categories": []}, {}),
    ({"age_band": None, "spend_total": None, "top_categories": ["y"]}, {25: 3.0}),
]
B = [
    ({"age_band": "65+", "spend_total": 5, "top_categories": ["z"]}, {1: 2.0}),
    ({"age_band": "25-34", "spend_total": 1000, "top_categories": ["x"]}, {}),
    ({"spend_total": 0}, {}),
]


@pytest.fixture
def report() -> dict[str, Any]:
    return compare([_tally("a", A), _tally("b", B)], as_of=AS_OF, where={"x": 1}, notes=["mine"])


def _section(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in report["sections"] if s["name"] == name)


def test_the_document(report: dict[str, Any]) -> None:
    assert report["version"] == 1 and report["as_of"] == AS_OF and report["where"] == {"x": 1}
    assert [(a["name"], a["users"]) for a in report["audiences"]] == [("a", 4), ("b", 3)]
    assert all(isinstance(a["summary"], str) and a["summary"] for a in report["audiences"])
    assert [s["name"] for s in report["sections"]] == [
        "age_band",
        "spend_total",
        "top_categories",
        "active_hours",
    ]
    assert report["notes"] == [
        "mine",
        "no data: city",
        "chi-square tests with one degree of freedom (2x2) use Yates' correction",
    ]
    json.dumps(report, allow_nan=False)


def test_category_section(report: dict[str, Any]) -> None:
    age = _section(report, "age_band")
    assert age["label"] == "Age band" and age["kind"] == "category"
    assert age["values"] == ["18-24", "25-34", "65+", "(unknown)"]  # enum order, unknown last
    assert age["counts"] == [[1, 2, 0, 1], [0, 1, 1, 1]]
    assert age["shares"] == [[0.25, 0.5, 0.0, 0.25], [0.0, 0.3333, 0.3333, 0.3333]]
    assert age["known"] == [3, 2]
    expected = stats.chi_square([[1, 2, 0], [0, 1, 1]])  # known values only
    assert expected is not None
    test = age["test"]
    assert test["name"] == "chi-square" and test["df"] == 2 and test["on"] == "known values"
    assert test["statistic"] == expected.statistic and test["p"] == expected.p
    assert test["effect_name"] == "Cramér's V" and test["effect"] == expected.effect
    assert test["significant"] is False and age["why_no_test"] is None


def test_number_section(report: dict[str, Any]) -> None:
    spend = _section(report, "spend_total")
    assert spend["known"] == [3, 3]
    assert spend["mean"] == [16.6667, 335.0]
    assert spend["quantiles"] == {
        "p10": [12.0, 1.0],
        "p25": [15.0, 2.5],
        "p50": [20.0, 5.0],
        "p75": [20.0, 502.5],
        "p90": [20.0, 801.0],
    }
    assert spend["histogram"] == {
        "edges": [0, 1, 3, 10, 30, 100, 300, 1000, 3000],
        "counts": [[0, 0, 0, 3, 0, 0, 0, 0], [1, 0, 1, 0, 0, 0, 0, 1]],
        "log": True,
    }
    expected = stats.rank_test([{10.0: 1, 20.0: 2}, {5.0: 1, 1000.0: 1, 0.0: 1}])
    assert expected is not None
    assert spend["test"]["name"] == "Mann\u2013Whitney U" and spend["test"]["df"] is None
    # U1: pairs where a's value is higher (10 > 0, 5; each 20 > 0, 5): 6 of 9
    assert spend["test"]["statistic"] == expected.statistic == 6.0
    assert spend["test"]["effect"] == expected.effect == pytest.approx(2 * 6 / 9 - 1)
    assert spend["test"]["magnitude"] == "medium"


def test_list_section(report: dict[str, Any]) -> None:
    cats = _section(report, "top_categories")
    assert cats["values"] == ["x", "y", "z"]  # by users over both audiences
    assert cats["counts"] == [[2, 2, 0], [1, 0, 1]]
    assert cats["shares"] == [[0.5, 0.5, 0.0], [0.3333, 0.0, 0.3333]]
    assert cats["known"] == [3, 2]
    tables = [[[2, 2], [1, 2]], [[2, 2], [0, 3]], [[0, 4], [1, 2]]]  # has / has not
    for test, table in zip(cats["tests"], tables, strict=True):
        expected = stats.chi_square(table)
        assert expected is not None and test["statistic"] == expected.statistic
        assert test["on"] == "users with and without the value"


def test_hours_section(report: dict[str, Any]) -> None:
    hours = _section(report, "active_hours")
    assert hours["users"] == [3, 1]
    a, b = hours["matrix"]
    assert len(a) == 7 and all(len(day) == 24 for day in a)
    assert a[0][0] == 0.5 and a[0][1] == 0.166667 and a[1][1] == 0.333333
    assert sum(map(sum, a)) == pytest.approx(1.0, abs=1e-5)
    assert b[0][1] == 1.0 and sum(map(sum, b)) == 1.0
    assert hours["by_hour"][0][:3] == [0.5, 0.5, 0.0]
    assert hours["by_hour"][1][:3] == [0.0, 1.0, 0.0]


def test_q_values_adjust_every_test_together(report: dict[str, Any]) -> None:
    found = [
        _section(report, "age_band")["test"],
        _section(report, "spend_total")["test"],
        *_section(report, "top_categories")["tests"],
    ]
    qs = stats.adjust([stats.Test("t", 0.0, None, t["p"], "e", 0.0, "small") for t in found])
    assert [t["q"] for t in found] == [t.q for t in qs]
    assert report["tests"] == 5 and report["significant"] == 0


def test_open_values_by_users_top_twelve_then_other_and_unknown() -> None:
    dims = [Dimension("city", "City", "category")]
    users = [({"city": f"c{i:02}"}, {}) for i in range(15) for _ in range(20 - i)]
    users += [({"city": "c14"}, {})] * 3 + [({}, {})] * 2  # c14 ties c11 at 9: by name
    section = compare([_tally("a", users, dims), _tally("b", users[:40], dims)], as_of=AS_OF)[
        "sections"
    ][0]
    assert section["values"] == [
        "c00",
        "c01",
        "c02",
        "c03",
        "c04",
        "c05",
        "c06",
        "c07",
        "c08",
        "c09",
        "c10",
        "c11",
        "(other)",
        "(unknown)",
    ]
    a, b = section["counts"]
    assert a[-2:] == [8 + 7 + 9, 2] and sum(a) == len(users)  # (other): c12, c13, c14
    assert b == [20, 19, 1] + [0] * 11 and section["known"] == [len(users) - 2, 40]


@pytest.mark.parametrize(
    "name,values,expected",
    [
        ("high_value", [False, True, False], ["yes", "no"]),
        ("peak_hour", [19, 3, 23, 3, 0], ["0", "3", "19", "23"]),
        ("lifecycle", ["dormant", "new", "dormant"], ["new", "dormant"]),
        ("price_band", ["premium", "budget"], ["budget", "premium"]),
        ("my_flag", [True, False, False], ["yes", "no"]),  # a rules tag: bool by its values
        ("gender", ["male", "female", "female", None], ["female", "male", "(unknown)"]),
    ],
)
def test_display_order(name: str, values: list[Any], expected: list[str]) -> None:
    dims = [Dimension(name, name, "category")]
    t = _tally("a", [({name: v}, {}) for v in values], dims)
    assert compare([t], as_of=AS_OF)["sections"][0]["values"] == expected


def test_one_audience_has_no_tests() -> None:
    report = compare([_tally("a", A)], as_of=AS_OF)
    for name in ("age_band", "spend_total"):
        section = _section(report, name)
        assert section["test"] is None
        assert section["why_no_test"] == "fewer than 2 audiences with known values"
    assert _section(report, "top_categories")["tests"] == [None, None]
    assert report["tests"] == 0 and report["significant"] == 0


def test_why_no_test() -> None:
    same = [({"age_band": "25-34", "spend_total": 7}, {})]
    report = compare([_tally("a", same), _tally("b", same * 3)], as_of=AS_OF)
    assert _section(report, "age_band")["why_no_test"] == "fewer than 2 known values"
    assert _section(report, "spend_total")["why_no_test"] == "every known value is the same"


def test_three_audiences_use_kruskal_wallis() -> None:
    groups = [{1.0: 5, 2.0: 3}, {2.0: 4, 3.0: 4}, {1.0: 1, 5.0: 6}]
    tallies = [
        _tally(
            f"t{i}",
            [
                ({"spend_total": v, "age_band": "18-24" if v < 3 else "65+"}, {})
                for v, n in g.items()
                for _ in range(n)
            ],
        )
        for i, g in enumerate(groups)
    ]
    report = compare(tallies, as_of=AS_OF)
    test = _section(report, "spend_total")["test"]
    expected = stats.rank_test(groups)
    assert expected is not None
    assert test["name"] == "Kruskal\u2013Wallis H" and test["df"] == 2
    assert test["statistic"] == expected.statistic and test["effect_name"] == "epsilon²"
    assert _section(report, "age_band")["test"]["df"] == 2  # 3 x 2 table
    assert len(report["audiences"]) == 3


def _big(name: str, share: float, users: int = 200_000) -> Tally:
    t = Tally(name, [Dimension("high_value", "High value", "category")])
    part = t.parts["high_value"]
    yes = round(users * share)
    part.counts.update({"yes": yes, "no": users - yes})  # type: ignore[union-attr]
    part.known = users  # type: ignore[union-attr]
    t.users = users
    return t


@pytest.mark.parametrize(
    "shares,significant,size",
    [
        ((0.50, 0.51), False, "negligible"),  # p tiny, effect negligible: never flagged
        ((0.30, 0.60), True, "medium"),
        ((0.50, 0.50), False, "negligible"),
    ],
)
def test_significant_needs_q_and_an_effect(
    shares: tuple[float, float], significant: bool, size: str
) -> None:
    report = compare([_big("a", shares[0]), _big("b", shares[1])], as_of=AS_OF)
    test = report["sections"][0]["test"]
    assert test["significant"] is significant and test["magnitude"] == size
    assert report["significant"] == int(significant)
    if shares == (0.50, 0.51):
        assert test["q"] < 1e-9


def test_rounded_numbers_are_named_in_the_notes() -> None:
    t = _tally("a", [({"spend_total": 12.345}, {}), ({"spend_total": 3}, {})])
    notes = compare([t, _tally("b", B)], as_of=AS_OF)["notes"]
    assert "numbers are compared on values rounded to 3 significant digits: spend_total" in notes


def test_empty_audiences_leave_every_section_out() -> None:
    report = compare([Tally("a"), Tally("b")], as_of=AS_OF)
    assert report["sections"] == [] and report["tests"] == 0
    assert report["notes"] == ["no data: " + ", ".join(d.name for d in DIMENSIONS)]
    assert [a["summary"] for a in report["audiences"]] == ["No users.", "No users."]
    json.dumps(report, allow_nan=False)


def _random_user(rng: random.Random) -> tuple[dict[str, Any], dict[int, float]]:
    pick = rng.choice
    tags = {
        "gender": pick(["female", "male", None]),
        "age_band": pick(["18-24", "25-34", "65+", None]),
        "high_value": rng.random() < 0.1,
        "peak_hour": pick([None, *range(24)]),
        "spend_total": pick([0, rng.lognormvariate(4, 1.5), rng.random() * 1e9]),
        "orders_total": rng.randint(0, 6),
        "days_since_last_purchase": pick([None, rng.randint(0, 400)]),
        "top_categories": rng.sample(["a.b", "c", "d.e.f", "g"], rng.randint(0, 3)),
    }
    hours = {rng.randint(0, 167): pick([0.0, rng.random(), 1e-300]) for _ in range(4)}
    return tags, hours


@pytest.mark.parametrize("seed,audiences", [(1, 2), (2, 3), (3, 2), (4, 5)])
def test_every_float_is_finite(seed: int, audiences: int) -> None:
    rng = random.Random(seed)
    tallies = [
        _tally(f"t{i}", [_random_user(rng) for _ in range(rng.randint(0, 300))], DIMENSIONS)
        for i in range(audiences)
    ]
    report = compare(tallies, as_of=AS_OF)
    text = json.dumps(report, allow_nan=False)
    assert json.loads(text) == report


def test_no_audience() -> None:
    with pytest.raises(ValueError):
        compare([], as_of=AS_OF)


def test_tallies_of_other_dimensions() -> None:
    other = _tally("b", [({"city": "Paris"}, {})], [Dimension("city", "City", "category")])
    report = compare([_tally("a", A), other], as_of=AS_OF)
    assert _section(report, "city")["counts"] == [[0, 4], [1, 0]]  # a: all (unknown)
    assert _section(report, "age_band")["known"] == [3, 0]
    clash = _tally("c", [], [Dimension("age_band", "Age", "number")])
    with pytest.raises(ValueError, match="age_band is not tallied as a category"):
        compare([_tally("a", A), clash], as_of=AS_OF)


def test_an_empty_audience_beside_a_full_one() -> None:
    report = compare([Tally("none", DIMS), _tally("a", A)], as_of=AS_OF)
    spend = _section(report, "spend_total")
    assert spend["known"] == [0, 3] and spend["mean"][0] is None
    assert spend["quantiles"]["p50"] == [None, 20.0] and spend["test"] is None
    assert _section(report, "age_band")["shares"][0] == [0.0, 0.0, 0.0]
    assert _section(report, "active_hours")["users"] == [0, 3]
    assert report["audiences"][0]["summary"] == "No users."
    json.dumps(report, allow_nan=False)
