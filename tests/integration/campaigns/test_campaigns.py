"""Campaigns against a real broker and Redis: each user at their own peak hour, in their zone.

Profiles are built by the pure model and written with the store (as the worker writes them);
every planner here scans only this test's users (``user_prefix``), and every trigger it makes
is cancelled at the end so that no other test's scheduler ever claims one.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from profiles.events import from_dict
from profiles.model import ProfileModel
from streams.app.campaign_cli import plan_request, send_request
from streams.campaigns.service import run_campaigns
from streams.names import TOPIC_CAMPAIGNS, TOPIC_CAMPAIGNS_DLQ, Keys, parse_due_member
from streams.pipeline.dlq import HEADER_PREFIX
from streams.settings.tree import Settings
from streams.store.profiles import ProfileStore, Write
from streams.store.triggers import TriggerStore
from tests.integration.app.test_cli import service_env
from tests.integration.helpers import ev, metric, read_topic, wait_until
from triggers.model import Cancel

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]


def at(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


NOW = at("2024-03-05T10:00:00Z")  # a Tuesday; New York is on EST until 2024-03-10
# user -> (zone or None, UTC time of day of their activity, days, a purchase?)
PEOPLE: dict[str, tuple[str | None, str, list[str], bool]] = {
    "sh": ("Asia/Shanghai", "12:10", ["02", "03", "04"], True),  # 20:10 in Shanghai
    "ny": ("America/New_York", "14:10", ["02", "03", "04"], True),  # 09:10 EST
    "utc": (None, "16:10", ["03", "04"], True),
    "dormant": ("Asia/Shanghai", "12:10", ["-01-20", "-01-21"], False),  # 20:10, long ago
}
CONDITION = {"lifecycle": ["new", "active"], "high_value": False}


def events(user: str, zone: str | None, clock: str, days: list[str], buys: bool) -> list[Any]:
    out = []
    for i, day in enumerate(days):
        date = f"2024{day}" if day.startswith("-") else f"2024-03-{day}"
        kind = "purchase" if buys and i == 0 else "view"
        raw = ev(kind, user, at(f"{date}T{clock}:00Z"), item_id="i1", price=20.0)
        if zone is not None:
            raw["context"] = {"timezone": zone}
        out.append(raw)
    return out


@pytest.fixture
async def people(settings: Settings, namespace: str) -> AsyncIterator[dict[str, str]]:
    """This test's users with profiles (plus ``nohist``: registered, no activity yet)."""
    model = ProfileModel(settings.model)
    ids = {name: namespace + name for name in [*PEOPLE, "nohist", "missing"]}
    writes = []
    for name, (zone, clock, days, buys) in PEOPLE.items():
        state = model.initial()
        for raw in events(ids[name], zone, clock, days, buys):
            model.apply_event(state, from_dict(raw))
        model.settle(state)
        writes.append(Write(ids[name], "seed", 0, model.encode(state)))
    state = model.initial()
    register = ev("register", ids["nohist"], at("2024-03-04T03:00:00Z"))
    register["context"] = {"timezone": "Asia/Shanghai"}
    model.apply_event(state, from_dict(register))
    model.settle(state)
    writes.append(Write(ids["nohist"], "seed", 0, model.encode(state)))
    redis = Redis.from_url(settings.redis_url)
    try:
        assert await ProfileStore(redis, settings.topics.prefix).write(writes) == []
        yield ids
        store = TriggerStore(redis, settings.topics.prefix)
        for user in ids.values():  # leave nothing for another test's scheduler to claim
            slots = await store.pending(user)
            await store.apply([Cancel(user, slot, "test") for slot in slots])
    finally:
        await redis.aclose()


async def due_slots(settings: Settings, users: list[str]) -> dict[tuple[str, str], int]:
    """``{(slot, user): due}`` of these users in the namespace's due index."""
    redis = Redis.from_url(settings.redis_url)
    try:
        rows = await redis.zrange(Keys(settings.topics.prefix).due, 0, -1, withscores=True)
    finally:
        await redis.aclose()
    entries = {parse_due_member(m.decode()): int(d) for m, d in rows}
    return {k: v for k, v in entries.items() if k[1] in users}


async def pending_due(settings: Settings, users: dict[str, str]) -> dict[str, int]:
    redis = Redis.from_url(settings.redis_url)
    try:
        store = TriggerStore(redis, settings.topics.prefix)
        indexed = await due_slots(settings, list(users.values()))
        out = {}
        for name, user in users.items():
            for trigger in (await store.pending(user)).values():
                # in the due index the worker's scheduler reads, at the same time
                assert indexed[(trigger.slot, user)] == trigger.due_at
                out[name] = trigger.due_at
        return out
    finally:
        await redis.aclose()


def campaign(campaign_id: str, audience: dict[str, Any], hours: float = 24) -> bytes:
    return orjson.dumps(
        {
            "campaign_id": campaign_id,
            "message": {"title": "Spring sale", "deeplink": "app://sale"},
            "audience": audience,
            "window": {"hours": hours},
        }
    )


