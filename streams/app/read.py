"""The read path: ``portrait profile get USER_ID [--as-of TIME]``."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from redis.asyncio import Redis

from profiles.events import parse_moment
from profiles.model import ProfileModel
from streams.connect.clients import redis_client
from streams.errors import NotFound
from streams.ops.progress import ProgressLine
from streams.read.profile import ProfileReader
from streams.settings.tree import Settings
from streams.store.identity import IdentityStore


def parse_as_of(value: str | None) -> int:
    if value is None:
        return int(time.time() * 1000)
    return parse_moment(value)


async def profile_get_main(settings: Settings, user_id: str, as_of: str | None) -> int:
    """0 with the profile on stdout; :class:`NotFound` for an unknown user (streams.errors)."""
    as_of_ms = parse_as_of(as_of)  # the CLI has checked it (streams.app.argtypes.moment)
    redis = redis_client(settings, socket_connect_timeout=5)
    try:
        reader = ProfileReader(
            redis, settings.topics.prefix, ProfileModel(settings.model), settings.rules
        )
        doc = await reader.document(user_id, as_of_ms)
        merged = None
        if doc is None:
            merged = await IdentityStore(redis, settings.topics.prefix).survivor(user_id)
    finally:
        await redis.aclose()
    if merged is not None:  # docs/identity.md: the person's profile is the survivor's
        raise NotFound(f"{user_id!r} was merged into {merged!r}: read that profile")
    if doc is None:
        raise NotFound(f"no profile for user {user_id!r}")
    sys.stdout.write(
        orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode() + "\n"
    )
    return 0


def report_main(
    settings: Settings,
    line: ProgressLine,
    read: Callable[[Redis], Awaitable[dict[str, Any]]],
    as_json: bool,
    text: Callable[[Mapping[str, Any]], str],
) -> int:
    """A report command's end: ``read`` on a Redis client of the settings (the progress line
    closed after it), then the report as indented JSON or as ``text``."""

    async def run() -> dict[str, Any]:
        redis = redis_client(settings, socket_connect_timeout=5, socket_timeout=30)
        try:
            return await read(redis)
        finally:
            await redis.aclose()

    report = asyncio.run(run())
    line.status(f"{line.label}: done", final=True)
    if as_json:
        sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(text(report))
    return 0
