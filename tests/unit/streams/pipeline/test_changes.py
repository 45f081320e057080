"""ChangePublisher.flush (streams/pipeline/changes.py): partitions concurrently, each in order,
every partition finished before a failure is raised."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from streams.pipeline.changes import ChangePublisher
from streams.store.segments import Outboxed


class Outboxes:
    """The segment store's outbox, in memory."""

    def __init__(self, sizes: dict[str, int]) -> None:
        self.entries = {
            p: [Outboxed(f"{p}-{i}".encode(), f"u{i}", f"m{p}-{i}".encode()) for i in range(n)]
            for p, n in sizes.items()
        }

    async def outbox(self, partition: int | str, count: int = 1000) -> list[Outboxed]:
        await asyncio.sleep(0)
        return self.entries[str(partition)][:count]

    async def published(self, partition: int | str, entries: Sequence[Outboxed]) -> None:
        gone = {e.entry_id for e in entries}
        self.entries[str(partition)] = [
            e for e in self.entries[str(partition)] if e.entry_id not in gone
        ]


class Sink:
    def __init__(self, fails_on: str | None = None) -> None:
        self.sent: list[bytes] = []
        self.in_flight = self.most_in_flight = 0
        self.fails_on = fails_on

    async def send_many(self, messages: Sequence[Outboxed]) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0.001)
        self.in_flight -= 1
        if self.fails_on and messages[0].value.startswith(f"m{self.fails_on}-".encode()):
            raise ConnectionError("broker gone")
        self.sent += [m.value for m in messages]


async def test_every_partition_in_its_order_concurrently() -> None:
    store, sink = Outboxes({"0": 2500, "1": 0, "2": 10}), Sink()
    publisher = ChangePublisher(store, sink, chunk=1000)  # type: ignore[arg-type]
    assert await publisher.flush(["0", "1", "2"]) == 2510
    assert publisher.published == 2510
    assert [v for v in sink.sent if v.startswith(b"m0-")] == [
        f"m0-{i}".encode() for i in range(2500)
    ]
    assert sorted(sink.sent) == sorted(
        [f"m0-{i}".encode() for i in range(2500)] + [f"m2-{i}".encode() for i in range(10)]
    )
    assert all(not e for e in store.entries.values())
    assert sink.most_in_flight >= 2


async def test_a_failure_is_raised_after_the_other_partitions_finished() -> None:
    store, sink = Outboxes({"0": 1500, "1": 3, "2": 1200}), Sink(fails_on="1")
    publisher = ChangePublisher(store, sink, chunk=1000)  # type: ignore[arg-type]
    with pytest.raises(ConnectionError):
        await publisher.flush(["0", "1", "2"])
    assert store.entries["0"] == [] and store.entries["2"] == []
    assert len(store.entries["1"]) == 3  # kept for the retry
    assert publisher.published == 2700
