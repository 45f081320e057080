"""Fault control for the fault suite: services to crash, pause and restart, a paced stream, and
the figures every run ends with (tests/integration/faults/test_faults.py, bench/faults.py).

The services are the embedded ones of :mod:`streams.app.embedded`, subclassed: the same binaries and
command lines, plus AOF for Redis and SIGSTOP/SIGCONT for the broker.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import RecordMetadata, TopicPartition

from streams.app.embedded import EmbeddedRedis, TansuBroker
from streams.names import TOPIC_EVENTS
from streams.settings.tree import Settings, TopicsConfig, WorkerConfig

Note = Callable[[str], None]


def quiet(_: str) -> None:
    """The tests' progress reporter: says nothing."""


def fault_settings(bootstrap: str, redis_url: str, namespace: str, partitions: int) -> Settings:
    """Settings of one fault run: its own topics and group, short Redis retries."""
    return Settings(
        kafka_bootstrap_servers=bootstrap,
        redis_url=redis_url,
        metrics_port=0,
        topics=TopicsConfig(partitions=partitions, prefix=namespace),
        worker=WorkerConfig(poll_timeout_ms=50, redis_retry_initial_ms=50, redis_retry_max_ms=500),
    )


class AofRedis(EmbeddedRedis):
    """The embedded valkey with an append-only file, which a SIGKILL and a restart on the same
    port and directory must not lose (``fsync``: ``always`` or ``everysec``)."""

    name = "valkey-aof"

    def __init__(self, fsync: str, log_dir: Path | None = None) -> None:
        super().__init__(log_dir=log_dir)
        self.fsync = fsync

    def command(self) -> list[str]:
        # the last value of a repeated option wins (valkey reads the line as a config file)
        return [*super().command(), "--appendonly", "yes", "--appendfsync", self.fsync]

    def crash(self) -> None:
        """SIGKILL: no shutdown, no last fsync."""
        assert self.process is not None and self.process.poll() is None, "valkey is not running"
        self.process.kill()
        self.process.wait(10)


class PausableBroker(TansuBroker):
    """The embedded Tansu broker, frozen (SIGSTOP) and resumed (SIGCONT) as a whole."""

    name = "tansu-paused"

    def _signal(self, sig: signal.Signals) -> None:
        assert self.process is not None and self.process.poll() is None, "tansu is not running"
        os.killpg(self.process.pid, sig)  # its own session (streams.app.embedded): the group is its

    def pause(self) -> None:
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)


class Stream:
    """Sends messages at a steady rate while faults happen; knows where each one landed."""

    def __init__(self, settings: Settings, messages: Sequence[dict[str, Any]], rate: float) -> None:
        self.settings = settings
        self.messages = messages
        self.rate = rate
        self.sent = 0
        self.ends: dict[int, int] = {}  # partition -> offset after its last message
        self.done = False  # every message acknowledged by the broker
        self.finished = asyncio.Event()  # done, or failed
        self._advanced = asyncio.Event()

    async def run(self) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            acks="all",
            linger_ms=5,
            request_timeout_ms=90_000,  # outlives a paused broker
        )
        await producer.start()
        topic = self.settings.topic(TOPIC_EVENTS)
        started = time.monotonic()
        try:
            futures: list[asyncio.Future[RecordMetadata]] = []
            for i, message in enumerate(self.messages):
                ahead = started + i / self.rate - time.monotonic()
                if ahead > 0:
                    await asyncio.sleep(ahead)
                key = str(message["user_id"]).encode()
                futures.append(await producer.send(topic, orjson.dumps(message), key=key))
                self.sent = i + 1
                self._advanced.set()
            for meta in await asyncio.gather(*futures):
                self.ends[meta.partition] = max(self.ends.get(meta.partition, 0), meta.offset + 1)
            self.done = True
        finally:
            self.finished.set()
            self._advanced.set()
            await producer.stop()

    async def reached(self, fraction: float) -> None:
        """Wait until ``fraction`` of the messages were handed to the producer (or it ended)."""
        while self.sent < fraction * len(self.messages) and not self.finished.is_set():
            self._advanced.clear()
            await self._advanced.wait()


async def wait_consumed(settings: Settings, stream: Stream, within: float) -> None:
    """Wait until the group committed every message of ``stream`` (sent in full first)."""
    deadline = time.monotonic() + within
    await stream.finished.wait()
    assert stream.done, "the stream did not reach the broker"
    topic = settings.topic(TOPIC_EVENTS)
    # asks the group coordinator without joining (the admin client's OffsetFetch is a version
    # Tansu answers with a frame aiokafka cannot read)
    reader = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=settings.group_id,
        enable_auto_commit=False,
    )
    await reader.start()
    offsets: dict[int, int | None] = {}
    try:
        while time.monotonic() < deadline:
            for partition in stream.ends:
                offsets[partition] = await reader.committed(TopicPartition(topic, partition))
            if all((offsets[p] or 0) >= end for p, end in stream.ends.items()):
                return
            await asyncio.sleep(0.25)
    finally:
        await reader.stop()
    raise AssertionError(f"group committed {offsets}, the stream ends at {stream.ends}")


@dataclass
class Figures:
    """What one fault run measured; ``clean`` when nothing was lost or doubled."""

    scenario: str
    events: int = 0  # distinct events
    sent: int = 0  # messages produced, copies included
    kills: int = 0
    restarts: int = 0
    users: int = 0  # users whose stored profile was compared
    differing: list[str] = field(default_factory=list)  # users whose profile view differs
    lost: int = 0  # events the model applied once that no stored profile counts
    doubled: int = 0  # events stored profiles count more often than the model
    reminders: int = 0  # reminders expected (one per cart user)
    reminders_lost: int = 0
    reminders_doubled: int = 0  # messages past the first of a trigger_id (or unexpected)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (
            self.differing
            or self.lost
            or self.doubled
            or self.reminders_lost
            or self.reminders_doubled
        )

    def summary(self) -> str:
        return (
            f"{self.scenario}: {len(self.differing)} of {self.users} users differ, "
            f"{self.lost} lost, {self.doubled} doubled, reminders {self.reminders_lost} lost "
            f"{self.reminders_doubled} doubled; e.g. {self.differing[:3]}; {'; '.join(self.notes)}"
        )


def figures_table(runs: Sequence[Figures]) -> str:
    """The runs as a plain-text table."""
    head = ("scenario", "events", "sent", "kills", "restarts", "users", "differ", "lost",
            "doubled", "reminders", "rem. lost", "rem. doubled", "s")  # fmt: skip
    rows: list[tuple[Any, ...]] = [head]
    for f in runs:
        rows.append((f.scenario, f.events, f.sent, f.kills, f.restarts, f.users,
                     len(f.differing), f.lost, f.doubled, f.reminders, f.reminders_lost,
                     f.reminders_doubled, f.seconds))  # fmt: skip
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(head))]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    notes = [f"{f.scenario}: {'; '.join(f.notes)}" for f in runs if f.notes]
    return "\n".join([*lines, "", *notes])
