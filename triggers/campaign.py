"""A campaign request, its validation, and the trigger it makes per user (pure; docs/campaigns.md).

    {"campaign_id": "spring-sale.2024",
     "message": {"title": "...", "body": "...", "deeplink": "app://sale"},
     "channel": "push",                          # or "channels": ["push", "email"]; optional
     "audience": {"where": {"lifecycle": ["active", "new"]}},   # or {"users": ["u1", "u2"]}
     "window": {"start": null, "hours": 24},     # or {"start": RFC 3339, "end": RFC 3339}
     "priority": 60}                             # optional

Anything malformed is a :class:`CampaignError` naming the field, so that a request from the
topic can go to its dead-letter topic with a reason and one from the CLI can be fixed.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import orjson

from profiles.events import Rejected
from profiles.timeutil import rfc3339
from triggers.audience import Condition, compile_condition
from triggers.config import CHANNELS, HOUR_MS, TriggerConfig
from triggers.model import Trigger, make_trigger_id

KIND: Final = "campaign"
MAX_WINDOW_HOURS: Final = 31 * 24
MAX_MESSAGE_BYTES: Final = 8192  # stored with every user's pending trigger
MAX_USER_ID: Final = 256
MAX_PRIORITY: Final = 1000
_ID: Final = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_FIELDS: Final = frozenset(
    {"campaign_id", "message", "channel", "channels", "audience", "window", "priority"}
)


class CampaignError(Rejected):
    """A request that cannot be planned; ``reason`` is a short code (metrics, DLQ header)."""


@dataclass(frozen=True, slots=True)
class Window:
    start_ms: int | None  # None: the moment of planning
    end_ms: int | None
    hours: float | None  # the length when no end is given

    def resolve(self, now_ms: int) -> tuple[int, int]:
        """[start, end) in epoch ms as of ``now_ms``; a start in the past becomes now."""
        start = now_ms if self.start_ms is None else max(self.start_ms, now_ms)
        if self.end_ms is not None:
            end = self.end_ms
        else:
            assert self.hours is not None
            end = (now_ms if self.start_ms is None else self.start_ms) + int(self.hours * HOUR_MS)
        if end <= start:
            raise CampaignError("window_ended", f"the window ended before {rfc3339(now_ms)}")
        if end - start > MAX_WINDOW_HOURS * HOUR_MS:
            raise CampaignError("bad_window", f"the window is longer than {MAX_WINDOW_HOURS} h")
        return start, end


@dataclass(frozen=True, slots=True)
class Campaign:
    campaign_id: str
    message: Mapping[str, Any]
    window: Window
    users: tuple[str, ...] | None = None  # a list audience
    where: Condition | None = None  # a condition audience
    channels: tuple[str, ...] | None = None  # None: triggers.kinds.campaign.channels
    priority: int | None = None  # None: triggers.kinds.campaign.priority

    def trigger(
        self, user_id: str, due_at: int, expires_at: int, now_ms: int, config: TriggerConfig
    ) -> Trigger:
        """The user's trigger: its id is the same at every replanning of this campaign."""
        kind = config.kind(KIND)
        return Trigger(
            trigger_id=make_trigger_id(KIND, user_id, self.campaign_id),
            kind=KIND,
            user_id=user_id,
            due_at=due_at,
            created_at=now_ms,
            expires_at=expires_at,
            priority=kind.priority if self.priority is None else self.priority,
            channels=self.channels or kind.channels,
            payload={**self.message, "campaign_id": self.campaign_id},
            campaign_id=self.campaign_id,
        )


def load_campaign(blob: bytes | str, known_tags: Collection[str] | None = None) -> Campaign:
    """Parse a request's JSON text."""
    try:
        data = orjson.loads(blob)
    except orjson.JSONDecodeError as exc:
        raise CampaignError("not_json", str(exc)) from None
    return parse_campaign(data, known_tags)


def parse_campaign(data: object, known_tags: Collection[str] | None = None) -> Campaign:
    if not isinstance(data, Mapping):
        raise CampaignError("not_an_object", f"a request is a JSON object, not {_kind(data)}")
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise CampaignError("unknown_field", f"unknown fields {unknown}")
    cid = data.get("campaign_id")
    if not isinstance(cid, str) or not _ID.fullmatch(cid):
        raise CampaignError("bad_campaign_id", f"campaign_id must match {_ID.pattern}: {cid!r}")
    users, where = _audience(data.get("audience"), known_tags)
    return Campaign(
        campaign_id=cid,
        message=_message(data.get("message")),
        window=_window(data.get("window")),
        users=users,
        where=where,
        channels=_channels(data),
        priority=_priority(data.get("priority")),
    )


