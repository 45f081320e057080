"""The `portrait` command as a user runs it: profile get, and the worker's start-up errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from streams.embedded import free_port
from streams.settings import Settings
from tests.integration.helpers import (
    T0,
    ev,
    produce,
    running_worker,
    wait_for_count,
)

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def portrait(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        env={**os.environ, **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def service_env(settings: Settings) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "REDIS_URL": settings.redis_url,
    }


async def test_profile_get_prints_the_profile_and_rejects_unknown_users(
    settings: Settings, namespace: str
) -> None:
    user = namespace + "dave"
    events = [
        ev("view", user, T0, item_id="i1"),
        ev("add_to_cart", user, T0 + 1000, item_id="i1", price=12.5, quantity=2),
        ev("add_to_cart", user, T0 + 2000, item_id="i2", price=3.0),
        ev("purchase", user, T0 + 3000, item_id="i2", price=3.0, order_id="o1"),
    ]
    async with running_worker(settings):
        await produce(settings, events)

        await wait_for_count(settings, user, "purchase", 1, what="dave's profile")
    done = portrait(
        "profile", "get", user, "--as-of", "2023-11-15T00:00:00Z", env=service_env(settings)
    )
    assert done.returncode == 0, done.stderr
    doc = orjson.loads(done.stdout)
    assert doc["user_id"] == user
    assert doc["tags"]["cart_open_items"] == 1
    assert doc["tags"]["spend_total"] == 3.0
    assert doc["tags"]["last_purchase_at"] == "2023-11-14T22:13:23.000Z"
    assert doc["tags"]["views_30d"] == 1
    assert [item["item_id"] for item in doc["cart"]] == ["i1"]

    later = portrait(
        "profile", "get", user, "--as-of", "2024-06-01T00:00:00Z", env=service_env(settings)
    )
    assert orjson.loads(later.stdout)["tags"]["views_30d"] == 0, "windows fall with time"

    unknown = portrait("profile", "get", namespace + "nobody", env=service_env(settings))
    assert unknown.returncode != 0
    assert "no profile" in unknown.stderr


def test_worker_exits_with_one_line_reason_when_redis_is_unreachable(settings: Settings) -> None:
    env = {
        **service_env(settings),
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "PORTRAIT_METRICS_PORT": str(free_port()),
    }
    done = portrait("worker", env=env)
    assert done.returncode != 0
    reason = [line for line in done.stderr.splitlines() if line.startswith("portrait worker:")]
    assert len(reason) == 1 and "cannot reach Redis" in reason[0], done.stderr


def test_worker_exits_with_one_line_reason_when_kafka_is_unreachable(settings: Settings) -> None:
    env = {
        **service_env(settings),
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "PORTRAIT_METRICS_PORT": str(free_port()),
    }
    done = portrait("worker", env=env, timeout=120)
    assert done.returncode != 0
    reason = [line for line in done.stderr.splitlines() if line.startswith("portrait worker:")]
    assert len(reason) == 1 and "cannot reach Kafka" in reason[0], done.stderr
