"""Helpers for integration tests: produce contract events, run a worker, wait for Redis."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client import CollectorRegistry

from profiles.aggregators import TOTAL_SLOT
from profiles.model import ProfileModel, State
from streams.app.runner import run_worker
from streams.connect.clients import kafka_options, redis_client
from streams.names import TOPIC_EVENTS
from streams.settings.tree import Settings
from streams.store.profiles import ProfileStore
from tests.factories import contract_event

DAY = 86_400_000
T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z


ev = contract_event  # the short name the integration tests use


async def produce(
    settings: Settings,
    payloads: Iterable[dict[str, Any] | bytes | tuple[bytes | None, bytes | None]],
    key: Callable[[Any], bytes] | None = None,
) -> int:
    """Send events (dicts, keyed by user id), raw values (keyed ``malformed``) or raw
    ``(key, value)`` records (any bytes, or None: a null key, a tombstone)."""
    producer = AIOKafkaProducer(**kafka_options(settings), linger_ms=5, acks="all")
    await producer.start()
    n = 0
    try:
        futures = []
        for payload in payloads:
            if isinstance(payload, tuple):
                k, value = payload
            elif isinstance(payload, bytes):
                value, k = payload, b"malformed"
            else:
                value, k = orjson.dumps(payload), str(payload.get("user_id", "")).encode()
            futures.append(await producer.send(settings.topic(TOPIC_EVENTS), value, key=k))
            n += 1
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return n


@contextlib.asynccontextmanager
async def running_worker(settings: Settings) -> AsyncIterator[CollectorRegistry]:
    """Run a worker in this event loop; yield its metrics registry."""
    registry = CollectorRegistry()
    stop = asyncio.Event()
    task = asyncio.ensure_future(
        run_worker(settings, registry=registry, stop=stop, serve_metrics=False)
    )
    try:
        yield registry
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def read_topic(
    settings: Settings, topic: str, n: int
) -> list[tuple[bytes, dict[str, bytes]]]:
    """The first ``n`` messages of ``topic`` (with the namespace's prefix): value and headers."""
    consumer = AIOKafkaConsumer(
        settings.topic(topic),
        **kafka_options(settings),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=settings.topics.prefix + "reader",
    )
    await consumer.start()
    out: list[tuple[bytes, dict[str, bytes]]] = []
    try:
        async with asyncio.timeout(60):
            while len(out) < n:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    out.extend((r.value, dict(r.headers)) for r in records)
    finally:
        await consumer.stop()
    return out


async def wait_until(
    check: Callable[[], Awaitable[bool]], within: float = 60.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {within}s waiting for {what}")


async def wait_for_count(settings: Settings, user: str, etype: str, count: int, what: str) -> None:
    """Wait until ``user``'s stored profile has applied ``count`` events of type ``etype``."""

    async def reached() -> bool:
        states = await load_states(settings, [user])
        return user in states and states[user].totals[TOTAL_SLOT[etype]] == count

    await wait_until(reached, what=what)


async def load_states(settings: Settings, users: list[str]) -> dict[str, State]:
    redis = redis_client(settings)
    try:
        return await ProfileStore(redis, settings.topics.prefix).load_many(users)
    finally:
        await redis.aclose()


def expected_states(events: Iterable[dict[str, Any]], model: ProfileModel) -> dict[str, State]:
    """The pure model applied to the same events, in order, with no fences."""
    from profiles.events import from_dict

    states: dict[str, State] = {}
    for raw in events:
        event = from_dict(raw)
        state = states.setdefault(event.user_id, model.initial())
        model.apply_event(state, event)
    for state in states.values():
        model.compact(state)
    return states


def profile_view(model: ProfileModel, user: str, state: State, as_of: int) -> dict[str, Any]:
    """What a user sees of a profile, comparable across runs: less ``changed_at`` (change
    times are noted per batch, so they depend on how the stream was cut; docs/tags.md), and
    floats to 9 decimals (decayed sums added in another order differ in the last bits)."""
    view = model.view(user, state, as_of)
    del view["changed_at"]
    return _rounded(view)  # type: ignore[no-any-return]


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def metric(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def traffic(namespace: str, users: int, n: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    kinds = ["view"] * 6 + ["click"] * 2 + ["search", "add_to_cart", "remove_from_cart", "purchase"]
    out = []
    for i in range(n):
        user = f"{namespace}u{rng.randrange(users)}"
        kind = rng.choice(kinds)
        props: dict[str, Any] = {"item_id": f"i{rng.randrange(50)}", "price": rng.randrange(1, 500)}
        if kind == "purchase":
            props["quantity"] = rng.randrange(1, 4)
        out.append(ev(kind, user, T0 + rng.randrange(-60 * DAY, DAY), event_id=f"c{i}", **props))
    return out


async def applied_total(settings: Settings, users: list[str]) -> int:
    states = await load_states(settings, users)
    return sum(sum(s.totals) for s in states.values())
