"""The simulated provider's answers (pure part): Responses.answer and replies."""

from __future__ import annotations

from typing import Any

import pytest

from profiles.timeutil import rfc3339
from streams.sim.responder import Responses, replies

SENT_AT = 1_717_156_800_000  # 2024-05-31T12:00:00Z
CHAINS: tuple[list[str], ...] = (
    [],
    ["delivered"],
    ["delivered", "opened"],
    ["delivered", "opened", "clicked"],
    ["delivered", "opened", "clicked", "converted"],
)


def msg(n: int | str, channel: str = "push", copy: Any = None, user: str = "u1") -> dict[str, Any]:
    payload = {} if copy is None else {"copy": copy}
    return {"trigger_id": f"cart_reminder-{n}", "user_id": user, "channel": channel,
            "sent_at": rfc3339(SENT_AT), "payload": payload}  # fmt: skip


RESPONSES = Responses(convert_by_channel={"push": 0.1, "sms": 0.3}, convert_by_copy={"urgent": 0.5})


def test_answers_depend_on_the_trigger_id_and_the_seed_only() -> None:
    messages = [msg(n) for n in range(300)]
    first = [RESPONSES.answer(m) for m in messages]
    again = [Responses(convert_by_channel={"push": 0.1}).answer(m) for m in messages]
    assert first == again  # another instance, same table and seed
    backwards = [RESPONSES.answer(m) for m in reversed(messages)]
    assert first == backwards[::-1]  # the order of asking does not matter
    elsewhere = [RESPONSES.answer(msg(n, user="someone_else")) for n in range(300)]
    assert first == elsewhere
    reseeded = [Responses(convert_by_channel={"push": 0.1}, seed=1).answer(m) for m in messages]
    assert first != reseeded


def test_statuses_are_a_prefix_closed_chain() -> None:
    seen = set()
    for n in range(3000):
        statuses, buys = RESPONSES.answer(msg(n, "sms"))
        assert statuses in CHAINS
        assert buys == ("converted" in statuses)
        seen.add(len(statuses))
    assert seen == {0, 1, 2, 3, 4}


@pytest.mark.parametrize(
    "channel,copy,expected",
    [
        ("push", None, 0.1),
        ("sms", None, 0.3),
        ("email", None, 0.0),  # not listed: never buys
        ("push", "urgent", 0.5),  # the copy wins over the channel
        ("sms", "urgent", 0.5),
        ("sms", "plain", 0.3),  # a copy not listed: by channel
        ("sms", 7, 0.3),  # not a string: by channel
    ],
)
def test_conversion_probability(channel: str, copy: Any, expected: float) -> None:
    assert RESPONSES.convert(msg(1, channel, copy)) == expected


def test_a_certain_copy_buys_over_a_channel_that_never_does() -> None:
    certain = Responses(convert_by_channel={"push": 0.0}, convert_by_copy={"urgent": 1.0},
                        delivered=1.0, opened=0.0, clicked=0.0)  # fmt: skip
    for n in range(50):
        assert certain.answer(msg(n, "push", "urgent")) == (CHAINS[4], True)
        assert certain.answer(msg(n, "push")) == (["delivered"], False)


def test_buyers_are_delivered_times_convert() -> None:
    r = Responses(convert_by_channel={"sms": 0.15}, delivered=0.9, seed=7)
    n = 20_000
    answers = [r.answer(msg(i, "sms")) for i in range(n)]
    buyers = sum(buys for _, buys in answers)
    delivered = sum(bool(statuses) for statuses, _ in answers)
    assert abs(buyers / n - 0.9 * 0.15) < 0.01
    assert abs(delivered / n - 0.9) < 0.01


def test_replies_of_a_buyer_and_of_a_message_never_delivered() -> None:
    buys = Responses(convert_by_channel={"sms": 1.0}, delivered=1.0, buy_after_ms=60_000)
    feedback, purchase = replies(msg("b", "sms"), buys)
    assert [(f["status"], f["at"]) for f in feedback] == [
        (s, SENT_AT + 1000 * (i + 1)) for i, s in enumerate(CHAINS[4])
    ]
    assert {(f["trigger_id"], f["user_id"], f["channel"]) for f in feedback} == {
        ("cart_reminder-b", "u1", "sms")
    }
    assert purchase == {
        "event_id": "resp-cart_reminder-b", "type": "purchase", "user_id": "u1",
        "ts": SENT_AT + 60_000,
        "properties": {"order_id": "o-cart_reminder-b", "price": 20.0},
    }  # fmt: skip
    assert replies(msg("b", "sms"), Responses(delivered=0.0)) == ([], None)
