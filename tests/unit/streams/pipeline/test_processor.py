"""BatchProcessor with an in-memory store and DLQ: orchestration, fences, retries, the cache."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from redis.exceptions import ConnectionError as RedisConnectionError

from profiles import codec
from profiles.events import Rejected, from_dict
from profiles.model import ModelConfig, ProfileModel, State
from profiles.timeutil import DAY_MS, HOUR_MS
from streams.ops.worker_metrics import WorkerMetrics
from streams.pipeline.processor import BatchProcessor, BatchStats, DeadLetter, segment_label
from streams.pipeline.retry import Backoff, Stopping
from streams.store.profiles import Refusals, Write
from tests.factories import Rec, contract_event

NOW = 1_717_156_800_000  # 2024-05-31T12:00:00Z
T0 = NOW - 3_600_000
TOPIC = "events"


class FakeStore:
    """In-memory ProfileStore with the semantics of ``streams.store.profile_lua.FENCED_WRITE``.

    ``fail_loads`` / ``fail_writes`` raise a Redis ConnectionError on that many next calls.
    """

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.loads: list[list[str]] = []
        self.writes: list[list[Write]] = []
        self.fail_loads = 0
        self.fail_writes = 0

    async def load_raw(self, user_ids: Sequence[str]) -> dict[str, bytes]:
        if self.fail_loads:
            self.fail_loads -= 1
            raise RedisConnectionError("Connection refused (fake)")
        self.loads.append(list(user_ids))
        return {uid: self.blobs[uid] for uid in user_ids if uid in self.blobs}

    async def write(self, writes: Sequence[Write]) -> list[str]:
        if self.fail_writes:
            self.fail_writes -= 1
            raise RedisConnectionError("Connection reset by peer (fake)")
        self.writes.append(list(writes))
        return self.land(writes)

    def land(self, writes: Sequence[Write]) -> list[str]:
        refused: list[str] = []
        for w in writes:
            fence = self.fence(w.user_id, w.partition)
            if w.offset > fence:
                self.blobs[w.user_id] = w.state
            elif w.offset < fence:  # equal: this very write already landed (a retried chunk)
                refused.append(w.user_id)
        return refused

    async def write_all(self, writes: Sequence[Write]) -> Refusals:
        """The erase-only writes (no state) land as the store's script has them: no state."""
        if self.fail_writes:
            self.fail_writes -= 1
            raise RedisConnectionError("Connection reset by peer (fake)")
        self.writes.append(list(writes))
        refused = self.land([w for w in writes if w.state])
        for w in writes:
            if not w.state:
                self.blobs.pop(w.user_id, None)
        return Refusals(refused, [])

    def fence(self, user_id: str, partition: int | str) -> int:
        """The stored fence, read from the blob's header as the store's Lua script does."""
        blob = self.blobs.get(user_id)
        if blob is None:
            return -1
        header = blob[: blob.index(b";")].decode()
        fences = dict(pair.rsplit(":", 1) for pair in header.split(",") if pair)
        return int(fences.get(str(partition), -1))

    def state(self, user_id: str) -> State:
        return codec.decode(self.blobs[user_id])

    @property
    def written(self) -> int:
        return sum(len(w) for w in self.writes)


@dataclass
class FakeDLQ:
    letters: list[DeadLetter] = field(default_factory=list)
    fail_sends: int = 0

    async def send_many(self, letters: Sequence[DeadLetter]) -> None:
        if self.fail_sends:
            self.fail_sends -= 1
            raise ConnectionError("broker unavailable (fake)")
        self.letters.extend(letters)


@dataclass
class Harness:
    model: ProfileModel
    store: FakeStore
    dlq: FakeDLQ
    processor: BatchProcessor
    retries: list[str]
    stop: list[bool]

    def tags(self, user_id: str) -> dict[str, Any]:
        return self.model.tags(self.store.state(user_id), NOW)

    async def process(self, batch: Mapping[Any, Sequence[Rec]]) -> BatchStats:
        return await self.processor.process(batch)


