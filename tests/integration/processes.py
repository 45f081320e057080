"""`portrait worker` as a child process, for tests that kill and restart it."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import yaml

from streams.app.embedded import Services, free_port
from streams.settings.tree import Settings
from tests.integration.helpers import wait_until

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
        async with httpx.AsyncClient(timeout=2.0) as client:

            async def answers() -> bool:
                assert self.proc is not None and self.proc.poll() is None, self.log.read_text()
                with contextlib.suppress(httpx.HTTPError):
                    return (await client.get(url)).status_code == 200
                return False

            await wait_until(answers, within, what=f"the worker ready (its log: {self.log})")

    def kill(self) -> None:
        assert self.proc is not None and self.proc.poll() is None, self.log.read_text()[-3000:]
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
