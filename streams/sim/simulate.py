"""The traffic simulator: persona traffic (streams.sim.personas) produced to Kafka at a target rate.

Live mode stamps events with simulated time that starts at the wall clock's now and runs
``time_scale`` times faster than it, so with ``time_scale > 1`` personas evolve (and event
times run ahead of the wall clock) faster. Every ``_TICK_S`` the simulator generates the tick's
slice of simulated time and sends it; the model's activity is tuned so the mean is ``rate``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter as Tally
from collections.abc import Iterable, Sequence
from typing import Any, Final

import orjson
from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry, Counter

from streams.connect.clients import KafkaTarget, kafka_options
from streams.errors import started
from streams.names import TOPIC_EVENTS
from streams.ops.progress import ProgressLine
from streams.sim.personas import TrafficModel, malformed_event

log = logging.getLogger("portrait.simulate")

_TICK_S: Final = 0.1
_LOG_EVERY_S: Final = 5.0
_CHUNK: Final = 10_000  # messages in flight before waiting for acknowledgements

Message = tuple[bytes | None, bytes, str]  # key, value, type label


class SimulatorMetrics:
    """Prometheus view of the simulator."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.events_sent = Counter(
            "portrait_simulator_events_sent_total",
            "Messages produced by the simulator, by event type (malformed: broken payloads)",
            ["type"],
            registry=self.registry,
        )

    def on_sent(self, type: str, n: int = 1) -> None:
        self.events_sent.labels(type=type).inc(n)


def encode_event(event: dict[str, Any]) -> Message:
    """Kafka key (the user id, so one user's events stay in order), value and type label."""
    user_id = event.get("user_id")
    key = user_id.encode() if isinstance(user_id, str) else None
    return key, orjson.dumps(event), str(event.get("type"))


def _producer(kafka: KafkaTarget) -> AIOKafkaProducer:
    return AIOKafkaProducer(**kafka_options(kafka), acks="all", linger_ms=5)


async def _send(
    producer: AIOKafkaProducer,
    topic: str,
    messages: Sequence[Message],
    observer: SimulatorMetrics | None,
    timestamp_ms: int | None = None,
) -> int:
    """Send and wait for the acknowledgements; count by type once acknowledged.

    ``timestamp_ms`` stamps the records (their arrival time): simulated time, which runs
    ahead of the wall clock with ``time_scale > 1``, as the events' own times do."""
    futures = [
        await producer.send(topic, value=value, key=key, timestamp_ms=timestamp_ms)
        for key, value, _ in messages
    ]
    if futures:
        await asyncio.gather(*futures)
    if observer is not None:
        for etype, n in Tally(label for _, _, label in messages).items():
            observer.on_sent(etype, n)
    return len(futures)


async def produce_events(
    bootstrap_servers: KafkaTarget, events: Iterable[dict[str, Any]], topic: str = TOPIC_EVENTS
) -> int:
    """Send contract dicts (keyed by user id) and wait until all are acknowledged."""
    producer = _producer(bootstrap_servers)
    await started(producer)
    sent = 0
    try:
        chunk: list[Message] = []
        for event in events:
            chunk.append(encode_event(event))
            if len(chunk) >= _CHUNK:
                sent += await _send(producer, topic, chunk, None)
                chunk = []
        sent += await _send(producer, topic, chunk, None)
    finally:
        await producer.stop()
    return sent


class _Sent:
    """What the simulator sent, shown on the progress line (a log record every few seconds)."""

    def __init__(self, line: ProgressLine) -> None:
        self.line = line
        self.sent = 0
        self.malformed = 0

    def add(self, events: int, malformed: int) -> None:
        self.sent += events + malformed
        self.malformed += malformed

    def show(self, *, final: bool = False) -> None:
        line = self.line
        if not line.due(final=final):
            return
        line.status(
            f"sent {self.sent} messages ({self.malformed} malformed): "
            f"{line.recent_rate(self.sent):.0f}/s last {line.since_shown():.0f}s, "
            f"{line.rate(self.sent):.0f}/s overall",
            final=final,
            done=self.sent,
        )


def _check(users: int, rate: float, duration_s: float | None, bad: float, scale: float) -> None:
    if users < 1:
        raise ValueError("users must be at least 1")
    if not 0 < rate < float("inf") or not 0 < scale < float("inf"):
        raise ValueError("rate and time_scale must be positive numbers")
    if duration_s is not None and not duration_s >= 0:
        raise ValueError("duration_s must be >= 0")
    if not 0 <= bad <= 1:
        raise ValueError("bad_rate must be between 0 and 1")


async def run_simulation(
    bootstrap_servers: KafkaTarget,
    *,
    users: int = 1000,
    rate: float = 200.0,
    duration_s: float | None = None,
    seed: int = 42,
    bad_rate: float = 0.0,
    topic: str = TOPIC_EVENTS,
    observer: SimulatorMetrics | None = None,
    time_scale: float = 1.0,
) -> int:
    """Produce persona traffic at about ``rate`` messages/s until cancelled or ``duration_s``.

    Returns the number of messages sent (malformed ones included). On cancellation the producer
    is flushed and stopped, and ``CancelledError`` propagates.
    """
    _check(users, rate, duration_s, bad_rate, time_scale)
    model = TrafficModel(users, seed=seed)
    model.tune(rate / (1 + bad_rate) / time_scale)
    log.info(
        "simulating %d users at %.0f events/s (time x%g, activity %.1f, malformed %.2f%%) to %s",
        users, rate, time_scale, model.activity, bad_rate * 100, topic,
    )  # fmt: skip
    producer = _producer(bootstrap_servers)
    await started(producer)
    loop = asyncio.get_running_loop()
    progress = _Sent(
        ProgressLine("simulate", sink=log.info, clock=loop.time, log_interval=_LOG_EVERY_S)
    )
    try:
        await _pump(producer, model, topic, duration_s, time_scale, bad_rate, observer, progress)
    finally:
        progress.show(final=True)
        await producer.stop()
    return progress.sent


async def _pump(
    producer: AIOKafkaProducer,
    model: TrafficModel,
    topic: str,
    duration_s: float | None,
    time_scale: float,
    bad_rate: float,
    observer: SimulatorMetrics | None,
    progress: _Sent,
) -> None:
    loop = asyncio.get_running_loop()
    bad_rng = random.Random(model.seed ^ 0x5EED)
    wall0, sim0 = loop.time(), int(time.time() * 1000)
    cursor, tick = sim0, 0
    while duration_s is None or tick * _TICK_S < duration_s:
        tick += 1
        elapsed = tick * _TICK_S if duration_s is None else min(tick * _TICK_S, duration_s)
        delay = wall0 + elapsed - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        sim_end = sim0 + int(elapsed * 1000 * time_scale)
        messages = [encode_event(e) for e in model.events_between(cursor, sim_end)]
        cursor, events = sim_end, len(messages)
        if bad_rate > 0:
            bad = sum(bad_rng.random() < bad_rate for _ in range(events))
            messages += [(None, malformed_event(bad_rng), "malformed") for _ in range(bad)]
        await _send(producer, topic, messages, observer, sim_end)
        progress.add(events, len(messages) - events)
        progress.show()
