"""docs/insight.md's demo as it is documented (docs/examples/insight/demo.py): the REES46 and
Taobao logs replayed into the test's Redis, then two segments of each compared. The Taobao
audiences are checked against the log itself (buyers: users with a ``buy`` row), the reports'
structure against what the page shows."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from streams.settings.tree import Settings

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
TAOBAO = REPO.parent / "shared/data/taobao_userbehavior_by_user/UserBehavior.csv"


def test_the_documented_demo_compares_segments_of_both_logs(
    settings: Settings, tmp_path: Path
) -> None:
    env = {**os.environ, "REDIS_URL": settings.redis_url}
    done = subprocess.run(
        [sys.executable, str(REPO / "docs/examples/insight/demo.py"), str(tmp_path)],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with TAOBAO.open(newline="") as f:
        rows = list(csv.reader(f))
    users = {r[0] for r in rows}
    buyers = {r[0] for r in rows if r[3] == "buy"}
    taobao = orjson.loads((tmp_path / "taobao.json").read_bytes())
    assert [(a["name"], a["users"]) for a in taobao["audiences"]] == [
        ("buyers", len(buyers)),
        ("browsers", len(users - buyers)),
    ]
    rees46 = orjson.loads((tmp_path / "rees46.json").read_bytes())
    assert [a["name"] for a in rees46["audiences"]] == ["smartphone_shoppers", "home_shoppers"]
    assert all(a["users"] > 100 and a["summary"] for a in rees46["audiences"])
    top = next(s for s in rees46["sections"] if s["name"] == "top_categories")
    smartphone = top["values"].index("electronics.smartphone")
    assert top["shares"][0][smartphone] == 1.0  # the segment's own condition
    assert top["tests"][smartphone]["significant"]
    for name in ("rees46", "taobao"):
        html = (tmp_path / f"{name}.html").read_text()
        assert html.count("<svg") == len(
            orjson.loads((tmp_path / f"{name}.json").read_bytes())["sections"]
        )
