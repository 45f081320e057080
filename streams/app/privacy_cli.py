"""``portrait profile erase USER [--suppress]``, ``portrait profile unsuppress USER`` and
``portrait profile export USER``: the GDPR operations of the API (docs/privacy.md) from the
command line, audited as ``cli:<login>``."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
from aiokafka import AIOKafkaProducer

from streams.app.read import parse_as_of
from streams.connect.clients import kafka_options, redis_client
from streams.errors import NotFound, started
from streams.privacy.service import Privacy
from streams.settings.tree import Settings

T = TypeVar("T")


def actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no login name (a container without a passwd entry)
        return "cli:unknown"


async def _with_privacy(settings: Settings, run: Callable[[Privacy], Awaitable[T]]) -> T:
    redis = redis_client(settings, socket_connect_timeout=5, socket_timeout=30)
    producer = AIOKafkaProducer(**kafka_options(settings), acks="all")
    try:
        await started(producer)
        return await run(Privacy(redis, settings, producer))
    finally:
        await producer.stop()
        await redis.aclose()


def privacy_main(settings: Settings, args: argparse.Namespace) -> int:
    """0 with the erasure (or the export) as JSON on stdout; NotFound for an export of a user
    the store knows nothing about."""
    user_id: str = args.user_id
    if args.profile_command == "erase":
        out = asyncio.run(
            _with_privacy(
                settings, lambda p: p.erase(user_id, suppress=args.suppress, actor=actor())
            )
        )
        _print(out.as_dict())
        return 0
    if args.profile_command == "unsuppress":
        lifted = asyncio.run(
            _with_privacy(settings, lambda p: p.unsuppress(user_id, actor=actor()))
        )
        if lifted is None:
            raise NotFound(f"user {user_id!r} is not suppressed")
        _print(lifted)
        return 0
    now = parse_as_of(None)
    doc = asyncio.run(_with_privacy(settings, lambda p: p.export(user_id, now, actor())))
    if doc is None:
        raise NotFound(f"nothing is stored about user {user_id!r}")
    _print(doc)
    return 0


def _print(doc: dict[str, Any]) -> None:
    sys.stdout.write(
        orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode() + "\n"
    )
