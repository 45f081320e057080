"""Generate the Grafana dashboard ``deploy/grafana/dashboards/portrait.json``.

    python deploy/grafana/dashboard.py          # rewrite the JSON
    python deploy/grafana/dashboard.py --check  # exit 1 if the JSON is not what this generates

Plain Python, no dependency: every panel is one PromQL query list, laid out in rows of three
(tests/unit/deploy/test_deploy.py validates the structure;
tests/integration/ops/test_prometheus_proof.py
runs every query against a real Prometheus scraping a real worker). Multi-worker views take
``sum`` (counters, lag) or ``max`` (the census gauges every worker exports alike).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "dashboards" / "portrait.json"
DATASOURCE = {"type": "prometheus", "uid": "portrait-prometheus"}
R = "$__rate_interval"

Query = tuple[str, str]  # PromQL, legend


def rate(metric: str, by: str = "", selector: str = "") -> str:
    group = f" by ({by})" if by else ""
    return f"sum{group} (rate({metric}{selector}[{R}]))"


def quantiles(metric: str, by: str = "", qs: tuple[float, ...] = (0.5, 0.99)) -> list[Query]:
    extra = f", {by}" if by else ""
    legend = f"p{{q}} {{{{{by}}}}}" if by else "p{q}"
    return [
        (
            f"histogram_quantile({q}, sum by (le{extra}) (rate({metric}_bucket[{R}])))",
            legend.format(q=round(q * 100)),
        )
        for q in qs
    ]


def ratio(numerator: str, denominator: str, by: str = "") -> str:
    """Over the last hour, all kinds together (recalls and recall messages are of the recall
    kinds, docs/recall.md; cost comes from every kind)."""
    group = f" by ({by})" if by else ""
    return f"sum{group} (increase({numerator}[1h])) / sum{group} (increase({denominator}[1h]))"


# (row title, [(panel title, unit, [(expr, legend), ...]), ...])
ROWS: list[tuple[str, list[tuple[str, str, list[Query]]]]] = [
    ("Throughput", [
        ("Events by outcome", "ops", [(rate("portrait_events_total", "outcome"), "{{outcome}}")]),
        ("Applied events by type", "ops", [
            (rate("portrait_events_total", "type", '{outcome="applied"}'), "{{type}}")]),
        ("Late (out-of-order) events by type", "ops", [
            (rate("portrait_events_late_total", "type"), "{{type}}")]),
        ("Profile writes", "ops", [(rate("portrait_profile_writes_total"), "writes/s")]),
        ("Batch size", "short", quantiles("portrait_batch_size")),
        ("Batch processing time", "s", quantiles("portrait_batch_duration_seconds")),
        ("Segment changes", "ops", [
            (rate("portrait_segment_changes_total", "segment"), "{{segment}}")]),
    ]),
    ("Freshness and latency", [
        ("Event time → profile written", "s",
         quantiles("portrait_event_to_write_seconds", qs=(0.5, 0.9, 0.99))),
        ("Per-tag freshness p99", "s",
         quantiles("portrait_tag_freshness_seconds", by="tag", qs=(0.99,))),
        ("Event time → written, events/s by bucket", "ops", [
            (rate("portrait_event_to_write_seconds_bucket", "le"), "≤ {{le}} s")]),
    ]),
    ("Consumer lag", [
        ("Lag per partition", "short", [
            ("sum by (topic, partition) (portrait_consumer_lag)", "{{topic}}/{{partition}}")]),
        ("Total lag and its trend", "short", [
            ("sum(portrait_consumer_lag)", "lag"),
            ("sum(deriv(portrait_consumer_lag[5m]))", "records/s gained (+) or caught up (-)")]),
        ("Partitions per worker", "short", [
            ("portrait_assigned_partitions", "{{instance}}")]),
    ]),
    ("Errors and dead letters", [
        ("Dead letters by reason", "ops", [(rate("portrait_dlq_total", "reason"), "{{reason}}")]),
        ("Share of messages to the DLQ", "percentunit", [
            (f"{rate('portrait_dlq_total')} / clamp_min({rate('portrait_batch_size_sum')}, 1)",
             "DLQ share")]),
        ("Fence, keying and commits", "ops", [
            (rate("portrait_fence_refused_total"), "fence refused"),
            (rate("portrait_key_mismatch_total"), "key mismatch"),
            (rate("portrait_commit_failures_total"), "commit failures")]),
    ]),
    ("Triggers and recall", [
        ("Triggers by stage", "ops", [
            (rate("portrait_triggers_scheduled_total"), "scheduled"),
            (rate("portrait_triggers_fired_total"), "fired"),
            (rate("portrait_triggers_cancelled_total"), "cancelled"),
            (rate("portrait_triggers_published_total"), "published")]),
        ("Deferred and suppressed by reason", "ops", [
            (rate("portrait_triggers_deferred_total", "reason"), "deferred: {{reason}}"),
            (rate("portrait_triggers_suppressed_total", "reason"), "suppressed: {{reason}}")]),
        ("Due → published", "s", quantiles("portrait_trigger_due_to_published_seconds")),
        ("Scheduler backlog and overdue", "short", [
            ("max(portrait_trigger_backlog)", "pending"),
            ("max(portrait_trigger_overdue)", "overdue > 5 s")]),
        ("Published by channel", "ops", [
            (rate("portrait_triggers_published_total", "kind, channel"), "{{kind}} {{channel}}")]),
        ("Feedback by status", "ops", [
            (rate("portrait_trigger_feedback_total", "status"), "{{status}}")]),
        ("Recall rate: recalled / recall messages (1 h)", "percentunit", [
            (ratio("portrait_trigger_recalled_total", "portrait_recall_messages_total"), "all"),
            (ratio("portrait_trigger_recalled_total", "portrait_recall_messages_total",
                   "channel"), "{{channel}}")]),
        ("Cost per recalled user (1 h)", "short", [
            (ratio("portrait_trigger_cost_total", "portrait_trigger_recalled_total"), "all"),
            (ratio("portrait_trigger_cost_total", "portrait_trigger_recalled_total", "channel"),
             "{{channel}}")]),
    ]),
    ("Experiments (docs/experiments.md)", [
        ("Users assigned and held out, by arm", "ops", [
            (rate("portrait_experiment_events_total", "experiment, arm, event",
                  '{event=~"assigned|held_out"}'), "{{experiment}} {{arm}} {{event}}")]),
        ("Messages sent by arm", "ops", [
            (rate("portrait_experiment_events_total", "experiment, arm", '{event="sent"}'),
             "{{experiment}} {{arm}}")]),
        ("Click rate by arm: clicked / sent (1 h)", "percentunit", [
            (ratio('portrait_experiment_feedback_total{status="clicked"}',
                   'portrait_experiment_events_total{event="sent"}', "experiment, arm"),
             "{{experiment}} {{arm}}")]),
        ("Feedback by arm and status", "ops", [
            (rate("portrait_experiment_feedback_total", "experiment, arm, status"),
             "{{experiment}} {{arm}} {{status}}")]),
        ("Cost by arm", "short", [
            (rate("portrait_experiment_cost_total", "experiment, arm"), "{{experiment}} {{arm}}")]),
    ]),
    ("Redis", [
        ("Command latency", "s", quantiles("portrait_redis_command_seconds", by="command")),
        ("Commands", "ops", [
            (rate("portrait_redis_command_seconds_count", "command"), "{{command}}")]),
        ("Errors and retries", "ops", [
            (rate("portrait_redis_errors_total", "kind"), "error: {{kind}}"),
            (rate("portrait_redis_retries_total", "op"), "retry: {{op}}")]),
    ]),
    ("Profiles and segments", [
        ("Profiles", "short", [("max(portrait_profiles)", "profiles")]),
        ("Lifecycle", "short", [
            ('max by (value) (portrait_segment_users{segment="lifecycle"})', "{{value}}")]),
        ("Layers", "short", [
            ('max by (segment) (portrait_segment_users{segment=~"high_value|potential|'
             'churn_risk|churn_risk_strong", value="true"})', "{{segment}}")]),
        ("RFM segments", "short", [
            ('max by (value) (portrait_segment_users{segment="rfm_segment"})', "{{value}}")]),
        ("Stored state bytes per profile", "bytes", [
            ("max by (quantile) (portrait_profile_state_bytes)", "q{{quantile}}")]),
        ("Cached profile states", "short", [("sum(portrait_cached_profiles)", "cached")]),
    ]),
    ("Workers", [
        ("Workers consuming", "short", [
            ("sum(portrait_worker_up)", "consuming"),
            ('sum(up{job="portrait-worker"})', "scraped")]),
        ("Rebalances", "short", [
            ("sum(increase(portrait_rebalances_total[1h]))", "assignments in 1 h")]),
        ("Census age", "s", [
            ("time() - max(portrait_census_timestamp_seconds)", "seconds since the census")]),
    ]),
]  # fmt: skip


def panel(pid: int, title: str, unit: str, queries: list[Query], x: int, y: int) -> dict[str, Any]:
    return {
        "id": pid,
        "type": "timeseries",
        "title": title,
        "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": 8, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}},
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": DATASOURCE, "expr": e, "legendFormat": lg}
            for i, (e, lg) in enumerate(queries)
        ],
    }


def dashboard() -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    pid, y = 1, 0
    for title, row in ROWS:
        panels.append({"id": pid, "type": "row", "title": title, "collapsed": False,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})  # fmt: skip
        pid, y = pid + 1, y + 1
        for i, (ptitle, unit, queries) in enumerate(row):
            x = (i % 3) * 8
            if i and x == 0:
                y += 8
            panels.append(panel(pid, ptitle, unit, queries, x, y))
            pid += 1
        y += 8
    return {
        "uid": "portrait-overview",
        "title": "Portrait",
        "description": "Streaming profile engine: throughput, freshness, lag, errors, triggers, "
        "Redis, profiles (docs/operations.md)",
        "tags": ["portrait"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "graphTooltip": 1,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {"list": []},
        "annotations": {"list": []},
        "panels": panels,
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    if "--check" in argv:
        if OUT.read_text(encoding="utf-8") != render():
            print(f"{OUT} is stale: run python deploy/grafana/dashboard.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(render(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
