"""Hostile input through the decoder: every message is a valid event or a one-line rejection.

Ten generators of malformed messages (garbage bytes, invalid UTF-8, truncated and deeply nested
JSON, 100 KB strings, NUL bytes, NaN and Infinity, wrong types in every field, missing fields,
Segment envelopes with bad contents) feed :func:`profiles.wire.decode`, the worker's
decoder. Each message must decode to an event the model can apply and store, or raise
:class:`Rejected` with a reason of :data:`REJECT_REASONS` and a short one-line detail, exactly as
the reference decoder says; any other exception fails the test. Each generator counts the
distinct messages it sent, and the counts must reach their quotas (>= 10,000 in all).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from profiles import events, wire
from profiles.events import (
    EVENT_TYPES,
    MAX_AMOUNT,
    REJECT_REASONS,
    SEGMENT_NAMES,
    TRAIT_NAMES,
    Event,
    Rejected,
)
from profiles.model import ProfileModel
from streams.pipeline.batch import BatchStats, DeadLetter, reject

MAX_DETAIL = 300
MODEL = ProfileModel()
T_LOW, T_HIGH = 1_600_000_000_000, 1_800_000_000_000  # 2020..2027: inside any sane bounds

# --- valid events, the material the generators break ---------------------------------------

words = st.text(st.characters(codec="utf-8", exclude_characters="{}"), min_size=1, max_size=8)
ids = st.one_of(words.filter(lambda s: not s.startswith("anon:")), st.integers(0, 10**12))
rfc3339 = st.integers(T_LOW // 1000, T_HIGH // 1000).map(
    lambda s: datetime.fromtimestamp(s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
)
properties = st.fixed_dictionaries(
    {},
    optional={
        "item_id": ids, "category": words, "brand": words, "price": st.floats(0, 1e6),
        "quantity": st.integers(1, 50), "order_id": ids, "revenue": st.floats(0, 1e6),
        "query": words, "coupon": words,
        "products": st.lists(st.fixed_dictionaries({"item_id": ids}), max_size=3),
    },
)  # fmt: skip
context = st.fixed_dictionaries(
    {}, optional={"device": words, "os": words, "channel": words, "timezone": words}
)
traits = st.fixed_dictionaries(
    {},
    optional={"gender": words, "birth_year": st.integers(1900, 2100), "city": words,
              "occupation": words, "income_band": words, "marital_status": words},
)  # fmt: skip
native = st.fixed_dictionaries(
    {
        "event_id": st.uuids().map(str),
        "type": st.sampled_from(sorted(EVENT_TYPES)),
        "user_id": ids,
        "ts": st.one_of(st.integers(T_LOW, T_HIGH), rfc3339),
    },
    optional={"properties": properties, "context": context, "traits": traits},
)
segment = st.fixed_dictionaries(
    {
        "messageId": st.uuids().map(str),
        "type": st.just("track"),
        "event": st.sampled_from(sorted(SEGMENT_NAMES)),
        "timestamp": rfc3339,
        "properties": st.fixed_dictionaries(
            {}, optional={"product_id": ids, "price": st.floats(0, 1e3)}
        ),
        "context": st.fixed_dictionaries(
            {}, optional={"device": st.fixed_dictionaries({"type": words, "model": words}),
                          "os": st.fixed_dictionaries({"name": words}), "channel": words},
        ),
    },
    optional={"userId": ids, "anonymousId": ids},
).filter(lambda m: "userId" in m or "anonymousId" in m)  # fmt: skip
valid = st.one_of(native, segment)


# --- raw JSON literals that orjson cannot write: NaN, infinities, integers beyond 64 bits ----


class Literal:
    """A value written as is (not a dataclass: orjson would write those itself)."""

    def __init__(self, text: bytes) -> None:
        self.text = text


LITERALS = [
    b"NaN", b"Infinity", b"-Infinity", b"nan", b"inf", b"1e400", b"-1e400",
    b"1" + b"0" * 30, b"-" + b"9" * 25, b"9" * 5000, b"9" * 400, b"18446744073709551616",
    b"9223372036854775808", b"18446744073709551615", b"-9223372036854775809", b"1E309", b"-0",
]  # fmt: skip


def dumps(message: Any) -> bytes:
    """JSON of ``message`` with its :class:`Literal` values written verbatim."""
    found: list[bytes] = []

    def default(obj: Any) -> str:
        if isinstance(obj, Literal):
            found.append(obj.text)
            return f"@@literal{len(found) - 1}@@"
        raise TypeError(type(obj).__name__)

    raw = orjson.dumps(message, default=default)
    for i, text in enumerate(found):
        raw = raw.replace(f'"@@literal{i}@@"'.encode(), text, 1)
    return raw


# --- where a value can go wrong: every field the contract reads, at every depth -------------

PATHS: list[tuple[str | int, ...]] = [
    ("event_id",), ("messageId",), ("type",), ("event",), ("user_id",), ("userId",),
    ("anonymous_id",), ("anonymousId",), ("ts",), ("timestamp",), ("properties",), ("context",),
    ("traits",), *(("properties", k) for k in ("item_id", "product_id", "category", "brand",
    "price", "quantity", "order_id", "revenue", "query", "coupon", "products")),
    ("properties", "products", 0), ("properties", "products", 0, "item_id"),
    ("properties", "products", 0, "product_id"),
    *(("context", k) for k in ("device", "os", "channel", "timezone")),
    ("context", "device", "type"), ("context", "device", "model"), ("context", "os", "name"),
    *(("traits", k) for k in TRAIT_NAMES),
]  # fmt: skip


def put(message: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """``message`` with ``value`` at ``path`` (made where missing); 0 is a list's first item."""
    head, rest = str(path[0]), path[1:]
    out = dict(message)
    if not rest:
        out[head] = value
    elif rest[0] == 0:
        items = out.get(head)
        first = items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else {}
        out[head] = [put(first, rest[1:], value) if rest[1:] else value]
    else:
        inner = out.get(head)
        out[head] = put(inner if isinstance(inner, dict) else {}, rest, value)
    return out


