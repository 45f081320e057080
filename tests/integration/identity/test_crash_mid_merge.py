"""A worker dying between the graph call and the survivor's write (docs/identity.md, "A crash
between the graph call and the survivor's write"): the hand-over waits in Redis, the next owner
re-reads the uncommitted login and folds it in. Real broker, real Redis."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from redis.asyncio import Redis

from profiles.identity import IdentityRules
from profiles.model import ProfileModel
from streams.names import Keys
from streams.pipeline.identity_hook import IdentityHook
from streams.pipeline.processor import BatchProcessor
from streams.pipeline.retry import Backoff, wall_clock_ms
from streams.settings.tree import Settings
from streams.store.identity import IdentityStore
from streams.store.profiles import ProfileStore, Refusals, Write
from tests.integration.helpers import (
    T0,
    expected_states,
    load_states,
    produce,
    profile_view,
    running_worker,
    wait_until,
)
from tests.integration.identity.test_login_merge import anon_event, as_user, record
from tests.integration.worker.test_segment_crashes import Crash, Letters, consumed

pytestmark = pytest.mark.integration
MIN = 60_000


class DiesOnWrite(ProfileStore):
    async def write_all(self, writes: Sequence[Write]) -> Refusals:
        raise Crash


async def test_a_crash_after_the_hand_over_folds_it_in_on_the_next_owner(
    settings: Settings, namespace: str
) -> None:
    anon, user = namespace + "visitor", namespace + "carol"
    profile = "anon:" + anon
    browsing = [
        anon_event("view", anon, T0 - 10 * MIN, 1, item_id="i1", category="shoes"),
        anon_event("add_to_cart", anon, T0 - 5 * MIN, 2, item_id="i1", price=12.5),
    ]
    login = {"event_id": f"{user}-login", "type": "login", "user_id": user,
             "anonymous_id": anon, "ts": T0}  # fmt: skip
    async with running_worker(settings):  # the anonymous profile is stored and committed
        await produce(settings, [record(e) for e in browsing])
        await wait_until(lambda: _stored(settings, profile), what="the anonymous profile")
    await produce(settings, [record(login)])
    redis = Redis.from_url(settings.redis_url)
    prefix = settings.topics.prefix
    try:
        identity = IdentityStore(redis, prefix)
        dying = BatchProcessor(
            ProfileModel(),
            DiesOnWrite(redis, prefix),
            Letters(),
            wall_clock_ms,
            backoff=Backoff(0.01, 0.1),
            should_stop=lambda: False,
            identity=IdentityHook(identity, IdentityRules(), Keys(prefix).changes_outbox),
        )
        with pytest.raises(Crash):  # the graph changed and the state handed over, then death
            await dying.process(await consumed(settings, len(browsing) + 1))
        assert list(await identity.absorbing(user)) == [profile]
        assert profile not in await load_states(settings, [profile])
    finally:
        await redis.aclose()
    async with running_worker(settings):  # the group never committed the login: read again
        await wait_until(lambda: _stored(settings, user), what="the survivor's write")
    states = await load_states(settings, [user, profile])
    assert profile not in states and states[user].absorbed == [profile]
    oracle = expected_states([as_user(e, user) for e in [*browsing, login]], ProfileModel())
    model = ProfileModel()
    assert profile_view(model, user, states[user], T0) == profile_view(
        model, user, oracle[user], T0
    )
    redis = Redis.from_url(settings.redis_url)
    try:
        assert await IdentityStore(redis, prefix).absorbing(user) == {}
    finally:
        await redis.aclose()


async def _stored(settings: Settings, profile: str) -> bool:
    return profile in await load_states(settings, [profile])
