"""The read path: ``portrait profile get USER_ID [--as-of TIME]``."""

from __future__ import annotations

import sys
import time

import orjson
from profiles.events import Rejected, parse_ts
from profiles.model import ProfileModel
from profiles.store import ProfileStore
from redis.exceptions import RedisError
from streams.clients import redis_client
from streams.feedback_store import load_sensitivity
from streams.security_config import mask_url
from streams.settings import Settings
from triggers.sensitivity import marketing_tags


def parse_as_of(value: str | None) -> int:
    if value is None:
        return int(time.time() * 1000)
    return parse_ts(int(value) if value.isdigit() else value)


async def profile_get_main(settings: Settings, user_id: str, as_of: str | None) -> int:
    try:
        as_of_ms = parse_as_of(as_of)
    except Rejected as exc:
        print(f"portrait: --as-of: {exc.detail}", file=sys.stderr)
        return 2
    redis = redis_client(settings, socket_connect_timeout=5)
    try:
        state = await ProfileStore(redis).get(user_id)
        counts = await load_sensitivity(redis, user_id)
    except RedisError as exc:
        print(
            f"portrait: cannot read Redis at {mask_url(settings.redis_url)}: {exc}", file=sys.stderr
        )
        return 2
    finally:
        await redis.aclose()
    if state is None:
        print(f"portrait: no profile for user {user_id!r}", file=sys.stderr)
        return 1
    doc = ProfileModel(settings.model).view(user_id, state, as_of_ms)
    doc["marketing"] = marketing_tags(counts)  # from trigger feedback (docs/feedback.md)
    sys.stdout.write(
        orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode() + "\n"
    )
    return 0
