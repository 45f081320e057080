"""Identity with two workers in one group and a SIGKILL mid-stream (docs/identity.md, "Events
after the merge, and the races").

Each shopper browses and carts under an anonymous id (its own partition), logs in (the user's
partition, likely another owner's), and keeps sending anonymous events after the login. One
worker is killed while merges and forwards are under way and started again. Every user's
profile equals the oracle (the pure model over the log re-keyed to the user): nothing lost,
nothing counted twice; no anonymous profile is left, and none keeps a pending reminder.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest

from profiles.model import ProfileModel
from streams.settings.tree import Settings
from tests.integration.helpers import (
    DAY,
    T0,
    expected_states,
    load_states,
    produce,
    profile_view,
    wait_until,
)
from tests.integration.identity.test_login_merge import anon_event, as_user, record
from tests.integration.processes import WorkerProcess
from tests.integration.triggers.trigger_helpers import pending

pytestmark = pytest.mark.integration
MIN = 60_000


def shoppers(namespace: str, people: int, seed: int = 11) -> list[tuple[str, str, list[Any]]]:
    """Per person: user id, anonymous id, and its events in the order they are sent."""
    rng = random.Random(seed)
    out = []
    for i in range(people):
        user, anon = f"{namespace}u{i}", f"{namespace}a{i}"
        start = T0 - rng.randrange(0, 20) * DAY
        events: list[dict[str, Any]] = []
        for n in range(rng.randrange(4, 12)):  # anonymous browsing, a cart now and then
            kind = rng.choice(["view", "view", "search", "add_to_cart"])
            props = {"item_id": f"i{rng.randrange(20)}", "price": float(rng.randrange(5, 90))}
            events.append(anon_event(kind, anon, start + n * MIN, n, **props))
        login = {"event_id": f"{user}-login", "type": "login", "user_id": user,
                 "anonymous_id": anon, "ts": start + 30 * MIN}  # fmt: skip
        events.append(login)
        for n in range(rng.randrange(1, 6)):  # the app still sends the anonymous id a while
            props = {"item_id": f"i{rng.randrange(20)}", "category": "shoes"}
            events.append(anon_event("view", anon, start + (31 + n) * MIN, 100 + n, **props))
        out.append((user, anon, events))
    return out


def interleaved(people: list[tuple[str, str, list[Any]]], seed: int = 3) -> list[Any]:
    """All events, each person's in its own order, people interleaved at random."""
    rng = random.Random(seed)
    queues = [list(events) for _, _, events in people]
    out = []
    while any(queues):
        queue = rng.choice([q for q in queues if q])
        out.append(queue.pop(0))
    return out


async def test_merges_survive_a_worker_killed_mid_stream(
    settings: Settings, namespace: str, tmp_path: Path
) -> None:
    people = shoppers(namespace, 80)
    log = interleaved(people)
    users = [u for u, _, _ in people]
    anons = ["anon:" + a for _, a, _ in people]
    oracle = expected_states(
        [as_user(e, u) for u, _, events in people for e in events], ProfileModel()
    )
    workers = [WorkerProcess(settings, tmp_path, name=n) for n in ("a", "b")]
    for worker in workers:
        worker.start()
    try:
        half = len(log) // 2
        await produce(settings, [record(e) for e in log[:half]])

        async def merging() -> bool:  # logged-in users have a profile: merges under way
            return len(await load_states(settings, users)) >= 5

        await wait_until(merging, within=120, what="the first merges")
        workers[0].kill()
        sending = asyncio.ensure_future(produce(settings, [record(e) for e in log[half:]]))
        await asyncio.sleep(0.5)
        workers[0].start()
        await sending

        async def complete() -> bool:
            states = await load_states(settings, users)
            return all(
                u in states and sum(states[u].totals) == sum(oracle[u].totals) for u in users
            )

        await wait_until(complete, within=180, what="every person complete")
        await asyncio.sleep(1.0)  # anything applied twice, late, would show now
    finally:
        for worker in workers:
            worker.stop()
    states = await load_states(settings, [*users, *anons])
    assert [a for a in anons if a in states] == []
    model, as_of = ProfileModel(), T0 + DAY
    differ = [
        u
        for u in users
        if profile_view(model, u, states[u], as_of) != profile_view(model, u, oracle[u], as_of)
    ]
    assert differ == [], f"{len(differ)} of {len(users)} differ from the oracle: {differ[:3]}"
    # the anonymous history came either handed over (already stored when the login merged)
    # or forwarded (still on its way): never both, never neither
    assert all(states[u].absorbed in ([], ["anon:" + a]) for u, a, _ in people)
    handed = sum(1 for u in users if states[u].absorbed)
    assert 0 < handed < len(users), f"both paths must be exercised: {handed} handed over"
    for profile in anons:
        assert await pending(settings, profile) == {}
