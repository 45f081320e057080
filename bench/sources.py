"""Event sources for the benchmark: contract-v1 JSON values keyed by user id.

Each source yields ``(key, value)`` byte pairs, exactly ``n`` of them. User ids and event ids
carry the run's namespace so a run never collides with an earlier one in the same Redis.

* ``synthetic``: a seeded mix of view/click/search/add_to_cart/purchase/... over ``users``
  users with a skewed (Zipf-like) activity, item properties, context and some identify traits.
* ``taobao``: the Taobao time slice (``UserBehavior.csv``, read in place). When ``n`` exceeds the
  file, it is replayed with every user id and event id suffixed by the round (``~1``, ``~2``).
* ``rees46``: the REES46 head (``2019-Oct.head.csv``, read in place), replayed the same way.
"""

from __future__ import annotations

import csv
import itertools
import random
import zlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import orjson

DATA_DIR: Final = Path("/work/shared/data")
TAOBAO_CSV: Final = DATA_DIR / "taobao_userbehavior_time_slice" / "UserBehavior.csv"
REES46_CSV: Final = DATA_DIR / "rees46_multicategory_2019oct_head" / "2019-Oct.head.csv"
SOURCES: Final = ("synthetic", "taobao", "rees46")

Record = tuple[bytes, bytes]  # key, value

TAOBAO_TYPES: Final = {"pv": "view", "cart": "add_to_cart", "fav": "favorite", "buy": "purchase"}
REES46_TYPES: Final = {"view": "view", "cart": "add_to_cart", "purchase": "purchase"}


def events(source: str, n: int, users: int, namespace: str, seed: int = 7) -> Iterator[Record]:
    """``n`` keyed events from ``source``."""
    if source == "synthetic":
        return itertools.islice(Synthetic(users, namespace, seed).records(), n)
    if source == "taobao":
        return _replayed(_taobao_rows(TAOBAO_CSV), n, namespace)
    if source == "rees46":
        return _replayed(_rees46_rows(REES46_CSV), n, namespace)
    raise ValueError(f"unknown source {source!r}; choose from {', '.join(SOURCES)}")


# --- real data sets -----------------------------------------------------------------------------
Row = tuple[str, str, int, dict[str, Any]]  # user, type, ts ms, properties


def _replayed(rows: Sequence[Row], n: int, namespace: str) -> Iterator[Record]:
    """The rows in file order, then again with suffixed user and event ids, until ``n``."""
    if not rows:
        raise ValueError("the data file holds no usable rows")
    count = 0
    for round_ in itertools.count():
        suffix = f"~{round_}" if round_ else ""
        for line, (user, etype, ts, props) in enumerate(rows):
            if count == n:
                return
            user_id = f"{namespace}{user}{suffix}"
            event: dict[str, Any] = {
                "event_id": f"{namespace}{line}{suffix}",
                "type": etype,
                "user_id": user_id,
                "ts": ts,
            }
            if props:
                event["properties"] = props
            yield user_id.encode(), orjson.dumps(event)
            count += 1


def _taobao_rows(path: Path) -> list[Row]:
    rows: list[Row] = []
    with path.open(newline="", encoding="utf-8") as f:
        for user, item, category, behaviour, ts in csv.reader(f):
            etype = TAOBAO_TYPES.get(behaviour)
            if etype is not None:
                rows.append(
                    (f"tb{user}", etype, int(ts) * 1000, {"item_id": item, "category": category})
                )
    return rows


