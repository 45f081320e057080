"""A user's trigger activity for the 360° page: pending triggers (the trigger store) and recent
sends with the furthest feedback each reached (the SENT and FEEDBACK_SEEN hashes), read in one
round trip through the store's key scheme."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from redis.asyncio import Redis

from profiles.timeutil import rfc3339
from streams.names import Keys
from streams.store.triggers import SentRecord, as_text
from triggers.feedback import STATUSES
from triggers.model import Trigger

RECENT: Final = 20  # sends shown, newest first


async def load_activity(redis: Redis, namespace: str, user_id: str) -> dict[str, Any]:
    keys = Keys(namespace)
    pipe = redis.pipeline(transaction=False)
    pipe.hgetall(keys.pending(user_id))
    pipe.hgetall(keys.sent(user_id))
    pipe.hgetall(keys.feedback_seen(user_id))
    pending, sent, seen = await pipe.execute()
    triggers = [Trigger.decode(raw) for raw in pending.values()]
    return activity(triggers, sent, seen)


def activity(
    pending: list[Trigger], sent: Mapping[Any, Any], seen: Mapping[Any, Any]
) -> dict[str, Any]:
    """``{"pending": [...], "recent": [...]}``: times in RFC 3339, ``outcome`` the furthest
    feedback status of a send (``sent`` when none came)."""
    furthest: dict[str, int] = {}
    for field in seen:
        trigger_id, _, status = as_text(field).rpartition("|")
        if status in STATUSES:
            furthest[trigger_id] = max(furthest.get(trigger_id, -1), STATUSES.index(status))
    recent: list[tuple[int, dict[str, Any]]] = []
    for raw_id, raw in sent.items():
        trigger_id = as_text(raw_id)
        record = SentRecord.decode(raw)
        step = furthest.get(trigger_id)
        recent.append((record.sent_at, {
            "trigger_id": trigger_id, "kind": record.kind, "channel": record.channel,
            "sent_at": rfc3339(record.sent_at),
            "outcome": "sent" if step is None else STATUSES[step]}))  # fmt: skip
    recent.sort(key=lambda pair: pair[0], reverse=True)
    return {"pending": [_pending(t) for t in sorted(pending, key=lambda t: t.due_at)],
            "recent": [doc for _, doc in recent[:RECENT]]}  # fmt: skip


def _pending(t: Trigger) -> dict[str, Any]:
    return {"trigger_id": t.trigger_id, "kind": t.kind,
            "channel": t.channels[0] if t.channels else None, "channels": list(t.channels),
            "due_at": rfc3339(t.due_at), "created_at": rfc3339(t.created_at),
            "campaign_id": t.campaign_id}  # fmt: skip