small_ints = st.integers(-(2**63), 2**64 - 1)
wrong_values = st.one_of(
    small_ints, st.floats(allow_nan=False, allow_infinity=False), st.booleans(), st.none(),
    st.lists(small_ints, max_size=3), st.dictionaries(words, small_ints, max_size=2),
    st.text(max_size=12), st.sampled_from(["", "{x}", "anon:x", "\x00", "yesterday", "12.5"]),
    st.sampled_from(LITERALS).map(Literal), st.just([[[[]]]]), st.just({"a": {"b": None}}),
)  # fmt: skip

BIG = 100_000
BIG_CHARS = ["x", "{", "\x00", "é", "\n", "\ud7ff", "😀", '"', "\\"]

# --- the generators: each example is a batch of messages made from one valid event ----------


@st.composite
def garbage(draw: st.DrawFn) -> list[bytes]:
    rng = draw(st.randoms(use_true_random=False))
    text = "".join(chr(rng.randrange(0x110000)) for _ in range(rng.randint(0, 60)))
    return [
        *(rng.randbytes(rng.randint(0, 300)) for _ in range(8)),
        text.encode("utf-8", "surrogatepass"),
        rng.choice([b"", b" ", b"null", b"true", b"1", b'"x"', b"[]", b"{}", b"\xef\xbb\xbf{}"]),
    ]


INVALID_UTF8 = [
    b"\xff", b"\xfe", b"\xc3\x28", b"\xa0\xa1", b"\xe2\x28\xa1", b"\xf0\x28\x8c\x28",
    b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xc0\xaf", b"\xf8\x88\x80\x80\x80", b"\xf4\x90\x80\x80",
    b"\x80", b"\\ud800", b"\\udc00", b"\\ud800\\u0041",
]  # fmt: skip


