"""The dead-letter sink never stalls on a hostile record: one too large to copy whole goes without
its value, whether the producer or the broker refuses it; other errors still propagate (retry)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError

from streams.pipeline.batch import DeadLetter
from streams.pipeline.dlq import HEADER_PREFIX, KafkaDeadLetters


@dataclass(frozen=True)
class Rec:
    value: bytes | None
    key: bytes | None = b"u1"
    topic: str = "events"
    partition: int = 2
    offset: int = 40


@dataclass
class FakeProducer:
    """Refuses at send() above ``limit`` (aiokafka's max_request_size check) and through the
    future above ``broker_limit`` (the broker's message.max.bytes); else records the message."""

    limit: int = 1000
    broker_limit: int = 1000
    error: Exception | None = None
    sent: list[tuple[bytes | None, bytes, dict[str, bytes]]] = field(default_factory=list)

    async def send(
        self, topic: str, value: bytes, key: bytes | None, headers: list[tuple[str, bytes]]
    ) -> asyncio.Future[Any]:
        size = len(value) + len(key or b"") + sum(len(k) + len(v) for k, v in headers)
        if size > self.limit:
            raise MessageSizeTooLargeError(f"{size} bytes")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.error is not None:
            future.set_exception(self.error)
        elif size > self.broker_limit:
            future.set_exception(MessageSizeTooLargeError(f"{size} bytes"))
        else:
            self.sent.append((key, value, dict(headers)))
            future.set_result(None)
        return future


def letter(value: bytes | None, detail: str = "why") -> DeadLetter:
    return DeadLetter(Rec(value), "invalid_json", detail)


@pytest.mark.parametrize("refused_by", ["producer", "broker"])
async def test_a_letter_too_large_goes_without_its_value(refused_by: str) -> None:
    producer = FakeProducer(limit=10**6 if refused_by == "broker" else 1000)
    small, big = letter(b"{"), letter(b"x" * 900)
    await KafkaDeadLetters(producer, "dlq").send_many([small, big])  # type: ignore[arg-type]
    (key1, value1, headers1), (key2, value2, headers2) = producer.sent
    assert (key1, value1) == (b"u1", b"{") and HEADER_PREFIX + "dropped" not in headers1
    assert (key2, value2) == (None, b"")
    assert headers2[HEADER_PREFIX + "dropped"] == b"902 bytes of key and value"
    assert headers2[HEADER_PREFIX + "offset"] == b"40"  # where the original still is


async def test_other_send_errors_propagate_so_the_batch_is_retried() -> None:
    producer = FakeProducer(error=KafkaConnectionError("down"))
    with pytest.raises(KafkaConnectionError):
        await KafkaDeadLetters(producer, "dlq").send_many([letter(b"{")])  # type: ignore[arg-type]


async def test_the_detail_header_is_one_bounded_line_of_utf8() -> None:
    producer = FakeProducer(limit=10**6, broker_limit=10**6)
    detail = "KeyError: 'a\nb\ud800'" + "x" * 100_000  # not from the decoder: anything goes
    await KafkaDeadLetters(producer, "dlq").send_many([letter(None, detail)])  # type: ignore[arg-type]
    [(_, value, headers)] = producer.sent
    shown = headers[HEADER_PREFIX + "detail"].decode()
    assert value == b"" and len(shown) <= 300 and len(shown.splitlines()) == 1
    assert shown.startswith("KeyError: 'a\\nb\\ud800'")
