"""``portrait changes``: print the ``profile.changes`` topic, one JSON object a line
(docs/rules.md, "profile.changes") — for people watching segments fill, and for scripts."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

from streams.app.argtypes import NON_NEGATIVE, POSITIVE
from streams.connect.clients import kafka_options
from streams.names import TOPIC_PROFILE_CHANGES
from streams.settings.tree import Settings


def add_parser(sub: Any) -> None:
    p = sub.add_parser("changes", help="print profile.changes (segment and tag transitions)")
    p.add_argument(
        "--from-beginning", action="store_true", help="from the topic's start (default: now on)"
    )
    p.add_argument("--name", help="only this segment or tag")
    p.add_argument("--user", help="only this user")
    p.add_argument("--max", type=POSITIVE, default=None, help="stop after this many messages")
    p.add_argument(
        "--timeout",
        type=NON_NEGATIVE,
        default=None,
        help="stop after this many seconds without a message (default: never)",
    )


def changes_main(settings: Settings, args: argparse.Namespace) -> int:
    limit = None if args.max is None else int(args.max)
    keep = _filter(args.name, args.user)
    return asyncio.run(_follow(settings, args.from_beginning, limit, args.timeout, keep))


def _filter(name: str | None, user: str | None) -> Callable[[bytes], bool]:
    if name is None and user is None:
        return lambda value: True

    def keep(value: bytes) -> bool:
        message = orjson.loads(value)
        if user is not None and message.get("user_id") != user:
            return False
        return name is None or name in (message.get("segment"), message.get("tag"))

    return keep


async def _follow(
    settings: Settings,
    from_beginning: bool,
    limit: int | None,
    idle_s: float | None,
    keep: Callable[[bytes], bool],
) -> int:
    consumer = AIOKafkaConsumer(
        settings.topic(TOPIC_PROFILE_CHANGES),
        **kafka_options(settings),
        auto_offset_reset="earliest" if from_beginning else "latest",
        enable_auto_commit=False,
    )
    await consumer.start()
    shown = 0
    quiet_since = time.monotonic()
    try:
        while limit is None or shown < limit:
            batch = await consumer.getmany(timeout_ms=200)
            records = [r for rs in batch.values() for r in rs if keep(r.value)]
            if not records:
                if idle_s is not None and time.monotonic() - quiet_since >= idle_s:
                    break
                continue
            quiet_since = time.monotonic()
            for record in records[: None if limit is None else limit - shown]:
                sys.stdout.write(record.value.decode() + "\n")
                shown += 1
            sys.stdout.flush()
    finally:
        await consumer.stop()
    return 0
