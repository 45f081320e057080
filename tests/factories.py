"""Contract-v1 event dicts and consumed records for tests (pure: no I/O)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

_ids = itertools.count()


def contract_event(
    etype: str, user: str, ts: int, event_id: str | None = None, **props: Any
) -> dict[str, Any]:
    """One event as a producer sends it; a fresh ``event_id`` unless one is given."""
    event: dict[str, Any] = {
        "event_id": event_id or f"e{next(_ids)}-{user}",
        "type": etype,
        "user_id": user,
        "ts": ts,
    }
    if props:
        event["properties"] = props
    return event


@dataclass
class Rec:
    """A consumed Kafka record (what aiokafka's ConsumerRecord offers the processor)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int = -1  # when it reached Kafka; -1: unknown (the event's own time stands in)
