"""Event contract v1: decode and validate one Kafka message value (pure, no I/O).

A message is one JSON object (docs/events.md, docs/events.schema.json). Segment's e-commerce
spec names and Segment's own envelope (``messageId``, ``userId``, ``anonymousId``,
``timestamp``, ``event``) are accepted too and mapped onto the same contract.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import msgspec
import orjson

from profiles.identity import ANON_PREFIX as ANON_PREFIX  # importers of events keep it
from profiles.identity import links_of
from profiles.names import ADMIN_TYPES, ERASE_EVENT, TAG_EVENT, TAG_NAME
from profiles.names import EVENT_TYPES as EVENT_TYPES  # importers of events keep it
from profiles.timeutil import rfc3339

# Segment e-commerce spec v2 event names -> contract types (docs/events.md lists them).
SEGMENT_NAMES: Final[dict[str, str]] = {
    "Product Viewed": "view",
    "Product List Viewed": "view",
    "Product Clicked": "click",
    "Promotion Clicked": "click",
    "Products Searched": "search",
    "Product Added": "add_to_cart",
    "Product Removed": "remove_from_cart",
    "Order Completed": "purchase",
    "Product Added to Wishlist": "favorite",
    "Signed In": "login",
    "Signed Up": "register",
}

TRAIT_NAMES: Final = ("gender", "birth_year", "city", "occupation", "income_band", "marital_status")
CONTEXT_NAMES: Final = ("device", "os", "channel", "timezone")

# Event times are epoch milliseconds inside configurable bounds (profile.min_event_time and
# max_event_time). The defaults accept any honest history since the epoch; the states measure
# time from it, so no bound may lie before it.
MIN_TS: Final = 0  # 1970-01-01T00:00:00Z
MAX_TS: Final = 4_102_444_800_000  # 2100-01-01T00:00:00Z (excluded)
# A number of smaller magnitude may be seconds: 1e11 ms is 1973-03-03, 1e11 s the year 5138.
# Such a number is refused when, read as seconds, it would be a time inside the bounds.
SECONDS_LIKE: Final = 100_000_000_000
MAX_LEAD: Final = 86_400_000  # an event may be stamped up to a day after it reached Kafka


@dataclass(frozen=True, slots=True)
class TimeBounds:
    """The event times accepted: ``min_ms <= ts < max_ms`` (epoch ms, UTC)."""

    min_ms: int = MIN_TS
    max_ms: int = MAX_TS
    # How far an event may be stamped after its record reached Kafka: one event dated years
    # ahead (a wrong device clock) would move the user's stream time there, and every windowed
    # count would fall out of its window for good.
    max_lead_ms: int = MAX_LEAD

    def __post_init__(self) -> None:
        if not 0 <= self.min_ms < self.max_ms:
            raise ValueError("event time bounds must satisfy 1970-01-01 <= min < max")
        if self.max_lead_ms < 0:
            raise ValueError("max_event_lead must not be negative")

    def check_lead(self, ts: int, arrival: int | None) -> None:
        """Refuse an event stamped more than ``max_lead_ms`` after its arrival (when known)."""
        if arrival is not None and arrival > 0 and ts - arrival > self.max_lead_ms:
            ahead = (ts - arrival) / 3_600_000
            raise Rejected(
                "bad_timestamp",
                f"ts {rfc3339(ts)} is {ahead:.1f} h after the record reached Kafka"
                f" (profile.max_event_lead: {self.max_lead_ms / 3_600_000:g} h)",
            )

    @property
    def plain_min(self) -> int:
        """Integers from here up to ``max_ms`` are plain milliseconds (the fast path)."""
        return max(self.min_ms, SECONDS_LIKE)


DEFAULT_BOUNDS: Final = TimeBounds()
_MAGNITUDES: Final = ((1e-3, "microseconds"), (1e-6, "nanoseconds"))


# Ids and names longer than this are rejected: they would be stored in the profile (a 100 KB
# user id is a 100 KB Redis key, a 100 KB category a 100 KB affinity entry).
MAX_TEXT: Final = 512

# Prices and revenues above this are rejected: with quantity <= 1e6 every sum stays finite.
MAX_AMOUNT: Final = 1e12

# Reasons are a closed, low-cardinality set: they label metrics and DLQ records.
REJECT_REASONS: Final = (
    "invalid_json",
    "not_an_object",
    "missing_event_id",
    "missing_type",
    "unknown_type",
    "missing_user",
    "bad_timestamp",
    "bad_field",
)


class Rejected(ValueError):
    """A message that breaks its contract: ``reason`` a short code (for events one of
    :data:`REJECT_REASONS`; feedback and campaign requests have their own), ``detail`` for
    people. The dead-letter topics carry both."""

    def __init__(self, reason: str, detail: str) -> None:
        detail = one_line(detail)
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


MAX_DETAIL: Final = 300


def one_line(text: str) -> str:
    """``text`` fit for a log line and a Kafka header: what is not printable (line breaks,
    control characters, lone surrogates) escaped, and at most :data:`MAX_DETAIL` characters,
    so that a hostile 100 KB value is never echoed whole."""
    if not text.isprintable():
        text = text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 3] + "..."


class Event(msgspec.Struct, gc=False):
    """A validated event. Treat it as immutable. A msgspec struct: built in C, and untracked by
    the cyclic garbage collector (it holds no cycles), which matters at 100k events a second."""

    event_id: str
    type: str
    user_id: str
    ts: int  # event time, epoch milliseconds UTC
    item_id: str | None = None
    category: str | None = None
    brand: str | None = None
    price: float | None = None
    quantity: int = 1
    order_id: str | None = None
    revenue: float | None = None
    query: str | None = None
    coupon: str | None = None
    item_ids: tuple[str, ...] = ()  # items of a multi-product order (Segment ``products``)
    device: str | None = None
    os: str | None = None
    channel: str | None = None
    timezone: str | None = None
    traits: dict[str, Any] | None = None
    # the event's other identifiers, ``kind:value`` (profiles/identity.py): the anonymous id
    # beside a user id, hashed email and phone, the device id; they link the person's profiles
    links: tuple[str, ...] = ()


def decode(raw: bytes | bytearray | memoryview | str, bounds: TimeBounds = DEFAULT_BOUNDS) -> Event:
    """Parse and validate one message value; raise :class:`Rejected` with a reason."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Rejected("invalid_json", str(exc)) from None
    if not isinstance(obj, dict):
        raise Rejected("not_an_object", f"top level is {type(obj).__name__}")
    return from_dict(obj, bounds)


