"""The decision point for one due trigger (pure): still valid? quiet hours? the user's active
hour? which channels, in which order? Caps, the minimum gap and priority between triggers
competing for one user's slot are then reserved atomically by the scheduler
(streams/store/trigger_lua.py),
trying the channels in this order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from profiles.timeutil import DAY_MS
from triggers.clock import in_quiet, minute_of_day, next_local
from triggers.config import HOLDOUT, TriggerConfig, Variant
from triggers.experiments import named
from triggers.model import Trigger
from triggers.rules import cart_payload

ChannelOrder = Callable[[Mapping[str, int], tuple[str, ...]], tuple[str, ...]]


def keep_order(_counts: Mapping[str, int], channels: tuple[str, ...]) -> tuple[str, ...]:
    return channels


# A trigger whose cause the stored profile has not applied yet (its batch is still being
# written, or is re-read by the partition's next owner after a crash) waits this long.
PROFILE_WAIT_MS = 1_000


@dataclass(frozen=True, slots=True)
class UserContext:
    """What the decision needs of the user's profile, as of now."""

    exists: bool
    timezone: str
    peak_hour: int | None  # local hour of day
    segments: Mapping[str, Any]  # ProfileModel.segments(state, now)
    open_items: list[dict[str, Any]]
    last_purchase_at: int | None
    last_seen_at: int | None
    sensitivity: Mapping[str, int] = field(default_factory=dict)
    fences: Mapping[str, int] = field(default_factory=dict)  # the stored profile's, per partition
    orders_today: int = 0  # the profile's orders on the UTC day of ``now`` (an exposure's baseline)
    events_today: int = 0  # ... and behaviour events


@dataclass(frozen=True, slots=True)
class Send:
    trigger: Trigger  # with its payload completed for the template
    channels: tuple[str, ...]  # try in this order; a capped channel falls through


@dataclass(frozen=True, slots=True)
class Defer:
    trigger: Trigger  # carrying its new due time
    reason: str  # quiet_hours, active_hour (min_gap and priority: the scheduler)


@dataclass(frozen=True, slots=True)
class Drop:
    outcome: str  # "cancelled" (no longer true) or "suppressed" (true, but not sent)
    reason: str


Decision = Send | Defer | Drop


class Policy:
    def __init__(self, config: TriggerConfig, order: ChannelOrder = keep_order) -> None:
        self.config = config
        self.policy = config.policy
        self.order = order

    def screen(self, t: Trigger, ctx: UserContext, now: int) -> Drop | Defer | None:
        """Expired, judged too early, or no longer true; None: the trigger holds now. An
        experiment's arm is drawn only for a trigger that holds (its exposure)."""
        if now >= t.expires_at:
            return Drop("suppressed", "expired")
        if t.source is not None and ctx.fences.get(t.source[0], -1) < t.source[1]:
            # written before the profile that holds its cause: judge it once that has landed
            return Defer(t.deferred(now + PROFILE_WAIT_MS), "profile_behind")
        stale = self._stale(t, ctx)
        if stale is not None:
            return Drop("cancelled", stale)
        return None

    def decide(self, t: Trigger, ctx: UserContext, now: int) -> Decision:
        screened = self.screen(t, ctx, now)
        if screened is not None:
            return screened
        if t.arm is not None and t.arm[1] == HOLDOUT:
            return Drop("held_out", t.arm[0])
        if t.at_hour is not None:  # a fixed_hour variant: wait for that local hour
            if minute_of_day(now, ctx.timezone) // 60 != t.at_hour:
                at = next_local(now, ctx.timezone, t.at_hour * 60)
                if at >= t.expires_at:
                    return Drop("suppressed", "expired")
                return Defer(replace(t.deferred(at), at_hour=None), "fixed_hour")
            t = replace(t, at_hour=None)
        if t.at_active_hour and ctx.peak_hour is not None and not self._in_hour(now, ctx):
            at = next_local(now, ctx.timezone, ctx.peak_hour * 60)
            if now < at < t.expires_at and not self.quiet(at, ctx.timezone):
                return Defer(replace(t.deferred(at), at_active_hour=False), "active_hour")
        if self.quiet(now, ctx.timezone):
            at = next_local(now, ctx.timezone, self.policy.quiet_end_min)
            if at >= t.expires_at:
                return Drop("suppressed", "expired")
            return Defer(t.deferred(at), "quiet_hours")
        t, channels = self._finish(t, ctx, now)
        variant = self._variant(t)
        if variant is not None and variant.copy is not None:
            t = replace(t, payload={**t.payload, "copy": variant.copy})
        if variant is not None and variant.channel is not None:
            return Send(t, (variant.channel,))  # the arm's channel alone: no fall-through
        return Send(t, self.order(ctx.sensitivity, channels))

    def _variant(self, t: Trigger) -> Variant | None:
        if t.arm is None:
            return None
        experiment = named(self.config.experiments, t.arm[0])
        if experiment is None:  # ended meanwhile: the trigger goes out as it is
            return None
        return experiment.variant(t.arm[1])

    @staticmethod
    def _in_hour(now: int, ctx: UserContext) -> bool:
        return minute_of_day(now, ctx.timezone) // 60 == ctx.peak_hour

    def quiet(self, at: int, zone: str) -> bool:
        p = self.policy
        return in_quiet(at, zone, p.quiet_start_min, p.quiet_end_min)

    def _stale(self, t: Trigger, ctx: UserContext) -> str | None:
        """Why a trigger no longer holds, judged on the freshest profile."""
        if t.kind == "cart_reminder" and not ctx.open_items:
            return "cart_closed"
        if t.kind == "win_back" and not ctx.segments.get("churn_risk"):
            return "not_churn_risk"
        if t.kind == "repeated_search" and (ctx.last_purchase_at or 0) >= t.created_at:
            return "purchase"
        if t.kind == "high_value_welcome" and not ctx.segments.get("high_value"):
            return "not_high_value"
        return None

    def _finish(self, t: Trigger, ctx: UserContext, now: int) -> tuple[Trigger, tuple[str, ...]]:
        """The payload as of sending, and the channels (win-back: by the user's value)."""
        payload = dict(t.payload)
        channels = t.channels
        if t.kind == "cart_reminder":
            payload.update(cart_payload(ctx.open_items))
        elif t.kind == "win_back":
            w = self.config.win_back
            vip = bool(ctx.segments.get("high_value")) or (
                ctx.segments.get("rfm_segment") in w.vip_segments
            )
            channels = w.vip_channels if vip else w.regular_channels
            payload["vip"] = vip
            payload["offer"] = w.vip_offer if vip else w.regular_offer
            if ctx.last_seen_at is not None:
                payload["days_inactive"] = (now - ctx.last_seen_at) // DAY_MS
                payload["last_seen_at"] = ctx.last_seen_at
            payload["top_category"] = ctx.segments.get("top_category")
        return replace(t, payload=payload), channels
