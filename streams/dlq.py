"""Dead-letter topic: the original bytes, untouched, with the reason and source in headers.

This is Kafka Connect's convention (``errors.deadletterqueue.context.headers.enable``): the value
and key are exactly what the producer sent, so nothing is lost and a fixed consumer can replay it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from profiles.constants import TOPIC_DLQ
from streams.processor import DeadLetter

HEADER_PREFIX = "portrait.dlq."


def dlq_headers(letter: DeadLetter, now_ms: int) -> list[tuple[str, bytes]]:
    record = letter.record
    return [
        (HEADER_PREFIX + "reason", letter.reason.encode()),
        (HEADER_PREFIX + "detail", letter.detail.encode()[:1000]),
        (HEADER_PREFIX + "topic", record.topic.encode()),
        (HEADER_PREFIX + "partition", str(record.partition).encode()),
        (HEADER_PREFIX + "offset", str(record.offset).encode()),
        (HEADER_PREFIX + "rejected_at", str(now_ms).encode()),
    ]


class KafkaDeadLetters:
    """Sends rejected records to the DLQ topic and waits until the broker has them."""

    def __init__(self, producer: AIOKafkaProducer, topic: str = TOPIC_DLQ) -> None:
        self.producer = producer
        self.topic = topic

    async def send_many(self, letters: Sequence[DeadLetter]) -> None:
        now_ms = int(time.time() * 1000)
        futures = [
            await self.producer.send(
                self.topic,
                value=letter.record.value or b"",
                key=letter.record.key,
                headers=dlq_headers(letter, now_ms),
            )
            for letter in letters
        ]
        await asyncio.gather(*futures)