def harness(store: FakeStore | None = None, **kwargs: Any) -> Harness:
    model = ProfileModel()
    store = store or FakeStore()
    dlq = FakeDLQ()
    retries: list[str] = []
    stop = [False]
    processor = BatchProcessor(
        model,
        store,  # type: ignore[arg-type]
        dlq,
        lambda: NOW,
        backoff=Backoff(initial_s=0.0001, max_s=0.0005),
        should_stop=lambda: stop[0],
        on_retry=retries.append,
        **kwargs,
    )
    return Harness(model, store, dlq, processor, retries, stop)


def event(etype: str, user: str, ts: int = T0, **props: Any) -> dict[str, Any]:
    return contract_event(etype, user, ts, **props)


def batch(
    values: Sequence[dict[str, Any] | bytes | None], partition: int = 0, first_offset: int = 0
) -> dict[tuple[str, int], list[Rec]]:
    """One partition's records; dict values are JSON-encoded and keyed by their user id."""
    records = []
    raw: bytes | None
    for i, value in enumerate(values):
        if isinstance(value, dict):
            raw, key = orjson.dumps(value), str(value.get("user_id", "")).encode()
        else:
            raw, key = value, b"some-key"
        records.append(Rec(TOPIC, partition, first_offset + i, key, raw))
    return {(TOPIC, partition): records}


def merge(*batches: dict[tuple[str, int], list[Rec]]) -> dict[tuple[str, int], list[Rec]]:
    out: dict[tuple[str, int], list[Rec]] = {}
    for b in batches:
        for tp, records in b.items():
            out.setdefault(tp, []).extend(records)
    return out


def shop_batch() -> dict[tuple[str, int], list[Rec]]:
    return merge(
        batch(
            [
                event("view", "alice", item_id="a"),
                event("add_to_cart", "alice", item_id="a", price=10.0, quantity=2),
                b'{"event_id": "bad-1", "type": "view",',  # truncated
                event("purchase", "alice", T0 + 1000, item_id="a", price=10.0, quantity=2),
                {"event_id": "bad-2", "type": "view", "ts": T0},  # no user
            ],
            partition=0,
            first_offset=100,
        ),
        batch(
            [
                event("search", "bob", query="shoes"),
                event("add_to_cart", "bob", item_id="b"),
                None,  # a tombstone
                {"event_id": "bad-3", "type": "teleport", "user_id": "bob", "ts": T0},
            ],
            partition=1,
            first_offset=7,
        ),
    )


ALICE = {
    "events_total": 3,
    "views_total": 1,
    "cart_adds_total": 1,
    "purchases_total": 1,
    "spend_total": 20.0,
    "cart_open_items": 0,
    "last_purchase_at": "2024-05-31T11:00:01.000Z",
}
BOB = {"events_total": 2, "searches_total": 1, "cart_adds_total": 1, "cart_open_items": 1}