@st.composite
def invalid_utf8(draw: st.DrawFn) -> list[bytes]:
    raw = dumps(draw(valid))
    at = draw(st.integers(0, len(raw)))
    return [raw[:at] + bad + raw[at:] for bad in INVALID_UTF8]


@st.composite
def truncated(draw: st.DrawFn) -> list[bytes]:
    raw = dumps(draw(valid))
    rng = draw(st.randoms(use_true_random=False))
    return [raw[:cut] for cut in rng.sample(range(len(raw)), min(len(raw), 30))]


DEPTHS = [500, 1000, 1023, 1024, 1025, 3000, 10_000, 50_000]


@st.composite
def deeply_nested(draw: st.DrawFn) -> list[bytes]:
    message = draw(valid)
    path = draw(st.sampled_from([*PATHS, ("zzz",)]))
    out = []
    for opener, closer in ((b"[", b"]"), (b'{"a":', b"}")):
        for depth in DEPTHS:
            nest = opener * depth + b"1" + closer * depth
            out += [nest, dumps(put(message, path, Literal(nest)))]
    return out


@st.composite
def huge_strings(draw: st.DrawFn) -> list[bytes]:
    message = draw(valid)
    char = draw(st.sampled_from(BIG_CHARS))
    big = char * (BIG // len(char.encode()))
    return [dumps(put(message, path, big)) for path in PATHS]


@st.composite
def nul_bytes(draw: st.DrawFn) -> list[bytes]:
    message = draw(valid)
    raw = dumps(message)
    rng = draw(st.randoms(use_true_random=False))
    inside = [dumps(put(message, rng.choice(PATHS), "a\x00" * rng.randint(1, 3))) for _ in range(5)]
    between = [raw[:at] + b"\x00" + raw[at:] for at in rng.sample(range(len(raw) + 1), 5)]
    return inside + between


@st.composite
def non_finite(draw: st.DrawFn) -> list[bytes]:
    message, path = draw(valid), draw(st.sampled_from(PATHS))
    return [dumps(put(message, path, Literal(text))) for text in LITERALS]


@st.composite
def wrong_types(draw: st.DrawFn) -> list[bytes]:
    message = draw(valid)
    values = draw(st.lists(wrong_values, min_size=len(PATHS), max_size=len(PATHS)))
    return [dumps(put(message, path, value)) for path, value in zip(PATHS, values, strict=True)]


REQUIRED = ("event_id", "messageId", "type", "event", "user_id", "userId", "anonymous_id",
            "anonymousId", "ts", "timestamp")  # fmt: skip


@st.composite
def missing_fields(draw: st.DrawFn) -> list[bytes]:
    message = draw(valid)
    present = [k for k in REQUIRED if k in message]
    gone = [{a} for a in present] + [{a, b} for a in present for b in present if a < b]
    return [dumps({k: v for k, v in message.items() if k not in g}) for g in gone]


SEGMENT_PATHS: list[tuple[str | int, ...]] = [
    ("type",), ("event",), ("messageId",), ("userId",), ("anonymousId",), ("timestamp",),
    ("context", "device"), ("context", "device", "type"), ("context", "device", "model"),
    ("context", "os"), ("context", "os", "name"), ("properties", "product_id"),
    ("properties", "products", 0, "product_id"), ("traits",), ("context",),
]  # fmt: skip
segment_values = st.one_of(
    wrong_values, st.sampled_from(["track", "identify", "Order Completed ", "product viewed"])
)


@st.composite
def bad_segment(draw: st.DrawFn) -> list[bytes]:
    message = draw(segment)
    n = len(SEGMENT_PATHS)
    values = draw(st.lists(segment_values, min_size=n, max_size=n))
    return [dumps(put(message, p, v)) for p, v in zip(SEGMENT_PATHS, values, strict=True)]


@dataclass(frozen=True)
class Generator:
    name: str
    strategy: st.SearchStrategy[list[bytes]]
    examples: int  # hypothesis examples, each a batch of messages
    quota: int  # distinct messages it must have sent


GENERATORS = [
    Generator("garbage bytes", garbage(), 150, 1100),
    Generator("invalid UTF-8", invalid_utf8(), 100, 1250),
    Generator("truncated JSON", truncated(), 100, 1200),
    Generator("deeply nested JSON", deeply_nested(), 60, 450),
    Generator("100 KB strings", huge_strings(), 20, 600),
    Generator("NUL bytes", nul_bytes(), 150, 800),
    Generator("NaN, Infinity, huge numbers", non_finite(), 120, 1200),
    Generator("wrong types", wrong_types(), 160, 1700),
    Generator("missing fields", missing_fields(), 120, 1000),
    Generator("Segment envelopes", bad_segment(), 120, 900),
]


def test_the_generators_send_at_least_10000_messages() -> None:
    assert sum(g.quota for g in GENERATORS) >= 10_000


# --- the verdict on one message ------------------------------------------------------------


def verdict(raw: bytes) -> str:
    """``"event"`` or the rejection reason; fails on anything else the decoder might do."""
    try:
        event = wire.decode(raw)
    except Rejected as exc:
        assert exc.reason in REJECT_REASONS, exc.reason
        assert_one_line(exc.detail)
        assert reference(raw) == exc.reason, "the fast decoder and the reference disagree"
        return exc.reason
    assert_valid(event)
    expected = reference(raw)
    if expected != event:
        assert expected == "invalid_json" and orjson_limit(raw), "the decoders disagree"
    return "event"


def orjson_limit(raw: bytes) -> bool:
    """True where orjson refuses JSON for its own limits (a number beyond a double, nesting past
    1024) in a field the contract ignores, which msgspec skips unread: the one known case where
    the fast decoder accepts what the reference does not (the content is ignored either way)."""
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return str(exc).startswith(("number is infinity", "depth limit exceeded"))
    return False


def reference(raw: bytes) -> Event | str:
    try:
        return events.decode(raw)
    except Rejected as exc:
        assert_one_line(exc.detail)
        return exc.reason


def assert_one_line(detail: str) -> None:
    assert detail, "a rejection says why"
    assert len(detail) <= MAX_DETAIL, f"{len(detail)} characters of detail"
    assert len(detail.splitlines()) == 1 and detail.isprintable(), repr(detail[:80])
    detail.encode()  # a Kafka header: it must be UTF-8


def assert_valid(event: Event) -> None:
    """What the contract promises of a decoded event, and that the model can store it."""
    assert type(event.event_id) is str and event.event_id
    assert event.type in EVENT_TYPES
    assert type(event.user_id) is str and event.user_id and not {"{", "}"} & set(event.user_id)
    assert type(event.ts) is int
    for value in (event.item_id, event.category, event.brand, event.order_id, event.query,
                  event.coupon, event.device, event.os, event.channel, event.timezone):  # fmt: skip
        assert value is None or (type(value) is str and value)
    for amount in (event.price, event.revenue):
        assert amount is None or (type(amount) is float and 0 <= amount <= MAX_AMOUNT)
    assert type(event.quantity) is int and 1 <= event.quantity <= 1_000_000
    assert all(type(i) is str and i for i in event.item_ids)
    for name, value in (event.traits or {}).items():
        assert name in TRAIT_NAMES
        if name == "birth_year":
            assert type(value) is int and 1900 <= value <= 2100
        else:
            assert type(value) is str
    state = MODEL.initial()
    MODEL.apply_event(state, event, 0, 0)
    MODEL.settle(state)
    assert MODEL.decode(MODEL.encode(state)).newest == state.newest


# --- the fuzz ------------------------------------------------------------------------------


def fuzz(generator: Generator, check: Callable[[bytes], str]) -> set[bytes]:
    """Run ``check`` on every message of the generator's batches; the distinct messages seen."""
    seen: set[bytes] = set()

    @settings(
        max_examples=generator.examples,
        deadline=None,
        database=None,
        derandomize=True,  # the same messages every run: the quotas below always hold
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(generator.strategy)
    def run(batch: list[bytes]) -> None:
        for raw in batch:
            check(raw)
            seen.add(raw)

    run()
    return seen


@pytest.mark.parametrize("generator", GENERATORS, ids=lambda g: g.name)
def test_hostile_messages_decode_or_are_rejected_with_a_reason(generator: Generator) -> None:
    outcomes: Counter[str] = Counter()

    def check(raw: bytes) -> str:
        outcome = verdict(raw)
        outcomes[outcome] += 1
        return outcome

    seen = fuzz(generator, check)
    print(f"{generator.name}: {len(seen)} distinct messages, {dict(outcomes)}")
    assert len(seen) >= generator.quota, f"only {len(seen)} distinct messages"
    assert set(outcomes) - {"event"}, "a generator of malformed messages that made none"


# --- one of each, with the reason known -----------------------------------------------------

OK = b'{"event_id":"e","type":"view","user_id":"u","ts":1700000000000}'
IDENTIFY = OK.replace(b'"view"', b'"identify"')[:-1]  # ready for a traits field


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "invalid_json"),
        (OK[:-1] + b',"zz":' + b"[" * 5000 + b"]" * 5000 + b"}", "invalid_json"),
        (OK[:-1] + b',"properties":{"x":' + b'{"a":' * 5000 + b"1" + b"}" * 5001 + b"}",
         "invalid_json"),
        (OK.replace(b'"u"', b"1" + b"0" * 30), "bad_field"),  # orjson: a float, not an id
        (OK.replace(b'"u"', b'"\\ud800"'), "invalid_json"),
        (OK.replace(b'"view"', b'"' + b"x" * BIG + b'"'), "unknown_type"),
        (IDENTIFY + b',"traits":{"city":{"a":1}}}', "bad_field"),
        (IDENTIFY + b',"traits":{"birth_year":' + b"9" * 30 + b"}}", "bad_field"),
        (IDENTIFY + b',"traits":{"gender":' + b"[" * 900
         + b"]" * 900 + b"}}", "bad_field"),
    ],
)  # fmt: skip
def test_known_hostile_messages(raw: bytes, reason: str) -> None:
    assert verdict(raw) == reason


