"""Two workers in one consumer group: partitions move between them and every count stays exact."""

from __future__ import annotations

import pytest

from profiles.model import ProfileModel
from streams.settings.tree import Settings
from tests.integration.helpers import (
    T0,
    applied_total,
    expected_states,
    load_states,
    produce,
    profile_view,
    running_worker,
    traffic,
    wait_until,
)

pytestmark = pytest.mark.integration


async def test_a_second_worker_joining_and_the_first_leaving_keep_counts_exact(
    settings: Settings, namespace: str
) -> None:
    events = traffic(namespace, users=200, n=12_000, seed=11)
    users = sorted({e["user_id"] for e in events})
    third = len(events) // 3
    async with running_worker(settings):
        await produce(settings, events[:third])

        async def first_part() -> bool:
            return await applied_total(settings, users) >= third

        await wait_until(first_part, what="first third applied by worker A")
        async with running_worker(settings) as registry_b:

            async def b_assigned() -> bool:
                return (registry_b.get_sample_value("portrait_assigned_partitions") or 0) > 0

            await wait_until(b_assigned, within=90, what="worker B getting partitions")
            await produce(settings, events[third : 2 * third])

            async def b_took_a_share() -> bool:
                return (registry_b.get_sample_value("portrait_batch_size_sum") or 0) > 0

            await wait_until(b_took_a_share, within=90, what="worker B consuming its partitions")
        # worker B left: A takes every partition back
        await produce(settings, events[2 * third :])

        async def complete() -> bool:
            return await applied_total(settings, users) >= len(events)

        await wait_until(complete, within=120, what="all events applied")
    assert (registry_b.get_sample_value("portrait_rebalances_total") or 0) >= 1
    model = ProfileModel()
    expected = expected_states(events, model)
    states = await load_states(settings, users)
    as_of = T0
    wrong = [
        u
        for u in users
        if profile_view(model, u, states[u], as_of) != profile_view(model, u, expected[u], as_of)
    ]
    for u in wrong[:2]:
        a, b = profile_view(model, u, states[u], as_of), profile_view(model, u, expected[u], as_of)
        print(
            "DIFF",
            u,
            {k: (a["tags"][k], b["tags"][k]) for k in a["tags"] if a["tags"][k] != b["tags"][k]},
            a["cart"] == b["cart"],
        )
    assert wrong == []
    assert await applied_total(settings, users) == len(events)
