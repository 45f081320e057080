"""The ``triggers:`` section of the YAML configuration -> :class:`triggers.config.TriggerConfig`.

Keys left out keep the defaults of :mod:`triggers.config` (each kind has its own). Durations are
written like ``45s``, ``30m`` or ``24h``; quiet hours as ``{start: "22:00", end: "08:00"}`` or
``null``; caps per channel as ``{day: 2, week: 6}`` (``null``: no cap). docs/triggers.md lists
every key with its default.
"""

from __future__ import annotations

import dataclasses
from types import MappingProxyType
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from streams.settings.base import ConfigError, Section, decode
from streams.settings.values import Clock, Duration
from triggers.config import (
    CHANNELS,
    DAY_MS,
    Cap,
    KindConfig,
    PolicyConfig,
    RecallConfig,
    SchedulerConfig,
    TriggerConfig,
    WinBackConfig,
)
from triggers.experiments import Experiment, ExperimentError, parse_experiments

if TYPE_CHECKING:
    Channel = str
else:
    Channel = Literal[CHANNELS]

Channels = Channel | Annotated[list[Channel], msgspec.Meta(min_length=1)]
Name = Annotated[str, msgspec.Meta(min_length=1)]
Count = Annotated[int, msgspec.Meta(ge=0)]
Cost = Annotated[float, msgspec.Meta(ge=0)]


def _set(section: Section) -> dict[str, Any]:
    return {k: v for k, v in msgspec.structs.asdict(section).items() if v is not UNSET}


class KindSection(Section):
    enabled: bool | UnsetType = UNSET
    delay: Duration | UnsetType = UNSET  # after the moment that makes the trigger
    ttl: Duration | UnsetType = UNSET  # after its due time it is dropped as expired
    priority: int | UnsetType = UNSET  # higher wins a slot several triggers compete for
    channels: Channels | UnsetType = UNSET  # preference order; a capped channel falls through
    at_active_hour: bool | UnsetType = UNSET  # defer to the user's next peak hour (within ttl)

    def to_config(self, base: KindConfig) -> KindConfig:
        values = _set(self)
        for key in ("delay", "ttl"):
            if key in values:
                values[f"{key}_ms"] = int(values.pop(key))
        if "channels" in values:
            values["channels"] = _tuple(values["channels"])
        values = {k: v for k, v in values.items() if k in KindConfig.__dataclass_fields__}
        return dataclasses.replace(base, **values)


class WinBackSection(KindSection):
    """A kind whose channel and offer follow the user's value."""

    vip_segments: Name | list[Name] | UnsetType = UNSET  # rfm_segment values (+ high_value)
    vip_channels: Channels | UnsetType = UNSET
    vip_offer: Name | UnsetType = UNSET
    regular_channels: Channels | UnsetType = UNSET
    regular_offer: Name | UnsetType = UNSET

    def win_back(self) -> WinBackConfig:
        values: dict[str, Any] = {}
        for key, value in _set(self).items():
            if key in WinBackConfig.__dataclass_fields__:
                values[key] = value if key.endswith("_offer") else _tuple(value)
        return WinBackConfig(**values)


class QuietHours(Section):
    start: Clock
    end: Clock


class CapSection(Section):
    day: Count | UnsetType | None = UNSET  # per local calendar day; null: no cap
    week: Count | UnsetType | None = UNSET  # per local ISO week; null: no cap


class CapsSection(Section):
    push: CapSection | UnsetType = UNSET
    sms: CapSection | UnsetType = UNSET
    email: CapSection | UnsetType = UNSET


class PolicySection(Section):
    quiet_hours: QuietHours | UnsetType | None = UNSET  # user's local time; null: none
    caps: CapsSection | UnsetType = UNSET
    min_gap: Duration | UnsetType = UNSET  # between two messages to one user on one channel
    dedupe: Duration | UnsetType = UNSET  # a sent trigger_id is remembered this long

    def to_config(self) -> PolicyConfig:
        base = PolicyConfig()
        values: dict[str, Any] = {f"{k}_ms": int(v) for k, v in _set(self).items() if
                                  k in ("min_gap", "dedupe")}  # fmt: skip
        if self.quiet_hours is None:
            values["quiet_start_min"] = None
        elif self.quiet_hours is not UNSET:
            values["quiet_start_min"] = int(self.quiet_hours.start)
            values["quiet_end_min"] = int(self.quiet_hours.end)
        if not isinstance(self.caps, UnsetType):
            caps = dict(base.caps)
            for channel, cap in _set(self.caps).items():
                caps[channel] = dataclasses.replace(caps.get(channel) or Cap(), **_set(cap))
            values["caps"] = MappingProxyType(caps)
        return dataclasses.replace(base, **values)


class SchedulerSection(Section):
    poll: Duration | UnsetType = UNSET  # longest sleep between looks at the due index
    batch: Annotated[int, msgspec.Meta(ge=1)] | UnsetType = UNSET  # triggers claimed per round
    lease: Duration | UnsetType = UNSET  # a claimed trigger not finished by then is due again
    overdue: Duration | UnsetType = UNSET  # pending and due longer ago: overdue (metric)

    def to_config(self) -> SchedulerConfig:
        return SchedulerConfig(**{k if k == "batch" else f"{k}_ms": int(v)
                                  for k, v in _set(self).items()})  # fmt: skip


class CostSection(Section):
    push: Cost | UnsetType = UNSET
    sms: Cost | UnsetType = UNSET
    email: Cost | UnsetType = UNSET


class TopicNames(Section):
    push: Name | UnsetType = UNSET
    sms: Name | UnsetType = UNSET
    email: Name | UnsetType = UNSET


