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
        count sent. One round trip reads every partition's outbox, the messages go to Kafka
        together, one round trip deletes them: on the live path a batch paid three Redis round
        trips per partition with transitions before (docs/design.md, "Live latency"). Only a
        partition that filled a whole chunk is read again."""
        pending = list(partitions)
        sent = 0
        while pending:
            found = {
                p: entries
                for p, entries in (await self.store.outboxes(pending, self.chunk)).items()
                if entries
            }
            if not found:
                break
            messages = [m for entries in found.values() for m in entries]
            await self.sink.send_many(messages)
            await self.store.published_many(found)
            sent += len(messages)
            self.published += len(messages)
            pending = [p for p, entries in found.items() if len(entries) >= self.chunk]
        return sent
