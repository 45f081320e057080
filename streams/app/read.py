"""The read path: ``portrait profile get USER_ID [--as-of TIME]``."""

from __future__ import annotations

import sys
import time

import orjson

from profiles.events import parse_moment
from profiles.model import ProfileModel
from streams.connect.clients import redis_client
from streams.errors import NotFound
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
