"""`portrait worker` as a child process, for tests that kill and restart it."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from streams.app.embedded import Services, free_port
from streams.settings.tree import Settings

REPO = Path(__file__).resolve().parents[2]


class WorkerProcess:
    """`portrait worker` as a child process, configured through PORTRAIT_CONFIG as a user does."""

    def __init__(
        self,
        settings: Settings,
        tmp: Path,
        extra: dict[str, Any] | None = None,
        name: str = "",
        args: tuple[str, ...] = (),
    ) -> None:
        config = tmp / f"portrait{name}.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "topics": {
                        "partitions": settings.topics.partitions,
                        "prefix": settings.topics.prefix,
                    },
                    "worker": {"batch_max_records": 300, "poll_timeout_ms": 50},
                    **(extra or {}),
                }
            )
        )
        self.port = free_port()
        services = Services(settings.kafka_bootstrap_servers, settings.redis_url)
        self.env = services.child_env(metrics_port=self.port, config=config)
        self.log = tmp / f"worker{name}.log"
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streams.app.cli", "worker", *self.args],
                env=self.env,
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    async def ready(self, within: float = 60.0) -> None:
        """Wait until the worker answers ``/readyz`` with 200: consuming, its Redis answering. A
        fault injected before that would meet the worker's start-up checks (which stop it on an
        unreachable service, by design), not a running worker."""
        url = f"http://127.0.0.1:{self.port}/readyz"
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline:
                assert self.proc is not None and self.proc.poll() is None, self.log.read_text()
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(url)).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise AssertionError(f"the worker was not ready in {within}s: {self.log.read_text()}")

    def kill(self) -> None:
        assert self.proc is not None and self.proc.poll() is None, self.log.read_text()[-3000:]
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
