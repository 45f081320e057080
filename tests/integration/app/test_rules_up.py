"""The issue's "done when", as a new user does it: write a rules file with a tag and a segment,
start ``portrait up --simulate``, see the tag in ``portrait profile get``, see ``entered`` on
``profile.changes`` when the simulator's users qualify, and export the segment."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]

RULES = """\
tags:
  - name: window_shopper
    path: behaviour/browsing
    description: Looked at things, bought nothing yet.
    rule: {views_total: {">=": 1}, purchases_total: 0}
segments:
  - name: engaged_viewers
    description: Five views or more.
    where: {views_total: {">=": 5}}
"""


def portrait(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.app.cli", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=90,
    )  # fmt: skip


def test_a_new_users_rules_file_through_portrait_up(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL")}
    env.update(PYTHONPATH=str(REPO), PORTRAIT_RULES=str(rules))
    assert portrait("rules", "check", str(rules), env=env).stdout.startswith("ok: 1 tags")
    log = tmp_path / "up.log"
    with log.open("w") as out:
        up = subprocess.Popen(
            [sys.executable, "-m", "streams.app.cli", "up", "--simulate", "--users", "40",
             "--rate", "150", "--for", "90"],
            cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        services = _services(log)
        env.update(services)
        changes = portrait(
            "changes", "--from-beginning", "--name", "engaged_viewers", "--max", "1",
            "--timeout", "45", env=env,
        )  # fmt: skip
        assert changes.returncode == 0, changes.stderr
        messages = [orjson.loads(line) for line in changes.stdout.splitlines()]
        entered = [m for m in messages if m.get("segment") == "engaged_viewers"]
        assert entered and {m["change"] for m in entered} == {"entered"}, messages[:5]
        user = entered[0]["user_id"]
        doc = orjson.loads(portrait("profile", "get", user, env=env).stdout)
        assert "engaged_viewers" in doc["segments"]
        assert doc["tags"]["window_shopper"] in (True, False)
        assert doc["tags"]["views_total"] >= 5
        export = portrait("segment", "export", "engaged_viewers", "--format", "csv", env=env)
        assert export.returncode == 0, export.stderr
        lines = export.stdout.splitlines()
        assert lines[0] == "user_id" and user in lines[1:]
        assert len(lines[1:]) == len(set(lines[1:]))
        listed = [orjson.loads(x) for x in portrait("segment", "list", env=env).stdout.splitlines()]
        assert [(s["name"], s["size"] >= len(lines) - 1) for s in listed] == [
            ("engaged_viewers", True)
        ]
    finally:
        up.terminate()
        up.wait(60)
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


def _services(log: Path) -> dict[str, str]:
    """The services ``portrait up`` started, from the ``export`` lines it prints."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = log.read_text()
        found = dict(re.findall(r"^export (KAFKA_BOOTSTRAP_SERVERS|REDIS_URL)=(\S+)$", text, re.M))
        if len(found) == 2:
            return found
        time.sleep(0.2)
    raise AssertionError(log.read_text()[-3000:])
