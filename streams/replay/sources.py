"""Historical event logs, read as contract-v1 messages: the log side of ``portrait replay``.

File reading only (no Kafka, no Redis): :func:`detect_format` tells a log's format from its
first line, :func:`read_messages` (and :func:`scan`, with the bytes read) turns every data row
into a :class:`~streams.replay.adapters.Message` with the format's adapter
(:mod:`streams.replay.adapters`,
the row mappings of docs/replay.md), and :class:`Feed` is a replay's view of the log: in file
or event-time order, tracking the replay's clock (stream time).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

from profiles.wire import decode
from streams.replay.adapters import ADAPTERS, REES46_HEADER, REES46_TIME, Message

FORMATS: Final = ("jsonl", "taobao", "rees46")
PRICELESS_FORMATS: Final = frozenset({"taobao"})  # logs whose messages never carry a price
_BOM: Final = b"\xef\xbb\xbf"


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
    if len(cols) == 9 and REES46_TIME.fullmatch(cols[0].decode(errors="replace")):
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
    adapt: Callable[[bytes, int], Message] = ADAPTERS[fmt]
    done = 0
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            done += len(raw)
            line = _strip_ending(raw[3:] if number == 1 and raw.startswith(_BOM) else raw)
            if not line.strip() or (fmt == "rees46" and line == REES46_HEADER):
                continue  # a header, also where concatenated files repeat it
            yield adapt(line, number), done


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
