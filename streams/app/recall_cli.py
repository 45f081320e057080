"""``portrait recall report [--since T] [--until T] [--as-of T] [--json]`` (docs/recall.md).

Per channel and per campaign: recall messages sent, click rate, users recalled and their share,
cost and cost per recalled user, and the share of recalled users lost again; overall, the
distinct recalled users with the last-touch attribution that makes the channels add up to it.
The period is of send times (default: the 30 days before ``--until``, itself default now).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from redis.asyncio import Redis

from streams.app.argtypes import moment
from streams.app.read import parse_as_of, report_main
from streams.errors import CommandError
from streams.ops.progress import ProgressLine
from streams.settings.tree import Settings
from triggers.config import DAY_MS

DEFAULT_DAYS = 30


def add_parser(sub: Any) -> None:
    recall = sub.add_parser("recall", help="recall accounting per channel and campaign")
    verbs = recall.add_subparsers(dest="verb", required=True)
    report = verbs.add_parser("report", help="sent, clicks, recalled, cost, re-churn")
    report.add_argument("--since", type=moment, help="messages sent from (default: until - 30d)")
    report.add_argument("--until", type=moment, help="messages sent before (default: now)")
    report.add_argument("--as-of", type=moment, help="recalls and re-churn as of (default: now)")
    report.add_argument("--json", action="store_true", help="the report as JSON")
    report.add_argument("--quiet", action="store_true", help="no progress line")


def recall_main(settings: Settings, args: argparse.Namespace) -> int:
    as_of_ms = parse_as_of(args.as_of)
    until_ms = parse_as_of(args.until) if args.until else as_of_ms
    since_ms = parse_as_of(args.since) if args.since else until_ms - DEFAULT_DAYS * DAY_MS
    if since_ms >= until_ms:
        raise CommandError(f"--since ({args.since}) must be before --until ({args.until or 'now'})")
    line = ProgressLine("portrait recall report", enabled=not args.quiet)

    def progress(phase: str, done: int, total: int) -> None:
        line.status(f"{line.label}: {done:,} of {total:,} {phase}", done=done)

    async def read(redis: Redis) -> dict[str, Any]:
        from streams.feedback.recall_report import read_recall_report

        t, period = settings.triggers, (since_ms, until_ms)
        ns, prices = settings.topics.prefix, dict(t.cost)
        return await read_recall_report(redis, ns, t.recall, prices, period, as_of_ms, progress)

    return report_main(settings, line, read, args.json, _text)


def _text(report: Mapping[str, Any]) -> str:
    from triggers.recall_report import text

    return text(report)