def from_dict(obj: dict[str, Any], bounds: TimeBounds = DEFAULT_BOUNDS) -> Event:
    event_id = obj.get("event_id") or obj.get("messageId")
    if type(event_id) is not str or not event_id:
        raise Rejected("missing_event_id", "event_id must be a non-empty string")
    if len(event_id) > MAX_TEXT:
        raise Rejected("bad_field", f"event_id is longer than {MAX_TEXT} characters")
    etype = _event_type(obj)
    user_id = _user_id(obj)
    ts = parse_ts(obj.get("ts", obj.get("timestamp")), bounds)
    if etype == TAG_EVENT:
        return Event(event_id, etype, user_id, ts, traits=tag_traits(obj.get("properties")))
    if etype == ERASE_EVENT:
        return Event(event_id, etype, user_id, ts, traits=erase_traits(obj.get("properties")))
    props = _mapping(obj, "properties")
    item_id = category = brand = order_id = query = coupon = None
    price = revenue = None
    quantity = 1
    item_ids: tuple[str, ...] = ()
    if props:
        item_id = _opt_id(props, "item_id", "product_id")
        category, brand, query, coupon = _strings(props, ("category", "brand", "query", "coupon"))
        price, revenue = _opt_money(props, "price"), _opt_money(props, "revenue")
        quantity = _quantity(props)
        order_id = _opt_id(props, "order_id")
        item_ids = _products(props)
    ctx = _mapping(obj, "context")
    device, os_, channel, timezone = _strings(_flat_context(ctx), CONTEXT_NAMES) if ctx else _NONE4
    traits = None
    if etype == "identify":
        traits = declared_traits(_mapping(obj, "traits"))
    return Event(
        event_id, etype, user_id, ts, item_id, category, brand, price, quantity, order_id,
        revenue, query, coupon, item_ids, device, os_, channel, timezone, traits,
        links_of(obj, user_id),
    )  # fmt: skip


def declared_traits(declared: dict[str, Any]) -> dict[str, Any] | None:
    """The contract's traits of an identify event, without the absent ones; None if none.
    Each has its schema type: a string, and ``birth_year`` a whole number from 1900 to 2100
    (anything else, such as a nested object or a 30-digit number, would be stored as is)."""
    traits = {k: declared[k] for k in TRAIT_NAMES if declared.get(k) is not None}
    for name, value in traits.items():
        if name != "birth_year":
            if type(value) is not str:
                raise Rejected("bad_field", f"traits.{name} must be a string")
            _bounded(value, f"traits.{name}")
        elif type(value) is not int or not 1900 <= value <= 2100:
            raise Rejected("bad_field", "traits.birth_year must be a whole number 1900..2100")
    return traits or None


