"""The profile state: named, typed parts (docs/design.md, "The profile state").

Stored as MessagePack arrays (``array_like``): a field costs its value alone, never its name, so
the fields can have names a reader understands. Fields are positions in the stored form: append
only, never reorder (a new field needs a default and a version bump).

Only the model (profiles/) reads the parts; triggers and the read side use the named accessors
at the end of :class:`State`.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

VERSION: Final = 3


class Times(msgspec.Struct, array_like=True):
    """What :class:`profiles.recency.Recency` keeps (epoch ms, None: not yet)."""

    first: int | None = None  # the oldest event
    last: int | None = None  # the newest event
    purchase: int | None = None  # the newest purchase
    registered: int | None = None  # the oldest register event


class Money(msgspec.Struct, array_like=True):
    """What :class:`profiles.money.Monetary` keeps."""

    spend: float = 0.0  # lifetime revenue
    orders: int = 0  # lifetime orders (purchase events of one order_id count once)
    max_order: float = 0.0  # the largest order value
    purchases: int = 0  # purchase events
    coupons: int = 0  # ... of them with a coupon
    days: dict[int, list[Any]] = msgspec.field(default_factory=dict)  # day -> [spend, orders]
    open: dict[int, list[Any]] = msgspec.field(default_factory=dict)  # order digest -> [day, value]
    ratio: list[Any] = msgspec.field(default_factory=lambda: [0, 0.0])  # [priced events, sum]


class ChangeTimes(msgspec.Struct, array_like=True):
    """What :class:`profiles.changes.ChangeLog` keeps: when each segment last changed."""

    times: list[int] = msgspec.field(default_factory=list)  # distinct times, epoch seconds
    index: bytes = b""  # per segment code, its position in ``times`` (255: never changed)


class RuleState(msgspec.Struct, array_like=True):
    """What the business rules keep (profiles/rules): the last evaluation's outcome, so that
    the next one knows what changed, and the manual tags set by hand."""

    version: str = ""  # rules_version of the last evaluation ("": never evaluated)
    at: int = 0  # the moment (epoch ms) of the last evaluation
    values: dict[str, Any] = msgspec.field(default_factory=dict)  # rule tag -> value (no nulls)
    members: list[str] = msgspec.field(default_factory=list)  # segments the user is in, sorted
    since: dict[str, int] = msgspec.field(default_factory=dict)  # name -> last change, epoch s
    manual: dict[str, list[Any]] = msgspec.field(default_factory=dict)  # tag -> [value, ms]
    due: int = 0  # the next moment a rule can flip by time alone (0: none)
    quiet: int = 0  # transitions up to this moment are recorded, not published (a replay)


class State(msgspec.Struct, array_like=True):
    """One user's profile. ``fences`` and ``segments`` are not stored: the codec writes the
    fences as its text header (the store's script reads them there) and empties both fields
    for the body; the segments are recomputed on decode (profiles/changes.py)."""

    version: int
    seen: dict[int, bytes]  # arrival day -> 6-byte digests of the event ids that arrived then
    newest: int  # the newest event time applied (the user's stream time, epoch ms)
    arrival: int  # the newest arrival time (Kafka record timestamp; else the event time)
    compacted_day: int  # the newest day at the last compaction
    changes: ChangeTimes
    counters: dict[str, Any]
    money: Money
    recency: Times
    cart: dict[str, Any]
    attributes: dict[int, Any]
    categories: list[Any]
    brands: list[Any]
    search: dict[str, list[int]]
    hours: list[Any]
    gender: list[int]
    devices: dict[int, Any]
    fences: dict[str, int] = msgspec.field(default_factory=dict)  # partition -> last offset
    segments: dict[str, Any] | None = None  # as of ``newest``, kept in memory only
    rules: RuleState = msgspec.field(default_factory=RuleState)  # business rules (v3.1)
    # the profiles merged into this one (docs/identity.md): a handed-over state is folded in
    # once, however often the hand-over is read again (v3.2)
    absorbed: list[str] = msgspec.field(default_factory=list)

    @property
    def last_seen(self) -> int | None:
        return self.recency.last

    @property
    def last_purchase(self) -> int | None:
        return self.recency.purchase

    @property
    def totals(self) -> list[int]:
        """Lifetime events per type, in ``profiles.aggregators.TOTAL_SLOT`` order."""
        totals: list[int] = self.counters["t"]
        return totals

    @property
    def orders(self) -> int:
        return self.money.orders

    def orders_on(self, day: int) -> int:
        """Orders on a UTC day (epoch day; 0 once the day left the kept buckets)."""
        bucket = self.money.days.get(day)
        return int(bucket[1]) if bucket else 0

    def events_on(self, day: int) -> int:
        """Behaviour events on a UTC day (0 once the day left the kept buckets)."""
        bucket = self.counters["b"].get(day)
        return sum(bucket) if bucket else 0

    @property
    def spend(self) -> float:
        return self.money.spend


# The v2 state's keys in the order of State's stored fields (after the version).
V2_KEYS: Final = (
    "d",
    "x",
    "xa",
    "cd",
    "ch",
    "n",
    "m",
    "r",
    "k",
    "a",
    "ca",
    "br",
    "s",
    "h",
    "g",
    "dv",
)


def from_v2(old: dict[str, Any]) -> State:
    """A v2 state (a map with short key names and positional sub-states) as a typed one."""
    old.setdefault("xa", old["x"])  # states before v2.1 kept no arrival time
    return msgspec.convert([VERSION, *(old[k] for k in V2_KEYS)], State)
