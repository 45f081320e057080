"""bench/api.py end to end with tiny numbers: the real `portrait api` over real services, and
the table it prints has every row (API and raw GET at the rate, closed loop, ratios, verdict)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from streams.app.embedded import Services

pytestmark = pytest.mark.integration

TINY = ["--users", "40", "--days", "1", "--rate", "200", "--seconds", "1", "--closed-seconds",
        "0.5", "--concurrency", "2", "--connections", "4"]  # fmt: skip


def test_the_api_bench_prints_its_table(services: Services) -> None:
    env = {**os.environ, "REDIS_URL": services.redis_url,
           "KAFKA_BOOTSTRAP_SERVERS": services.kafka_bootstrap_servers}  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "bench.api", *TINY], env=env,
                          capture_output=True, text=True, timeout=240, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    app = lines[0]
    assert app.startswith("app: ") and "profiles; document" in app
    assert "serve_api" in app or "cli" in app  # the real app, not the stand-in
    rows = [line.split()[:5] for line in lines if line.startswith(("API GET", "redis GET"))]
    assert ["API", "GET", "/v1/profiles/{id}", "open", "200"] in rows
    assert ["redis", "GET", "(raw)", "open", "200"] in rows
    assert ["API", "GET", "/v1/profiles/{id}", "closed", "-"] in rows
    assert ["redis", "GET", "(raw)", "closed", "-"] in rows
    assert sum("API/raw: p50 x" in line for line in lines) >= 1
    assert any(line.startswith("target p99 <= 5 ms at 200 req/s: ") for line in lines)
    measured = [line.split() for line in lines if line.startswith(("API GET", "redis GET"))]
    errors = {cells[12] for cells in measured if cells[3] in ("open", "closed")}
    assert errors == {"0"}, lines  # every request answered 200 (the API) or a value (Redis)
