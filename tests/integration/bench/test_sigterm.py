"""A benchmark stopped with SIGTERM (``kill``, a CI timeout) stops its embedded valkey too: it
used to exit at once and leave the server running (bench/results.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]
SCRIPT = """
import time
from bench.results import on_redis

def run(url, external):
    print(url, flush=True)
    time.sleep(120)

on_redis(run)
"""


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_sigterm_stops_the_embedded_valkey() -> None:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    child = subprocess.Popen([sys.executable, "-c", SCRIPT], cwd=REPO, env=env,
                             stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert child.stdout is not None
        url = child.stdout.readline().strip()
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        assert listening(port), url
        child.send_signal(signal.SIGTERM)
        child.wait(30)
        deadline = time.monotonic() + 10
        while listening(port) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not listening(port), f"valkey on {port} outlived the benchmark"
    finally:
        child.kill()