def _rees46_rows(path: Path) -> list[Row]:
    rows: list[Row] = []
    with path.open(newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            etype = REES46_TYPES.get(r["event_type"])
            if etype is None:
                continue
            ts = datetime.strptime(r["event_time"], "%Y-%m-%d %H:%M:%S UTC").replace(tzinfo=UTC)
            props: dict[str, Any] = {"item_id": r["product_id"], "price": float(r["price"] or 0)}
            if r["category_code"]:
                props["category"] = r["category_code"]
            if r["brand"]:
                props["brand"] = r["brand"]
            rows.append((f"r{r['user_id']}", etype, int(ts.timestamp() * 1000), props))
    return rows


# --- synthetic ----------------------------------------------------------------------------------
T0: Final = 1_717_200_000_000  # 2024-06-01T00:00:00Z
SPAN_MS: Final = 7 * 86_400_000  # the events spread over a week of event time
TYPE_WEIGHTS: Final = (
    ("view", 55),
    ("click", 15),
    ("search", 9),
    ("add_to_cart", 8),
    ("favorite", 3),
    ("remove_from_cart", 2),
    ("purchase", 4),
    ("login", 3),
    ("identify", 1),
)
CATEGORIES: Final = (
    "electronics",
    "fashion",
    "home",
    "beauty",
    "sports",
    "books",
    "grocery",
    "toys",
)
BRANDS: Final = ("Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay")
QUERIES: Final = ("earbuds", "running shoes", "desk lamp", "sunscreen", "yoga mat", "coffee beans")
DEVICES: Final = (
    ("mobile", "iOS", "app"),
    ("mobile", "Android", "app"),
    ("desktop", "Windows", "web"),
)
TIMEZONES: Final = ("Asia/Shanghai", "Europe/Berlin", "America/New_York", "Asia/Kolkata")
N_ITEMS: Final = 5_000


class Synthetic:
    """A seeded, endless stream; per-user carts make purchases and removals name real items."""

    def __init__(self, users: int, namespace: str, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.namespace = namespace
        self.users = users
        # Zipf-like activity: user k has weight 1/(k+1)^0.8 (a few heavy users, a long tail).
        self.user_cum = list(itertools.accumulate(1 / (k + 1) ** 0.8 for k in range(users)))
        self.types = [t for t, _ in TYPE_WEIGHTS]
        self.type_cum = list(itertools.accumulate(w for _, w in TYPE_WEIGHTS))
        self.items = [self._item(i) for i in range(N_ITEMS)]
        self.carts: dict[int, list[str]] = {}

    def _item(self, i: int) -> dict[str, Any]:
        rng = self.rng
        return {
            "item_id": f"sku{i:05d}",
            "category": CATEGORIES[i % len(CATEGORIES)],
            "brand": BRANDS[(i // 7) % len(BRANDS)],
            "price": round(rng.uniform(2, 500), 2),
        }

    def records(self) -> Iterator[Record]:
        rng = self.rng
        for i in itertools.count():
            user = rng.choices(range(self.users), cum_weights=self.user_cum)[0]
            etype = rng.choices(self.types, cum_weights=self.type_cum)[0]
            # Event time moves forward through the week; up to 5 minutes late/out of order.
            ts = T0 + (i * 997) % SPAN_MS - rng.randrange(300_000)
            user_id = f"{self.namespace}u{user}"
            event: dict[str, Any] = {
                "event_id": f"{self.namespace}e{i}",
                "type": etype,
                "user_id": user_id,
                "ts": ts,
                "context": self._context(user),
            }
            self._fill(event, user)
            yield user_id.encode(), orjson.dumps(event)

    def _context(self, user: int) -> dict[str, str]:
        device, os_, channel = DEVICES[user % len(DEVICES)]
        return {"device": device, "os": os_, "channel": channel, "timezone": TIMEZONES[user % 4]}

    def _fill(self, event: dict[str, Any], user: int) -> None:
        rng = self.rng
        etype = event["type"]
        if etype in ("view", "click", "favorite"):
            event["properties"] = dict(rng.choice(self.items))
        elif etype == "search":
            event["properties"] = {"query": rng.choice(QUERIES)}
        elif etype == "add_to_cart":
            item = rng.choice(self.items)
            self.carts.setdefault(user, []).append(item["item_id"])
            event["properties"] = {**item, "quantity": rng.randint(1, 3)}
        elif etype == "remove_from_cart":
            cart = self.carts.get(user)
            item_id = cart.pop() if cart else rng.choice(self.items)["item_id"]
            event["properties"] = {"item_id": item_id}
        elif etype == "purchase":
            event["properties"] = self._order(event["event_id"], user)
        elif etype == "identify":
            event["traits"] = {"city": rng.choice(("Berlin", "Shanghai")), "birth_year": 1990}

    def _order(self, order_id: str, user: int) -> dict[str, Any]:
        rng = self.rng
        cart = self.carts.pop(user, None) or [rng.choice(self.items)["item_id"]]
        return {
            "order_id": "o" + order_id,
            "revenue": round(rng.uniform(5, 800), 2),
            "products": [{"item_id": item_id} for item_id in cart[:5]],
        }


# --- identity: anonymous first visits, then a login -------------------------------------------
class Anonymous:
    """A share of users (chosen by a hash of their id) browse anonymously first: their first
    ``events`` events carry only ``anonymous_id`` (``anon-<user>``, keyed by it), and their next
    event is a login carrying both ids, which merges the two (docs/identity.md). The number of
    records is unchanged; ``anonymous`` and ``logins`` count what was rewritten."""

    def __init__(self, share: float, events: int = 3) -> None:
        self.share = share
        self.events = events
        self.anonymous = 0
        self.logins = 0
        self._seen: dict[bytes, int] = {}

    def wrap(self, records: Iterator[Record]) -> Iterator[Record]:
        cut = int(self.share * 10_000)
        for key, value in records:
            if zlib.crc32(key) % 10_000 >= cut:
                yield key, value
                continue
            n = self._seen.get(key, 0)
            self._seen[key] = n + 1
            if n > self.events:
                yield key, value
                continue
            event = orjson.loads(value)
            user = event.pop("user_id")
            anon = f"anon-{user}"
            if n < self.events:
                self.anonymous += 1
                yield anon.encode(), orjson.dumps({**event, "anonymous_id": anon})
            else:
                self.logins += 1
                login = {"event_id": event["event_id"], "type": "login", "user_id": user,
                         "anonymous_id": anon, "ts": event["ts"]}  # fmt: skip
                yield key, orjson.dumps(login)