_TAG_KEYS: Final = frozenset({"tag", "value"})
_ERASE_KEYS: Final = frozenset({"erase_id", "suppress"})


def tag_traits(props: object) -> dict[str, Any]:
    """``{"tag": NAME, "value": V}`` of a tag event's properties, exactly those two keys.

    A tag event sets one manual tag of the rules (V null clears it); it is an order from an
    operator, so anything unexpected is refused rather than half applied: an extra key may be
    a typo of the intended one, and a nested value could not be compared by any rule."""
    if type(props) is not dict:
        raise Rejected("bad_field", "a tag event needs properties {tag, value}")
    extra = sorted(str(k) for k in props if k not in _TAG_KEYS)
    if extra:
        raise Rejected("bad_field", f"a tag event's properties are tag and value, not {extra[0]!r}")
    tag = props.get("tag")
    if type(tag) is not str or TAG_NAME.fullmatch(tag) is None:
        raise Rejected("bad_field", "properties.tag must be a tag name ([a-z][a-z0-9_]{0,63})")
    if "value" not in props:
        raise Rejected("bad_field", "properties.value is required (null clears the tag)")
    return {"tag": tag, "value": tag_value(props["value"])}


def erase_traits(props: object) -> dict[str, Any]:
    """``{"erase_id": ID, "suppress": BOOL}`` of an erase event's properties: the id of the
    erasure it completes (the one the store holds as pending) and whether the user stays out."""
    if type(props) is not dict or set(props) != _ERASE_KEYS:
        raise Rejected("bad_field", "an erase event needs properties {erase_id, suppress}")
    erase_id, suppress = props["erase_id"], props["suppress"]
    if type(erase_id) is not str or not 0 < len(erase_id) <= 64:
        raise Rejected("bad_field", "properties.erase_id must be a string of 1 to 64 characters")
    if type(suppress) is not bool:
        raise Rejected("bad_field", "properties.suppress must be true or false")
    return {"erase_id": erase_id, "suppress": suppress}


def tag_value(value: object) -> str | int | float | bool | None:
    """A manual tag's value: a string (at most :data:`MAX_TEXT`), a finite number, a bool or
    null; anything else is refused with ``bad_field``."""
    if value is None or type(value) is bool or type(value) is int:
        return value
    if type(value) is float:
        if not math.isfinite(value):
            raise Rejected("bad_field", "properties.value must be a finite number")
        return value
    if type(value) is str:
        return _bounded(value, "properties.value")
    raise Rejected("bad_field", "properties.value must be a string, number, true, false or null")


def _flat_context(ctx: dict[str, Any]) -> dict[str, Any]:
    """Segment's mobile SDKs send ``device`` and ``os`` as objects: take their type and name."""
    device, os_ = ctx.get("device"), ctx.get("os")
    if type(device) is not dict and type(os_) is not dict:
        return ctx
    flat = dict(ctx)
    if type(device) is dict:
        flat["device"] = device.get("type") or device.get("model")
    if type(os_) is dict:
        flat["os"] = os_.get("name")
    return flat


_NONE4: Final[list[str | None]] = [None, None, None, None]


def _strings(d: dict[str, Any], names: tuple[str, ...]) -> list[str | None]:
    """The optional string fields ``names`` of ``d``; an empty string counts as absent."""
    out: list[str | None] = []
    for name in names:
        value = d.get(name)
        if value is None or value == "":
            out.append(None)
        elif type(value) is str:
            out.append(_bounded(value, name))
        else:
            raise Rejected("bad_field", f"{name} must be a string")
    return out


def _event_type(obj: dict[str, Any]) -> str:
    etype = obj.get("type")
    if isinstance(etype, str) and etype in ADMIN_TYPES:  # native only: not a track's "event"
        return etype
    if etype == "track":  # Segment envelope: the name is in "event"
        etype = obj.get("event")
    if not isinstance(etype, str) or not etype:
        raise Rejected("missing_type", "type must be a non-empty string")
    mapped = SEGMENT_NAMES.get(etype, etype)
    if mapped not in EVENT_TYPES:
        raise Rejected("unknown_type", f"type {etype!r} is not in the contract")
    return mapped


def _user_id(obj: dict[str, Any]) -> str:
    for key in ("user_id", "userId"):
        value = obj.get(key)
        if value is not None and value != "":
            return _as_id(value, key)
    for key in ("anonymous_id", "anonymousId"):
        value = obj.get(key)
        if value is not None and value != "":
            return ANON_PREFIX + _as_id(value, key)
    raise Rejected("missing_user", "one of user_id or anonymous_id is required")


