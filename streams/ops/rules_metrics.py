"""Metrics of the business rules' upkeep (streams/pipeline/rules_upkeep.py): what the rules
version is, how often they were reloaded or refused, how many users time alone re-evaluated,
how far a re-evaluation pass has come, and how many ``profile.changes`` were published."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Info

from streams.pipeline.rules_upkeep import UpkeepStats


class RulesMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = r = registry if registry is not None else CollectorRegistry()
        self.version = Info("portrait_rules", "The business rules in use", registry=r)
        self.reloads = Counter(
            "portrait_rules_reloads_total",
            "Rules reloads (result: applied, or refused for an error in the file)",
            ["result"],
            registry=r,
        )
        self.due = Counter(
            "portrait_rules_due_users_total",
            "Users re-evaluated because time alone could flip a rule",
            registry=r,
        )
        self.rescored = Counter(
            "portrait_rules_rescored_users_total",
            "Profiles looked at by a re-evaluation pass after a rules change",
            registry=r,
        )
        self.scanning = Gauge(
            "portrait_rules_reevaluation_running",
            "1 while a re-evaluation pass over the stored profiles is running",
            registry=r,
        )
        self.published = Counter(
            "portrait_profile_changes_published_total",
            "profile.changes messages published from the outbox",
            registry=r,
        )
        for result in ("applied", "refused"):
            self.reloads.labels(result=result)

    def on_rules(self, version: str, tags: int, segments: int, source: str) -> None:
        self.version.info(
            {"version": version, "tags": str(tags), "segments": str(segments), "source": source}
        )

    def on_upkeep(self, stats: UpkeepStats, scanning: bool) -> None:
        if stats.reloads:
            self.reloads.labels(result="applied").inc(stats.reloads)
        if stats.reload_errors:
            self.reloads.labels(result="refused").inc(stats.reload_errors)
        self.due.inc(stats.due_users)
        self.rescored.inc(stats.rescored_users)
        self.scanning.set(int(scanning))

    def on_published(self, count: int) -> None:
        """Messages the publisher sent since the last call (batches and upkeep alike)."""
        self.published.inc(count)
