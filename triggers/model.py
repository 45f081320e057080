"""A pending trigger, the operations on the pending set, and the published message (pure).

A trigger lives in one *slot* per user: its kind, or ``campaign:<id>`` for a campaign, so that a
further add to a cart updates the pending reminder instead of making a second one. Its id is
derived from what made it (user, kind, the cart's first add, the campaign...), so a retried
send, a redelivered batch or a replanned campaign yields the same ``trigger_id``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from profiles.timeutil import rfc3339

SCHEMA_VERSION = 1
# Kinds kept in the due index alone until claimed (streams/store/trigger_lua.py
# SCHEDULE_LAZY): their record
# is a function of (kind, user, due) and the config, rebuilt by TriggerRules.materialize.
LAZY_KINDS = frozenset({"win_back"})


def make_trigger_id(kind: str, user_id: str, *parts: object) -> str:
    """Deterministic id: the same kind, user and parts always give the same id."""
    text = "\x1f".join([kind, user_id, *(str(p) for p in parts)])
    return f"{kind}-{hashlib.blake2b(text.encode(), digest_size=10).hexdigest()}"


@dataclass(frozen=True, slots=True)
class Trigger:
    trigger_id: str
    kind: str
    user_id: str
    due_at: int  # epoch ms
    created_at: int
    expires_at: int  # not sent by then (deferred, capped): dropped as expired
    priority: int
    channels: tuple[str, ...]  # preference order
    payload: dict[str, Any] = field(default_factory=dict)
    campaign_id: str | None = None
    at_active_hour: bool = False  # still to be moved to the user's next peak hour
    deferrals: int = 0
    # (fence id, offset) of the record that made it: the stored profile must have applied that
    # record before the trigger is judged on it (the trigger is written before the profile)
    source: tuple[str, int] | None = None
    # an experiment's arm (triggers/experiments.py), set once when the trigger is first judged
    # valid: (experiment, arm); the arm is the user's recorded one (sticky)
    arm: tuple[str, str] | None = None
    at_hour: int | None = None  # still to be moved to this local hour (a fixed_hour variant)

    @property
    def lazy(self) -> bool:
        return self.kind in LAZY_KINDS and not self.deferrals

    @property
    def slot(self) -> str:
        return f"campaign:{self.campaign_id}" if self.campaign_id else self.kind

    def deferred(self, due_at: int) -> Trigger:
        return replace(self, due_at=due_at, deferrals=self.deferrals + 1)

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "id": self.trigger_id,
                "k": self.kind,
                "u": self.user_id,
                "d": self.due_at,
                "c": self.created_at,
                "e": self.expires_at,
                "p": self.priority,
                "ch": list(self.channels),
                "pl": self.payload,
                "cid": self.campaign_id,
                "ah": self.at_active_hour,
                "df": self.deferrals,
                **({"src": list(self.source)} if self.source is not None else {}),
                **({"x": list(self.arm)} if self.arm is not None else {}),
                **({"ah8": self.at_hour} if self.at_hour is not None else {}),
            }
        )

    @classmethod
    def decode(cls, blob: bytes | str) -> Trigger:
        r = orjson.loads(blob)
        src, arm = r.get("src"), r.get("x")
        return cls(
            r["id"], r["k"], r["u"], r["d"], r["c"], r["e"], r["p"], tuple(r["ch"]), r["pl"],
            r.get("cid"), r.get("ah", False), r.get("df", 0),
            (str(src[0]), int(src[1])) if src else None,
            (str(arm[0]), str(arm[1])) if arm else None, r.get("ah8"),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Schedule:
    """Put ``trigger`` in its slot (replacing what is pending there) unless its id was sent."""

    trigger: Trigger


@dataclass(frozen=True, slots=True)
class Cancel:
    """Drop what is pending in ``slot`` (a purchase closed the cart, a user came back...)."""

    user_id: str
    slot: str
    reason: str


Op = Schedule | Cancel


def message(trigger: Trigger, channel: str, sent_at: int) -> dict[str, Any]:
    """The JSON object published on the channel's topic (docs/triggers.md, "Messages")."""
    return {
        "schema": SCHEMA_VERSION,
        "trigger_id": trigger.trigger_id,
        "kind": trigger.kind,
        "channel": channel,
        "user_id": trigger.user_id,
        "due_at": rfc3339(trigger.due_at),
        "created_at": rfc3339(trigger.created_at),
        "sent_at": rfc3339(sent_at),
        "expires_at": rfc3339(trigger.expires_at),
        "priority": trigger.priority,
        "campaign_id": trigger.campaign_id,
        "experiment": trigger.arm[0] if trigger.arm else None,
        "variant": trigger.arm[1] if trigger.arm else None,
        "payload": trigger.payload,
    }
