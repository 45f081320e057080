"""What a consumed batch is made of and what processing it yields: records, dead letters, the
batch's statistics and its prepared (not yet stored) writes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from profiles.events import Event, Rejected
from profiles.rules.engine import Transition
from streams.names import EMIT_CHANGES, REPLAY_HEADER
from streams.pipeline.labels import segment_label as segment_label
from streams.store.profiles import Write
from triggers.model import Op


class Record(Protocol):
    """What the processor needs of a Kafka record (aiokafka's ConsumerRecord fits; a replay's
    records name their source file as the partition, a str fence id). Read-only properties, so
    that records with a narrower partition type fit too."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int | str: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def timestamp(self) -> int:
        """When the record reached Kafka (epoch ms; -1 or None where unknown): the time the
        dedupe window is kept by, since producer retries happen in arrival time."""
        ...


@dataclass(frozen=True, slots=True)
class DeadLetter:
    record: Record
    reason: str
    detail: str


class DeadLetterSink(Protocol):
    async def send_many(self, letters: Sequence[DeadLetter]) -> None: ...


@dataclass(slots=True)
class BatchStats:
    records: int = 0
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    applied_ts_sample: list[int] = field(default_factory=list)
    users_written: int = 0
    fence_refused: int = 0
    key_mismatch: int = 0  # events whose Kafka key is not their user id (see docs/events.md)
    changes: list[tuple[str, dict[str, tuple[Any, Any]]]] = field(default_factory=list)
    # segment -> its new value (bounded ones; "*" for the others) -> users who moved there
    segment_changes: Counter[tuple[str, str]] = field(default_factory=Counter)
    late: Counter[str] = field(default_factory=Counter)  # applied, older than the user's newest
    trigger_ops: Counter[tuple[str, str]] = field(default_factory=Counter)  # (kind, outcome)
    recalls: list[tuple[str, str]] = field(default_factory=list)  # (kind, channel)
    # tag -> the oldest event time (ms) among the users it changed for, each user's newest event
    # time: how stale the batch's oldest change of the tag is once written (tag freshness)
    tags_changed: dict[str, int] = field(default_factory=dict)
    # the business rules' transitions of the batch's users (profiles/rules/engine.py)
    transitions: list[Transition] = field(default_factory=list)
    erased: int = 0  # users whose erase event the batch reached (docs/privacy.md)
    identity: Counter[tuple[str, str]] = field(default_factory=Counter)  # (action, reason)
    forwarded: int = 0  # events of merged profiles sent on to their survivor (docs/identity.md)

    def note_changed(self, changed: Mapping[str, Any], event_ts_ms: int) -> None:
        tags = self.tags_changed
        for name in changed:
            seen = tags.get(name)
            if seen is None or event_ts_ms < seen:
                tags[name] = event_ts_ms


Located = tuple[Record, Event]


@dataclass(slots=True)
class Prepared:
    """A batch decoded and applied, its writes and dead letters not yet stored."""

    stats: BatchStats
    writes: list[Write]
    letters: list[DeadLetter]
    now: int
    ops: list[Op] = field(default_factory=list)  # trigger operations, written before the states
    visits: list[tuple[str, int]] = field(default_factory=list)  # watched users who came back
    by_user: dict[str, list[Located]] = field(default_factory=dict)  # the batch's records
    # events of profiles merged into another: (moved profile, survivor, record), forwarded
    forwards: list[tuple[str, str, Record]] = field(default_factory=list)
    outboxes: set[int | str] = field(default_factory=set)  # partitions identity audited into
    # each user's event outcomes (the batch's stats hold their sum)
    tallies: dict[str, Counter[tuple[str, str]]] = field(default_factory=dict)


def reject(record: Record, exc: Exception, letters: list[DeadLetter], stats: BatchStats) -> None:
    """A message the decoder refused (or could not even read) goes to the dead letters."""
    if record.value is None:
        reason, detail = "invalid_json", "message has no value (tombstone)"
    elif isinstance(exc, Rejected):
        reason, detail = exc.reason, exc.detail
    else:  # never let one message stop the worker
        reason, detail = "bad_field", f"{type(exc).__name__}: {exc}"
    letters.append(DeadLetter(record, reason, detail))
    stats.rejected[reason] += 1


def quiet(located: Sequence[Located]) -> bool:
    """Whether replayed history is among the records and did not ask for its transitions."""
    for record, _ in located:
        for k, v in getattr(record, "headers", None) or ():
            if k == REPLAY_HEADER and v != EMIT_CHANGES:
                return True
    return False


def replayed(located: Located) -> bool:
    """Whether a record is replayed history (REPLAY_HEADER): it triggers nothing."""
    headers = getattr(located[0], "headers", None) or ()
    return any(k == REPLAY_HEADER for k, _ in headers)
