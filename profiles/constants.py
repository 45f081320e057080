"""The one place for topic names and the Redis key scheme.

All of one user's keys share the hash tag ``{user_id}`` so that they live in one Redis Cluster
slot (DESIGN.md invariant 8) and one Lua call may touch them together.
"""

from __future__ import annotations

from typing import Final

# --- Kafka topics -----------------------------------------------------------------------------
TOPIC_EVENTS: Final = "events"
TOPIC_DLQ: Final = "events.dlq"
TOPIC_PROFILE_CHANGES: Final = "profile.changes"

CONSUMER_GROUP: Final = "portrait-worker"

# --- Redis keys -------------------------------------------------------------------------------
KEY_PREFIX: Final = "portrait"
SCHEMA_VERSION: Final = 1

# Fields of the per-user profile hash.
FIELD_STATE: Final = "s"  # the profile state, orjson-encoded
FIELD_FENCE_PREFIX: Final = "f:"  # f:<partition> -> last applied offset of that partition
FIELD_UPDATED: Final = "u"  # wall-clock ms of the last write


def profile_key(user_id: str) -> str:
    """Hash holding one user's profile state and write fences."""
    return f"{KEY_PREFIX}:p:{{{user_id}}}"


def user_id_from_key(key: str) -> str:
    """Inverse of :func:`profile_key`."""
    start = key.index("{") + 1
    return key[start : key.rindex("}")]


def fence_field(partition: int) -> str:
    return f"{FIELD_FENCE_PREFIX}{partition}"
