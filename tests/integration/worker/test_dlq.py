"""Malformed events go to the dead-letter topic with their reason; the worker keeps going."""

from __future__ import annotations

import pytest

from profiles.model import ProfileModel
from streams.names import TOPIC_DLQ
from streams.settings.tree import Settings
from tests.integration.helpers import (
    T0,
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

BAD = {
    b'{"event_id": "x1", "type": "view", "user_id": "u", "ts": ': "invalid_json",
    b"[1, 2, 3]": "not_an_object",
    b'{"type": "view", "user_id": "u", "ts": 1700000000000}': "missing_event_id",
    b'{"event_id": "x2", "type": "teleport", "user_id": "u", "ts": 1700000000000}': "unknown_type",
    b'{"event_id": "x3", "type": "view", "ts": 1700000000000}': "missing_user",
    b'{"event_id": "x4", "type": "view", "user_id": "u", "ts": "yesterday"}': "bad_timestamp",
    b'{"event_id": "x5", "type": "purchase", "user_id": "u", "ts": 1700000000000,'
    b' "properties": {"price": "12.50"}}': "bad_field",
}


async def test_malformed_events_reach_dlq_with_reason_and_worker_keeps_running(
    settings: Settings, namespace: str
) -> None:
    user = namespace + "carol"
    good_before = [ev("view", user, T0), ev("click", user, T0 + 1)]
    good_after = [ev("purchase", user, T0 + 2, revenue=10.0)]
    async with running_worker(settings) as registry:
        await produce(settings, [*good_before, *BAD.keys(), *good_after])

        await wait_for_count(
            settings, user, "purchase", 1, what="the good event after the bad ones"
        )

        async def counted() -> bool:  # the batch's metrics follow its writes and dead letters
            return metric(
                registry, "portrait_events_total", type="unknown", outcome="rejected"
            ) == len(BAD)

        await wait_until(counted, what="the rejected events counted")
        for reason in set(BAD.values()):
            expected = sum(1 for r in BAD.values() if r == reason)
            assert metric(registry, "portrait_dlq_total", reason=reason) == expected, reason
    letters = await read_topic(settings, TOPIC_DLQ, len(BAD))
    assert len(letters) == len(BAD)
    for value, headers in letters:
        assert value in BAD, "the DLQ keeps the original bytes"
        assert headers["portrait.dlq.reason"].decode() == BAD[value]
        assert headers["portrait.dlq.topic"].decode() == settings.topic("events")
        assert int(headers["portrait.dlq.offset"]) >= 0
        assert headers["portrait.dlq.detail"]
    tags = ProfileModel().tags((await load_states(settings, [user]))[user], T0 + 10)
    assert (tags["views_total"], tags["clicks_total"], tags["purchases_total"]) == (1, 1, 1)