def assert_tags(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    assert {k: actual[k] for k in expected} == expected


async def test_good_events_applied_and_bad_ones_dead_lettered() -> None:
    h = harness()
    stats = await h.process(shop_batch())
    assert stats.records == 9
    assert_tags(h.tags("alice"), ALICE)
    assert_tags(h.tags("bob"), BOB)
    assert stats.users_written == 2 and stats.fence_refused == 0
    assert sum(n for (_, outcome), n in stats.outcomes.items() if outcome == "applied") == 5
    assert dict(stats.rejected) == {"invalid_json": 2, "missing_user": 1, "unknown_type": 1}
    assert [(d.record.partition, d.record.offset, d.reason) for d in h.dlq.letters] == [
        (0, 102, "invalid_json"),
        (0, 104, "missing_user"),
        (1, 9, "invalid_json"),
        (1, 10, "unknown_type"),
    ]
    # the dead letter carries the original record, bytes untouched
    letter = h.dlq.letters[0]
    assert letter.record.value == b'{"event_id": "bad-1", "type": "view",'
    assert letter.record.key == b"some-key" and letter.record.topic == TOPIC
    assert all(d.detail for d in h.dlq.letters)
    # the write fence is the last offset of the user's records in the batch
    assert h.store.fence("alice", 0) == 103
    assert h.store.fence("bob", 1) == 8


@pytest.mark.parametrize(
    "value,reason",
    [
        (b"", "invalid_json"),
        (None, "invalid_json"),
        (b"not json", "invalid_json"),
        (b"[]", "not_an_object"),
        (b'{"type": "view", "user_id": "u", "ts": 1717156800000}', "missing_event_id"),
        (b'{"event_id": "x", "user_id": "u", "ts": 1717156800000}', "missing_type"),
        (b'{"event_id": "x", "type": "zap", "user_id": "u", "ts": 1717156800000}', "unknown_type"),
        (b'{"event_id": "x", "type": "view", "ts": 1717156800000}', "missing_user"),
        (b'{"event_id": "x", "type": "view", "user_id": "u", "ts": 1717156800}', "bad_timestamp"),
        (
            b'{"event_id": "x", "type": "view", "user_id": "u", "ts": 1717156800000,'
            b' "properties": {"quantity": 0}}',
            "bad_field",
        ),
    ],
)
async def test_malformed_record_goes_to_the_dlq_with_its_reason(
    value: bytes | None, reason: str
) -> None:
    h = harness()
    stats = await h.process(batch([value, event("view", "carol")]))
    assert [(d.reason, d.record.value) for d in h.dlq.letters] == [(reason, value)]
    assert dict(stats.rejected) == {reason: 1}
    assert h.tags("carol")["views_total"] == 1  # the good record beside it is applied


async def test_second_process_of_the_same_records_is_all_replayed() -> None:
    h = harness()
    records = shop_batch()
    await h.process(records)
    snapshot = dict(h.store.blobs)
    writes_before = h.store.written
    stats = await h.process(records)
    assert set(outcome for _, outcome in stats.outcomes) == {"replayed"}
    assert sum(stats.outcomes.values()) == 5
    assert h.store.written == writes_before  # nothing written
    assert stats.users_written == 0
    assert h.store.blobs == snapshot
    assert_tags(h.tags("alice"), ALICE)


async def test_replay_after_restart_is_all_replayed() -> None:
    """A new owner (empty cache) re-reads an uncommitted batch: the stored fence skips it."""
    first = harness()
    records = shop_batch()
    await first.process(records)
    second = harness(first.store)
    stats = await second.process(records)
    assert set(outcome for _, outcome in stats.outcomes) == {"replayed"}
    assert stats.users_written == 0
    assert sorted(second.store.loads[-1]) == ["alice", "bob"]
    assert_tags(second.tags("alice"), ALICE)
    assert_tags(second.tags("bob"), BOB)


async def test_partly_new_batch_applies_only_the_new_records() -> None:
    h = harness()
    first = batch([event("view", "dave"), event("view", "dave")], first_offset=0)
    await h.process(first)
    overlapping = merge(first, batch([event("click", "dave")], first_offset=2))
    stats = await h.process(overlapping)
    assert stats.outcomes[("view", "replayed")] == 2
    assert stats.outcomes[("click", "applied")] == 1
    assert_tags(h.tags("dave"), {"views_total": 2, "clicks_total": 1, "events_total": 3})


async def test_producer_retry_with_a_new_offset_is_a_duplicate() -> None:
    h = harness()
    purchase = event("purchase", "erin", revenue=30.0)
    await h.process(batch([purchase], first_offset=0))
    stats = await h.process(batch([purchase], first_offset=1))
    assert stats.outcomes[("purchase", "duplicate")] == 1
    assert_tags(h.tags("erin"), {"purchases_total": 1, "spend_total": 30.0})
    assert h.store.fence("erin", 0) == 1  # the fence still moves


@pytest.mark.parametrize("failures", [1, 3])
async def test_redis_error_on_write_is_retried_and_the_result_is_exact(failures: int) -> None:
    h = harness()
    h.store.fail_writes = failures
    stats = await h.process(shop_batch())
    assert h.retries == ["write"] * failures
    assert stats.users_written == 2 and stats.fence_refused == 0
    assert_tags(h.tags("alice"), ALICE)
    assert_tags(h.tags("bob"), BOB)
    assert len(h.dlq.letters) == 4
    # and a redelivery of the same batch changes nothing
    await h.process(shop_batch())
    assert_tags(h.tags("alice"), ALICE)


async def test_redis_error_on_load_is_retried() -> None:
    h = harness()
    h.store.fail_loads = 2
    await h.process(shop_batch())
    assert h.retries == ["load", "load"]
    assert_tags(h.tags("alice"), ALICE)


async def test_dlq_error_is_retried() -> None:
    h = harness()
    h.dlq.fail_sends = 1
    await h.process(shop_batch())
    assert h.retries == ["dlq"]
    assert len(h.dlq.letters) == 4


async def test_redis_error_while_stopping_raises_stopping() -> None:
    h = harness()
    h.store.fail_writes = 1
    h.stop[0] = True
    with pytest.raises(Stopping):
        await h.process(shop_batch())
    assert h.store.blobs == {}


async def test_cache_serves_the_next_batch_without_a_load() -> None:
    h = harness()
    await h.process(batch([event("view", "frank")], first_offset=0))
    await h.process(batch([event("view", "frank")], first_offset=1))
    assert h.store.loads == [["frank"]]
    assert h.tags("frank")["views_total"] == 2


async def test_cache_drop_reloads_from_the_store() -> None:
    h = harness()
    await h.process(batch([event("view", "gina")], first_offset=0))
    # another owner moved the profile on while our cache was stale
    other = harness(h.store)
    await other.process(batch([event("click", "gina")], first_offset=1))
    h.processor.drop_cache()
    assert not h.processor.cache
    await h.process(batch([event("search", "gina")], first_offset=2))
    assert h.store.loads[-1] == ["gina"]
    assert_tags(h.tags("gina"), {"views_total": 1, "clicks_total": 1, "searches_total": 1})


async def test_a_write_refused_by_the_fence_drops_the_cached_state() -> None:
    h = harness()
    await h.process(batch([event("view", "hal")], first_offset=0))
    # a newer owner has written offsets up to 10 for this partition
    newer = harness(h.store)
    await newer.process(batch([event("click", "hal")], first_offset=10))
    # the zombie, with a stale cache, processes offset 5
    stats = await h.process(batch([event("search", "hal")], first_offset=5))
    assert stats.fence_refused == 1 and stats.users_written == 0
    assert "hal" not in h.processor.cache
    assert_tags(h.tags("hal"), {"views_total": 1, "clicks_total": 1, "searches_total": 0})


async def test_cache_is_bounded_but_keeps_the_latest_batch() -> None:
    h = harness(cache_max_users=3)
    await h.process(batch([event("view", f"user-{i}") for i in range(10)]))
    # the latest batch's states may still be in flight to Redis: never evicted
    assert list(h.processor.cache) == [f"user-{i}" for i in range(10)]
    await h.process(batch([event("view", "user-new")], first_offset=10))
    assert list(h.processor.cache) == ["user-8", "user-9", "user-new"]


async def test_track_changes_reports_tag_transitions() -> None:
    h = harness(track_changes=True)
    stats = await h.process(batch([event("add_to_cart", "ivy", item_id="x", category="shoes")]))
    changes = dict(stats.changes)
    assert changes["ivy"]["lifecycle"] == (None, "new")
    assert changes["ivy"]["top_category"] == (None, "shoes")
    buy = event("purchase", "ivy", item_id="x", revenue=300.0)
    stats = await h.process(batch([buy], first_offset=1))
    assert dict(stats.changes)["ivy"]["rfm_segment"] == (None, "new_customer")
    assert dict(stats.changes)["ivy"]["potential"] == (False, True)  # a first order of 200..500


async def test_empty_batch() -> None:
    h = harness()
    stats = await h.process({})
    assert (stats.records, stats.users_written, h.store.written, h.dlq.letters) == (0, 0, 0, [])


async def test_all_bad_batch_writes_nothing() -> None:
    h = harness()
    stats = await h.process(batch([b"{", b"[]", None]))
    assert h.store.writes == []
    assert stats.users_written == 0
    assert len(h.dlq.letters) == 3


async def test_a_huge_purchase_does_not_poison_the_profile() -> None:
    """price x quantity can overflow to inf; orjson stores inf as null, and the next load of that
    state makes the model raise TypeError, which escapes process() on every redelivery (a stuck
    partition). The event must be rejected, or the state must stay loadable (see the report)."""
    h = harness()
    huge = event("purchase", "jay", price=1e305, quantity=1_000_000)
    await h.process(batch([huge], first_offset=0))
    h.processor.drop_cache()  # a restart or a rebalance: the state comes back from the store
    await h.process(batch([event("purchase", "jay", price=5.0)], first_offset=1))
    tags = h.tags("jay")
    assert tags["purchases_total"] >= 1


async def test_a_corrupt_stored_state_sends_that_users_events_to_the_dlq_and_spares_others() -> (
    None
):
    h = harness()
    h.store.blobs["kim"] = b"0:0;{not msgpack"
    stats = await h.process(
        batch([event("view", "kim"), event("view", "lee"), event("click", "kim")], first_offset=1)
    )
    assert stats.rejected == {"apply_error": 2}
    assert [letter.reason for letter in h.dlq.letters] == ["apply_error", "apply_error"]
    assert h.store.blobs["kim"] == b"0:0;{not msgpack"  # left as it was
    assert h.tags("lee")["views_total"] == 1


async def test_events_not_keyed_by_their_user_id_are_counted() -> None:
    h = harness()
    good = batch([event("view", "mia"), event("view", "ned")])
    records = next(iter(good.values()))
    records[1] = Rec(records[1].topic, records[1].partition, records[1].offset, b"ned-typo",
                     records[1].value)  # fmt: skip
    stats = await h.process(good)
    assert stats.key_mismatch == 1
    assert h.tags("ned")["views_total"] == 1  # still applied: the count is for ops to act on


@pytest.mark.parametrize(
    "name,value,label",
    [
        ("lifecycle", "new", ("lifecycle", "new")),
        ("high_value", True, ("high_value", "true")),
        ("rfm_segment", None, ("rfm_segment", "null")),
        ("rfm_r", 5, ("rfm_r", "5")),
        ("top_category", "shoes", ("top_category", "*")),  # unbounded values stay out of labels
        ("repeated_search", "red shoes", ("repeated_search", "*")),
    ],
)
def test_segment_label(name: str, value: Any, label: tuple[str, str]) -> None:
    assert segment_label(name, value) == label


async def test_segment_changes_are_counted_and_exported() -> None:
    h = harness()
    first = await h.process(batch([event("add_to_cart", "lou", item_id="x", category="shoes")]))
    assert first.segment_changes[("lifecycle", "new")] == 1
    assert first.segment_changes[("top_category", "*")] == 1
    buy = event("purchase", "lou", item_id="x", revenue=300.0)
    second = await h.process(batch([buy], first_offset=1))
    assert second.segment_changes[("rfm_segment", "new_customer")] == 1
    assert ("lifecycle", "new") not in second.segment_changes  # unchanged: not counted again
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    for stats in (first, second):
        metrics.on_batch_written(stats, 0.1, NOW)
    sample = registry.get_sample_value
    assert sample("portrait_segment_changes_total", {"segment": "lifecycle", "to": "new"}) == 1
    assert sample("portrait_segment_changes_total", {"segment": "potential", "to": "true"}) == 1


async def test_out_of_order_events_are_counted_late_and_applied() -> None:
    h = harness()
    first = await h.process(batch([event("view", "oli", T0), event("click", "oli", T0 - 60_000)]))
    assert first.late == {"click": 1}
    second = await h.process(batch([event("view", "oli", T0 - 1)], first_offset=2))
    assert second.late == {"view": 1}  # older than the newest applied in an earlier batch
    third = await h.process(batch([event("view", "oli", T0 + 1)], first_offset=3))
    assert third.late == {}
    assert h.tags("oli")["views_total"] == 3 and h.tags("oli")["clicks_total"] == 1


class GatedStore(FakeStore):
    """A store whose next load waits until the test opens ``load_gate``: how the worker's
    pipeline interleaves the next batch's load with the previous batch's write and trim."""

    def __init__(self) -> None:
        super().__init__()
        self.load_gate: asyncio.Event | None = None
        self.load_started = asyncio.Event()

    async def load_raw(self, user_ids: Sequence[str]) -> dict[str, bytes]:
        if self.load_gate is not None:
            self.load_started.set()
            await self.load_gate.wait()
        return await super().load_raw(user_ids)


async def test_a_full_cache_never_restarts_a_user_of_the_batch_being_prepared() -> None:
    """Issue 10, defect 1: prepare(N+1) counted ann as cached, then awaited the load of a
    new user; meanwhile N's store trimmed the full cache and evicted ann, who restarted from
    nothing, and the fence let that state replace her stored history."""
    store = GatedStore()
    h = harness(store, cache_max_users=2)
    for offset in range(3):  # ann's history: three views
        await h.process(batch([event("view", "ann")], first_offset=offset))
    n = await h.processor.prepare(batch([event("view", "bo"), event("view", "cy")], 0, 3))
    store.load_gate = asyncio.Event()
    next_batch = asyncio.ensure_future(
        h.processor.prepare(batch([event("view", "ann"), event("view", "dee")], 0, 5))
    )
    await store.load_started.wait()  # N+1 waits on the load of dee, ann counted as cached
    await h.processor.store_prepared(n)  # N lands and trims the full cache meanwhile
    store.load_gate.set()
    await h.processor.store_prepared(await next_batch)
    assert h.tags("ann")["views_total"] == 4
    assert [h.tags(u)["views_total"] for u in ("bo", "cy", "dee")] == [1, 1, 1]


async def test_a_load_that_fails_while_stopping_keeps_the_batchs_cached_states() -> None:
    store = FakeStore()
    h = harness(store)
    await h.process(batch([event("view", "eve")], first_offset=0))
    store.fail_loads, h.stop[0] = 1, True
    with pytest.raises(Stopping):
        await h.processor.prepare(batch([event("view", "eve"), event("view", "fay")], 0, 1))
    assert list(h.processor.cache) == ["eve"]  # still the newest state of eve, unapplied
    h.stop[0] = False
    await h.process(batch([event("view", "eve"), event("view", "fay")], 0, 1))
    assert h.tags("eve")["views_total"] == 2


def arrived(records: dict[tuple[str, int], list[Rec]], at: int) -> dict[tuple[str, int], list[Rec]]:
    """The same records, stamped by Kafka at ``at`` (epoch ms)."""
    return {tp: [dataclasses.replace(r, timestamp=at) for r in rs] for tp, rs in records.items()}


async def test_a_retry_minutes_later_of_an_event_days_older_counts_once() -> None:
    """Issue 10, defect 2: the dedupe window is kept by arrival, not event time. A phone
    flushes a view of three days ago, a view of now follows, then the first is retried."""
    h = harness()
    old = event("view", "gus", NOW - 3 * DAY_MS)
    await h.process(arrived(batch([old], first_offset=0), NOW))
    await h.process(arrived(batch([event("view", "gus", NOW)], first_offset=1), NOW + 1_000))
    stats = await h.process(arrived(batch([old], first_offset=2), NOW + 5 * 60_000))
    assert stats.outcomes[("view", "duplicate")] == 1
    assert h.tags("gus")["views_total"] == 2


@pytest.mark.parametrize(
    "retry_after_ms,outcome",
    [
        (60_000, "duplicate"),
        (23 * HOUR_MS, "duplicate"),
        (24 * HOUR_MS, "duplicate"),  # the window is stretched back to a UTC midnight
        (3 * DAY_MS, "applied"),  # arrived three days later: outside the window, a new event
    ],
)
async def test_the_dedupe_window_is_counted_in_arrival_time(
    retry_after_ms: int, outcome: str
) -> None:
    h = harness()
    first = event("purchase", "hal", NOW - 10 * DAY_MS, order_id="o-1", revenue=5.0)
    await h.process(arrived(batch([first], first_offset=0), NOW))
    # the user's newest event is days newer than the retried one, and arrives just before it
    newest = event("view", "hal", NOW)
    await h.process(arrived(batch([newest], first_offset=1), NOW + retry_after_ms))
    retry = arrived(batch([first], first_offset=2), NOW + retry_after_ms)
    stats = await h.process(retry)
    assert stats.outcomes[("purchase", outcome)] == 1


@st.composite
def retried_traffic(draw: st.DrawFn) -> tuple[list[tuple[dict[str, Any], int]], list[int]]:
    """Events of three users with event times spread over 20 days, arriving in order over an
    hour; a share is sent again 1 s .. 20 h later in arrival time (a producer or phone retry),
    whatever their event time. Returns (event, arrival) in arrival order and batch sizes."""
    n = draw(st.integers(1, 40))
    sent: list[tuple[dict[str, Any], int]] = []
    for i in range(n):
        user = draw(st.sampled_from(["ann", "bo", "cy"]))
        etype = draw(st.sampled_from(["view", "click", "add_to_cart", "search"]))
        ts = NOW - draw(st.integers(0, 20 * DAY_MS))
        arrival = NOW + i * 60_000
        e = event(etype, user, ts, item_id="i", query="q")
        sent.append((e, arrival))
        for _ in range(draw(st.integers(0, 2))):
            sent.append((dict(e), arrival + draw(st.integers(1_000, 20 * HOUR_MS))))
    sent.sort(key=lambda pair: pair[1])
    sizes = draw(st.lists(st.integers(1, 9), min_size=1, max_size=len(sent)))
    return sent, sizes


@settings(max_examples=150, deadline=None, database=None)
@given(retried_traffic(), st.integers(1, 4))
async def test_retries_inside_the_window_count_once_whatever_the_batching(
    traffic: tuple[list[tuple[dict[str, Any], int]], list[int]], cache_max_users: int
) -> None:
    """Oracle: the pure model applied once to each distinct event, with no Kafka at all."""
    sent, sizes = traffic
    h = harness(cache_max_users=cache_max_users)
    offset = 0
    while offset < len(sent):
        size = sizes[(offset // 7) % len(sizes)]
        chunk = sent[offset : offset + size]
        records = batch([e for e, _ in chunk], first_offset=offset)
        records = {
            tp: [dataclasses.replace(r, timestamp=at) for r, (_, at) in zip(rs, chunk, strict=True)]
            for tp, rs in records.items()
        }
        await h.process(records)
        offset += size
    model = ProfileModel()
    unique = {e["event_id"]: e for e, _ in sent}
    for user in {e["user_id"] for e in unique.values()}:
        state = model.initial()
        for e in unique.values():
            if e["user_id"] == user:
                model.apply_event(state, from_dict(e))
        assert h.tags(user) == model.tags(state, NOW)


@pytest.mark.parametrize(
    "lead_ms,arrival,accepted",
    [
        (23 * HOUR_MS, NOW, True),  # a device clock a few hours ahead: fine
        (DAY_MS, NOW, True),  # exactly profile.max_event_lead
        (DAY_MS + 1, NOW, False),
        (3 * 365 * DAY_MS, NOW, False),  # a clock years ahead
        (3 * 365 * DAY_MS, -1, True),  # no arrival time (a direct file replay): not judged
    ],
)
async def test_an_event_stamped_far_after_its_arrival_is_refused_and_erases_nothing(
    lead_ms: int, arrival: int, accepted: bool
) -> None:
    """One event dated years ahead moved the user's stream time there, and every windowed
    count of the user's real history fell out of its window for good."""
    h = harness()
    history = [event("view", "ida", NOW - i * DAY_MS) for i in range(5)]
    await h.process(arrived(batch(history), NOW))
    stats = await h.process(arrived(batch([event("view", "ida", NOW + lead_ms)], 0, 5), arrival))
    assert stats.rejected == ({} if accepted else {"bad_timestamp": 1})
    tags = h.tags("ida")
    assert tags["views_total"] == (6 if accepted else 5)
    if not accepted:
        assert tags["views_30d"] == 5
        assert "after the record reached Kafka" in h.dlq.letters[-1].detail


def test_max_event_lead_is_configurable() -> None:
    bounds = ProfileModel(ModelConfig(max_event_lead_ms=HOUR_MS)).config.time_bounds
    bounds.check_lead(NOW + HOUR_MS, NOW)
    with pytest.raises(Rejected, match=r"1\.0 h after the record reached Kafka"):
        bounds.check_lead(NOW + HOUR_MS + 1, NOW)


def erase(user: str, erase_id: str, suppress: bool) -> dict[str, Any]:
    return {
        "event_id": f"erase:{erase_id}", "type": "erase", "user_id": user, "ts": NOW,
        "properties": {"erase_id": erase_id, "suppress": suppress},
    }  # fmt: skip


async def test_an_erase_event_restarts_the_user_from_nothing() -> None:
    h = harness()
    await h.process(batch([event("view", "ivy"), event("purchase", "ivy", revenue=5.0)]))
    assert "ivy" in h.processor.cache  # what the worker holds must go too
    stats = await h.process(
        batch([event("click", "ivy"), erase("ivy", "e1", False), event("view", "ivy")], 0, 2)
    )
    [write] = h.store.writes[-1]
    assert (write.erase, write.offset, stats.erased) == ("e1", 4, 1)
    assert_tags(h.tags("ivy"), {"views_total": 1, "clicks_total": 0, "purchases_total": 0})


async def test_an_erase_event_alone_writes_no_state() -> None:
    h = harness()
    await h.process(batch([event("view", "jo")]))
    await h.process(batch([erase("jo", "e1", False)], first_offset=1))
    [write] = h.store.writes[-1]
    assert (write.erase, write.state, write.offset) == ("e1", b"", 1)
    assert "jo" not in h.processor.cache and "jo" not in h.store.blobs


async def test_a_suppressing_erase_sends_what_follows_to_the_dlq() -> None:
    h = harness()
    stats = await h.process(
        batch([event("view", "kim"), erase("kim", "e1", True), event("view", "kim")])
    )
    [write] = h.store.writes[-1]
    assert (write.erase, write.state, write.offset) == ("e1", b"", 2)
    assert [(letter.reason, letter.record.offset) for letter in h.dlq.letters] == [
        ("suppressed", 2)
    ]
    assert stats.rejected == {"suppressed": 1}


class SuppressingStore(FakeStore):
    """The store's answer for a user suppressed earlier (its marker): nothing lands."""

    async def write_all(self, writes: Sequence[Write]) -> Refusals:
        self.writes.append(list(writes))
        return Refusals([], [w.user_id for w in writes])


async def test_a_suppressed_users_later_events_go_to_the_dlq() -> None:
    h = harness(SuppressingStore())
    stats = await h.process(batch([event("view", "lee"), event("click", "lee")], 0, 7))
    assert [(x.reason, x.record.offset) for x in h.dlq.letters] == [
        ("suppressed", 7), ("suppressed", 8)
    ]  # fmt: skip
    assert stats.rejected == {"suppressed": 2} and "lee" not in h.processor.cache
