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
SCHEMA_VERSION: Final = 2  # v1 kept a JSON state in a hash under portrait:p:; replay to migrate


def profile_key(user_id: str) -> str:
    """String holding one user's profile state, led by its write fences (profiles/codec.py).

    A string, not a hash: a hash whose state field passes 64 bytes leaves the compact listpack
    encoding and costs ~270 bytes of overhead per user against ~60 for a string."""
    return f"{KEY_PREFIX}:p2:{{{user_id}}}"


def user_id_from_key(key: str) -> str:
    """Inverse of :func:`profile_key`."""
    start = key.index("{") + 1
    return key[start : key.rindex("}")]
