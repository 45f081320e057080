"""``portrait rfm-cutoffs``: RFM cut-offs from the quantiles of a log's buyers (pure, files)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from profiles.config import RfmConfig
from profiles.timeutil import DAY_MS
from streams.app.cli import main
from streams.replay.cutoffs import Buyers, cutoffs, quintile_cuts
from streams.settings.profile import model_config
from tests.factories import contract_event

DATA = Path(
    os.environ.get("PORTRAIT_DATA_DIR") or Path(__file__).resolve().parents[5] / "shared/data"
)
REES46 = DATA / "rees46_multicategory_2019oct_head" / "2019-Oct.head.csv"
TAOBAO = DATA / "taobao_userbehavior_by_user" / "UserBehavior.csv"
T = 1_717_200_000_000  # 2024-06-01T00:00:00Z, a day boundary: the log's last event
NAMES = ("recency_days", "frequency_orders", "monetary_spend")


def buy(user: str, days_ago: int, price: float | None = 10.0) -> dict[str, Any]:
    props = {"price": price} if price is not None else {}
    return contract_event("purchase", user, T - days_ago * DAY_MS, **props)


# Buyer: (days since last purchase, orders_180d, spend_180d) as of T.
#   u1 (1, 1, 10)   u2 (3, 2, 50)   u3 (10, 3, 300)   u4 (40, 1, 5)   u5 (2, 5, 1000)
#   u7 (200, 0, 0): bought once, before the 180-day window; u6 never buys (not a buyer).
# Six buyers: inclusive quintiles are the sorted values at indexes 1..4 (divmod(i * 5, 5)).
#   days  [1, 2, 3, 10, 40, 200] -> [2, 3, 10, 40]
#   orders [0, 1, 1, 2, 3, 5]    -> [1, 1, 2, 3]
#   spend [0, 5, 10, 50, 300, 1000] -> [5, 10, 50, 300]
LOG = [
    buy("u1", 1),
    buy("u2", 3, 20.0),
    buy("u2", 5, 30.0),
    *(buy("u3", d, 100.0) for d in (10, 11, 12)),
    buy("u4", 40, 5.0),
    *(buy("u5", d, 200.0) for d in (2, 3, 4, 5, 6)),
    buy("u7", 200, 99.0),
    contract_event("view", "u6", T - 7 * DAY_MS, category="hats", price=3.0),
    contract_event("view", "u6", T, category="hats", price=3.0),
]


def write_log(tmp_path: Path, events: list[dict[str, Any]], extra: bytes = b"") -> Path:
    path = tmp_path / "log.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events) + extra)
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, list[str]]:
    code = main(["rfm-cutoffs", *args])
    out, err = capsys.readouterr()
    return code, out, err.splitlines()


def cuts_of(out: str) -> dict[str, list[Any]]:
    doc = yaml.safe_load(out)
    assert set(doc) == {"rfm"} and set(doc["rfm"]) == set(NAMES)
    return dict(doc["rfm"])


@pytest.mark.parametrize(
    "as_of,expected",
    [
        (None, ([2, 3, 10, 40], [1, 1, 2, 3], [5.0, 10.0, 50.0, 300.0])),
        (  # ten days on: every buyer's days + 10; u4's purchase still in the 180-day window
            "2024-06-11T00:00:00Z",
            ([12, 13, 20, 50], [1, 1, 2, 3], [5.0, 10.0, 50.0, 300.0]),
        ),
        (  # 175 days on (epoch ms): the 180-day windows keep only T - 4 days .. T
            str(T + 175 * DAY_MS),  # u1 (1, 10), u2 (1, 20), u5 (3, 600), the others (0, 0)
            ([177, 178, 185, 215], [0, 0, 1, 1], [0.0, 0.0, 10.0, 20.0]),
        ),
    ],
)
def test_hand_computed_quantiles(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    as_of: str | None,
    expected: tuple[list[int], list[int], list[float]],
) -> None:
    bad = b"{not json\n"  # a rejected row is counted, not fatal
    args = [str(write_log(tmp_path, LOG, bad))] + (["--as-of", as_of] if as_of else [])
    code, out, err = run(capsys, *args)
    assert code == 0, err
    cuts = cuts_of(out)
    assert [cuts[n] for n in NAMES] == [list(e) for e in expected]
    assert all(type(v) is int for n in NAMES[:2] for v in cuts[n])
    assert all(type(v) is float for v in cuts["monetary_spend"])
    comment = out.splitlines()[0]
    assert comment.startswith("# rfm-cutoffs: 6 buyers of 7 users as of ")
    assert ("2024-06-01T00:00:00.000Z" in comment) == (as_of is None)
    pasted = yaml.safe_load("profile:\n  bucket_days: 180\n" + out)  # under profile:, as told
    assert model_config(pasted["profile"]).rfm == RfmConfig(*(tuple(e) for e in expected))
    assert any("1 rejected, 7 users" in line for line in err)


@pytest.mark.parametrize(
    "days,orders,spend,expected",
    [
        (  # 3 buyers: interpolated quintiles 0.4, 0.8, 1.2, 1.6 of 0, 1, 2
            [0, 1, 2], [2, 0, 1], [2.0, 0.0, 1.0],
            ([0, 0, 1, 1], [1, 1, 2, 2], [0.4, 0.8, 1.2, 1.6]),
        ),
        (  # F takes the ceiling (orders >= 2.2 is orders >= 3); spend rounds to cents
            [10, 20], [2, 3], [10.004, 10.016],
            ([12, 14, 16, 18], [3, 3, 3, 3], [10.01, 10.01, 10.01, 10.01]),
        ),
        (  # ties: equal cut-offs stay (RfmConfig takes non-decreasing lists)
            [5] * 7, [1, 1, 1, 1, 1, 1, 9], [0.1] * 6 + [50.0],
            ([5, 5, 5, 5], [1, 1, 1, 1], [0.1, 0.1, 0.1, 0.1]),
        ),
        ([30], [4], [123.456], ([30] * 4, [4] * 4, [123.46] * 4)),  # one buyer: its own values
    ],
)  # fmt: skip
def test_cutoffs_table(
    days: list[int],
    orders: list[int],
    spend: list[float],
    expected: tuple[list[int], list[int], list[float]],
) -> None:
    got = cutoffs(Buyers(days, orders, spend, len(days), T))
    assert got == expected
    RfmConfig(*(tuple(c) for c in got))


@given(
    st.lists(
        st.tuples(
            st.integers(0, 400),
            st.integers(0, 30),
            st.floats(0, 1e7, allow_nan=False, allow_infinity=False),
        ),
        min_size=1,
    )
)
def test_any_buyers_give_valid_cutoffs_with_the_quantiles_scores(
    rows: list[tuple[int, int, float]],
) -> None:
    days, orders, spend = (list(c) for c in zip(*rows, strict=True))
    found = Buyers(days, orders, spend, len(rows), T)
    r, f, m = cutoffs(found)
    RfmConfig(tuple(r), tuple(f), tuple(m))  # 4 non-decreasing numbers each
    # whole cut-offs score every buyer exactly as the fractional quantiles would
    qr, qf = quintile_cuts(days), quintile_cuts(orders)
    assert all(sum(d > c for c in r) == sum(d > q for q in qr) for d in days)
    assert all(sum(o >= c for c in f) == sum(o >= q for q in qf) for o in orders)
    assert all(
        math.isclose(a, b, abs_tol=0.0051) for a, b in zip(m, quintile_cuts(spend), strict=True)
    )


def test_zero_spend_warns_and_still_prints_valid_lists(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = [buy("a", 1, None), buy("b", 2, None), buy("b", 9, None), buy("c", 30, None)]
    code, out, err = run(capsys, str(write_log(tmp_path, log)))
    assert code == 0
    assert cuts_of(out)["monetary_spend"] == [0.0, 0.0, 0.0, 0.0]
    assert any("warning: spend_180d is 0 for every buyer" in line for line in err)


@pytest.mark.parametrize(
    "content,args,code,message",
    [
        (None, [], 2, "no such file"),
        (b"", [], 2, "the file is empty"),
        (b"hello world\n", [], 2, "cannot tell the format"),
        (b"x", ["--format", "xml"], 2, "invalid choice: 'xml'"),
        (b"x", ["--as-of", "yesterday"], 2, "--as-of:"),
        (  # only views: no buyers at all (a readable log, nothing found: exit 1)
            b"".join(orjson.dumps(contract_event("view", u, T)) + b"\n" for u in "abc"),
            [],
            1,
            "no buyers",
        ),
        (b"{broken\n", ["--format", "jsonl"], 1, "no buyers"),  # every row rejected
    ],
)
def test_exit_2_or_1_with_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: bytes | None,
    args: list[str],
    code: int,
    message: str,
) -> None:
    path = tmp_path / "log"
    if content is not None:
        path.write_bytes(content)
    exit_code, out, err = run(capsys, str(path), *args)
    assert exit_code == code and out == ""
    errors = [line for line in err if line.startswith("portrait rfm-cutoffs:")]
    assert len(errors) == 1 and message in errors[0], err
    assert err[-1] == errors[0]  # a progress line at most before it


@pytest.mark.parametrize(
    "path,spend_zero",
    [(REES46, False), (TAOBAO, True)],
    ids=["rees46", "taobao"],
)
def test_real_logs(capsys: pytest.CaptureFixture[str], path: Path, spend_zero: bool) -> None:
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    code, out, err = run(capsys, str(path))
    assert code == 0, err
    cuts = cuts_of(out)
    for name in NAMES:
        assert len(cuts[name]) == 4 and cuts[name] == sorted(cuts[name])
    assert (cuts["monetary_spend"] == [0.0] * 4) == spend_zero
    assert any("spend_180d is 0 for every buyer" in line for line in err) == spend_zero
    RfmConfig(*(tuple(cuts[n]) for n in NAMES))
