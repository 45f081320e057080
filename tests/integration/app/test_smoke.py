from __future__ import annotations

import pytest

from profiles.model import ProfileModel
from streams.settings.tree import Settings
from tests.integration.helpers import (
    DAY,
    T0,
    ev,
    load_states,
    produce,
    running_worker,
    wait_for_count,
)

pytestmark = pytest.mark.integration


async def test_events_become_profile(settings: Settings, namespace: str) -> None:
    user = namespace + "alice"
    events = [
        ev("view", user, T0, item_id="i1", category="shoes", price=30.0),
        ev("add_to_cart", user, T0 + 1000, item_id="i1", price=30.0, quantity=2),
        ev("purchase", user, T0 + 2000, item_id="i1", price=30.0, quantity=2, order_id="o1"),
        ev("view", user, T0 - 40 * DAY, item_id="i2"),
    ]
    async with running_worker(settings):
        await produce(settings, events)

        await wait_for_count(settings, user, "view", 2, what="alice's profile")
    state = (await load_states(settings, [user]))[user]
    tags = ProfileModel().tags(state, T0 + 3000)
    assert tags["events_total"] == 4
    assert tags["views_total"] == 2
    assert tags["views_30d"] == 1
    assert tags["purchases_total"] == 1
    assert tags["spend_total"] == 60.0
    assert tags["cart_open_items"] == 0