class VariantSection(Section):
    """An experiment arm that receives the trigger (triggers/experiments.py)."""

    name: Name
    weight: float
    channel: Channel | UnsetType = UNSET  # the arm's one channel (no fall-through)
    copy: Name | UnsetType = UNSET  # a template or copy key, in the message's payload
    send_time: Literal["now", "active_hour", "fixed_hour"] | UnsetType = UNSET
    hour: int | UnsetType = UNSET  # local hour 0..23, with send_time fixed_hour


class ExperimentSection(Section, kw_only=True):
    """Variants of trigger kinds or campaigns against a holdout (docs/experiments.md)."""

    name: Name
    kinds: Name | list[Name] | UnsetType = UNSET
    campaigns: Name | list[Name] | UnsetType = UNSET
    holdout: float  # 0 .. 0.5 of the users receive nothing
    variants: Annotated[list[VariantSection], msgspec.Meta(min_length=1)]
    metric: Literal["converted", "recalled"] | UnsetType = UNSET
    mde: float | UnsetType = UNSET  # smallest absolute uplift worth detecting (0.02)
    alpha: float | UnsetType = UNSET  # two-sided, over all variants (0.05)
    power: float | UnsetType = UNSET  # (0.8)
    horizon: int | UnsetType = UNSET  # users per arm to decide at (else from mde and power)
    window_days: int | UnsetType = UNSET  # outcome days after the exposure day (7)

    def raw(self) -> dict[str, Any]:
        values = _set(self)
        values["variants"] = [_set(v) for v in self.variants]
        return values


class RecallSection(Section):
    """Which messages recall, and how recalled users are judged later (docs/recall.md)."""

    kinds: Name | list[Name] | UnsetType = UNSET  # trigger kinds (win_back)
    campaigns: Name | list[Name] | UnsetType = UNSET  # campaign id patterns (fnmatch)
    follow_up: Duration | UnsetType = UNSET  # judged lost again over this span (30d)
    lost_after: Duration | UnsetType = UNSET  # ...when its last this-long is silent (14d)
    retention: Duration | UnsetType = UNSET  # records and the ledger kept this long (90d)

    def to_config(self, window_ms: int) -> RecallConfig:
        values: dict[str, Any] = {}
        for key, value in _set(self).items():
            if key in ("kinds", "campaigns"):
                values[key] = _tuple(value)
            else:
                values[f"{key}_ms"] = int(value)
        if "kinds" in values:
            values["kinds"] = frozenset(values["kinds"])
        for key in ("follow_up", "lost_after"):  # judged on the profile's UTC day counts
            span = values.get(f"{key}_ms", DAY_MS)
            if span < DAY_MS or span % DAY_MS:
                raise ConfigError(f"triggers.recall.{key}: a whole number of days, at least 1d")
        config = RecallConfig(**values)
        if config.lost_after_ms > config.follow_up_ms:
            raise ConfigError("triggers.recall: lost_after must not exceed follow_up")
        least = window_ms + config.follow_up_ms + 7 * DAY_MS
        if "retention_ms" not in values:  # the default stretches to a long recall_window
            return dataclasses.replace(config, retention_ms=max(config.retention_ms, least))
        if config.retention_ms < least:
            raise ConfigError(
                f"triggers.recall: retention must cover recall_window + follow_up + 7d"
                f" ({least // DAY_MS} days)"
            )
        return config


class TriggersSection(Section):
    enabled: bool | UnsetType = UNSET  # false: the worker schedules nothing
    recall_window: Duration | UnsetType = UNSET  # a win-back recalls a user back within this
    cost: CostSection | UnsetType = UNSET  # per message, for portrait_trigger_cost_total
    topics: TopicNames | UnsetType = UNSET
    policy: PolicySection | UnsetType = UNSET
    scheduler: SchedulerSection | UnsetType = UNSET
    cart_reminder: KindSection | UnsetType = UNSET
    win_back: WinBackSection | UnsetType = UNSET
    repeated_search: KindSection | UnsetType = UNSET
    first_purchase: KindSection | UnsetType = UNSET
    high_value_welcome: KindSection | UnsetType = UNSET
    campaign: KindSection | UnsetType = UNSET
    experiments: list[ExperimentSection] | UnsetType = UNSET
    recall: RecallSection | UnsetType = UNSET

    def to_config(self) -> TriggerConfig:
        base = TriggerConfig()
        values: dict[str, Any] = {}
        kinds = dict(base.kinds)
        for key, value in _set(self).items():
            if isinstance(value, KindSection):
                kinds[key] = value.to_config(kinds[key])
            if isinstance(value, WinBackSection):
                values["win_back"] = value.win_back()
            elif isinstance(value, PolicySection | SchedulerSection):
                values[key] = value.to_config()
            elif isinstance(value, CostSection | TopicNames):
                values[key] = MappingProxyType({**getattr(base, key), **_set(value)})
            elif key == "recall_window":
                values["recall_window_ms"] = int(value)
            elif key == "enabled":
                values[key] = value
            elif key == "experiments":
                values[key] = _experiments(value)
        window = values.get("recall_window_ms", base.recall_window_ms)
        section = self.recall if isinstance(self.recall, RecallSection) else RecallSection()
        values["recall"] = section.to_config(window)
        return dataclasses.replace(base, kinds=MappingProxyType(kinds), **values)


def _experiments(sections: list[ExperimentSection]) -> tuple[Experiment, ...]:
    try:
        return parse_experiments([e.raw() for e in sections], "triggers.experiments")
    except ExperimentError as exc:
        raise ConfigError(str(exc)) from None


def _tuple(value: str | list[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def trigger_config(raw: object) -> TriggerConfig:
    """The ``triggers:`` section alone (tools and tests that hold just that mapping)."""
    return decode({} if raw is None else raw, TriggersSection, "triggers").to_config()
