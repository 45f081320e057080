"""Effectively once: duplicates by event_id, and a worker SIGKILLed mid-stream and restarted."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from profiles.model import ProfileModel
from streams.embedded import Services, free_port
from streams.settings import Settings
from tests.integration.helpers import (
    DAY,
    T0,
    applied_total,
    ev,
    expected_states,
    load_states,
    metric,
    produce,
    profile_view,
    running_worker,
    traffic,
    wait_until,
)

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


async def test_same_event_id_twice_counts_once(settings: Settings, namespace: str) -> None:
    user = namespace + "bob"
    purchase = ev("purchase", user, T0, event_id="order-42-completed", revenue=99.5, order_id="42")
    events = [ev("view", user, T0 - 1000), purchase, dict(purchase), ev("view", user, T0 + 1000)]
    async with running_worker(settings) as registry:
        await produce(settings, events)

        async def all_consumed() -> bool:
            return metric(registry, "portrait_batch_size_sum") >= 4

        await wait_until(all_consumed, what="4 records consumed")
        assert metric(registry, "portrait_events_total", type="purchase", outcome="duplicate") == 1
        assert metric(registry, "portrait_events_total", type="purchase", outcome="applied") == 1
    tags = ProfileModel().tags((await load_states(settings, [user]))[user], T0 + 2000)
    assert tags["purchases_total"] == 1
    assert tags["spend_total"] == 99.5
    assert tags["events_total"] == 3


class WorkerProcess:
    """`portrait worker` as a child process, configured through PORTRAIT_CONFIG as a user does."""

    def __init__(self, settings: Settings, tmp: Path) -> None:
        config = tmp / "portrait.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "topics": {
                        "partitions": settings.topics.partitions,
                        "prefix": settings.topics.prefix,
                    },
                    "worker": {"batch_max_records": 300, "poll_timeout_ms": 50},
                }
            )
        )
        self.port = free_port()
        services = Services(settings.kafka_bootstrap_servers, settings.redis_url)
        self.env = services.child_env(metrics_port=self.port, config=config)
        self.log = tmp / "worker.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streams.cli", "worker"],
                env=self.env,
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        assert self.proc is not None and self.proc.poll() is None, self.log.read_text()[-3000:]
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


async def test_sigkill_mid_stream_loses_nothing_and_counts_nothing_twice(
    settings: Settings, namespace: str, tmp_path: Path
) -> None:
    events = traffic(namespace, users=300, n=30_000)
    users = sorted({e["user_id"] for e in events})
    expected = expected_states(events, ProfileModel())
    worker = WorkerProcess(settings, tmp_path)
    worker.start()
    producing = asyncio.ensure_future(produce(settings, events))
    try:
        kills = 0
        for threshold in (3_000, 10_000, 17_000):  # kill three times, each time mid-stream

            async def past(threshold: int = threshold) -> bool:
                return await applied_total(settings, users) >= threshold

            await wait_until(past, within=120, what=f"{threshold} events applied")
            worker.kill()
            kills += 1
            partial = await applied_total(settings, users)
            assert partial < len(events), "the kill must land before the stream is done"
            worker.start()
        await producing

        async def complete() -> bool:
            return await applied_total(settings, users) >= len(events)

        await wait_until(complete, within=180, what="all events applied after restarts")
        await asyncio.sleep(1.0)  # anything double-applied late would show up now
    finally:
        worker.stop()
    assert kills == 3
    states = await load_states(settings, users)
    model = ProfileModel()
    as_of = T0 + DAY
    mismatched = [
        u
        for u in users
        # views, not raw states: how the stream was cut into batches may change the inner form
        # (when decayed scores were rescaled, the change log) but never a value
        if profile_view(model, u, states[u], as_of) != profile_view(model, u, expected[u], as_of)
    ]
    assert mismatched == [], f"{len(mismatched)} users differ, e.g. {mismatched[:3]}"
    assert await applied_total(settings, users) == len(events)
