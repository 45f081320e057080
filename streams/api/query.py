"""Reading the query parameters the routes share (pure): ``?as_of=``, ``?fields=`` and the
members' ``?cursor=``. A bad value is a 400 :class:`ApiError` in one line."""

from __future__ import annotations

from typing import Final

from profiles.events import Rejected, parse_ts
from streams.api.errors import ApiError, bad_request

MAX_FIELDS: Final = 200
MAX_CURSOR: Final = 2**64 - 1  # Redis SCAN cursors are unsigned 64-bit


def parse_as_of(value: str | None, now_ms: int) -> int:
    """``?as_of=``: RFC 3339 with an offset, or epoch milliseconds; absent: now."""
    if value is None:
        return now_ms
    text = value.strip()
    try:
        moment = int(text) if text.isascii() and text.isdigit() else text
        return parse_ts(moment)
    except Rejected as exc:
        raise bad_request(f"as_of: {exc.detail.removeprefix('ts ')}") from None
    except (ValueError, OverflowError):
        raise bad_request("as_of: expected RFC 3339 or epoch milliseconds") from None


def parse_fields(value: str | None) -> list[str] | None:
    """``?fields=tags,cart,tags.rfm_segment``: the parts of the document asked for; absent or
    empty: the whole document."""
    if value is None:
        return None
    fields = [f.strip() for f in value.split(",") if f.strip()]
    if len(fields) > MAX_FIELDS:
        raise bad_request(f"fields: at most {MAX_FIELDS} names, got {len(fields)}")
    return fields or None


def parse_cursor(value: str | None) -> int:
    """``?cursor=``: the ``next_cursor`` of the previous page; absent: the first page."""
    if value is None or value == "":
        return 0
    if not (value.isascii() and value.isdigit()) or int(value) > MAX_CURSOR:
        raise ApiError(400, "cursor: expected the next_cursor of the previous page")
    return int(value)
