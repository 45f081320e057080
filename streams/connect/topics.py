"""Create the topics Portrait needs (Tansu, like many brokers here, does not auto-create them)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from streams.connect.clients import KafkaTarget, kafka_options
from streams.names import TOPIC_DLQ, TOPIC_EVENTS, TOPIC_PROFILE_CHANGES

log = logging.getLogger("portrait.topics")

WORKER_TOPICS = (TOPIC_EVENTS, TOPIC_DLQ, TOPIC_PROFILE_CHANGES)


async def ensure_topics(
    kafka: KafkaTarget,
    names: Iterable[str] = WORKER_TOPICS,
    *,
    partitions: int = 8,
    replication_factor: int = 1,
    timeout_ms: int = 15_000,
) -> list[str]:
    """Create the missing topics of ``kafka`` (Settings, or a plaintext bootstrap list);
    return the names created."""
    admin = AIOKafkaAdminClient(**kafka_options(kafka), request_timeout_ms=timeout_ms)
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        wanted = [n for n in names if n not in existing]
        if not wanted:
            return []
        new = [NewTopic(n, partitions, replication_factor) for n in wanted]
        with contextlib.suppress(TopicAlreadyExistsError):  # another worker won the race
            await admin.create_topics(new, timeout_ms=timeout_ms)
        log.info("created topics %s with %d partitions", wanted, partitions)
        return wanted
    finally:
        await admin.close()
