"""Issue 10's defects 2 and 3 as a new user meets them, against a real broker and Redis: a late
event retried minutes later counts once; honest history of the late 1990s is applied, and a
timestamp in seconds goes to the DLQ with a reason that says so."""

from __future__ import annotations

import time

import orjson
import pytest

from profiles.model import ProfileModel
from streams.names import TOPIC_DLQ
from streams.settings.tree import Settings
from tests.integration.helpers import (
    DAY,
    ev,
    load_states,
    metric,
    produce,
    read_topic,
    running_worker,
    wait_for_count,
    wait_until,
)

pytestmark = pytest.mark.integration


async def test_a_late_event_retried_minutes_later_counts_once(
    settings: Settings, namespace: str
) -> None:
    """A phone flushes a view of three days ago, a view of now follows, and the first is sent
    again (the producer retried): two views, not three."""
    user = namespace + "phone"
    now = int(time.time() * 1000)
    flushed = ev("view", user, now - 3 * DAY, event_id=namespace + "offline-1")
    async with running_worker(settings) as registry:
        await produce(settings, [flushed, ev("view", user, now)])
        await wait_for_count(settings, user, "view", 2, "the first two views")
        await produce(settings, [dict(flushed)])

        async def retry_seen() -> bool:
            return metric(registry, "portrait_events_total", type="view", outcome="duplicate") >= 1

        await wait_until(retry_seen, what="the retry to be consumed")
    state = (await load_states(settings, [user]))[user]
    assert ProfileModel().tags(state, now)["views_total"] == 2


async def test_history_of_the_late_1990s_is_applied_and_seconds_are_dead_lettered(
    settings: Settings, namespace: str
) -> None:
    user = namespace + "y2k"
    march_1998 = 889_000_000_000
    old = [
        ev("view", user, march_1998),
        ev("purchase", user, march_1998 + 60_000, order_id="o-1998", revenue=19.99),
    ]
    in_seconds = ev("view", user, march_1998 // 1000, event_id=namespace + "seconds")
    async with running_worker(settings):
        await produce(settings, [*old, in_seconds])
        await wait_for_count(settings, user, "purchase", 1, "the 1998 purchase")
        letters = await read_topic(settings, TOPIC_DLQ, 1)
    state = (await load_states(settings, [user]))[user]
    tags = ProfileModel().tags(state, march_1998 + DAY)
    assert (tags["views_total"], tags["purchases_total"]) == (1, 1)
    assert tags["first_seen"] == "1998-03-04T08:26:40.000Z"
    value, headers = letters[0]
    assert orjson.loads(value)["event_id"] == namespace + "seconds"
    assert headers["portrait.dlq.reason"] == b"bad_timestamp"
    assert b"looks like seconds" in headers["portrait.dlq.detail"]
