"""Tunables of the behaviour triggers (``triggers:`` in the YAML config; docs/triggers.md).

Pure data: streams/settings/triggers.py reads the YAML section into these objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from types import MappingProxyType
from typing import Final, Literal

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

HOLDOUT: Final = "holdout"  # the experiment arm that receives nothing
SendTime = Literal["now", "active_hour", "fixed_hour"]
Metric = Literal["converted", "recalled"]


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
class Variant:
    """One arm that receives the trigger; a field left None keeps the trigger's own setting."""

    name: str
    weight: float
    channel: str | None = None
    copy: str | None = None  # a template or copy key for the delivery service
    send_time: SendTime | None = None  # now / the user's next active hour / ``hour`` local
    hour: int | None = None  # local hour of day, with send_time fixed_hour only


@dataclass(frozen=True, slots=True)
class Experiment:
    """Variants of the triggers of ``kinds`` and ``campaigns``, measured against a holdout."""

    name: str
    kinds: frozenset[str]
    campaigns: frozenset[str]
    holdout: float  # share of the users who receive nothing
    variants: tuple[Variant, ...]
    metric: Metric = "converted"
    mde: float = 0.02  # smallest absolute uplift worth detecting (2 points)
    alpha: float = 0.05  # two-sided, over all variants (Bonferroni)
    power: float = 0.8
    horizon: int | None = None  # users per arm to decide at; None: from the holdout's rate
    window_days: int = 7  # an outcome counts on the exposure day (after it) and this many more

    def variant(self, name: str) -> Variant | None:
        """The variant called ``name``; None for the holdout or a name it no longer has."""
        return next((v for v in self.variants if v.name == name), None)

    def applies(self, kind: str, campaign: str | None) -> bool:
        """A trigger of ``kind`` (for ``campaign``, when it is one) is in this experiment."""
        return kind in self.kinds or (campaign is not None and campaign in self.campaigns)


@dataclass(frozen=True, slots=True)
class RecallConfig:
    """Which messages are recall messages, and how a recall is judged (docs/recall.md)."""

    kinds: frozenset[str] = frozenset({"win_back"})  # trigger kinds whose messages recall
    campaigns: tuple[str, ...] = ()  # campaign ids (fnmatch patterns) whose messages recall
    follow_up_ms: int = 30 * DAY_MS  # a recalled user is judged lost again over this span
    lost_after_ms: int = 14 * DAY_MS  # ...when its last this-long holds no behaviour event
    retention_ms: int = 90 * DAY_MS  # recall records and the ledger are kept this long

    def watches(self, kind: str, campaign_id: str | None) -> bool:
        """A message of ``kind`` (of campaign ``campaign_id``) is a recall message."""
        if kind in self.kinds:
            return True
        return campaign_id is not None and any(fnmatchcase(campaign_id, p) for p in self.campaigns)


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
    recall: RecallConfig = field(default_factory=RecallConfig)
    topics: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType(
            {"push": "triggers.push", "sms": "triggers.sms", "email": "triggers.email"}
        )
    )

    experiments: tuple[Experiment, ...] = ()  # triggers/experiments.py, docs/experiments.md

    def kind(self, name: str) -> KindConfig:
        return self.kinds.get(name) or KindConfig(enabled=False)
