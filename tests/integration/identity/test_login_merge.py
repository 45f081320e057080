"""A shopper browses and fills a cart anonymously, then logs in (docs/identity.md): a real
broker, Redis (one, then a three-master cluster), worker and scheduler.

One profile holds all of it and equals the oracle (the pure model over the log re-keyed to the
user), anonymous events still arriving after the merge are forwarded to it, one cart reminder
goes out (to the user, not the anonymous id), the merge is on ``profile.changes`` and the graph
explains it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client import CollectorRegistry

from profiles.identity import Identifier
from profiles.model import ProfileModel
from streams.connect.clients import redis_client
from streams.settings.tree import Settings
from streams.store.identity import IdentityStore
from tests.conftest import with_worker
from tests.integration.api.live import live_api
from tests.integration.app.test_cli import portrait, service_env
from tests.integration.helpers import (
    expected_states,
    load_states,
    metric,
    produce,
    profile_view,
    running_worker,
    wait_until,
)
from tests.integration.privacy.test_erase import (  # the carted rule, noon and a minute
    MIN,
    NOON,
    RULES,
    erase_reached,
    keys_of,
    privacy,
)
from tests.integration.triggers.trigger_helpers import (
    Clock,
    clocked_scheduler,
    clocked_worker,
    pending,
    read_messages,
    wait_pending,
    with_triggers,
)
from tests.integration.worker.test_segments import Changes, members, with_rules


@pytest.fixture(params=["one Redis", "Redis Cluster"])
def settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """Each test on one Redis, then on a three-master Redis Cluster (docs/cluster.md)."""
    if request.param == "one Redis":
        return settings
    nodes = request.getfixturevalue("cluster_nodes")
    return dataclasses.replace(settings, redis_url=f"redis+cluster://127.0.0.1:{nodes[0].port}")


def anon_event(etype: str, anon: str, ts: int, n: int, **props: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"event_id": f"{anon}-{n}", "type": etype, "anonymous_id": anon}
    event["ts"] = ts
    if props:
        event["properties"] = props
    return event


def record(event: dict[str, Any]) -> tuple[bytes, bytes]:
    """Keyed as a producer keys it: by the user id, else by the anonymous id."""
    key = event.get("user_id") or event["anonymous_id"]
    return str(key).encode(), orjson.dumps(event)


def as_user(event: dict[str, Any], user: str) -> dict[str, Any]:
    """The event as if it had carried the user id from the start (the oracle's log)."""
    out = {k: v for k, v in event.items() if k != "anonymous_id"}
    return {**out, "user_id": user}


async def identity(settings: Settings, ident: Identifier) -> dict[str, Any] | None:
    redis = redis_client(settings)
    try:
        return await IdentityStore(redis, settings.topics.prefix).show(ident)
    finally:
        await redis.aclose()


async def test_anonymous_cart_then_login_is_one_person_with_one_reminder(
    settings: Settings, namespace: str, tmp_path: Path
) -> None:
    settings = with_triggers(settings, {"policy": {"quiet_hours": None}})
    settings = with_rules(settings, tmp_path / "rules.yaml", RULES)
    anon, user = namespace + "visitor", namespace + "alice"
    profile = "anon:" + anon
    before = [
        anon_event("view", anon, NOON - 20 * MIN, 1, item_id="i1", category="shoes"),
        anon_event("add_to_cart", anon, NOON - 10 * MIN, 2, item_id="i1", price=30.0),
        anon_event("search", anon, NOON - 9 * MIN, 3, query="red shoes"),
    ]
    login = {"event_id": f"{user}-login", "type": "login", "user_id": user,
             "anonymous_id": anon, "ts": NOON}  # fmt: skip
    after = [anon_event("view", anon, NOON + 5 * MIN, 4, item_id="i2", category="shoes")]
    clock, registry = Clock(NOON), CollectorRegistry()
    model = ProfileModel(settings.model)
    async with Changes(settings) as changes:
        async with clocked_worker(settings, clock, registry):
            await produce(settings, [record(e) for e in before])
            await wait_pending(settings, profile, "cart_reminder")
            await produce(settings, [record(login)])
            await wait_pending(settings, user, "cart_reminder")
            await produce(settings, [record(e) for e in after])

            async def forwarded() -> bool:
                states = await load_states(settings, [user])
                return user in states and states[user].counters["t"][0] == 2

            await wait_until(forwarded, what="the anonymous view after the login reached alice")
            await changes.until(
                lambda seen: any(m.get("change") == "merged" for m in seen), what="the merge"
            )
        steps = "portrait_identity_steps_total"
        assert metric(registry, steps, action="merge", reason="") == 1
        assert metric(registry, "portrait_identity_forwarded_total") == 1
        states = await load_states(settings, [user, profile])
        assert profile not in states  # the anonymous profile is gone: merged
        oracle = expected_states([as_user(e, user) for e in [*before, login, *after]], model)
        as_of = NOON + 6 * MIN
        assert profile_view(model, user, states[user], as_of) == profile_view(
            model, user, oracle[user], as_of
        )
        assert states[user].absorbed == [profile]
        assert await pending(settings, profile) == {}  # the anonymous reminder went with it
        [merged] = [m for m in changes.seen if m.get("change") == "merged"]
        assert (merged["from"], merged["into"], merged["rule"]) == (profile, user, "anonymous_id")
        assert await members(settings, "carted") == {user}
    shown = await identity(settings, Identifier("anonymous_id", anon))
    assert shown is not None and shown["canonical_id"] == user
    assert {i["identifier"] for i in shown["identifiers"]} == {
        f"user_id:{user}",
        f"anonymous_id:{anon}",
    }
    env = service_env(settings)
    cli = portrait("identity", "show", f"anonymous_id:{anon}", env=env)
    assert cli.returncode == 0, cli.stderr
    assert orjson.loads(cli.stdout) == shown
    gone = portrait("profile", "get", profile, env=env)
    assert gone.returncode == 1 and gone.stdout == ""
    assert gone.stderr.strip() == (
        f"portrait profile get: {profile!r} was merged into {user!r}: read that profile"
    )
    async with (
        live_api(settings) as api,
        httpx.AsyncClient(base_url=api.url, headers=api.auth("read"), timeout=10) as http,
    ):
        merged_reply = await http.get(f"/v1/profiles/{profile}")
        person = await http.get(f"/v1/profiles/{user}")
    assert merged_reply.status_code == 404
    assert merged_reply.json()["error"]["code"] == "merged"
    assert repr(user) in merged_reply.json()["error"]["message"]
    assert person.status_code == 200 and person.json()["tags"]["views_total"] == 2
    async with clocked_scheduler(settings, clock, registry) as scheduler:
        clock.now = NOON + 60 * MIN
        assert await scheduler.run_once() == 1
    sent = await read_messages(settings, expect=1)
    assert [m["user_id"] for m in sent] == [user]


async def test_erasing_the_user_erases_the_whole_person(settings: Settings, namespace: str) -> None:
    """GDPR erase of the known user takes the anonymous profile merged into it, and the graph
    forgets the person: no key names either id, and the ids link again from nothing."""
    settings = with_worker(settings, erase_tombstone_s=1.0)
    anon, user = namespace + "visitor", namespace + "bob"
    profile = "anon:" + anon
    events = [
        anon_event("add_to_cart", anon, NOON - 10 * MIN, 1, item_id="i1", price=30.0),
        {"event_id": f"{user}-login", "type": "login", "user_id": user,
         "anonymous_id": anon, "ts": NOON},
    ]  # fmt: skip
    async with running_worker(settings):
        await produce(settings, [record(events[0])])
        await wait_until(lambda: _has_profile(settings, profile), what="the anonymous profile")
        await produce(settings, [record(events[1])])
        await wait_until(lambda: _merged(settings, user, profile), what="the merge")
        async with privacy(settings) as service:
            erased = await service.erase(user, suppress=False, actor="test")
        await erase_reached(settings, user)
        await erase_reached(settings, profile)
    assert erased.found and erased.linked == [profile]
    assert await identity(settings, Identifier("anonymous_id", anon)) is None
    await asyncio.sleep(1.5)  # the tombstones' lifetime
    assert await keys_of(settings, user) == []
    assert await keys_of(settings, profile) == []
    for ident in (f"anonymous_id:{anon}", f"user_id:{user}"):
        assert await keys_of(settings, ident) == []


async def _has_profile(settings: Settings, profile: str) -> bool:
    return profile in await load_states(settings, [profile])


async def _merged(settings: Settings, user: str, profile: str) -> bool:
    states = await load_states(settings, [user])
    return user in states and states[user].absorbed == [profile]
