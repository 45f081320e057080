"""The hot-path decoder: msgspec typed structs for the common, native shape of contract v1.

:func:`decode` gives exactly what :func:`profiles.events.decode` gives (a property test checks
it), about three times faster: msgspec parses and type-checks in C straight into structs, and
only what JSON types cannot say is checked here. Anonymous visitors and an ``anonymous_id``
beside a user id (a login's link, profiles/identity.py) stay on it. Anything off the common path
(Segment names or envelopes, other identifiers, objects in ``context``, administrative types
such as the manual ``tag`` events, any invalid message) falls back to the reference decoder,
which gives the precise rejection reason. Tag events are an operator's orders (``portrait tag
set``), a trickle beside the behaviour: their strict checks (:func:`profiles.events.tag_traits`)
are written once, there.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

import msgspec

from profiles.events import (
    ANON_PREFIX,
    DEFAULT_BOUNDS,
    MAX_AMOUNT,
    MAX_TEXT,
    Event,
    Rejected,
    TimeBounds,
    declared_traits,
    parse_ts,
)
from profiles.events import decode as reference_decode
from profiles.identity import link_value
from profiles.names import EVENT_TYPES

# orjson reads an integer beyond 64 bits as a float, which the reference refuses as an id: keep
# such integers off the fast path (msgspec's bounds stop at int64; the rest of u64 falls back).
Text = Annotated[str, msgspec.Meta(max_length=MAX_TEXT)]  # longer: the reference says why
Id = Text | Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
Money = Annotated[float, msgspec.Meta(ge=0, le=MAX_AMOUNT)]
Quantity = Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]


class _Product(msgspec.Struct, gc=False):
    item_id: Id | None = None
    product_id: Id | None = None


class _Properties(msgspec.Struct, gc=False):
    item_id: Id | None = None
    product_id: Id | None = None
    category: Text | None = None
    brand: Text | None = None
    price: Money | None = None
    quantity: Quantity | None = None
    order_id: Id | None = None
    revenue: Money | None = None
    query: Text | None = None
    coupon: Text | None = None
    products: list[_Product] | None = None


class _Context(msgspec.Struct, gc=False):
    device: Text | None = None
    os: Text | None = None
    channel: Text | None = None
    timezone: Text | None = None
    device_id: Any = None  # an identifier: the reference decoder reads these (identity)
    traits: Any = None


class _Message(msgspec.Struct, gc=False):
    event_id: Text
    type: str
    ts: int | float | str
    user_id: Id | None = None
    anonymous_id: Id | None = None  # the key of an anonymous user, or beside a user id a link
    user_id_segment: Any = msgspec.field(default=None, name="userId")  # Segment's: the reference
    anonymous_id_segment: Any = msgspec.field(default=None, name="anonymousId")
    properties: _Properties | None = None
    context: _Context | None = None
    traits: dict[str, Any] | None = None


_DECODER: Final = msgspec.json.Decoder(_Message)
_NO_PROPS: Final = _Properties()
_NO_CONTEXT: Final = _Context()


class _OffPath(Exception):
    """Not the common shape: let the reference decoder judge it."""


def decode(raw: bytes | bytearray | memoryview | str, bounds: TimeBounds = DEFAULT_BOUNDS) -> Event:
    """Parse and validate one message value; raise :class:`Rejected` with a reason."""
    try:
        if isinstance(raw, memoryview) or (not isinstance(raw, str) and not raw.isascii()):
            str(raw, "utf-8")  # msgspec skips unknown fields unread: all must be UTF-8 (orjson)
        return _fast(_DECODER.decode(raw), bounds)
    except (msgspec.DecodeError, _OffPath, Rejected, RecursionError, UnicodeDecodeError):
        return reference_decode(raw, bounds)  # RecursionError: nested beyond the stack


def _fast(m: _Message, bounds: TimeBounds) -> Event:
    if not m.event_id or m.type not in EVENT_TYPES:
        raise _OffPath  # also the administrative types (profiles.names.ADMIN_TYPES)
    if m.user_id_segment is not None or m.anonymous_id_segment is not None:
        raise _OffPath  # Segment's names: the reference handles their precedence
    user_id = m.user_id
    anon = m.anonymous_id if m.anonymous_id != "" else None
    links: tuple[str, ...] = ()
    if user_id is None or user_id == "":
        if anon is None:
            raise _OffPath  # no user: the reference names the reason
        user_id = ANON_PREFIX + _user(anon, reserved=False)  # an anonymous visitor
    else:
        if (
            type(user_id) is not str
            or "{" in user_id
            or "}" in user_id
            or user_id[:5] == ANON_PREFIX
        ):
            user_id = _user(user_id)
        if anon is not None:  # beside a user id: a link, as profiles.identity.links_of reads it
            links = (f"anonymous_id:{_link(anon)}",)
    p = m.properties or _NO_PROPS
    c = m.context or _NO_CONTEXT
    if c.device_id is not None or c.traits is not None:
        raise _OffPath  # other identifiers (profiles.identity.links_of): rare
    traits = None
    if m.traits:
        if "email" in m.traits or "phone" in m.traits:
            raise _OffPath
        if m.type == "identify":
            traits = declared_traits(m.traits)
    ts = m.ts
    if type(ts) is not int or not bounds.plain_min <= ts < bounds.max_ms:
        ts = parse_ts(ts, bounds)
    return Event(
        m.event_id, m.type, user_id, ts, _item(p.item_id, p.product_id),
        p.category or None, p.brand or None, p.price, p.quantity or 1,
        _item(p.order_id, None) if p.order_id is not None else None, p.revenue,
        p.query or None, p.coupon or None, _products(p.products) if p.products else (),
        c.device or None, c.os or None, c.channel or None, c.timezone or None, traits, links,
    )  # fmt: skip


def _user(value: Id, reserved: bool = True) -> str:
    if type(value) is int:
        return str(value)
    assert isinstance(value, str)
    if "{" in value or "}" in value or (reserved and value.startswith(ANON_PREFIX)):
        raise _OffPath
    return value


def _link(value: Id) -> str:
    """An anonymous id beside a user id, as a link: what links_of keeps, or off the path."""
    text = link_value(value)
    if text is None:
        raise _OffPath  # the reference decoder leaves it out of the links
    return text


def _item(first: Id | None, second: Id | None) -> str | None:
    value = first if first is not None and first != "" else second
    if value is None or value == "":
        return None
    if type(value) is int:
        return str(value)
    assert isinstance(value, str)
    if "{" in value or "}" in value:
        raise _OffPath
    return value


def _products(products: list[_Product] | None) -> tuple[str, ...]:
    if not products:
        return ()
    ids = (_item(p.item_id, p.product_id) for p in products)
    return tuple(i for i in ids if i is not None)
