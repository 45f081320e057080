"""``portrait api --processes 2`` over the test Redis and broker: two servers on one port, both
answering (SO_REUSEPORT spreads new connections), every request counted once in ``/metrics``
whichever process answered, and all of them gone after SIGTERM."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from streams.app.embedded import free_port
from streams.settings.tree import Settings
from tests.integration.app.test_cli import REPO, service_env

TOKEN = "processes-test-token"
REQUESTS = 40


def start(settings: Settings, port: int, metrics_dir: Path) -> subprocess.Popen[str]:
    env = {**os.environ, **service_env(settings), "PORTRAIT_API_TOKENS": f"read:{TOKEN}",
           "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}  # fmt: skip
    argv = [sys.executable, "-m", "streams.app.cli", "api", "--host", "127.0.0.1",
            "--port", str(port), "--processes", "2"]  # fmt: skip
    return subprocess.Popen(argv, env=env, cwd=REPO, stderr=subprocess.PIPE, text=True)


def wait_healthy(url: str, child: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert child.poll() is None, child.communicate()[1]
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("portrait api --processes 2 did not answer /healthz")


def counted(metrics: str, route: str, status: int) -> float:
    pattern = (
        r'^portrait_api_requests_total\{method="GET",route="' + re.escape(route)
        + r'",status="' + str(status) + r'"\} (\S+)$'
    )  # fmt: skip
    return sum(float(v) for v in re.findall(pattern, metrics, flags=re.MULTILINE))


def served_by(metrics_dir: Path, pid: int, scratch: Path) -> float:
    """The profile 404s one process answered: its counter file alone, collected."""
    scratch.mkdir()
    shutil.copy(metrics_dir / f"counter_{pid}.db", scratch)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(scratch))
    return counted(generate_latest(registry).decode(), "/v1/profiles/{user_id}", 404)


def test_two_processes_serve_one_port_and_count_every_request_once(
    settings: Settings, tmp_path: Path
) -> None:
    port, metrics_dir = free_port(), tmp_path / "metrics"
    metrics_dir.mkdir()
    url = f"http://127.0.0.1:{port}"
    child = start(settings, port, metrics_dir)
    try:
        wait_healthy(url, child)
        auth = {"Authorization": f"Bearer {TOKEN}"}
        for i in range(REQUESTS):  # a new connection each: the kernel picks the process
            with httpx.Client(timeout=10) as http:
                assert http.get(f"{url}/v1/profiles/nobody-{i}", headers=auth).status_code == 404
        with httpx.Client(timeout=10) as http:
            assert http.get(f"{url}/v1/profiles/x").status_code == 401
            metrics = http.get(f"{url}/metrics").text
        files = [re.search(r"^counter_(\d+)\.db$", f.name) for f in metrics_dir.iterdir()]
        pids = {int(m.group(1)) for m in files if m}
        each = [served_by(metrics_dir, pid, tmp_path / str(pid)) for pid in sorted(pids)]
        assert len(pids) == 2 and all(n >= 1 for n in each), each  # both answered
        assert sum(each) == counted(metrics, "/v1/profiles/{user_id}", 404) == REQUESTS
        assert counted(metrics, "/v1/profiles/{user_id}", 401) == 1
    finally:
        child.send_signal(signal.SIGTERM)
        _, stderr = child.communicate(timeout=30)
    assert child.returncode == 0, stderr
    assert stderr.count("portrait api: serving on") == 2
    assert all(not Path(f"/proc/{pid}").exists() for pid in pids)  # no process left behind
