"""The read path: ``portrait profile get USER_ID [--as-of TIME]``."""

from __future__ import annotations

import sys
import time

import orjson

from profiles.events import parse_moment
from profiles.model import ProfileModel
from profiles.rules.engine import RulesEngine
from streams.connect.clients import redis_client
from streams.errors import NotFound
from streams.names import Keys
from streams.settings.tree import Settings
from streams.store.feedback import load_sensitivity
from streams.store.profiles import ProfileStore
from triggers.sensitivity import marketing_tags


def parse_as_of(value: str | None) -> int:
    if value is None:
        return int(time.time() * 1000)
    return parse_moment(value)


async def profile_get_main(settings: Settings, user_id: str, as_of: str | None) -> int:
    """0 with the profile on stdout; :class:`NotFound` for an unknown user (streams.errors)."""
    as_of_ms = parse_as_of(as_of)  # the CLI has checked it (streams.app.argtypes.moment)
    redis = redis_client(settings, socket_connect_timeout=5)
    try:
        state = await ProfileStore(redis, settings.topics.prefix).get(user_id)
        counts = await load_sensitivity(redis, Keys(settings.topics.prefix), user_id)
    finally:
        await redis.aclose()
    if state is None:
        raise NotFound(f"no profile for user {user_id!r}")
    model = ProfileModel(settings.model)
    doc = model.view(user_id, state, as_of_ms)
    rules = RulesEngine(model, settings.rules).view(state, as_of_ms)
    doc["tags"].update(rules["tags"])  # business tags beside the built-in ones (docs/rules.md)
    doc["changed_at"].update(rules["changed_at"])
    doc["segments"] = rules["segments"]
    doc["segments_since"] = rules["segments_since"]
    doc["rules_version"] = rules["rules_version"]
    doc["marketing"] = marketing_tags(counts)  # from trigger feedback (docs/feedback.md)
    sys.stdout.write(
        orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode() + "\n"
    )
    return 0
