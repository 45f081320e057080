"""The Quickstart's first command, as a user runs it: embedded services, worker, API, simulator."""

from __future__ import annotations

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


RATE_FOR = ("--rate", "200", "--for", "25")


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
