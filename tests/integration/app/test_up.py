"""The Quickstart's first command, as a user runs it: embedded services, worker, simulator."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]


RATE_FOR = ("--rate", "200", "--for", "25")


def test_up_with_simulator_shows_profiles_changing_and_stops_cleanly(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL")}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [sys.executable, "-m", "streams.app.cli", "up", "--simulate", *RATE_FOR],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert re.search(r"^export KAFKA_BOOTSTRAP_SERVERS=127\.0\.0\.1:\d+$", out, re.M), out[-3000:]
    assert re.search(r"^export REDIS_URL=redis://127\.0\.0\.1:\d+/0$", out, re.M)
    changes = re.findall(r"profile (u\d+): (.+)", out)
    assert len(changes) >= 3, out[-3000:]  # users and their changed tags, within the run
    assert any("lifecycle" in tags for _, tags in changes)  # segments entering, e.g. new
    assert "Traceback" not in out, out[-3000:]
    assert (tmp_path / ".portrait" / "tansu.log").exists()
