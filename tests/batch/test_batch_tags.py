"""The batch checker checked: tiny hand-written logs and values worked out by hand.

Taobao file, as of T = 2023-11-15T10:00:00Z (a Wednesday; UTC day 19676; Asia/Shanghai 18:00),
H = 30 days = 2,592,000 s. REES46 file, as of T = 2019-10-01T01:00:00Z (a Tuesday).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.batch.tags import (
    COMPARED_TAGS,
    MISSING,
    _ranked,
    batch_tags,
    compare_user,
    latest_event_ms,
    ranking_consistent,
    rfc3339_ms,
    values_equal,
)

H = 2_592_000  # the half-life in seconds
T = 1_700_042_400  # 2023-11-15T10:00:00Z, seconds

TAOBAO_ROWS = [
    # user 1: window edges
    "1,101,10,pv,1700042400",  # T itself                          local Wed 18:00 -> bin 66
    "1,102,10,pv,1700006400",  # Wed 00:00:00Z, T's first second    local Wed 08:00 -> bin 56
    "1,103,20,cart,1700006399",  # Tue 23:59:59Z, day T-1             local Wed 07:59 -> bin 55
    "1,104,20,fav,1699488000",  # Thu 2023-11-09 00:00Z, day T-6      local Thu 08:00 -> bin 80
    "1,105,10,pv,1699487999",  # Wed 2023-11-08 23:59:59Z, day T-7   local Thu 07:59 -> bin 79
    "1,106,30,buy,1697500800",  # Tue 2023-10-17 00:00Z, day T-29     local Tue 08:00 -> bin 32
    "1,107,30,buy,1697457600",  # Mon 2023-10-16 12:00Z, day T-30     local Mon 20:00 -> bin 20
    "1,108,10,pv,1684540800",  # Sat 2023-05-20 00:00Z, day T-179    local Sat 08:00 -> bin 128
    "1,109,10,pv,1684540799",  # Fri 2023-05-19 23:59:59Z, day T-180 local Sat 07:59 -> bin 127
    # user 2: one add to cart exactly one half-life before T
    "2,201,9,cart,1697450400",  # Mon 2023-10-16 10:00Z               local Mon 18:00 -> bin 18
    # user 3: decay by whole half-lives, a tie of names ("11" < "9" as text)
    "3,301,10,pv,1700042400",  # age 0:  1
    "3,302,10,fav,1697450400",  # age H:  2 x 1/2
    "3,303,9,cart,1697450400",  # age H:  3 x 1/2
    "3,304,11,cart,1697450400",  # age H:  3 x 1/2
    "3,305,12,buy,1694858400",  # age 2H: 5 x 1/4   (Sat 2023-09-16 10:00Z, local Sat 18:00)
    "3,306,13,pv,1694858400",  # age 2H: 1 x 1/4
    "3,307,14,pv,1692266400",  # age 3H: 1 x 1/8   (Thu 2023-08-17 10:00Z, local Thu 18:00)
    # user 5: local time wraps the week; windows are UTC days
    "5,501,40,pv,1699804800",  # Sun 2023-11-12 16:00Z = local Mon 00:00 -> bin 0
    "5,502,40,pv,1699804799",  # Sun 2023-11-12 15:59:59Z = local Sun 23:59 -> bin 167
    "5,503,40,pv,1699977600",  # Tue 2023-11-14 16:00Z = local Wed 00:00 -> bin 48, UTC day T-1
]

REES46_HEADER = (
    "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session"
)
REES46_ROWS = [
    # user 7
    "2019-10-01 00:00:00 UTC,view,1,100,electronics.phone,apple,10.50,7,s1",
    "2019-10-01 00:00:00 UTC,view,1,100,electronics.phone,apple,10.50,7,s1",  # exact duplicate
    "2019-10-01 00:00:00 UTC,view,2,200,,,3.00,7,s1",  # no code: category "200"; no brand
    "2019-10-01 00:00:00 UTC,view,3,300,kids.toys,zeta,1.00,7,s1",
    "2019-09-30 23:00:00 UTC,cart,1,100,electronics.phone,apple,10.50,7,s1",
    "2019-09-30 23:30:00 UTC,purchase,1,100,electronics.phone,apple,10.50,7,s1",
    "2019-09-01 00:00:00 UTC,purchase,4,400,,acme,,7,s2",  # no price: amount 0; day T-30
    "2019-10-01 00:00:00 UTC,remove_from_cart,2,200,,,3.00,7,s1",  # weight 0; a behaviour
    # user 8
    "2019-10-01 00:00:00 UTC,view,5,500,,beta,2.00,8,s3",
    "2019-10-01 00:00:00 UTC,view,6,500,,alpha,2.00,8,s3",  # ties beta: alpha first
    "2019-10-01 01:00:00 UTC,purchase,7,600,,,99.99,8,s3",  # T
    "2019-10-01 01:00:00 UTC,purchase,8,600,,,0.01,8,s3",  # a second order at the same time
]


def _write(path: Path, lines: list[str], newline: str = "\n") -> Path:
    path.write_text(newline.join(lines) + newline, encoding="utf-8", newline="")
    return path


@pytest.fixture
def taobao(tmp_path: Path) -> dict[str, dict[str, Any]]:
    return batch_tags(_write(tmp_path / "UserBehavior.csv", TAOBAO_ROWS), "taobao")


@pytest.fixture
def rees46(tmp_path: Path) -> dict[str, dict[str, Any]]:
    lines = [REES46_HEADER, *REES46_ROWS]
    return batch_tags(_write(tmp_path / "head.csv", lines, newline="\r\n"), "rees46")


def _decay(age_s: float) -> float:
    return float(2 ** (-age_s / H))


def test_every_user_has_every_compared_tag(taobao: dict[str, dict[str, Any]]) -> None:
    assert set(taobao) == {"1", "2", "3", "5"}
    for tags in taobao.values():
        assert set(COMPARED_TAGS) <= set(tags)


def test_taobao_counters_by_utc_day_windows(taobao: dict[str, dict[str, Any]]) -> None:
    u = taobao["1"]
    assert u["events_total"] == 9
    assert [u[f"views_{w}"] for w in ("1d", "7d", "30d", "180d", "total")] == [2, 2, 3, 4, 5]
    assert [u[f"cart_adds_{w}"] for w in ("1d", "7d", "30d", "180d", "total")] == [0, 1, 1, 1, 1]
    assert [u[f"favorites_{w}"] for w in ("1d", "7d", "30d", "180d", "total")] == [0, 1, 1, 1, 1]
    assert [u[f"purchases_{w}"] for w in ("1d", "7d", "30d", "180d", "total")] == [0, 0, 1, 2, 2]
    for prefix in ("clicks", "searches", "cart_removes", "logins"):
        assert [u[f"{prefix}_{w}"] for w in ("1d", "7d", "30d", "180d", "total")] == [0] * 5
    assert u["active_days_30d"] == 5  # days T, T-1, T-6, T-7, T-29
    assert isinstance(u["views_total"], int)
    # user 5: local Wednesday 00:00 is UTC Tuesday, so not in the 1-day window
    assert [taobao["5"][f"views_{w}"] for w in ("1d", "7d", "30d")] == [0, 3, 3]
    assert taobao["5"]["active_days_30d"] == 2


def test_taobao_recency(taobao: dict[str, dict[str, Any]]) -> None:
    u = taobao["1"]
    assert u["first_seen"] == "2023-05-19T23:59:59.000Z"
    assert u["last_seen"] == "2023-11-15T10:00:00.000Z"
    assert u["last_purchase_at"] == "2023-10-17T00:00:00.000Z"
    assert u["days_since_first_seen"] == 179  # 15,501,601 s = 179.4 days
    assert u["days_since_last_seen"] == 0
    assert u["days_since_last_purchase"] == 29  # 2,541,600 s = 29.4 days
    assert taobao["2"]["last_purchase_at"] is None
    assert taobao["2"]["days_since_last_purchase"] is None
    assert taobao["2"]["days_since_last_seen"] == 30


def test_taobao_purchases_are_orders_of_no_value(taobao: dict[str, dict[str, Any]]) -> None:
    u = taobao["1"]
    assert [u["orders_total"], u["orders_30d"], u["orders_180d"]] == [2, 1, 2]
    assert [u[f"spend_{w}"] for w in ("1d", "7d", "30d", "180d", "total")] == [0.0] * 5
    assert u["max_order_value"] == 0.0
    assert u["avg_order_value"] == 0.0
    two = taobao["2"]
    assert [two["orders_total"], two["spend_total"], two["max_order_value"]] == [0, 0.0, None]
    assert two["avg_order_value"] is None


def test_taobao_affinity_decays_by_half_lives(taobao: dict[str, dict[str, Any]]) -> None:
    assert taobao["2"]["category_scores"] == {"9": 1.5}
    three = taobao["3"]
    assert three["category_scores"] == pytest.approx(
        {"10": 2.0, "9": 1.5, "11": 1.5, "12": 1.25, "13": 0.25, "14": 0.125}, rel=1e-12
    )
    assert three["top_category"] == "10"
    assert three["top_categories"] == ["10", "11", "9", "12", "13"]  # 5 of 6; "11" < "9"
    assert three["top_brand"] is None and three["top_brands"] == []
    # user 1: 30 (two purchases ~ 5 x 0.5 each) > 20 (cart + fav) > 10 (views)
    assert taobao["1"]["top_categories"] == ["30", "20", "10"]
    assert taobao["1"]["category_scores"]["20"] == pytest.approx(
        3 * _decay(36_001) + 2 * _decay(554_400), rel=1e-12
    )


def test_taobao_active_hours_in_shanghai_time(taobao: dict[str, dict[str, Any]]) -> None:
    one = taobao["1"]
    ages = {66: 0, 56: 36_000, 55: 36_001, 80: 554_400, 79: 554_401, 32: 2_541_600}
    ages |= {20: 2_584_800, 128: 15_501_600, 127: 15_501_601}
    assert one["active_hours"] == pytest.approx(
        {b: _decay(age) for b, age in ages.items()}, rel=1e-12
    )
    # hour 8 (bins 56, 80, 128) edges out hour 7 (bins 55, 79, 127) by one second per event
    assert one["peak_hours"] == [8, 7, 18]
    assert one["peak_hour"] == 8
    assert one["peak_weekday"] == 2  # Wednesday: bins 66, 56, 55
    assert taobao["2"]["active_hours"] == {18: 0.5}
    three = taobao["3"]
    assert three["active_hours"] == pytest.approx({66: 1.0, 18: 1.5, 138: 0.5, 90: 0.125})
    assert three["peak_hours"] == [18] and three["peak_hour"] == 18
    assert three["peak_weekday"] == 0  # Monday 1.5 > Wednesday 1.0
    assert set(taobao["5"]["active_hours"]) == {0, 167, 48}


def test_as_of_later_than_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "UserBehavior.csv", TAOBAO_ROWS)
    assert latest_event_ms(path, "taobao") == T * 1000
    later = batch_tags(path, "taobao", as_of_ms=(T + H) * 1000)  # 2023-12-15T10:00Z
    two = later["2"]
    assert two["category_scores"] == {"9": 0.75}
    assert two["active_hours"] == {18: 0.25}
    assert two["days_since_last_seen"] == 60
    assert two["cart_adds_30d"] == 0 and two["cart_adds_180d"] == 1
    one = later["1"]
    assert [one[f"views_{w}"] for w in ("1d", "7d", "30d", "180d")] == [0, 0, 0, 3]
    assert one["days_since_first_seen"] == 209
    assert one["orders_30d"] == 0 and one["orders_180d"] == 2


def test_rees46_counters_dedupe_and_money(rees46: dict[str, dict[str, Any]]) -> None:
    assert set(rees46) == {"7", "8"}
    u = rees46["7"]
    assert u["events_total"] == 7  # 8 lines, one exact duplicate
    assert [u[f"views_{w}"] for w in ("1d", "7d", "30d", "180d", "total")] == [3, 3, 3, 3, 3]
    assert [u[f"cart_adds_{w}"] for w in ("1d", "7d", "30d", "total")] == [0, 1, 1, 1]
    assert [u[f"purchases_{w}"] for w in ("1d", "7d", "30d", "180d", "total")] == [0, 1, 1, 2, 2]
    assert [u[f"cart_removes_{w}"] for w in ("1d", "total")] == [1, 1]
    assert u["active_days_30d"] == 2
    assert u["first_seen"] == "2019-09-01T00:00:00.000Z"
    assert u["last_seen"] == "2019-10-01T00:00:00.000Z"
    assert u["last_purchase_at"] == "2019-09-30T23:30:00.000Z"
    assert [u["days_since_first_seen"], u["days_since_last_seen"]] == [30, 0]
    assert u["days_since_last_purchase"] == 0
    assert [u[f"spend_{w}"] for w in ("1d", "7d", "30d", "180d", "total")] == [
        0.0,
        10.5,
        10.5,
        10.5,
        10.5,
    ]
    assert [u["orders_total"], u["orders_30d"], u["orders_180d"]] == [2, 1, 2]
    assert u["max_order_value"] == 10.5
    assert u["avg_order_value"] == 5.25
    eight = rees46["8"]
    assert eight["orders_total"] == 2
    assert eight["spend_1d"] == pytest.approx(100.0, rel=1e-12)
    assert eight["max_order_value"] == 99.99
    assert eight["avg_order_value"] == pytest.approx(50.0, rel=1e-12)


def test_rees46_affinity_and_hours(rees46: dict[str, dict[str, Any]]) -> None:
    hour = 3600
    u = rees46["7"]
    phone = _decay(hour) + 3 * _decay(2 * hour) + 5 * _decay(1.5 * hour)
    assert u["category_scores"] == pytest.approx(
        {
            "electronics.phone": phone,
            "200": _decay(hour),  # the removal weighs 0
            "kids.toys": _decay(hour),
            "400": 5 * _decay(H + hour),
        },
        rel=1e-12,
    )
    assert u["top_categories"] == ["electronics.phone", "400", "200", "kids.toys"]
    assert u["top_brands"] == ["apple", "acme", "zeta"]
    assert u["top_brand"] == "apple"
    # Tue 00:00 -> bin 24 (3 views and the removal), Mon 23:00/23:30 -> bin 23, Sun -> bin 144
    assert u["active_hours"] == pytest.approx(
        {
            24: 4 * _decay(hour),
            23: _decay(2 * hour) + _decay(1.5 * hour),
            144: _decay(H + hour),
        },
        rel=1e-12,
    )
    assert u["peak_hours"] == [0, 23] and u["peak_weekday"] == 1
    eight = rees46["8"]
    assert eight["top_brands"] == ["alpha", "beta"]
    assert eight["top_categories"] == ["600", "500"]
    assert eight["category_scores"]["600"] == 10.0
    assert eight["peak_hours"] == [1, 0]


def test_rfc3339_and_ranking_order() -> None:
    assert rfc3339_ms(0) == "1970-01-01T00:00:00.000Z"
    assert rfc3339_ms(1_511_544_070_123) == "2017-11-24T17:21:10.123Z"
    assert rfc3339_ms(-1) == "1969-12-31T23:59:59.999Z"
    assert _ranked({7: 1.0, 5: 1.0, 9: 2.0, 3: 0.0}, 3) == [9, 5, 7]
    assert _ranked({"b": 0.1 + 0.2, "a": 0.3, "c": 0.3 + 2e-9}, 5) == ["c", "a", "b"]


def test_unknown_behaviour_or_format_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.csv", ["1,1,1,pv,1700000000", "1,1,1,share,1700000000"])
    with pytest.raises(ValueError, match="share"):
        batch_tags(path, "taobao")
    with pytest.raises(ValueError, match="unknown format"):
        batch_tags(path, "csv")


def test_ranking_consistent() -> None:
    scores = {"a": 3.0, "b": 2.0, "c": 1.0, "z": 0.0}
    assert ranking_consistent(["a", "b", "c"], scores, 5)  # z has no positive score
    assert ranking_consistent(["a", "b"], scores, 2)
    assert not ranking_consistent(["b", "a", "c"], scores, 5)
    assert not ranking_consistent(["a", "b"], scores, 5)  # c is missing
    assert not ranking_consistent(["a", "c"], scores, 2)  # b outranks c
    assert not ranking_consistent(["a", "b", "c", "z"], scores, 5)
    assert not ranking_consistent(["a", "a", "b"], scores, 5)
    assert not ranking_consistent(["a", "x"], scores, 2)
    near = {"a": 1.0, "b": 1.0 + 1e-12, "c": 0.5}
    assert ranking_consistent(["a", "b", "c"], near, 5)
    assert ranking_consistent(["b", "a", "c"], near, 5)
    assert ranking_consistent(["a"], near, 1) and ranking_consistent(["b"], near, 1)
    assert not ranking_consistent(["c"], near, 1)
    assert ranking_consistent([], {}, 5)


def test_values_equal() -> None:
    assert values_equal(3, 3) and values_equal(0, 0.0)  # an amount may be a whole number
    assert not values_equal(3.5, 3) and not values_equal(3.0, 3)  # a count must be an int
    assert values_equal(100.0, 99.99 + 0.01)
    assert values_equal(1.0 + 1e-12, 1.0) and not values_equal(1.0 + 1e-6, 1.0)
    assert values_equal(None, None) and not values_equal(0, None) and not values_equal(None, 0.0)
    assert values_equal("x", "x") and not values_equal("3", 3)
    assert not values_equal(True, 1)


def _streamed(expected: dict[str, Any]) -> tuple[dict[str, Any], dict[str, float]]:
    tags = {tag: expected[tag] for tag in COMPARED_TAGS}
    hours = {str(b): s for b, s in expected["active_hours"].items()}  # JSON keys are text
    return tags, hours


def test_compare_user(rees46: dict[str, dict[str, Any]]) -> None:
    want = rees46["8"]
    tags, hours = _streamed(want)
    assert compare_user(want, tags, hours) == {}
    tags["spend_total"] = want["spend_total"] * (1 + 1e-12)
    tags["top_brands"] = ["beta", "alpha"]  # an exact tie: either order
    tags["top_brand"] = "beta"
    assert compare_user(want, tags, hours) == {}
    tags["top_categories"] = [["600", 10.0], ["500", 1.99]]  # [name, score] pairs are read
    assert compare_user(want, tags, hours) == {}
    tags["top_categories"] = ["500", "600"]
    tags["views_total"] = 3
    tags["spend_1d"] = round(want["spend_1d"] + 0.01, 2)
    del tags["max_order_value"]
    tags["peak_hours"] = [0, 1]
    del hours["24"]  # Tuesday 00:00
    bad = compare_user(want, tags, hours)
    assert set(bad) == {
        "top_categories",
        "views_total",
        "spend_1d",
        "max_order_value",
        "peak_hours",
        "active_hours",
    }
    assert bad["views_total"] == (3, 2)
    assert bad["max_order_value"] == (MISSING, 99.99)
    assert set(compare_user(want, _streamed(want)[0], None)) == {"active_hours"}
    tags, hours = _streamed(want)
    tags["peak_hours"] = ["1", "0"]  # hours must be numbers
    assert set(compare_user(want, tags, hours)) == {"peak_hours"}
