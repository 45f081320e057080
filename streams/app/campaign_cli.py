"""``portrait campaign FILE|-``: plan a campaign here, or ``--send`` it to the campaigns topic."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry

from profiles.model import ProfileModel
from streams.app.read import parse_as_of
from streams.campaigns.planner import CAMPAIGN_TOPICS, CampaignPlanner
from streams.campaigns.report import CampaignMetrics, PlanSummary
from streams.connect.clients import kafka_options, redis_client
from streams.connect.topics import ensure_topics
from streams.errors import started
from streams.names import TOPIC_CAMPAIGNS
from streams.settings.tree import Settings
from triggers.campaign import Campaign, load_campaign


def add_parser(sub: Any) -> None:
    """The ``campaign`` subcommand, on the ``portrait`` parser's subparsers."""
    from streams.app.argtypes import moment

    p = sub.add_parser("campaign", help="schedule a campaign at each user's peak hour")
    p.add_argument("file", help="the request as JSON (docs/campaigns.md); - reads stdin")
    p.add_argument("--send", action="store_true", help="produce it to the campaigns topic instead")
    p.add_argument("--dry-run", action="store_true", help="plan and report, schedule nothing")
    p.add_argument("--now", type=moment, help="plan as of this time (RFC 3339 or epoch ms)")
    p.add_argument("--quiet", action="store_true", help="no progress line")


async def plan_request(
    settings: Settings,
    raw: bytes,
    *,
    now_ms: int,
    dry_run: bool = False,
    progress: bool = False,
    user_prefix: str = "",
    registry: CollectorRegistry | None = None,
) -> PlanSummary:
    """Plan one request against ``settings``' Redis (what ``portrait campaign FILE`` does)."""
    campaign = load_campaign(raw)
    redis = redis_client(settings, socket_connect_timeout=5, socket_timeout=30)
    try:
        planner = CampaignPlanner(
            redis,
            ProfileModel(settings.model),
            settings.triggers,
            metrics=CampaignMetrics(registry),
            namespace=settings.topics.prefix,
            progress=progress,
            user_prefix=user_prefix,
        )
        return await planner.plan(campaign, now_ms, dry_run=dry_run)
    finally:
        await redis.aclose()


async def send_request(settings: Settings, raw: bytes) -> Campaign:
    """Validate the request, then produce it (key: its campaign id) to the campaigns topic."""
    campaign = load_campaign(raw)
    await ensure_topics(
        settings,
        [settings.topic(name) for name in CAMPAIGN_TOPICS],
        partitions=1,
        replication_factor=settings.topics.replication_factor,
    )
    producer = AIOKafkaProducer(**kafka_options(settings), acks="all")
    await started(producer)
    try:
        await producer.send_and_wait(
            settings.topic(TOPIC_CAMPAIGNS), raw, key=campaign.campaign_id.encode()
        )
    finally:
        await producer.stop()
    return campaign


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as f:
        return f.read()


def campaign_main(settings: Settings, args: argparse.Namespace) -> int:
    """``portrait campaign``: 0 when planned or sent; a failure raises (streams.errors)."""
    raw = _read(args.file)
    if args.send:
        campaign = asyncio.run(send_request(settings, raw))
        topic = settings.topic(TOPIC_CAMPAIGNS)
        print(f"portrait: campaign {campaign.campaign_id} sent to {topic}", file=sys.stderr)
        return 0
    now_ms = parse_as_of(args.now)
    summary = asyncio.run(
        plan_request(settings, raw, now_ms=now_ms, dry_run=args.dry_run, progress=not args.quiet)
    )
    sys.stdout.write(orjson.dumps(summary.as_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0
