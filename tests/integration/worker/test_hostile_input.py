"""A storm of hostile messages through a live worker: every one in the DLQ with its reason, the
worker alive, the valid events mixed in applied exactly once."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import orjson
import pytest

from profiles.events import MAX_TEXT, REJECT_REASONS, Rejected
from profiles.model import ProfileModel
from profiles.wire import decode
from streams.names import TOPIC_DLQ
from streams.settings.tree import Settings
from tests.integration.helpers import (
    DAY,
    T0,
    applied_total,
    ev,
    expected_states,
    load_states,
    metric,
    produce,
    profile_view,
    read_topic,
    running_worker,
    traffic,
    wait_for_count,
    wait_until,
)

pytestmark = pytest.mark.integration

Record = tuple[bytes | None, bytes | None]  # key, value
HOSTILE = 2_400
BIG = 100_000
# The largest value aiokafka's default producer sends (max_request_size 1 MiB) with a short key:
# it fits the events topic, but its dead letter carries headers on top.
NEAR_MAX = 1_048_400
KEYS: list[bytes | None] = [None, b"", b"\xff\xfe\xfd", b"\xc3\x28", b"k\x00ey", b"u" * 10_000]
LITERALS = [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400", b"9" * 5000]
FIELDS = [
    ("event_id",), ("type",), ("user_id",), ("ts",), ("properties",), ("context",),
    ("properties", "price"), ("properties", "quantity"), ("properties", "revenue"),
    ("properties", "item_id"), ("properties", "products"), ("properties", "category"),
    ("context", "device"), ("context", "timezone"), ("traits",), ("traits", "birth_year"),
    ("traits", "gender"),
]  # fmt: skip
WRONG: list[Any] = [0, -1, 1.5, True, None, [], [1, {"a": 2}], {}, {"x": "y"}, "", "x{y}", 2**63]


def hostile(rng: random.Random, namespace: str) -> list[Record]:
    """At least HOSTILE messages the decoder refuses, of every kind, with odd keys."""
    makers = [garbage, not_an_object, invalid_utf8, truncated, nested, big_string, nul,
              non_finite, wrong_type, missing, segment]  # fmt: skip
    out: list[Record] = []
    while len(out) < HOSTILE:
        value = rng.choice(makers)(rng, base(rng, namespace))
        if refused(value):
            out.append((rng.choice(KEYS), value))
    tombstones: list[Record] = [(b"\xff" + bytes([i]), None) for i in range(20)]
    return [*out, *tombstones, (b"k", b"{" * NEAR_MAX)]


def base(rng: random.Random, namespace: str) -> dict[str, Any]:
    """A valid event of a user no valid event names (a hostile one must never apply)."""
    event = ev(rng.choice(["view", "purchase", "identify"]), f"{namespace}x{rng.randrange(9)}",
               T0 - rng.randrange(DAY), item_id=f"i{rng.randrange(9)}", price=12.5)  # fmt: skip
    if event["type"] == "identify":
        event["traits"] = {"city": "Lyon", "birth_year": 1990}
    if rng.random() < 0.3:  # Segment's envelope
        event = {
            "messageId": event.pop("event_id"), "userId": event.pop("user_id"),
            "timestamp": "2023-11-14T12:00:00Z", "type": "track", "event": "Order Completed",
            "properties": {"product_id": 7}, "context": {"device": {"type": "ios"}},
        }  # fmt: skip
    return event


def refused(value: bytes) -> bool:
    try:
        decode(value)
    except Rejected:
        return True
    return False


def dumps(event: dict[str, Any], path: tuple[str, ...], raw: bytes) -> bytes:
    """The event with the JSON text ``raw`` at ``path``."""
    marker = "@@hostile@@"
    node = event
    for name in path[:-1]:
        node[name] = node[name] if isinstance(node.get(name), dict) else {}
        node = node[name]
    node[path[-1]] = marker
    return orjson.dumps(event).replace(f'"{marker}"'.encode(), raw)


def garbage(rng: random.Random, event: dict[str, Any]) -> bytes:
    return rng.randbytes(rng.randint(0, 200))


def not_an_object(rng: random.Random, event: dict[str, Any]) -> bytes:
    return orjson.dumps(rng.choice([[event], [], "event", 42, None, True]))  # [event]: a batch


def invalid_utf8(rng: random.Random, event: dict[str, Any]) -> bytes:
    raw = orjson.dumps(event)
    at = rng.randrange(len(raw))
    return raw[:at] + rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\\ud800"]) + raw[at:]


def truncated(rng: random.Random, event: dict[str, Any]) -> bytes:
    raw = orjson.dumps(event)
    return raw[: rng.randrange(len(raw))]


def nested(rng: random.Random, event: dict[str, Any]) -> bytes:
    depth = rng.choice([1025, 2000, 50_000])
    deep = b"[" * depth + b"]" * depth
    return deep if rng.random() < 0.3 else dumps(event, rng.choice(FIELDS), deep)


def big_string(rng: random.Random, event: dict[str, Any]) -> bytes:
    text = rng.choice(["x", "{", "\n", "é"]) * BIG
    return dumps(event, rng.choice(FIELDS), orjson.dumps(text))


def nul(rng: random.Random, event: dict[str, Any]) -> bytes:
    raw = orjson.dumps(event)
    at = rng.randrange(len(raw))
    return raw[:at] + b"\x00" + raw[at:]


def non_finite(rng: random.Random, event: dict[str, Any]) -> bytes:
    return dumps(event, rng.choice(FIELDS), rng.choice(LITERALS))


def wrong_type(rng: random.Random, event: dict[str, Any]) -> bytes:
    return dumps(event, rng.choice(FIELDS), orjson.dumps(rng.choice(WRONG)))


def missing(rng: random.Random, event: dict[str, Any]) -> bytes:
    for name in rng.sample(sorted(event), rng.randint(1, 3)):
        del event[name]
    return orjson.dumps(event)


def segment(rng: random.Random, event: dict[str, Any]) -> bytes:
    event["type"] = "track"
    event["event"] = rng.choice(["Order completed", "", 7, None, "page"])
    return orjson.dumps(event)


def reason_of(value: bytes | None) -> str:
    if value is None:
        return "invalid_json"  # a tombstone
    try:
        decode(value)
    except Rejected as exc:
        return exc.reason
    raise AssertionError("a hostile message decoded")


def as_dead_letter(value: bytes | None) -> bytes:
    return b"" if value is None or len(value) == NEAR_MAX else value


def mixed(valid: list[dict[str, Any]], bad: list[Record], rng: random.Random) -> list[Any]:
    """Both lists interleaved at random, each in its own order."""
    n = len(valid) + len(bad)
    slots = set(rng.sample(range(n), len(bad)))
    bad_iter, valid_iter = iter(bad), iter(valid)
    return [next(bad_iter) if i in slots else next(valid_iter) for i in range(n)]


async def test_a_storm_of_hostile_messages_lands_in_the_dlq_and_spares_the_valid_events(
    settings: Settings, namespace: str
) -> None:
    rng = random.Random(10)
    valid = traffic(namespace, users=25, n=400)
    valid += [  # valid, however odd: the longest query, a NUL in a category, an unknown zone
        ev("search", f"{namespace}u1", T0, query="q" * MAX_TEXT),
        ev("view", f"{namespace}u2", T0, item_id="i\x00", category="a\x00b"),
        {**ev("view", f"{namespace}u3", T0), "context": {"timezone": "Europe"}},
    ]
    bad = hostile(rng, namespace)
    # a tombstone's letter has an empty value; one too large to send whole has none either
    expected = Counter((as_dead_letter(value), reason_of(value)) for _, value in bad)
    users = sorted({e["user_id"] for e in valid})
    async with running_worker(settings) as registry:
        await produce(settings, mixed(valid, bad, rng))

        async def stormed() -> bool:
            rejected = metric(registry, "portrait_events_total", type="unknown", outcome="rejected")
            return rejected >= len(bad) and await applied_total(settings, users) >= len(valid)

        await wait_until(stormed, within=60, what="every message rejected or applied")
        after = ev("purchase", users[0], T0 + 1, revenue=5.0)
        before = sum(1 for e in valid if e["user_id"] == users[0] and e["type"] == "purchase")
        await produce(settings, [after])
        await wait_for_count(settings, users[0], "purchase", before + 1, what="an event after")
        counted = {r: metric(registry, "portrait_dlq_total", reason=r) for r in REJECT_REASONS}
    letters = await read_topic(settings, TOPIC_DLQ, len(bad))
    got = Counter((value, headers["portrait.dlq.reason"].decode()) for value, headers in letters)
    assert got == expected, "every hostile message in the DLQ once, with its reason"
    by_reason = Counter(reason for _, reason in got.elements())
    assert counted == {r: by_reason[r] for r in REJECT_REASONS}
    assert set(by_reason) == set(REJECT_REASONS), f"the storm covers every reason: {by_reason}"
    for _, headers in letters:
        detail = headers["portrait.dlq.detail"].decode()
        assert detail and "\n" not in detail and len(detail) <= 300
    [dropped] = [h for _, h in letters if "portrait.dlq.dropped" in h]
    assert dropped["portrait.dlq.dropped"] == f"{NEAR_MAX + 1} bytes of key and value".encode()
    assert int(dropped["portrait.dlq.offset"]) >= 0, "where the original still is"

    model = ProfileModel()
    states = await load_states(settings, users)
    truth = expected_states([*valid, after], model)
    as_of = T0 + DAY
    wrong = [
        u for u in users
        if profile_view(model, u, states[u], as_of) != profile_view(model, u, truth[u], as_of)
    ]  # fmt: skip
    assert wrong == [], f"{len(wrong)} of {len(users)} valid users differ, e.g. {wrong[:3]}"
