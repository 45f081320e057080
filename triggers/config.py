"""Tunables of the behaviour triggers (``triggers:`` in the YAML config; docs/triggers.md).

Pure data: streams/settings/triggers.py reads the YAML section into these objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

MINUTE_MS: Final = 60_000
HOUR_MS: Final = 3_600_000
DAY_MS: Final = 86_400_000

CHANNELS: Final = ("push", "sms", "email")
KINDS: Final = (
    "cart_reminder",
    "win_back",
    "repeated_search",
    "first_purchase",
    "high_value_welcome",
    "campaign",
)


@dataclass(frozen=True, slots=True)
class KindConfig:
    """One trigger kind: when it is due, how long it stays worth sending, where it goes."""

    enabled: bool = True
    delay_ms: int = 0  # after the moment that makes it (the add, the purchase, the transition)
    ttl_ms: int = DAY_MS  # after its due time it is dropped as expired, deferred or not
    priority: int = 50  # higher wins a slot that several triggers compete for
    channels: tuple[str, ...] = ("push",)  # preference order; a capped channel falls through
    at_active_hour: bool = False  # defer to the user's next peak hour (within ttl)


def _kinds() -> Mapping[str, KindConfig]:
    return MappingProxyType(
        {
            "cart_reminder": KindConfig(delay_ms=30 * MINUTE_MS, priority=80),
            "win_back": KindConfig(ttl_ms=7 * DAY_MS, priority=60, at_active_hour=True),
            "repeated_search": KindConfig(ttl_ms=2 * DAY_MS, priority=70),
            "first_purchase": KindConfig(
                delay_ms=3 * DAY_MS, ttl_ms=3 * DAY_MS, priority=40, channels=("email", "push")
            ),
            "high_value_welcome": KindConfig(
                ttl_ms=3 * DAY_MS, priority=90, channels=("sms", "push")
            ),
            "campaign": KindConfig(priority=50),
        }
    )


@dataclass(frozen=True, slots=True)
class Cap:
    day: int | None = None  # messages per local calendar day; None: no cap
    week: int | None = None  # per local ISO week (Monday to Sunday)


def _caps() -> Mapping[str, Cap]:
    return MappingProxyType(
        {"push": Cap(day=2, week=6), "sms": Cap(day=1, week=3), "email": Cap(day=1, week=4)}
    )


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    quiet_start_min: int | None = 22 * 60  # minutes after local midnight; None: no quiet hours
    quiet_end_min: int = 8 * 60
    caps: Mapping[str, Cap] = field(default_factory=_caps)
    min_gap_ms: int = HOUR_MS  # between two messages to one user on one channel
    dedupe_ms: int = 30 * DAY_MS  # a sent trigger_id is remembered this long


@dataclass(frozen=True, slots=True)
class WinBackConfig:
    """Channel and offer follow the user's value, as marketing teams do it."""

    vip_segments: tuple[str, ...] = (
        "champion",
        "loyal",
        "big_spender",
    )  # rfm_segment values; + high_value
    vip_channels: tuple[str, ...] = ("sms", "push")
    vip_offer: str = "gift"
    regular_channels: tuple[str, ...] = ("push", "sms", "email")
    regular_offer: str = "coupon"


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    poll_ms: int = 100  # longest sleep between looks at the due index
    batch: int = 500  # triggers claimed per round
    lease_ms: int = 30_000  # a claimed trigger not acknowledged by then is due again
    overdue_ms: int = 5_000  # due longer ago than this and still pending: overdue (metric)


@dataclass(frozen=True, slots=True)
class TriggerConfig:
    enabled: bool = True
    kinds: Mapping[str, KindConfig] = field(default_factory=_kinds)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    win_back: WinBackConfig = field(default_factory=WinBackConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    cost: Mapping[str, float] = field(
        default_factory=lambda: MappingProxyType({"push": 0.0, "sms": 0.05, "email": 0.001})
    )
    recall_window_ms: int = DAY_MS  # a win-back recalls a user who comes back within this
    topics: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType(
            {"push": "triggers.push", "sms": "triggers.sms", "email": "triggers.email"}
        )
    )

    def kind(self, name: str) -> KindConfig:
        return self.kinds.get(name) or KindConfig(enabled=False)
