"""Dead-letter topic: the original bytes, untouched, with the reason and source in headers.

This is Kafka Connect's convention (``errors.deadletterqueue.context.headers.enable``): the value
and key are exactly what the producer sent, so nothing is lost and a fixed consumer can replay it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError

from profiles.events import one_line
from streams.names import TOPIC_DLQ
from streams.pipeline.processor import DeadLetter

HEADER_PREFIX = "portrait.dlq."


def dlq_headers(letter: DeadLetter, now_ms: int) -> list[tuple[str, bytes]]:
    record = letter.record
    return [
        (HEADER_PREFIX + "reason", letter.reason.encode()),
        (HEADER_PREFIX + "detail", one_line(letter.detail).encode()),
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
        futures = [await self._send(letter, now_ms) for letter in letters]
        results = await asyncio.gather(*futures, return_exceptions=True)
        too_large = []
        for letter, result in zip(letters, results, strict=True):
            if isinstance(result, MessageSizeTooLargeError):  # the broker's limit
                too_large.append(letter)
            elif isinstance(result, BaseException):
                raise result
        if too_large:
            await asyncio.gather(*[await self._send(t, now_ms, whole=False) for t in too_large])

    async def _send(
        self, letter: DeadLetter, now_ms: int, whole: bool = True
    ) -> asyncio.Future[Any]:
        """Send one letter; one too large to send whole (a value near the size limit, plus the
        headers) goes without its value and key, which stay in the source topic at the offset
        the headers name: retrying it would stall the partition for good."""
        record, headers = letter.record, dlq_headers(letter, now_ms)
        if whole:
            try:
                return await self.producer.send(  # type: ignore[no-any-return]
                    self.topic, value=record.value or b"", key=record.key, headers=headers
                )
            except MessageSizeTooLargeError:
                pass
        size = len(record.value or b"") + len(record.key or b"")
        headers.append((HEADER_PREFIX + "dropped", f"{size} bytes of key and value".encode()))
        return await self.producer.send(  # type: ignore[no-any-return]
            self.topic, value=b"", key=None, headers=headers
        )