def _message(raw: object) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise CampaignError("bad_message", f"message must be a JSON object, not {_kind(raw)}")
    size = len(orjson.dumps(raw))
    if size > MAX_MESSAGE_BYTES:
        raise CampaignError("bad_message", f"message is {size} bytes (at most {MAX_MESSAGE_BYTES})")
    if "campaign_id" in raw:
        raise CampaignError("bad_message", "message may not set campaign_id (it is added)")
    return dict(raw)


def _channels(data: Mapping[str, Any]) -> tuple[str, ...] | None:
    if "channel" in data and "channels" in data:
        raise CampaignError("bad_channel", "give channel or channels, not both")
    raw = data.get("channels", data.get("channel"))
    if raw is None:
        return None
    names = [raw] if isinstance(raw, str) else raw
    if not isinstance(names, list) or not names:
        raise CampaignError("bad_channel", f"channels must be a non-empty list: {raw!r}")
    for name in names:
        if name not in CHANNELS:
            raise CampaignError("bad_channel", f"unknown channel {name!r} (one of {CHANNELS})")
    if len(set(names)) != len(names):
        raise CampaignError("bad_channel", f"a channel is named twice: {names}")
    return tuple(names)


def _priority(raw: object) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= MAX_PRIORITY:
        raise CampaignError("bad_priority", f"priority must be an integer 0..{MAX_PRIORITY}")
    return raw


def _audience(
    raw: object, known_tags: Collection[str] | None
) -> tuple[tuple[str, ...] | None, Condition | None]:
    if not isinstance(raw, Mapping) or len(raw) != 1 or not {"users", "where"} & set(raw):
        raise CampaignError("bad_audience", 'audience must be {"users": [...]} or {"where": {...}}')
    if "where" in raw:
        try:
            return None, compile_condition(raw["where"], known_tags)
        except ValueError as exc:
            raise CampaignError("bad_condition", str(exc)) from None
    users = raw["users"]
    if not isinstance(users, list) or not users:
        raise CampaignError("bad_audience", "audience.users must be a non-empty list")
    for user in users:
        if not isinstance(user, str) or not 0 < len(user) <= MAX_USER_ID:
            raise CampaignError("bad_audience", f"not a user id: {user!r}")
    return tuple(dict.fromkeys(users)), None  # duplicates once, order kept


def _window(raw: object) -> Window:
    if not isinstance(raw, Mapping) or set(raw) - {"start", "end", "hours"}:
        raise CampaignError("bad_window", 'window must be {"start", "end"} or {"start", "hours"}')
    if ("end" in raw) == ("hours" in raw):
        raise CampaignError("bad_window", "window needs exactly one of end and hours")
    start = _time("start", raw.get("start"))
    if "hours" in raw:
        hours = raw["hours"]
        if isinstance(hours, bool) or not isinstance(hours, int | float):
            raise CampaignError("bad_window", f"window.hours must be a number: {hours!r}")
        if not 0 < hours <= MAX_WINDOW_HOURS:
            raise CampaignError("bad_window", f"window.hours must be in (0, {MAX_WINDOW_HOURS}]")
        return Window(start, None, float(hours))
    end = _time("end", raw["end"])
    if end is None:
        raise CampaignError("bad_window", "window.end is required (RFC 3339)")
    if start is not None and not 0 < end - start <= MAX_WINDOW_HOURS * HOUR_MS:
        raise CampaignError(
            "bad_window", f"window must end after its start, within {MAX_WINDOW_HOURS} h"
        )
    return Window(start, end, None)


def _time(name: str, raw: object) -> int | None:
    if raw is None:
        return None
    try:
        if not isinstance(raw, str) or "T" not in raw.upper():
            raise ValueError
        parsed = datetime.fromisoformat(raw)
        if parsed.tzinfo is None:
            raise ValueError
    except ValueError:
        raise CampaignError(
            "bad_window", f"window.{name} must be RFC 3339 with an offset: {raw!r}"
        ) from None
    return int(parsed.timestamp() * 1000)


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__
