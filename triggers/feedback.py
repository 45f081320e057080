"""Strict decoding of feedback messages and of the published trigger messages (pure).

A feedback message (docs/feedback.md) is a JSON object, key = user id::

    {"trigger_id": "win_back-3f...", "user_id": "u42", "status": "opened",
     "at": "2024-05-01T10:00:00Z", "channel": "push", "offer": "coupon"}

``at`` (RFC 3339 or epoch ms) defaults to the time of decoding; ``channel`` and ``offer`` are
optional; other fields are ignored (providers may add their own). Anything else is refused with
one of :data:`REJECT_REASONS`, which name the ``portrait_feedback_rejected_total`` series.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import orjson

from profiles.events import Rejected, parse_ts

STATUSES: Final = ("delivered", "opened", "clicked", "converted")
MAX_ID_LEN: Final = 256
REJECT_REASONS: Final = (
    "invalid_json",
    "not_an_object",
    "missing_trigger_id",
    "missing_user",
    "unknown_status",
    "bad_timestamp",
    "bad_field",
)


class BadFeedback(Rejected):
    """A feedback (or trigger) message that cannot be counted, with its reason."""


@dataclass(frozen=True, slots=True)
class Feedback:
    trigger_id: str
    user_id: str
    status: str
    at: int  # epoch ms
    channel: str | None = None
    offer: str | None = None


@dataclass(frozen=True, slots=True)
class Sent:
    """What the recall registration needs of a message published on a trigger topic."""

    trigger_id: str
    kind: str
    channel: str
    user_id: str
    sent_at: int
    campaign_id: str | None = None  # the campaign of a campaign's message


def _object(value: bytes | None) -> dict[str, Any]:
    if value is None:
        raise BadFeedback("invalid_json", "message has no value (tombstone)")
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise BadFeedback("invalid_json", str(exc)[:200]) from None
    if not isinstance(doc, dict):
        raise BadFeedback("not_an_object", f"a JSON {type(doc).__name__}, not an object")
    return doc


def _ident(doc: dict[str, Any], name: str, missing: str) -> str:
    value = doc.get(name)
    if value is None or value == "":
        raise BadFeedback(missing, f"{name} is required")
    if not isinstance(value, str):
        raise BadFeedback("bad_field", f"{name} must be a string, not {type(value).__name__}")
    if len(value) > MAX_ID_LEN or "|" in value or "{" in value or "}" in value:
        raise BadFeedback("bad_field", f"{name} {value[:60]!r} is too long or has | {{ }}")
    return value


def _label(doc: dict[str, Any], name: str, allowed: tuple[str, ...] | None) -> str | None:
    value = doc.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 64 or "|" in value:
        raise BadFeedback("bad_field", f"{name} must be a short string, not {value!r:.60}")
    if allowed is not None and value not in allowed:
        raise BadFeedback("bad_field", f"{name} {value!r} is not one of {list(allowed)}")
    return value


def decode_feedback(
    value: bytes | None, now_ms: int, channels: tuple[str, ...] | None = None
) -> Feedback:
    """One feedback message, or :class:`BadFeedback` with its reason. ``channels``: the known
    channel names (None: any short string)."""
    doc = _object(value)
    trigger_id = _ident(doc, "trigger_id", "missing_trigger_id")
    user_id = _ident(doc, "user_id", "missing_user")
    status = doc.get("status")
    if status not in STATUSES:
        raise BadFeedback("unknown_status", f"status {status!r:.60} is not one of {STATUSES}")
    raw_at = doc.get("at")
    try:
        at = now_ms if raw_at is None else parse_ts(raw_at)
    except Rejected as exc:
        raise BadFeedback("bad_timestamp", f"at: {exc.detail}") from None
    channel = _label(doc, "channel", channels)
    offer = _label(doc, "offer", None)
    return Feedback(trigger_id, user_id, str(status), at, channel, offer)


def decode_sent(value: bytes | None) -> Sent:
    """A message of ``triggers.<channel>`` (triggers.model.message); BadFeedback if it is not."""
    doc = _object(value)
    try:
        sent_at = parse_ts(doc.get("sent_at"))
    except Rejected as exc:
        raise BadFeedback("bad_timestamp", f"sent_at: {exc.detail}") from None
    return Sent(
        _ident(doc, "trigger_id", "missing_trigger_id"),
        _ident(doc, "kind", "bad_field"),
        _ident(doc, "channel", "bad_field"),
        _ident(doc, "user_id", "missing_user"),
        sent_at,
        _label(doc, "campaign_id", None),
    )
