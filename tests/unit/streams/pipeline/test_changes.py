"""ChangePublisher.flush (streams/pipeline/changes.py): every partition's outbox read in one
round trip, each partition in its order, deleted in one round trip once sent; a partition read
again only while it fills a whole chunk; a failed send deletes nothing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from streams.pipeline.changes import ChangePublisher
from streams.store.segments import Outboxed


class Outboxes:
    """The segment store's outboxes, in memory, counting the round trips."""

    def __init__(self, sizes: dict[str, int]) -> None:
        self.entries = {
            p: [Outboxed(f"{p}-{i}".encode(), f"u{i}", f"m{p}-{i}".encode()) for i in range(n)]
            for p, n in sizes.items()
        }
        self.reads: list[list[str]] = []
        self.deletes = 0

    async def outboxes(
        self, partitions: Sequence[int | str], count: int = 1000
    ) -> dict[int | str, list[Outboxed]]:
        self.reads.append([str(p) for p in partitions])
        return {p: self.entries[str(p)][:count] for p in partitions}

    async def published_many(self, done: Mapping[int | str, Sequence[Outboxed]]) -> None:
        self.deletes += 1
        for partition, entries in done.items():
            gone = {e.entry_id for e in entries}
            kept = [e for e in self.entries[str(partition)] if e.entry_id not in gone]
            self.entries[str(partition)] = kept


class Sink:
    def __init__(self, fails: bool = False) -> None:
        self.sent: list[bytes] = []
        self.fails = fails

    async def send_many(self, messages: Sequence[Outboxed]) -> None:
        if self.fails:
            raise ConnectionError("broker gone")
        self.sent += [m.value for m in messages]


def sent_of(sink: Sink, partition: str) -> list[bytes]:
    return [v for v in sink.sent if v.startswith(f"m{partition}-".encode())]


@pytest.mark.parametrize(
    ("sizes", "chunk", "reads", "deletes"),
    [
        ({"0": 0, "1": 0}, 1000, [["0", "1"]], 0),  # nothing: one read, no send, no delete
        ({"0": 3, "1": 0, "2": 10}, 1000, [["0", "1", "2"]], 1),  # the live path
        ({"0": 1000, "1": 5}, 1000, [["0", "1"], ["0"]], 1),  # a full chunk is read again
        ({"0": 2500, "1": 0, "2": 10}, 1000, [["0", "1", "2"], ["0"], ["0"]], 3),
        ({"0": 1, "1": 1}, 1, [["0", "1"], ["0", "1"]], 1),  # one-message chunks
    ],
)
async def test_every_partition_in_order_in_few_round_trips(
    sizes: dict[str, int], chunk: int, reads: list[list[str]], deletes: int
) -> None:
    store, sink = Outboxes(sizes), Sink()
    publisher = ChangePublisher(store, sink, chunk=chunk)  # type: ignore[arg-type]
    total = sum(sizes.values())
    assert await publisher.flush(list(sizes)) == total
    assert publisher.published == total
    assert store.reads == reads
    assert store.deletes == deletes
    for p, n in sizes.items():
        assert sent_of(sink, p) == [f"m{p}-{i}".encode() for i in range(n)]
    assert all(not e for e in store.entries.values())


async def test_a_failed_send_deletes_nothing_and_the_retry_sends_all() -> None:
    store = Outboxes({"0": 1500, "1": 3})
    publisher = ChangePublisher(store, Sink(fails=True), chunk=1000)  # type: ignore[arg-type]
    with pytest.raises(ConnectionError):
        await publisher.flush(["0", "1"])
    assert len(store.entries["0"]) == 1500 and len(store.entries["1"]) == 3  # for the retry
    assert publisher.published == 0
    sink = Sink()
    again = ChangePublisher(store, sink, chunk=1000)  # type: ignore[arg-type]
    assert await again.flush(["0", "1"]) == 1503
    assert sent_of(sink, "0") == [f"m0-{i}".encode() for i in range(1500)]
