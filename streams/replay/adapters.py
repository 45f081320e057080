"""Log rows as contract-v1 messages: the Taobao, REES46 and JSONL adapters of ``portrait replay``.

Pure (no files, no Kafka, no Redis): each function maps one line of its format to one
:class:`Message` (key = the user id, value = one contract JSON object), exactly as a producer
would send it; docs/replay.md gives every mapping. A row that cannot be mapped is not dropped:
it becomes a message the decoder rejects, naming what is wrong (``replay_error``) and carrying
the row as read (``raw``), so it is counted or dead-lettered like any bad event. Reading files
and telling their format apart is :mod:`streams.replay.sources`.
"""

from __future__ import annotations

import csv
import functools
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final, NamedTuple

import orjson
import xxhash

TAOBAO_TYPES: Final = {"pv": "view", "cart": "add_to_cart", "fav": "favorite", "buy": "purchase"}
TAOBAO_COLUMNS: Final = ("user_id", "item_id", "category_id", "behavior_type", "timestamp")
TAOBAO_TIMEZONE: Final = "Asia/Shanghai"

REES46_TYPES: Final = {
    "view": "view",
    "cart": "add_to_cart",
    "remove_from_cart": "remove_from_cart",
    "purchase": "purchase",
}
REES46_COLUMNS: Final = (
    "event_time", "event_type", "product_id", "category_id", "category_code", "brand", "price",
    "user_id", "user_session",
)  # fmt: skip
REES46_HEADER: Final = ",".join(REES46_COLUMNS).encode()
REES46_TIME: Final = re.compile(r"(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) UTC")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MS: Final = timedelta(milliseconds=1)


class Message(NamedTuple):
    """One log row as a Kafka message: ``key`` the user id, ``value`` contract JSON."""

    key: bytes
    value: bytes
    line: int  # 1-based line of the file


def jsonl_message(line: bytes, number: int) -> Message:
    """A contract JSON line, passed through as it is; the key is read from it when it parses."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return Message(b"", line, number)
    return Message(_contract_key(obj) if isinstance(obj, dict) else b"", line, number)


def taobao_message(line: bytes, number: int) -> Message:
    """``user_id,item_id,category_id,behavior_type,timestamp`` (Unix seconds, no header)."""
    cols = _columns(line)
    if cols is None or len(cols) != len(TAOBAO_COLUMNS):
        return _malformed("taobao", "tb", line, number, cols, len(TAOBAO_COLUMNS), user_col=0)
    user, item, category, behaviour, stamp = cols
    errors: list[str] = []
    etype = TAOBAO_TYPES.get(behaviour)
    if etype is None:
        errors.append(f"behavior_type {behaviour!r} is not one of {', '.join(TAOBAO_TYPES)}")
    try:
        ts: int | str = int(stamp) * 1000
    except ValueError:
        errors.append(f"timestamp {stamp!r} is not a whole number of seconds")
        ts = "taobao:" + stamp
    event: dict[str, Any] = {
        "event_id": f"tb:{user}:{item}:{behaviour}:{stamp}",
        "type": etype or "taobao:" + behaviour,
        "user_id": user,
        "ts": ts,
        "properties": {"item_id": item, "category": category},
        "context": {"timezone": TAOBAO_TIMEZONE},
    }
    return _message(user, event, errors, "taobao", line, number)


def rees46_message(line: bytes, number: int) -> Message:
    """``event_time,event_type,product_id,category_id,category_code,brand,price,user_id,...``."""
    cols = _columns(line)
    if cols is None or len(cols) != len(REES46_COLUMNS):
        return _malformed("rees46", "r46", line, number, cols, len(REES46_COLUMNS), user_col=7)
    event_time, event_type, product, category_id, category_code, brand, price, user, _ = cols
    errors: list[str] = []
    etype = REES46_TYPES.get(event_type)
    if etype is None:
        errors.append(f"event_type {event_type!r} is not one of {', '.join(REES46_TYPES)}")
    ts: int | str | None = _rees46_ms(event_time)
    if ts is None:
        errors.append(f"event_time {event_time!r} is not 'YYYY-MM-DD HH:MM:SS UTC'")
        ts = "rees46:" + event_time
    props: dict[str, Any] = {"item_id": product, "category": category_code or category_id}
    if brand:
        props["brand"] = brand
    if price:
        props["price"] = _price(price, errors)
    event = {
        "event_id": "r46:" + xxhash.xxh3_64_hexdigest(line),
        "type": etype or "rees46:" + event_type,
        "user_id": user,
        "ts": ts,
        "properties": props,
    }
    return _message(user, event, errors, "rees46", line, number)


ADAPTERS: Final[dict[str, Callable[[bytes, int], Message]]] = {
    "jsonl": jsonl_message,
    "taobao": taobao_message,
    "rees46": rees46_message,
}


def _columns(line: bytes) -> list[str] | None:
    """The comma-separated fields (CSV quoting honoured); None if the line is not UTF-8."""
    try:
        text = line.decode()
    except UnicodeDecodeError:
        return None
    if '"' in text:
        return next(csv.reader([text]), [])
    return text.split(",")


def _contract_key(obj: dict[str, Any]) -> bytes:
    """The Kafka key of a contract object (docs/events.md#keying); empty if it has no user."""
    for name in ("user_id", "userId", "anonymous_id", "anonymousId"):
        value = obj.get(name)
        if isinstance(value, str) and value:
            return value.encode()
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value).encode()
    return b""


@functools.lru_cache(maxsize=4096)  # rows of one second share their time
def _rees46_ms(text: str) -> int | None:
    match = REES46_TIME.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.groups())
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:  # e.g. month 13
        return None
    return (moment - _EPOCH) // _MS


def _price(text: str, errors: list[str]) -> float | str:
    try:
        price = float(text)
    except ValueError:
        price = math.nan
    if math.isfinite(price):
        return price
    errors.append(f"price {text!r} is not a number")
    return "rees46:" + text  # a string: the decoder rejects it as bad_field


def _message(
    user: str, event: dict[str, Any], errors: list[str], source: str, line: bytes, number: int
) -> Message:
    if errors:
        event["replay_error"] = f"{source} line {number}: " + "; ".join(errors)
        event["raw"] = line.decode(errors="replace")
    return Message(user.encode(), orjson.dumps(event), number)


def _malformed(
    source: str,
    prefix: str,
    line: bytes,
    number: int,
    cols: list[str] | None,
    expected: int,
    *,
    user_col: int,
) -> Message:
    """A row that is not a row of its format: no type, so the decoder rejects it."""
    if cols is None:
        problem = "the line is not UTF-8"
    else:
        problem = f"{len(cols)} columns, expected {expected}"
    user = cols[user_col] if cols is not None and len(cols) > user_col else ""
    event = {
        "event_id": f"{prefix}:{xxhash.xxh3_64_hexdigest(line)}",
        "replay_error": f"{source} line {number}: {problem}",
        "raw": line.decode(errors="replace"),
    }
    return Message(user.encode(), orjson.dumps(event), number)
