"""The campaign planner: select a campaign's users, find each one's send time, schedule it.

A list audience loads the listed users' profiles; a condition audience SCANs every profile in
chunks and evaluates the condition on its tags as of now. Each selected user gets one
``Schedule`` of a trigger whose id depends only on (user, campaign), written through
:class:`TriggerStore` in chunks: planning the same campaign again replaces the pending triggers
(``updated``) and leaves the ones already sent alone (``already_sent``). docs/campaigns.md.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Final

from redis.asyncio import Redis

from profiles.aggregators import Tags
from profiles.codec import CorruptState, decode
from profiles.model import ProfileModel, State
from profiles.timeutil import HOUR_MS, hour_of_week
from streams.campaigns.report import CampaignMetrics, PlanProgress, PlanSummary
from streams.names import (
    PROFILE,
    TOPIC_CAMPAIGNS,
    TOPIC_CAMPAIGNS_DLQ,
    user_id_from_key,
)
from streams.store.profiles import ProfileStore
from streams.store.triggers import TriggerStore
from triggers.audience import tag_reader
from triggers.campaign import KIND, Campaign, CampaignError
from triggers.clock import QuietHours
from triggers.config import TriggerConfig
from triggers.model import Op, Schedule
from triggers.slots import PopulationPeaks, send_time

CAMPAIGN_TOPICS: Final = (TOPIC_CAMPAIGNS, TOPIC_CAMPAIGNS_DLQ)
_STORE_OUTCOMES = {"scheduled": "scheduled", "updated": "updated", "sent": "already_sent"}


@dataclass(frozen=True, slots=True)
class _Run:
    """What planning one campaign needs at each user."""

    campaign: Campaign
    read: Callable[[State, int], Tags]  # the tags the condition and the slot need
    now_ms: int
    window: tuple[int, int]
    quiet: QuietHours | None
    summary: PlanSummary


class CampaignPlanner:
    """Plans campaigns against one Redis; reusable across campaigns (the population's peak
    hours are sampled once per ``population_ttl_s``)."""

    def __init__(
        self,
        redis: Redis,
        model: ProfileModel,
        config: TriggerConfig,
        *,
        metrics: CampaignMetrics | None = None,
        progress: bool = False,
        user_prefix: str = "",  # only users whose id starts so (tests, shared Redis)
        namespace: str = "",  # topics.prefix: the deployment's keys (streams.names.Keys)
        chunk: int = 1000,
        sample_size: int = 10_000,
        population_ttl_s: float = 3600.0,
    ) -> None:
        self.redis = redis
        self.model = model
        self.config = config
        self.metrics = metrics or CampaignMetrics()
        self.progress = progress
        self.profiles = ProfileStore(redis, namespace, chunk)
        self.triggers = TriggerStore(redis, namespace)
        self.pattern = self.profiles.keys.user_pattern(PROFILE, _glob_escape(user_prefix) + "*")
        self.chunk = chunk
        self.sample_size = sample_size
        self.population_ttl_s = population_ttl_s
        self._population: tuple[tuple[int, ...], float] | None = None

    async def plan(self, campaign: Campaign, now_ms: int, *, dry_run: bool = False) -> PlanSummary:
        """Schedule the campaign's users; :class:`CampaignError` if it cannot be planned."""
        if not (self.config.enabled and self.config.kind(KIND).enabled):
            raise CampaignError("disabled", "campaign triggers are disabled (triggers.kinds)")
        start, end = campaign.window.resolve(now_ms)
        started = time.perf_counter()
        summary = PlanSummary(campaign.campaign_id, start, end, dry_run)
        policy = self.config.policy
        run = _Run(
            campaign,
            tag_reader(self.model, campaign.where.tags if campaign.where else ()),
            now_ms,
            (start, end),
            QuietHours.of(policy.quiet_start_min, policy.quiet_end_min),
            summary,
        )
        shown = PlanProgress(f"campaign {campaign.campaign_id}", enabled=self.progress)
        async for chunk in self._audience(campaign):
            before_outcomes, before_pop = summary.outcomes.copy(), summary.population.copy()
            ops: list[Op] = []
            for user_id, blob in chunk:
                summary.considered += 1
                op = await self._one(run, user_id, blob)
                if op is not None:
                    ops.append(op)
            if dry_run:
                summary.outcomes["planned"] += len(ops)
            else:
                for (_kind, outcome), n in (await self.triggers.apply(ops)).items():
                    summary.outcomes[_STORE_OUTCOMES.get(outcome, outcome)] += n
            self.metrics.on_users(
                summary.outcomes - before_outcomes, summary.population - before_pop
            )
            shown.update(summary.considered, summary.matched, summary.scheduled)
        summary.seconds = time.perf_counter() - started
        shown.update(summary.considered, summary.matched, summary.scheduled, final=True)
        self.metrics.on_planned(summary.seconds)
        return summary

    async def _one(self, run: _Run, user_id: str, blob: bytes | None) -> Schedule | None:
        campaign, now_ms, window, summary = run.campaign, run.now_ms, run.window, run.summary
        if blob is None:  # a listed user without a profile
            peaks: Sequence[int] = ()
            zone = self.model.config.default_timezone
            reason = "missing_profile"
        else:
            state = self._decode(blob)
            if state is None:
                summary.outcomes["unreadable"] += 1
                return None
            tags = run.read(state, now_ms)
            if campaign.where is not None and not campaign.where(tags):
                summary.outcomes["not_matched"] += 1
                return None
            peaks, zone, reason = _hours(tags["peak_hours"]), str(tags["timezone"]), "no_history"
        summary.matched += 1
        if not peaks:
            summary.population_peaks = await self.population_peaks(now_ms)
        due = send_time(peaks, zone, *window, run.quiet, summary.population_peaks or ())
        if due is None:
            summary.outcomes["no_slot"] += 1
            return None
        if not peaks:
            summary.population[reason] += 1
        summary.by_local_hour[hour_of_week(due, zone) % 24] += 1
        summary.by_due_hour[due - due % HOUR_MS] += 1
        return Schedule(campaign.trigger(user_id, due, window[1], now_ms, self.config))

    def _decode(self, blob: bytes) -> State | None:
        try:
            return decode(blob)  # not model.decode: the change log's tags are not needed here
        except CorruptState:
            return None

    async def _audience(self, campaign: Campaign) -> AsyncIterator[list[tuple[str, bytes | None]]]:
        """The audience's users in chunks, with their stored state (None: no profile)."""
        if campaign.users is not None:
            for at in range(0, len(campaign.users), self.chunk):
                ids = campaign.users[at : at + self.chunk]
                raw = await self.profiles.load_raw(ids)
                yield [(u, raw.get(u)) for u in ids]
            return
        async for part in self._scan(self.chunk):
            if part:
                yield part

    async def _scan(self, chunk: int) -> AsyncGenerator[list[tuple[str, bytes | None]], None]:
        """Every stored profile (SCAN may repeat a key; scheduling it twice is harmless)."""
        ids: list[str] = []
        async for key in self.redis.scan_iter(match=self.pattern, count=chunk):
            ids.append(user_id_from_key(key.decode() if isinstance(key, bytes) else key))
            if len(ids) >= chunk:
                raw = await self.profiles.load_raw(ids)
                yield [(u, raw[u]) for u in ids if u in raw]  # deleted meanwhile: skipped
                ids = []
        if ids:
            raw = await self.profiles.load_raw(ids)
            yield [(u, raw[u]) for u in ids if u in raw]

    async def population_peaks(self, now_ms: int) -> tuple[int, ...]:
        """The population's peak hours of day, from up to ``sample_size`` profiles."""
        cached = self._population
        if cached is not None and time.monotonic() - cached[1] < self.population_ttl_s:
            return cached[0]
        population = PopulationPeaks()
        seen = 0
        async with aclosing(self._scan(min(self.chunk, self.sample_size))) as parts:
            async for part in parts:
                for _user, blob in part:
                    state = self._decode(blob) if blob is not None else None
                    if state is not None:
                        population.add(self.model.active_hours(state, now_ms))
                seen += len(part)
                if seen >= self.sample_size:
                    break
        peaks = population.peaks()
        self._population = (peaks, time.monotonic())
        return peaks


def _hours(value: object) -> list[int]:
    return [h for h in value if isinstance(h, int)] if isinstance(value, list) else []


def _glob_escape(text: str) -> str:
    """``text`` matched literally by a Redis glob pattern."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
