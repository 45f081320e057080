"""POST /v1/events's pure steps: the body as a batch, each event judged as the worker would,
the reply, and a broker failure that reports no event as accepted."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from aiokafka.errors import KafkaTimeoutError

from profiles.config import ModelConfig
from profiles.model import ProfileModel
from streams.api.auth import Principal
from streams.api.errors import ApiError
from streams.api.routes_events import judge, parse_batch, produce, reply

BOUNDS = ProfileModel(ModelConfig()).config.time_bounds
NOW = 1_750_000_000_000
INGEST = Principal("token:abcd1234", frozenset({"ingest"}))
ADMIN = Principal("token:ffff0000", frozenset({"admin", "read", "ingest"}))


def event(**changes: Any) -> dict[str, Any]:
    base = {"event_id": "e1", "type": "view", "user_id": "u1", "ts": NOW - 1000,
            "properties": {"item_id": "i1"}}  # fmt: skip
    return {**base, **changes}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "the body is not JSON"),
        (b"", "the body is not JSON"),
        (b'{"events": []}', "expected a JSON array of events, got a JSON object"),
        (b'"x"', "got a JSON string"),
        (b"null", "got a JSON null"),
        (b"[]", "expected 1 to 500 events, got 0"),
        (orjson.dumps([{}] * 501), "expected 1 to 500 events, got 501"),
    ],
)
def test_only_an_array_of_1_to_500_is_a_batch(body: bytes, message: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_batch(body)
    assert caught.value.status == 400 and message in caught.value.message


def test_a_valid_event_is_keyed_by_its_user_and_sent_as_written() -> None:
    judged = judge(0, event(), BOUNDS, NOW, INGEST)
    assert judged.reason is None and judged.event_id == "e1" and judged.key == b"u1"
    assert orjson.loads(judged.value) == event()


def test_an_anonymous_event_is_keyed_by_its_anonymous_id() -> None:
    raw = event(user_id=None, anonymous_id="dev-9")
    assert judge(0, raw, BOUNDS, NOW, INGEST).key == b"dev-9"


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        (event(type="teleport"), "unknown_type"),
        (event(ts="yesterday"), "bad_timestamp"),
        (event(ts=NOW + 30 * 86_400_000), "bad_timestamp"),  # ahead of its arrival
        (3, None),
        ([1, 2], None),
        ({}, None),
    ],
)
def test_an_invalid_event_gets_the_workers_reason(item: Any, reason: str | None) -> None:
    judged = judge(4, item, BOUNDS, NOW, INGEST)
    assert judged.index == 4 and judged.reason is not None and judged.detail
    if reason is not None:
        assert judged.reason == reason


def test_tag_events_need_the_admin_scope() -> None:
    tag = event(type="tag", properties={"tag": "vip", "value": True})
    assert judge(0, tag, BOUNDS, NOW, INGEST).reason == "forbidden_type"
    assert judge(0, tag, BOUNDS, NOW, ADMIN).reason in (None, "unknown_tag")


def test_erase_events_are_refused_even_to_admins() -> None:
    erase = event(type="erase", properties={"erase_id": "x1", "suppress": False})
    for who in (INGEST, ADMIN):
        judged = judge(0, erase, BOUNDS, NOW, who)
        assert (judged.reason, judged.value) == ("forbidden_type", b"")
        assert "DELETE /v1/profiles/" in (judged.detail or "")


def test_the_reply_lists_each_event_in_order() -> None:
    judged = [judge(0, event(), BOUNDS, NOW, INGEST), judge(1, 3, BOUNDS, NOW, INGEST)]
    body = reply(judged)
    assert (body["accepted"], body["rejected"]) == (1, 1)
    assert body["results"][0] == {"index": 0, "status": "accepted", "event_id": "e1"}
    assert body["results"][1]["status"] == "rejected" and body["results"][1]["reason"]


class FailingProducer:
    def __init__(self) -> None:
        self.sent = 0

    async def send(self, topic: str, value: bytes, key: bytes) -> asyncio.Future[None]:
        self.sent += 1
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_exception(KafkaTimeoutError())
        return future


async def test_a_broker_failure_is_a_503_for_the_whole_batch() -> None:
    ctx: Any = SimpleNamespace(producer=FailingProducer(), events_topic="events")
    judged = [judge(i, event(event_id=f"e{i}"), BOUNDS, NOW, INGEST) for i in range(3)]
    with pytest.raises(ApiError) as caught:
        await produce(ctx, judged)
    assert caught.value.status == 503 and "none was accepted" in caught.value.message
    assert ctx.producer.sent == 3
