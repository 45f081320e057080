"""``portrait worker --processes N`` (docs/operations.md, "Scaling out"): N workers in one group
share the partitions, every event counted once; a signal stops them all, and one that dies takes
the others down with it (a supervisor above restarts the whole) with a one-line reason."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from profiles.model import ProfileModel
from streams.app.embedded import free_ports
from streams.settings.tree import Settings
from tests.integration.helpers import (
    DAY,
    T0,
    expected_states,
    load_states,
    produce,
    profile_view,
    traffic,
    wait_until,
)
from tests.integration.processes import WorkerProcess

pytestmark = pytest.mark.integration


def events_counted(port: int) -> float:
    """``portrait_events_total`` summed over its labels, from one worker's metrics port."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            body = response.read().decode()
    except OSError:
        return -1.0
    return sum(
        sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
        if sample.name == "portrait_events_total"
    )


def children_of(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return [int(p) for p in out.stdout.split()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped) counts as gone
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")")[-1].split()[0] != "Z"


def supervised(settings: Settings, tmp_path: Path) -> WorkerProcess:
    worker = WorkerProcess(settings, tmp_path, name="sup", args=("--processes", "2"))
    worker.port = free_ports(2)
    worker.env["PORTRAIT_METRICS_PORT"] = str(worker.port)
    return worker


async def test_two_processes_share_the_partitions_and_count_every_event_once(
    settings: Settings, namespace: str, tmp_path: Path
) -> None:
    assert settings.topics.partitions >= 2
    log = traffic(namespace, users=60, n=1500)
    users = sorted({e["user_id"] for e in log})
    oracle = expected_states(log, ProfileModel())
    worker = supervised(settings, tmp_path)
    worker.start()
    assert worker.proc is not None
    try:
        await produce(settings, log)
        ports = (worker.port, worker.port + 1)

        async def shared() -> bool:
            counted = [events_counted(p) for p in ports]
            return all(c > 0 for c in counted) and sum(counted) == len(log)

        await wait_until(shared, within=120, what="both processes' events adding up to the log")
        children = children_of(worker.proc.pid)
        assert len(children) == 2
        worker.proc.send_signal(signal.SIGTERM)
        assert worker.proc.wait(30) == 0, worker.log.read_text()[-2000:]
        assert not any(alive(c) for c in children)
    finally:
        worker.stop()
    states = await load_states(settings, users)
    model, as_of = ProfileModel(), T0 + DAY
    differ = [
        u for u in users
        if profile_view(model, u, states[u], as_of) != profile_view(model, u, oracle[u], as_of)
    ]  # fmt: skip
    assert differ == []


async def test_a_dead_process_stops_the_others_with_a_one_line_reason(
    settings: Settings, tmp_path: Path
) -> None:
    worker = supervised(settings, tmp_path)
    worker.start()
    assert worker.proc is not None
    try:

        async def serving() -> bool:
            return all(events_counted(p) >= 0 for p in (worker.port, worker.port + 1))

        await wait_until(serving, within=60, what="both processes serving metrics")
        first, second = children_of(worker.proc.pid)
        os.kill(first, signal.SIGKILL)
        code = await asyncio.to_thread(worker.proc.wait, 30)
        assert code == 2  # README, "Exit codes": a child that failed
        assert not alive(second)
        last = worker.log.read_text().strip().splitlines()[-1]
        assert "a worker process exited with -9" in last, last
        assert "Traceback" not in worker.log.read_text().split("exited with -9")[-1]
    finally:
        worker.stop()
