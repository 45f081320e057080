"""``portrait insight`` as a user runs it, against a real Redis: two segments of profiles built
by the pure model from events (states and member sets seeded as the worker leaves them), read in
more than one SSCAN/MGET chunk, with one member whose profile was erased meanwhile and one whose
state does not decode. The report's counts are checked against an oracle that reads the events
alone (no model code): each user's latest declared gender, number of purchases and spend."""

from __future__ import annotations

import random
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.connect.clients import redis_client
from streams.names import Keys
from streams.settings.tree import Settings
from tests.integration.app.test_cli import portrait, service_env
from tests.integration.app.test_rules_cli import built, seed_members, seed_states
from tests.integration.helpers import DAY, T0, ev

pytestmark = pytest.mark.integration

RULES = """\
segments:
  - name: buyers
    where: {orders_total: {">=": 2}}
  - name: lookers
    where: {orders_total: 0}
"""
AS_OF = T0 + 40 * DAY
GENDERS = ("female", "female", "male")  # the later identify leans female


def history(rng: random.Random, user: str, buyer: bool) -> list[dict[str, Any]]:
    """A user's events: an identify (the later one wins), views, and 2-4 purchases for a buyer."""
    out = [
        {**ev("identify", user, T0), "traits": {"gender": rng.choice(["female", "male"])}},
        {**ev("identify", user, T0 + DAY), "traits": {"gender": rng.choice(GENDERS)}},
    ]
    for d in range(rng.randint(1, 5)):
        out.append(ev("view", user, T0 + d * DAY + 3_600_000, item_id=f"i{d}", category="shoes"))
    if buyer:
        for d in range(rng.randint(2, 4)):
            price = float(rng.randint(5, 400))
            out.append(ev("purchase", user, T0 + (d + 2) * DAY, item_id=f"s{d}", price=price))
    return out


def oracle(events: list[dict[str, Any]]) -> tuple[str, int, float]:
    """Latest declared gender, purchases, spend: straight from the events."""
    identifies = sorted((e for e in events if e["type"] == "identify"), key=lambda e: e["ts"])
    purchases = [e for e in events if e["type"] == "purchase"]
    spend = sum(e["properties"]["price"] for e in purchases)
    return identifies[-1]["traits"]["gender"], len(purchases), spend


def section(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in report["sections"] if s["name"] == name)


async def test_two_segments_side_by_side_match_the_oracle(
    settings: Settings, tmp_path: Path
) -> None:
    ns, rng = settings.topics.prefix, random.Random(16)
    users = {f"{ns}b{i}": True for i in range(1300)} | {f"{ns}l{i}": False for i in range(700)}
    logs = {u: history(rng, u, buyer) for u, buyer in users.items()}
    await seed_states(settings, {u: built(events) for u, events in logs.items()})
    buyers, lookers = [u for u, b in users.items() if b], [u for u, b in users.items() if not b]
    await seed_members(settings, "buyers", [*buyers, f"{ns}gone", f"{ns}broken"])
    await seed_members(settings, "lookers", lookers)
    redis = redis_client(settings)
    try:
        await redis.set(Keys(ns).profile(f"{ns}broken"), b"0:1;\xff\xfe not msgpack")
    finally:
        await redis.aclose()
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    env = {**service_env(settings), "PORTRAIT_RULES": str(rules)}
    out = tmp_path / "report.html"
    done = portrait(
        "insight", "buyers", "lookers", "--as-of", str(AS_OF), "--out", str(out), env=env,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stderr.splitlines()[-1]
    report = orjson.loads(out.with_suffix(".json").read_bytes())
    assert [a["name"] for a in report["audiences"]] == ["buyers", "lookers"]
    assert [a["users"] for a in report["audiences"]] == [1300, 700]
    truth = {u: oracle(events) for u, events in logs.items()}

    gender = section(report, "gender")
    for i, members in enumerate((buyers, lookers)):
        expected = Counter(truth[u][0] for u in members)
        got = dict(zip(gender["values"], gender["counts"][i], strict=True))
        assert {k: got.get(k, 0) for k in expected} == dict(expected)
    orders = section(report, "orders_total")
    median_orders = statistics.median(truth[u][1] for u in buyers)  # the middle two's mean
    assert orders["quantiles"]["p50"][0] == median_orders
    assert orders["quantiles"]["p50"][1] == 0
    assert orders["test"]["name"].startswith("Mann") and orders["test"]["significant"]
    assert any("did not decode" in n for n in report["notes"])
    assert any("no stored profile" in n for n in report["notes"])
    html = out.read_text()
    assert html.count("<svg") >= len(report["sections"])
    assert sorted(p.name for p in (tmp_path / "report.figures").iterdir())
    assert "http://" not in html.replace("http://www.w3.org", "")  # offline: no fetched asset


def test_unknown_segments_and_bad_conditions_are_one_line(
    settings: Settings, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    env = {**service_env(settings), "PORTRAIT_RULES": str(rules)}
    out = str(tmp_path / "r.html")
    done = portrait("insight", "buyerz", "lookers", "--out", out, env=env)
    assert done.returncode == 1
    assert done.stderr.strip().endswith("unknown segment 'buyerz' (did you mean 'buyers'?)")
    done = portrait("insight", "buyers", "--where", "{orders_totl: 1}", "--out", out, env=env)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "did you mean 'orders_total'" in done.stderr
    done = portrait("insight", "buyers", "--where", "{a: [", "--out", out, env=env)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert not Path(out).exists()