async def test_a_condition_campaign_schedules_each_user_at_their_own_peak_hour(
    settings: Settings, namespace: str, people: dict[str, str]
) -> None:
    registry = CollectorRegistry()
    raw = campaign("spring", {"where": CONDITION})
    summary = await plan_request(
        settings, raw, now_ms=NOW, user_prefix=namespace, registry=registry
    )

    # population: two users at 20:00 local, one at 09:00, one at 16:00
    expected = {
        "sh": at("2024-03-05T12:00:00Z"),  # 20:00 in Shanghai
        "ny": at("2024-03-05T14:00:00Z"),  # 09:00 EST
        "utc": at("2024-03-05T16:00:00Z"),
        "nohist": at("2024-03-05T12:00:00Z"),  # the population's peak, 20:00 in its zone
    }
    assert await pending_due(settings, people) == expected  # "dormant" got nothing
    assert summary.population_peaks == (20, 9, 16)
    assert (summary.considered, summary.matched) == (5, 4)
    assert summary.outcomes == {"scheduled": 4, "not_matched": 1}
    assert summary.population == {"no_history": 1}
    assert summary.by_local_hour == {20: 2, 9: 1, 16: 1}
    assert metric(registry, "portrait_campaign_users_total", outcome="scheduled") == 4
    assert metric(registry, "portrait_campaign_users_total", outcome="not_matched") == 1
    assert metric(registry, "portrait_campaigns_total", outcome="planned") == 1

    # replanning an hour later: the same triggers, replaced in place, at the same hours
    redis = Redis.from_url(settings.redis_url)
    try:
        before = await TriggerStore(redis, settings.topics.prefix).pending(people["sh"])
        again = await plan_request(settings, raw, now_ms=NOW + 3_600_000, user_prefix=namespace)
        after = await TriggerStore(redis, settings.topics.prefix).pending(people["sh"])
    finally:
        await redis.aclose()
    assert again.outcomes == {"updated": 4, "not_matched": 1}
    assert await pending_due(settings, people) == expected
    assert [t.trigger_id for t in after.values()] == [t.trigger_id for t in before.values()]
    (trigger,) = after.values()
    assert trigger.campaign_id == "spring" and trigger.kind == "campaign"
    message = {"title": "Spring sale", "deeplink": "app://sale"}
    assert trigger.payload == {**message, "campaign_id": "spring"}
    assert trigger.expires_at == NOW + 3_600_000 + 24 * 3_600_000


async def test_the_campaigns_topic_plans_requests_and_dead_letters_malformed_ones(
    settings: Settings, namespace: str, people: dict[str, str]
) -> None:
    registry = CollectorRegistry()
    stop = asyncio.Event()
    task = asyncio.ensure_future(
        run_campaigns(
            settings, registry=registry, stop=stop, clock=lambda: NOW, user_prefix=namespace
        )
    )
    try:
        users = [people["ny"], people["missing"]]
        await send_request(settings, campaign("list", {"users": users}, hours=12))
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
        await producer.start()
        try:  # what --send refuses to send, another producer may still write
            topic = settings.topic(TOPIC_CAMPAIGNS)
            await producer.send_and_wait(topic, b'{"campaign_id": "bad id"}')
            await producer.send_and_wait(topic, b"not json")
        finally:
            await producer.stop()

        async def planned() -> bool:
            return metric(registry, "portrait_campaigns_total", outcome="rejected") == 2

        await wait_until(planned, within=60, what="the consumer to handle the requests")
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)

    due = await pending_due(settings, {k: people[k] for k in ("ny", "missing", "sh")})
    # ny at 09:00 EST; "missing" has no profile: the population's peak (20:00) in UTC;
    # sh was not listed
    assert due == {"ny": at("2024-03-05T14:00:00Z"), "missing": at("2024-03-05T20:00:00Z")}
    assert metric(registry, "portrait_campaigns_total", outcome="planned") == 1
    assert metric(registry, "portrait_campaign_users_total", outcome="scheduled") == 2
    fallback = "portrait_campaign_population_peak_users_total"
    assert metric(registry, fallback, reason="missing_profile") == 1
    assert metric(registry, "portrait_campaign_rejected_total", reason="bad_campaign_id") == 1
    assert metric(registry, "portrait_campaign_rejected_total", reason="not_json") == 1

    letters = await read_topic(settings, TOPIC_CAMPAIGNS_DLQ, 2)
    assert [value for value, _ in letters] == [b'{"campaign_id": "bad id"}', b"not json"]
    reasons = [headers[HEADER_PREFIX + "reason"] for _, headers in letters]
    assert reasons == [b"bad_campaign_id", b"not_json"]


def test_the_campaign_command_plans_a_dry_run_and_rejects_bad_files(
    settings: Settings, people: dict[str, str], tmp_path: Path
) -> None:
    env = {**os.environ, **service_env(settings)}  # its topics.prefix names the keys
    request = tmp_path / "campaign.json"
    request.write_bytes(campaign("dry", {"users": [people["sh"], people["utc"]]}))
    command = [sys.executable, "-m", "streams.app.cli", "campaign", "--quiet", "--now"]
    done = subprocess.run(
        [*command, "2024-03-05T10:00:00Z", "--dry-run", str(request)],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = orjson.loads(done.stdout)
    assert summary["outcomes"] == {"planned": 2} and summary["dry_run"] is True
    assert summary["by_due_hour"] == {"2024-03-05T12:00:00.000Z": 1, "2024-03-05T16:00:00.000Z": 1}
    assert asyncio.run(pending_due(settings, people)) == {}  # a dry run schedules nothing

    request.write_text('{"campaign_id": "x", "audience": {"where": {"vip": true}}}')
    done = subprocess.run(
        [*command, "2024-03-05T10:00:00Z", str(request)],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "unknown tag 'vip'" in done.stderr and done.stdout == ""