def _bounded(value: str, key: str) -> str:
    if len(value) > MAX_TEXT:
        raise Rejected("bad_field", f"{key} is longer than {MAX_TEXT} characters")
    return value


def _as_id(value: object, key: str) -> str:
    if isinstance(value, str):
        _bounded(value, key)
        if "{" in value or "}" in value:
            raise Rejected("bad_field", f"{key} may not contain braces")
        if value.startswith(ANON_PREFIX) and key in ("user_id", "userId"):
            raise Rejected("bad_field", f"{key} may not start with {ANON_PREFIX!r} (reserved)")
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise Rejected("bad_field", f"{key} must be a string")


def parse_moment(text: str) -> int:
    """A moment as the command line takes it (``--as-of``, ``--now``): epoch ms or RFC 3339."""
    return parse_ts(int(text) if text.isdigit() else text)


def parse_ts(value: object, bounds: TimeBounds = DEFAULT_BOUNDS) -> int:
    """Epoch milliseconds (int or float) or an RFC 3339 string -> epoch ms UTC."""
    if isinstance(value, bool) or value is None:
        raise Rejected("bad_timestamp", "ts is required (epoch ms or RFC 3339)")
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise Rejected("bad_timestamp", f"ts {value!r} is not a finite number")
        ms = int(value)
        if abs(ms) < SECONDS_LIKE and _inside(ms * 1_000, bounds):
            raise Rejected("bad_timestamp", f"ts {ms} looks like seconds; epoch ms expected")
    elif isinstance(value, str):
        ms = _rfc3339_ms(value)
    else:
        raise Rejected("bad_timestamp", f"ts has type {type(value).__name__}")
    if not _inside(ms, bounds):
        raise Rejected("bad_timestamp", _outside(value, ms, bounds))
    return ms


def _inside(ms: float, bounds: TimeBounds) -> bool:
    return bounds.min_ms <= ms < bounds.max_ms


def _outside(value: object, ms: int, bounds: TimeBounds) -> str:
    shown = _short(value)
    if not isinstance(value, str) and abs(ms) < 10**30:  # 400 digits do not fit a float
        for factor, unit in _MAGNITUDES:
            if _inside(ms * factor, bounds):
                return f"ts {shown} looks like {unit}; epoch ms expected"
    low, high = rfc3339(bounds.min_ms), rfc3339(bounds.max_ms)
    return f"ts {shown} is outside {low}..{high} (profile.min_event_time, max_event_time)"


def _short(value: object) -> str:
    """A value as shown in a one-line reason: never a 100 KB string or a 5,000-digit number."""
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**30 else "<huge number>"
    return text if len(text) <= 40 else text[:37] + "..."


_RFC3339: Final = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MS: Final = timedelta(milliseconds=1)


def _rfc3339_ms(value: str) -> int:
    if _RFC3339.match(value) is None:
        raise Rejected("bad_timestamp", f"ts {_short(value)} is not RFC 3339 with a UTC offset")
    try:
        parsed = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        raise Rejected(
            "bad_timestamp", f"ts {_short(value)} is not a valid date and time"
        ) from None
    return (parsed - _EPOCH) // _MS  # exact integer arithmetic: no float rounding


def _mapping(obj: dict[str, Any], key: str) -> dict[str, Any]:
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Rejected("bad_field", f"{key} must be an object")
    return value


def _opt_id(d: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = d.get(key)
        if value is not None and value != "":
            return _as_id(value, key)
    return None


def _opt_money(d: dict[str, Any], key: str) -> float | None:
    value = d.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Rejected("bad_field", f"{key} must be a number")
    if not 0 <= value <= MAX_AMOUNT:  # also false for NaN
        raise Rejected("bad_field", f"{key} must be a number from 0 to {MAX_AMOUNT:.0e}")
    return float(value)


def _quantity(d: dict[str, Any]) -> int:
    value = d.get("quantity", 1)
    if value is None:
        return 1
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 1_000_000:
        raise Rejected("bad_field", "quantity must be a whole number from 1 to 1000000")
    return value


def _products(d: dict[str, Any]) -> tuple[str, ...]:
    products = d.get("products")
    if products is None:
        return ()
    if not isinstance(products, list):
        raise Rejected("bad_field", "products must be a list")
    ids = []
    for product in products:
        if not isinstance(product, dict):
            raise Rejected("bad_field", "products must hold objects")
        item = _opt_id(product, "item_id", "product_id")
        if item is not None:
            ids.append(item)
    return tuple(ids)
