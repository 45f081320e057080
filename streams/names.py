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
TOPIC_CAMPAIGNS: Final = "campaigns"  # campaign requests (streams/campaigns/planner.py)
TOPIC_CAMPAIGNS_DLQ: Final = "campaigns.dlq"
TOPIC_FEEDBACK: Final = "feedback"  # delivered / opened / clicked / converted, by trigger_id
TOPIC_FEEDBACK_DLQ: Final = "feedback.dlq"
# Trigger output topics are configurable (triggers.topics); these are the defaults.
TOPIC_TRIGGERS_PUSH: Final = "triggers.push"
TOPIC_TRIGGERS_SMS: Final = "triggers.sms"
TOPIC_TRIGGERS_EMAIL: Final = "triggers.email"

# A Kafka header on replayed history (`portrait replay --via kafka`): applied, never triggering.
REPLAY_HEADER: Final = "portrait-replay"

CONSUMER_GROUP: Final = "portrait-worker"
CAMPAIGN_GROUP: Final = "portrait-campaigns"
FEEDBACK_GROUP: Final = "portrait-feedback"

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


# --- Trigger keys (streams/triggers/scheduler.py) ----------------------------------------
# One pending trigger per user and slot in a hash; one sorted set of due times for all users
# (member: "<slot>\x1f<user_id>"). The due index is one key: on Redis Cluster it lives in one slot.
KEY_DUE: Final = f"{KEY_PREFIX}:tdue"


def due_key(namespace: str = "") -> str:
    """The due index; ``namespace`` (``topics.prefix``) keeps deployments sharing a Redis apart."""
    return f"{KEY_PREFIX}:{namespace}tdue" if namespace else KEY_DUE


DUE_SEPARATOR: Final = "\x1f"


def pending_key(user_id: str) -> str:
    """Hash ``slot -> encoded Trigger`` of one user's pending triggers."""
    return f"{KEY_PREFIX}:tq:{{{user_id}}}"


def sent_key(user_id: str) -> str:
    """Hash ``trigger_id -> "channel|kind|sent_ms"``: dedupe, caps and feedback attribution."""
    return f"{KEY_PREFIX}:ts:{{{user_id}}}"


def sensitivity_key(user_id: str) -> str:
    """Hash ``"<channel or offer>:<status>" -> count``: how the user responds to messages."""
    return f"{KEY_PREFIX}:tr:{{{user_id}}}"


KEY_RECALL_INDEX: Final = (
    f"{KEY_PREFIX}:trecall"  # user -> recall deadline (streams/feedback/recall.py)
)


def feedback_seen_key(user_id: str) -> str:
    """Hash ``"<trigger_id>:<status>" -> 1``: each feedback counted once (streams/feedback)."""
    return f"{KEY_PREFIX}:tf:{{{user_id}}}"


def recall_key(user_id: str) -> str:
    """Hash of the user's win-backs awaiting a return (streams/store/feedback.py)."""
    return f"{KEY_PREFIX}:trc:{{{user_id}}}"


def due_member(slot: str, user_id: str) -> str:
    return f"{slot}{DUE_SEPARATOR}{user_id}"


def parse_due_member(member: str) -> tuple[str, str]:
    slot, _, user_id = member.partition(DUE_SEPARATOR)
    return slot, user_id
