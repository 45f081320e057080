"""The ``identity:`` YAML section: which identifiers link profiles into one person, and how far
(docs/identity.md, "Merge rules")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

import msgspec

from profiles.identity import DEFAULT_BLOCKED, DEFAULT_LIMITS, KINDS, IdentityRules
from streams.settings.base import section_of

Kind = Literal["user_id", "email", "phone", "device_id", "anonymous_id"]
Limit = Annotated[int, msgspec.Meta(ge=1, le=10_000)]
assert set(Kind.__args__) == set(KINDS)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class IdentityConfig:
    enabled: bool = True  # off: every profile stays on its own, as before identity
    link_kinds: tuple[Kind, ...] = KINDS  # the identifier kinds that may link profiles
    priority: tuple[Kind, ...] = KINDS  # the canonical identifier: the first kind listed
    max_user_ids: Limit = DEFAULT_LIMITS["user_id"]  # per person; 1: known users never merge
    max_anonymous_ids: Limit = DEFAULT_LIMITS["anonymous_id"]
    max_emails: Limit = DEFAULT_LIMITS["email"]
    max_phones: Limit = DEFAULT_LIMITS["phone"]
    max_device_ids: Limit = DEFAULT_LIMITS["device_id"]
    blocked_values: tuple[str, ...] = tuple(sorted(DEFAULT_BLOCKED))  # never link (any case)

    def rules(self) -> IdentityRules:
        limits = {
            "user_id": self.max_user_ids,
            "anonymous_id": self.max_anonymous_ids,
            "email": self.max_emails,
            "phone": self.max_phones,
            "device_id": self.max_device_ids,
        }
        return IdentityRules(
            kinds=frozenset(self.link_kinds),
            limits=limits,
            blocked=frozenset(v.strip().casefold() for v in self.blocked_values),
            priority=tuple(self.priority),
        )


IdentitySection = section_of(IdentityConfig)
