"""Historical event logs as contract-v1 messages: the adapters of ``portrait replay``.

Pure parsing and file reading (no Kafka, no Redis). Each log row becomes one
:class:`Message` (key = the user id, value = one contract JSON object), exactly as a producer
would send it; docs/replay.md gives every mapping. A row that cannot be mapped is not dropped:
it becomes a message the decoder rejects, naming what is wrong (``replay_error``) and carrying
the row as read (``raw``), so it is counted or dead-lettered like any bad event.
"""

from __future__ import annotations

import csv
import functools
import math
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, NamedTuple

import orjson
import xxhash

from profiles.wire import decode

FORMATS: Final = ("jsonl", "taobao", "rees46")
PRICELESS_FORMATS: Final = frozenset({"taobao"})  # logs whose messages never carry a price

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
_REES46_TIME: Final = re.compile(r"(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) UTC")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MS: Final = timedelta(milliseconds=1)
_BOM: Final = b"\xef\xbb\xbf"


class Message(NamedTuple):
    """One log row as a Kafka message: ``key`` the user id, ``value`` contract JSON."""

    key: bytes
    value: bytes
    line: int  # 1-based line of the file


def detect_format(path: Path) -> str:
    """The format of ``path``, from its first non-blank line; ValueError if it is none of them."""
    first = _first_line(path)
    if first is None:
        raise ValueError(f"{path}: the file is empty, there is nothing to detect")
    if first.lstrip().startswith(b"{"):
        return "jsonl"
    if first == REES46_HEADER:
        return "rees46"
    cols = first.split(b",")
    if len(cols) == 9 and _REES46_TIME.fullmatch(cols[0].decode(errors="replace")):
        return "rees46"  # a headerless slice of a REES46 file
    if len(cols) == 5 and cols[3] in (b"pv", b"cart", b"fav", b"buy") and cols[4].isdigit():
        return "taobao"
    shown = first[:80].decode(errors="replace")
    raise ValueError(
        f"{path}: cannot tell the format from its first line {shown!r}; "
        f"pass the format ({', '.join(FORMATS)})"
    )


def read_messages(path: Path, fmt: str = "auto") -> Iterator[Message]:
    """Every row of ``path`` as a message, in file order (blank lines and a header skipped)."""
    for message, _ in scan(path, fmt):
        yield message


def scan(path: Path, fmt: str = "auto") -> Iterator[tuple[Message, int]]:
    """Like :func:`read_messages`, each message with the bytes of the file read so far."""
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected auto or one of {', '.join(FORMATS)}")
    adapt: Callable[[bytes, int], Message] = _ADAPTERS[fmt]
    done = 0
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            done += len(raw)
            line = _strip_ending(raw[3:] if number == 1 and raw.startswith(_BOM) else raw)
            if not line.strip() or (fmt == "rees46" and line == REES46_HEADER):
                continue  # a header, also where concatenated files repeat it
            yield adapt(line, number), done


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


class Feed:
    """The log's messages in replay order, each decoded once more here for its event time.

    ``newest`` is the replay's clock (stream time): the newest event time yielded so far.
    Messages the decoder refuses are passed to ``on_reject`` when given.
    """

    def __init__(
        self,
        path: Path,
        fmt: str,
        *,
        sort: bool = False,
        on_reject: Callable[[Message, Exception], None] | None = None,
    ) -> None:
        self.path, self.fmt, self.sort, self.on_reject = path, fmt, sort, on_reject
        self.newest = 0
        self.first_ts: int | None = None
        self.last_ts: int | None = None
        self.users: set[str] = set()
        self._sorted: list[Message] | None = None

    def __iter__(self) -> Iterator[tuple[Message, float]]:
        """Each message with the share of the log done once it is replayed."""
        if self.sort:
            messages = self._load_sorted()
            for done, message in enumerate(messages, start=1):
                self._see(message)
                yield message, done / len(messages)
        else:
            size = max(1, self.path.stat().st_size)
            for message, done in scan(self.path, self.fmt):
                self._see(message)
                yield message, done / size

    def messages(self) -> Iterator[Message]:
        """The messages, not counted (a first pass: the price reference)."""
        return iter(self._load_sorted()) if self.sort else read_messages(self.path, self.fmt)

    def _load_sorted(self) -> list[Message]:
        """All messages by (event time, line); those that do not decode first."""
        if self._sorted is None:
            keyed = [(_event_time(m), m.line, m) for m in read_messages(self.path, self.fmt)]
            keyed.sort(key=lambda item: item[:2])
            self._sorted = [message for _, _, message in keyed]
        return self._sorted

    def _see(self, message: Message) -> None:
        try:
            event = decode(message.value)
        except Exception as exc:
            if self.on_reject is not None:
                self.on_reject(message, exc)
            return
        ts = event.ts
        self.users.add(event.user_id)
        if ts > self.newest:
            self.newest = self.last_ts = ts
        if self.first_ts is None or ts < self.first_ts:
            self.first_ts = ts


def _event_time(message: Message) -> int:
    try:
        return decode(message.value).ts
    except Exception:
        return -1


_ADAPTERS: Final[dict[str, Callable[[bytes, int], Message]]] = {
    "jsonl": jsonl_message,
    "taobao": taobao_message,
    "rees46": rees46_message,
}


def _first_line(path: Path) -> bytes | None:
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            line = _strip_ending(raw[3:] if number == 1 and raw.startswith(_BOM) else raw)
            if line.strip():
                return line
    return None


def _strip_ending(raw: bytes) -> bytes:
    """The line without its ending (``\\n`` or ``\\r\\n``)."""
    if raw.endswith(b"\n"):
        raw = raw[:-1]
    return raw[:-1] if raw.endswith(b"\r") else raw


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
    match = _REES46_TIME.fullmatch(text)
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
