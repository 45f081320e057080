"""The Quickstart's first command, as a user runs it: embedded services, worker, API, simulator."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]


RATE_FOR = ("--rate", "200", "--for", "45")


def test_up_with_simulator_shows_profiles_changing_and_stops_cleanly(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL")}
    env["PYTHONPATH"] = str(REPO)
    log = tmp_path / "up.log"
    with log.open("w") as sink:
        child = subprocess.Popen(
            [sys.executable, "-m", "streams.app.cli", "up", "--simulate", "--api-port", "0",
             *RATE_FOR],
            cwd=tmp_path, env=env, stdout=sink, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        try:
            read = read_a_profile_from_the_api(log)
            experiment = report_the_experiment(log, tmp_path)
            returncode = child.wait(120)
        finally:
            child.kill()
    out = log.read_text()
    assert returncode == 0, out[-3000:]
    assert re.search(r"^export KAFKA_BOOTSTRAP_SERVERS=127\.0\.0\.1:\d+$", out, re.M), out[-3000:]
    assert re.search(r"^export REDIS_URL=redis://127\.0\.0\.1:\d+/0$", out, re.M)
    changes = re.findall(r"profile (u\d+): (.+)", out)
    assert len(changes) >= 3, out[-3000:]  # users and their changed tags, within the run
    assert any("lifecycle" in tags for _, tags in changes)  # segments entering, e.g. new
    assert "Traceback" not in out, out[-3000:]
    assert (tmp_path / ".portrait" / "tansu.log").exists()
    user, status, body = read
    assert (status, body["user_id"]) == (200, user), body  # the printed token reads profiles
    arms = {row["arm"]: row for row in experiment["arms"]}
    assert set(arms) == {"holdout", "plain", "urgent"}
    assert arms["holdout"]["users"] > 0 and arms["holdout"]["sent"] == 0
    assert arms["urgent"]["sent_by_channel"].keys() <= {"sms"}
    for variant in ("plain", "urgent"):
        interval = arms[variant]["uplift"]
        assert interval["low"] <= interval["diff"] <= interval["high"], interval


def report_the_experiment(log: Path, cwd: Path, timeout: float = 40.0) -> dict:  # type: ignore[type-arg]
    """The demo's experiment on cart reminders (20 s after the add), read while up runs, once
    its holdout and a variant have users: the report as JSON, outcomes as of two days on."""
    deadline = time.monotonic() + timeout
    as_of = str(int(time.time() * 1000) + 2 * 86_400_000)
    while time.monotonic() < deadline:
        out = log.read_text()
        kafka = re.search(r"^export KAFKA_BOOTSTRAP_SERVERS=(\S+)$", out, re.M)
        redis = re.search(r"^export REDIS_URL=(\S+)$", out, re.M)
        if kafka and redis:
            env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka.group(1),
                   "REDIS_URL": redis.group(1),
                   "PORTRAIT_CONFIG": str(cwd / ".portrait" / "demo.yaml")}  # fmt: skip
            done = subprocess.run(
                [sys.executable, "-m", "streams.app.cli", "experiment", "report", "cart_copy",
                 "--as-of", as_of, "--json", "--quiet"],
                cwd=REPO, env=env, capture_output=True, text=True, timeout=30,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            report = json.loads(done.stdout)
            users = {row["arm"]: row["users"] for row in report["arms"]}
            if users["holdout"] and users["plain"] + users["urgent"]:
                return report  # type: ignore[no-any-return]
        time.sleep(1.0)
    raise AssertionError(f"no exposed users in the demo's experiment within {timeout} s")


def read_a_profile_from_the_api(log: Path, timeout: float = 60.0) -> tuple[str, int, dict]:  # type: ignore[type-arg]
    """Once up printed the API's address and token and the worker a changed profile: that
    profile, read over HTTP with the printed token."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = log.read_text()
        api = re.search(r"^export PORTRAIT_API_URL=(\S+) PORTRAIT_API_TOKEN=(\S+)$", out, re.M)
        changed = re.search(r"profile (u\d+): ", out)
        if api and changed and "portrait api: serving" in out:
            user = changed.group(1)
            reply = httpx.get(
                f"{api.group(1)}/v1/profiles/{user}",
                headers={"Authorization": f"Bearer {api.group(2)}"},
            )
            return user, reply.status_code, reply.json()
        time.sleep(0.5)
    raise AssertionError(f"no API address and changed profile within {timeout} s:\n{out[-3000:]}")
