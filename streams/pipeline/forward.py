"""Forwarding the events of a merged profile to the profile that absorbed it (docs/identity.md,
"Events after the merge").

An event keyed by an absorbed anonymous id arrives on that id's partition, whose owner may not
own the survivor. It is produced again to ``events``, keyed by the survivor and rewritten to name
it, with its own ``event_id``: a forward repeated after a crash is a duplicate the survivor's
dedupe window drops (the forwarded record's timestamp is the forward's own time, so two forwards
minutes apart stay inside the window however old the event). Headers travel with it (a replayed
event stays replayed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from profiles.identity import ANON_PREFIX
from streams.pipeline.batch import Record

_USER_FIELDS = ("user_id", "userId", "anonymous_id", "anonymousId")


def forwarded_value(raw: bytes, survivor: str, moved: str) -> bytes:
    """The event rewritten to name ``survivor``: a user id, or the anonymous id of an anonymous
    survivor; the moved anonymous id stays beside a user id (a link already made)."""
    obj: dict[str, Any] = orjson.loads(raw)
    for name in _USER_FIELDS:
        obj.pop(name, None)
    if survivor.startswith(ANON_PREFIX):
        obj["anonymous_id"] = survivor.removeprefix(ANON_PREFIX)
    else:
        obj["user_id"] = survivor
        if moved.startswith(ANON_PREFIX):
            obj["anonymous_id"] = moved.removeprefix(ANON_PREFIX)
    return orjson.dumps(obj)


def survivor_key(survivor: str) -> bytes:
    """The Kafka key of a profile's events (producers key by the id, without ``anon:``)."""
    return survivor.removeprefix(ANON_PREFIX).encode()


class KafkaForwarder:
    """Produces forwarded events and waits until the broker has them all."""

    def __init__(self, producer: AIOKafkaProducer, topic: str) -> None:
        self.producer = producer
        self.topic = topic

    async def send_many(self, items: Sequence[tuple[str, str, Record]]) -> None:
        """``items``: (moved profile, survivor, record)."""
        futures = []
        for moved, survivor, record in items:
            value = forwarded_value(record.value or b"{}", survivor, moved)
            headers = list(getattr(record, "headers", None) or ())
            futures.append(
                await self.producer.send(
                    self.topic, value=value, key=survivor_key(survivor), headers=headers
                )
            )
        await asyncio.gather(*futures)
