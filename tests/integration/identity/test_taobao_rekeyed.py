"""The Taobao by-user log with each user's first day re-keyed to an anonymous id and a login at
its end, replayed through a worker via Kafka, gives every user the profile the original log
gives (with the same logins): 815 users compared (docs/identity.md)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from profiles.timeutil import DAY_MS
from streams.replay.command import replay
from streams.replay.sources import read_messages
from streams.settings.tree import Settings
from tests.integration.helpers import running_worker, wait_until
from tests.integration.replay.test_replay import (
    TAOBAO,
    all_states,
    assert_same_views,
    events_seen,
    fresh_db,
    needs,
    views,
)

pytestmark = pytest.mark.integration


def logs(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The original log with a login per user (at the end of the user's first UTC day), and
    the same with that first day's events keyed by ``anon-<user>`` and the login carrying both
    ids."""
    events = [orjson.loads(m.value) for m in read_messages(path)]
    first_day: dict[str, int] = {}
    last_of_day: dict[str, int] = {}
    for e in events:
        day = e["ts"] // DAY_MS
        if day < first_day.get(e["user_id"], day + 1):
            first_day[e["user_id"]] = day
    for e in events:
        if e["ts"] // DAY_MS == first_day[e["user_id"]]:
            last_of_day[e["user_id"]] = max(last_of_day.get(e["user_id"], 0), e["ts"])
    original, rekeyed = [], []
    for e in events:
        original.append(e)
        user = e["user_id"]
        if e["ts"] // DAY_MS == first_day[user]:
            anon = {k: v for k, v in e.items() if k != "user_id"}
            rekeyed.append({**anon, "anonymous_id": f"anon-{user}"})
        else:
            rekeyed.append(e)
    for user, ts in last_of_day.items():
        login = {"event_id": f"login-{user}", "type": "login", "user_id": user, "ts": ts + 1}
        original.append(login)
        rekeyed.append({**login, "anonymous_id": f"anon-{user}"})
    return original, rekeyed


def jsonl(path: Path, events: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")
    return path


async def through_a_worker(
    settings: Settings, path: Path, done: Callable[[CollectorRegistry], Awaitable[bool]]
) -> CollectorRegistry:
    async with running_worker(settings) as registry:
        await replay(settings, path, via="kafka", progress=False)
        await wait_until(lambda: done(registry), within=240, what="the worker to be done")
    return registry


async def test_first_days_rekeyed_to_anonymous_ids_give_the_original_profiles(
    settings: Settings, tmp_path: Path
) -> None:
    original, rekeyed = logs(needs(TAOBAO))
    users = {e["user_id"] for e in original}
    assert len(users) == 815 and sum(1 for e in rekeyed if "user_id" not in e) == 8_608
    plain_db, identity_db = await fresh_db(settings), await fresh_db(settings)

    async def consumed(registry: CollectorRegistry) -> bool:
        return events_seen(registry) >= len(original)

    await through_a_worker(plain_db, jsonl(tmp_path / "original.jsonl", original), consumed)
    plain = await all_states(plain_db)
    totals = {u: sum(s.totals) for u, s in plain.items()}

    async def complete(registry: CollectorRegistry) -> bool:  # forwards included
        states = await all_states(identity_db)
        return {u: sum(s.totals) for u, s in states.items()} == totals

    registry = await through_a_worker(
        identity_db, jsonl(tmp_path / "rekeyed.jsonl", rekeyed), complete
    )
    assert events_seen(registry) == len(rekeyed)  # forwarded events counted once, where applied
    merged = await all_states(identity_db)
    assert sorted(merged) == sorted(plain) == sorted(users)  # no anonymous profile is left
    as_of = max(e["ts"] for e in original) + DAY_MS
    assert_same_views(views(settings, merged, as_of), views(settings, plain, as_of))
