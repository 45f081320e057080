"""A simulated delivery provider whose users answer messages with known probabilities.

It reads the trigger topics as a push/SMS/e-mail provider would, and for each message decides,
from a :class:`Responses` table and a random number seeded by the message's ``trigger_id``
(so a rerun answers alike, in any order), whether it was delivered, opened and clicked, and
whether the user bought because of it. It then sends the feedback a provider sends
(``delivered``, ``opened``, ``clicked``, ``converted``) and, for a buyer, the purchase event the
shop's backend would send ``buy_after_ms`` after the message. Users who are sent nothing (an
experiment's holdout) buy only on their own, which the traffic around it simulates: the truth of
an experiment is then ``delivered * convert`` of extra buyers per arm (docs/experiments.md).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from profiles.events import parse_ts
from streams.connect.clients import kafka_options
from streams.connect.topics import ensure_topics
from streams.names import TOPIC_EVENTS, TOPIC_FEEDBACK
from streams.settings.tree import Settings

HOUR_MS: Final = 3_600_000


@dataclass(frozen=True, slots=True)
class Responses:
    """How users answer a message: by its ``copy`` (payload) if listed, else by its channel."""

    convert_by_channel: Mapping[str, float] = field(default_factory=dict)
    convert_by_copy: Mapping[str, float] = field(default_factory=dict)
    delivered: float = 0.95
    opened: float = 0.5  # of the delivered
    clicked: float = 0.4  # of the opened
    buy_after_ms: int = HOUR_MS
    seed: int = 0

    def convert(self, message: Mapping[str, Any]) -> float:
        copy = (message.get("payload") or {}).get("copy")
        if isinstance(copy, str) and copy in self.convert_by_copy:
            return self.convert_by_copy[copy]
        return self.convert_by_channel.get(str(message.get("channel")), 0.0)

    def answer(self, message: Mapping[str, Any]) -> tuple[list[str], bool]:
        """The feedback statuses of one message and whether its user buys."""
        digest = hashlib.sha256(f"{self.seed}\x1f{message['trigger_id']}".encode()).digest()
        rng = random.Random(digest)
        draws = [rng.random() for _ in range(4)]  # all drawn: each answer independent of order
        if draws[0] >= self.delivered:
            return [], False
        statuses = ["delivered"]
        buys = draws[3] < self.convert(message)
        if draws[1] < self.opened or buys:
            statuses.append("opened")
            if draws[2] < self.clicked or buys:
                statuses.append("clicked")
        if buys:
            statuses.append("converted")
        return statuses, buys


# What `portrait simulate --respond` (and so `portrait up --simulate`) answers with: the demo's
# experiment (streams/app/up.py) sends an "urgent" copy by SMS against plain pushes.
DEMO_RESPONSES: Final = Responses(
    convert_by_channel={"push": 0.1, "sms": 0.15, "email": 0.05},
    convert_by_copy={"urgent": 0.25},
    buy_after_ms=60_000,
)

Reply = tuple[list[dict[str, Any]], dict[str, Any] | None]


def replies(message: Mapping[str, Any], responses: Responses) -> Reply:
    """The feedback messages and the purchase event (or None) answering one trigger message."""
    statuses, buys = responses.answer(message)
    sent_at = parse_ts(message["sent_at"])
    user, tid = message["user_id"], message["trigger_id"]
    feedback = [
        {"trigger_id": tid, "user_id": user, "status": s, "channel": message["channel"],
         "at": sent_at + 1000 * (i + 1)}
        for i, s in enumerate(statuses)
    ]  # fmt: skip
    purchase = None
    if buys:
        purchase = {"event_id": f"resp-{tid}", "type": "purchase", "user_id": user,
                    "ts": sent_at + responses.buy_after_ms,
                    "properties": {"order_id": f"o-{tid}", "price": 20.0}}  # fmt: skip
    return feedback, purchase


class Provider:
    """The simulated provider: reads every trigger topic from its start (no consumer group)
    and answers what it reads; :meth:`answer` returns the messages it answered."""

    def __init__(self, settings: Settings, responses: Responses) -> None:
        self.settings = settings
        self.responses = responses
        self.topics = sorted({settings.topic(t) for t in settings.triggers.topics.values()})
        self.consumer = AIOKafkaConsumer(
            **kafka_options(settings), enable_auto_commit=False, auto_offset_reset="earliest"
        )
        self.producer = AIOKafkaProducer(**kafka_options(settings), acks="all", linger_ms=5)

    async def __aenter__(self) -> Provider:
        await ensure_topics(self.settings, self.topics)
        await self.consumer.start()
        await self.producer.start()
        parts: list[TopicPartition] = []
        for topic in self.topics:
            found = self.consumer.partitions_for_topic(topic) or set()
            while not found:
                await self.consumer.force_metadata_update()
                found = self.consumer.partitions_for_topic(topic) or set()
            parts.extend(TopicPartition(topic, p) for p in found)
        self.consumer.assign(parts)
        await self.consumer.seek_to_beginning(*parts)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.producer.stop()
        await self.consumer.stop()

    async def serve(self) -> None:
        """Answer every message as it comes, until cancelled."""
        while True:
            batch = await self.consumer.getmany(timeout_ms=1000, max_records=1000)
            for records in batch.values():
                for record in records:
                    await _answer(self.producer, self.settings, _json(record.value), self.responses)
            await self.producer.flush()

    async def answer(self, expect: int, timeout_ms: int = 30_000) -> list[dict[str, Any]]:
        """Answer ``expect`` messages (fewer once nothing came for ``timeout_ms``)."""
        answered: list[dict[str, Any]] = []
        while len(answered) < expect:
            batch = await self.consumer.getmany(
                timeout_ms=timeout_ms, max_records=expect - len(answered)
            )
            if not batch:
                break
            for records in batch.values():
                for record in records:
                    message = _json(record.value)
                    await _answer(self.producer, self.settings, message, self.responses)
                    answered.append(message)
        await self.producer.flush()
        return answered


def _json(value: bytes | None) -> dict[str, Any]:
    doc = orjson.loads(value or b"{}")
    return doc if isinstance(doc, dict) else {}


async def _answer(
    producer: AIOKafkaProducer, settings: Settings, message: dict[str, Any], r: Responses
) -> None:
    if "trigger_id" not in message or "user_id" not in message:
        return  # not a trigger message: a provider would dead-letter it
    feedback, purchase = replies(message, r)
    key = str(message["user_id"]).encode()
    for body in feedback:
        await producer.send(settings.topic(TOPIC_FEEDBACK), orjson.dumps(body), key=key)
    if purchase is not None:
        await producer.send(settings.topic(TOPIC_EVENTS), orjson.dumps(purchase), key=key)
