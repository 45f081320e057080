"""What campaign planning reports: a summary, Prometheus metrics, a progress line on stderr."""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from prometheus_client import CollectorRegistry, Counter, Histogram

from profiles.timeutil import rfc3339
from streams.ops.progress import ProgressLine, count_text

# Seconds to plan one campaign: from a list of ten users to a scan of millions of profiles.
_PLAN_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)


@dataclass(slots=True)
class PlanSummary:
    campaign_id: str
    window_start: int
    window_end: int
    dry_run: bool = False
    considered: int = 0  # profiles scanned, or users listed
    matched: int = 0
    outcomes: Tally[str] = field(default_factory=Tally)
    population: Tally[str] = field(default_factory=Tally)  # missing_profile, no_history
    population_peaks: tuple[int, ...] | None = None  # when someone needed them
    by_local_hour: Tally[int] = field(default_factory=Tally)  # the users' own clocks
    by_due_hour: Tally[int] = field(default_factory=Tally)  # UTC hour starts, epoch ms
    seconds: float = 0.0

    @property
    def scheduled(self) -> int:
        return sum(self.outcomes[k] for k in ("scheduled", "updated", "planned"))

    def as_dict(self) -> dict[str, Any]:
        return {
            "campaign_id": self.campaign_id,
            "window": {"start": rfc3339(self.window_start), "end": rfc3339(self.window_end)},
            "dry_run": self.dry_run,
            "considered": self.considered,
            "matched": self.matched,
            "scheduled": self.scheduled,
            "outcomes": dict(sorted(self.outcomes.items())),
            "population_peak_users": dict(sorted(self.population.items())),
            "population_peaks": list(self.population_peaks or ()),
            "by_local_hour": {str(h): n for h, n in sorted(self.by_local_hour.items())},
            "by_due_hour": {str(rfc3339(t)): n for t, n in sorted(self.by_due_hour.items())},
            "seconds": round(self.seconds, 3),
        }


class CampaignMetrics:
    """Prometheus view of campaign planning (docs/campaigns.md lists the metrics)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.campaigns = Counter(
            "portrait_campaigns_total",
            "Campaign requests by outcome: planned, rejected (malformed), failed (Redis)",
            ["outcome"],
            registry=r,
        )
        self.rejected = Counter(
            "portrait_campaign_rejected_total",
            "Campaign requests rejected (sent to the campaigns DLQ by the consumer), by reason",
            ["reason"],
            registry=r,
        )
        self.users = Counter(
            "portrait_campaign_users_total",
            "Users considered by campaign planning, by outcome: scheduled, updated (replanned), "
            "already_sent, no_slot, not_matched, unreadable, planned (dry run)",
            ["outcome"],
            registry=r,
        )
        self.population = Counter(
            "portrait_campaign_population_peak_users_total",
            "Users scheduled at the population's peak hours, by reason: missing_profile "
            "(listed users without a profile), no_history (no active hours yet)",
            ["reason"],
            registry=r,
        )
        self.seconds = Histogram(
            "portrait_campaign_plan_duration_seconds",
            "Time to plan one campaign (select, slot, schedule)",
            buckets=_PLAN_BUCKETS,
            registry=r,
        )

    def on_users(self, outcomes: Mapping[str, int], population: Mapping[str, int]) -> None:
        for outcome, n in outcomes.items():
            self.users.labels(outcome).inc(n)
        for reason, n in population.items():
            self.population.labels(reason).inc(n)

    def on_planned(self, seconds: float) -> None:
        self.campaigns.labels("planned").inc()
        self.seconds.observe(seconds)

    def on_rejected(self, reason: str) -> None:
        self.campaigns.labels("rejected").inc()
        self.rejected.labels(reason).inc()

    def on_failed(self) -> None:
        self.campaigns.labels("failed").inc()


class PlanProgress:
    """The status line of a campaign being planned (streams/ops/progress.py)."""

    def __init__(
        self,
        label: str,
        *,
        enabled: bool = True,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        log_interval: float = 10.0,
    ) -> None:
        self.line = ProgressLine(
            label, enabled=enabled, stream=stream, clock=clock, log_interval=log_interval
        )

    def update(self, considered: int, matched: int, scheduled: int, *, final: bool = False) -> None:
        line = self.line
        if not line.due(final=final):
            return
        elapsed = line.elapsed()
        line.status(
            f"{line.label}: {count_text(considered)} users  {count_text(matched)} matched  "
            f"{count_text(scheduled)} scheduled  {count_text(line.rate(considered))}/s  "
            f"{elapsed:.1f} s",
            final=final,
            done=considered,
        )
