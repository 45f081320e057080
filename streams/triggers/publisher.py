"""Publish trigger messages to the channels' Kafka topics, keyed by user id."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer


class KafkaPublisher:
    """``publish`` returns once every message is acknowledged by the broker (``acks=all`` on
    the producer), so the scheduler finishes a trigger only after its message landed."""

    def __init__(self, producer: AIOKafkaProducer, topics: Mapping[str, str]) -> None:
        self.producer = producer
        self.topics = topics

    async def publish(self, messages: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
        futures = []
        for channel, user_id, body in messages:
            topic = self.topics[channel]
            futures.append(
                await self.producer.send(topic, orjson.dumps(body), key=user_id.encode())
            )
        await asyncio.gather(*futures)