def test_a_ts_of_400_digits_is_refused_in_one_line() -> None:
    """msgspec reads it as an infinite float (not finite: refused), orjson not at all: the
    reference's verdict, invalid JSON, is what both decoders say."""
    assert verdict(OK.replace(b"1700000000000", b"9" * 400)) == "invalid_json"


def test_a_big_unsigned_id_takes_the_reference_path_and_is_kept() -> None:
    raw = OK.replace(b'"u"', b"18446744073709551615")
    assert verdict(raw) == "event"
    assert wire.decode(raw).user_id == "18446744073709551615"


def test_a_tombstone_is_a_dead_letter_with_a_reason() -> None:
    """A record with no value never reaches the model: the processor names it ``invalid_json``."""

    @dataclass(frozen=True)
    class Tombstone:
        topic: str = "events"
        partition: int = 0
        offset: int = 7
        key: bytes | None = b"\xff\xfe"
        value: bytes | None = None

    try:
        wire.decode(None)  # type: ignore[arg-type]
    except Exception as exc:
        error: Exception = exc
    else:
        raise AssertionError("a tombstone decoded")
    letters: list[DeadLetter] = []
    stats = BatchStats()
    reject(Tombstone(), error, letters, stats)
    [letter] = letters
    assert letter.reason in REJECT_REASONS and letter.reason == "invalid_json"
    assert_one_line(letter.detail)
    assert stats.rejected == {"invalid_json": 1}
