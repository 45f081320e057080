"""Publishing ``profile.changes`` from the outbox (docs/rules.md, "profile.changes").

The fenced write puts a user's transitions in its partition's outbox together with the state
that caused them (streams/store/profiles.py); the owner of the partition publishes them after
the write, and again after a crash or a rebalance (the outbox keeps what was not yet deleted).
A crash between the send and the delete publishes a message twice, with the same ``change_id``,
which consumers drop: each transition appears once, none is lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Protocol

from aiokafka import AIOKafkaProducer

from streams.store.segments import Outboxed, SegmentStore


class ChangeSink(Protocol):
    async def send_many(self, messages: Sequence[Outboxed]) -> None: ...


class KafkaChanges:
    """Sends messages to the changes topic, keyed by user id, and waits for the broker."""

    def __init__(self, producer: AIOKafkaProducer, topic: str) -> None:
        self.producer = producer
        self.topic = topic

    async def send_many(self, messages: Sequence[Outboxed]) -> None:
        send = self.producer.send
        futures = [await send(self.topic, m.value, key=m.user_id.encode()) for m in messages]
        await asyncio.gather(*futures)


class ChangePublisher:
    def __init__(self, store: SegmentStore, sink: ChangeSink, chunk: int = 1000) -> None:
        self.store = store
        self.sink = sink
        self.chunk = chunk
        self.published = 0  # messages sent since start (a retry may count one twice)

    async def flush(self, partitions: Iterable[int | str]) -> int:
        """Publish every outboxed message of these partitions, oldest first within each; the
        count sent. The partitions go concurrently (one awaited send after another cost a
        round trip each per batch, on the live path: docs/design.md, "Live latency"); each
        finishes before a failure is raised, so a retry never races a flush still running."""
        counts = await asyncio.gather(
            *(self._flush_one(p) for p in partitions), return_exceptions=True
        )
        sent = sum(c for c in counts if isinstance(c, int))
        self.published += sent
        for outcome in counts:
            if isinstance(outcome, BaseException):
                raise outcome
        return sent

    async def _flush_one(self, partition: int | str) -> int:
        sent = 0
        while True:
            entries = await self.store.outbox(partition, self.chunk)
            if not entries:
                return sent
            await self.sink.send_many(entries)
            await self.store.published(partition, entries)
            sent += len(entries)
