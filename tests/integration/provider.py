"""A stand-in for the push/SMS/email providers of the proof test.

It answers every message published on the trigger topics with feedback (delivered, opened,
clicked, converted), as a provider's receipts would arrive, and it sends one win-back per
simulated user at the start: a win-back goes to users dormant for weeks, which a live run of a
minute cannot produce, and the recall panels need some (the worker registers a win-back from its
topic and counts the user recalled at their next event).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.names import TOPIC_FEEDBACK
from streams.sim.personas import TrafficModel
from triggers.config import TriggerConfig
from triggers.feedback import STATUSES
from triggers.model import Trigger, message

DAY_MS = 86_400_000


async def _answer(consumer: AIOKafkaConsumer, producer: AIOKafkaProducer, feedback: str) -> None:
    async for record in consumer:
        sent = orjson.loads(record.value)
        for status in STATUSES:
            body = {"trigger_id": sent["trigger_id"], "user_id": sent["user_id"],
                    "status": status, "channel": sent["channel"]}  # fmt: skip
            await producer.send(feedback, orjson.dumps(body), key=sent["user_id"].encode())


@contextlib.asynccontextmanager
async def provider(bootstrap: str, prefix: str, users: int, seed: int) -> AsyncIterator[None]:
    topics = {channel: prefix + topic for channel, topic in TriggerConfig().topics.items()}
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    consumer = AIOKafkaConsumer(
        *topics.values(), bootstrap_servers=bootstrap, auto_offset_reset="earliest"
    )
    await producer.start()
    await consumer.start()
    try:
        now = int(time.time() * 1000)
        for uid in TrafficModel(users, seed=seed).user_ids:
            wb = Trigger(f"wb-proof-{uid}", "win_back", uid, now, now, now + DAY_MS, 50, ("push",))
            body = orjson.dumps(message(wb, "push", now))
            await producer.send(topics["push"], body, key=uid.encode())
        answering = asyncio.ensure_future(_answer(consumer, producer, prefix + TOPIC_FEEDBACK))
        try:
            yield
        finally:
            answering.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await answering
    finally:
        await consumer.stop()
        await producer.stop()
