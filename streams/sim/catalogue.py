"""A small, fixed product catalogue, the personas and the user population of synthetic traffic.

The catalogue is built from a constant seed so item ids, brands and prices are the same in every
run and every simulator seed; only the users and their behaviour depend on the traffic seed.
A user's favourite categories lean by declared gender (streams/sim/tastes.py).
"""

from __future__ import annotations

import math
import random
from bisect import bisect
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import accumulate
from typing import Any, Final

from streams.sim.tastes import favourite_categories


@dataclass(frozen=True, slots=True)
class Category:
    name: str
    brands: tuple[str, ...]
    min_price: float
    max_price: float
    queries: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Item:
    item_id: str
    category: str
    brand: str
    price: float

    def props(self) -> dict[str, Any]:
        """The item's fields as event properties (a fresh dict)."""
        return {
            "item_id": self.item_id,
            "category": self.category,
            "brand": self.brand,
            "price": self.price,
        }


CATEGORIES: Final = (
    Category("electronics", ("Apple", "Samsung", "Sony", "Xiaomi", "Lenovo", "Anker"), 15.0, 1500.0,
             ("wireless earbuds", "usb-c charger", "monitor", "laptop", "smartphone", "speaker")),
    Category("fashion", ("Nike", "Adidas", "Zara", "Uniqlo", "H&M", "Levi's"), 10.0, 250.0,
             ("running shoes", "denim jacket", "hoodie", "summer dress", "sneakers")),
    Category("home", ("IKEA", "Philips", "Dyson", "Tefal", "Muji"), 8.0, 700.0,
             ("air purifier", "desk lamp", "frying pan", "storage box", "vacuum cleaner")),
    Category("beauty", ("L'Oréal", "Nivea", "Estée Lauder", "Lancôme", "The Ordinary"), 5.0, 150.0,
             ("sunscreen", "face serum", "lipstick", "moisturizer")),
    Category("sports", ("Decathlon", "Puma", "Under Armour", "Garmin", "Wilson"), 8.0, 600.0,
             ("yoga mat", "dumbbells", "tennis racket", "gps watch")),
    Category("books", ("Penguin", "HarperCollins", "O'Reilly", "Vintage"), 6.0, 60.0,
             ("python programming", "mystery novel", "cookbook", "biography")),
    Category("grocery", ("Nestlé", "Lavazza", "Danone", "Barilla", "Twinings"), 2.0, 40.0,
             ("coffee beans", "green tea", "pasta", "oat milk")),
    Category("toys", ("LEGO", "Hasbro", "Mattel", "Ravensburger"), 8.0, 200.0,
             ("lego set", "board game", "puzzle", "action figure")),
)  # fmt: skip

CATEGORY_NAMES: Final = tuple(cat.name for cat in CATEGORIES)
ITEMS_PER_CATEGORY: Final = 24
_CATALOGUE_SEED: Final = 20_240_601
_DAY_MS: Final = 86_400_000


def _price(rng: random.Random, low: float, high: float) -> float:
    """Log-uniform price in [low, high], ending in .99 (or .49 under 10)."""
    raw = math.exp(rng.uniform(math.log(low), math.log(high)))
    cents = 0.49 if raw < 10 else 0.99
    return max(math.floor(raw) + cents - 1, low - 0.01)


def build_items() -> tuple[Item, ...]:
    rng = random.Random(_CATALOGUE_SEED)
    items: list[Item] = []
    for cat in CATEGORIES:
        for k in range(ITEMS_PER_CATEGORY):
            brand = cat.brands[k % len(cat.brands)]
            price = round(_price(rng, cat.min_price, cat.max_price), 2)
            items.append(Item(f"sku{len(items) + 1:05d}", cat.name, brand, price))
    return tuple(items)


ITEMS: Final = build_items()
# ITEMS_BY_CATEGORY[c] lists the indices into ITEMS of category CATEGORIES[c].
ITEMS_BY_CATEGORY: Final = tuple(
    tuple(i for i, item in enumerate(ITEMS) if item.category == cat.name) for cat in CATEGORIES
)


_ITEMS_BY_BRAND: Final = {
    (c, brand): tuple(i for i in ITEMS_BY_CATEGORY[c] if ITEMS[i].brand == brand)
    for c, cat in enumerate(CATEGORIES)
    for brand in cat.brands
}


# --- personas -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Persona:
    name: str
    share: float  # of the population
    sessions_per_day: float  # mean session starts per day at activity 1
    views: tuple[int, int]  # product views per session, inclusive range
    search: float  # P(a search before a view)
    click: float  # P(click | view)
    favorite: float  # P(favorite | view)
    add: float  # P(add_to_cart | view)
    remove: float  # P(each cart line is removed at the end of a session)
    buy: float  # P(checkout | cart not empty at the end of a session)
    focus: float  # P(a view is in one of the user's favourite categories)
    loyalty: float  # P(a focused view is a favourite-brand item or a staple)
    reorder: float  # P(a session starts by re-adding an item bought before: "buy again")
    dwell_s: float  # mean pause between two events of a session, seconds
    churn_after: tuple[int, int] | None  # sessions before going (almost) silent
    events_per_session: float  # measured mean, used to turn a target rate into activity


PERSONAS: Final = (
    Persona("browser", 0.35, 3.0, (6, 22), 0.35, 0.45, 0.05, 0.025, 0.3, 0.15, 0.5, 0.3, 0.0,
            25.0, None, 27.1),
    Persona("impulse_buyer", 0.15, 1.2, (1, 4), 0.2, 0.5, 0.02, 0.5, 0.03, 0.9, 0.6, 0.4, 0.05,
            10.0, None, 6.9),
    Persona("cart_abandoner", 0.20, 1.8, (3, 10), 0.25, 0.4, 0.08, 0.3, 0.35, 0.08, 0.5, 0.4, 0.0,
            20.0, None, 15.3),
    Persona("loyal_buyer", 0.15, 1.0, (2, 7), 0.15, 0.4, 0.1, 0.35, 0.05, 0.7, 0.9, 0.8, 0.6,
            18.0, None, 11.3),
    Persona("churner", 0.15, 2.5, (3, 12), 0.3, 0.45, 0.05, 0.12, 0.2, 0.35, 0.6, 0.3, 0.05,
            20.0, (2, 7), 15.3),
)  # fmt: skip
PERSONA_NAMES: Final = tuple(p.name for p in PERSONAS)

# --- population ---------------------------------------------------------------------------------
# (IANA zone, share of users, cities)
TIMEZONES: Final = (
    ("Asia/Shanghai", 0.25, ("Shanghai", "Beijing", "Hangzhou", "Shenzhen")),
    ("Asia/Kolkata", 0.15, ("Mumbai", "Bengaluru", "Delhi", "Kolkata")),
    ("Europe/Berlin", 0.20, ("Berlin", "Munich", "Hamburg", "Cologne")),
    ("America/New_York", 0.20, ("New York", "Boston", "Philadelphia", "Atlanta")),
    ("America/Sao_Paulo", 0.10, ("São Paulo", "Rio de Janeiro", "Belo Horizonte")),
    ("Europe/London", 0.05, ("London", "Manchester", "Leeds")),
    ("Asia/Tokyo", 0.05, ("Tokyo", "Osaka", "Yokohama")),
)

# (device, share, ((os, share), ...), ((channel, share), ...))
DEVICES: Final = (
    ("mobile", 0.62, (("iOS", 0.45), ("Android", 0.55)),
     (("app", 0.7), ("web", 0.2), ("mini_program", 0.1))),
    ("desktop", 0.30, (("Windows", 0.6), ("macOS", 0.33), ("Linux", 0.07)), (("web", 1.0),)),
    ("tablet", 0.08, (("iPadOS", 0.7), ("Android", 0.3)), (("app", 0.6), ("web", 0.4))),
)  # fmt: skip

GENDERS: Final = (("female", 0.49), ("male", 0.49), ("non_binary", 0.02))
OCCUPATIONS: Final = (
    "engineer", "teacher", "student", "designer", "nurse", "sales",
    "manager", "retired", "freelancer", "accountant",
)  # fmt: skip
INCOME_BANDS: Final = ("low", "lower_middle", "middle", "upper_middle", "high")
MARITAL_STATUSES: Final = (
    ("single", 0.42), ("married", 0.48), ("divorced", 0.07), ("widowed", 0.03),
)  # fmt: skip


@lru_cache(maxsize=64)
def _cumulative(weights: tuple[float, ...]) -> list[float]:
    return list(accumulate(weights))


def pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    """One name from ``((name, weight), ...)``."""
    return weighted[_index(rng, tuple(w for _, w in weighted))][0]


def _index(rng: random.Random, weights: tuple[float, ...]) -> int:
    """A random index, drawn with the given relative weights."""
    cum = _cumulative(weights)
    return bisect(cum, rng.random() * cum[-1], 0, len(cum) - 1)


def draw_context(rng: random.Random, timezone: str) -> dict[str, str]:
    device, _, oses, channels = DEVICES[_index(rng, tuple(d[1] for d in DEVICES))]
    return {
        "device": device,
        "os": pick(rng, oses),
        "channel": pick(rng, channels),
        "timezone": timezone,
    }


def draw_traits(rng: random.Random, cities: tuple[str, ...]) -> dict[str, Any]:
    return {
        "gender": pick(rng, GENDERS),
        "birth_year": rng.randint(1950, 2007),
        "city": rng.choice(cities),
        "occupation": rng.choice(OCCUPATIONS),
        "income_band": INCOME_BANDS[_index(rng, (15, 25, 30, 20, 10))],
        "marital_status": pick(rng, MARITAL_STATUSES),
    }


def change_trait(rng: random.Random, traits: dict[str, Any], cities: tuple[str, ...]) -> str:
    """Change one mutable trait in place (a move, a raise, a wedding); return its name."""
    name = rng.choice(("city", "income_band", "marital_status", "occupation"))
    if name == "city":
        traits[name] = rng.choice(cities)
    elif name == "income_band":
        traits[name] = rng.choice(INCOME_BANDS)
    elif name == "marital_status":
        traits[name] = pick(rng, MARITAL_STATUSES)
    else:
        traits[name] = rng.choice(OCCUPATIONS)
    return name


@dataclass(slots=True, eq=False)
class User:
    user_id: str
    persona: Persona
    tz: str
    cities: tuple[str, ...]
    context: dict[str, str]
    traits: dict[str, Any]
    fav_cats: tuple[int, ...]  # indices into CATEGORIES
    fav_items: tuple[int, ...]  # favourite-brand items (loyal buyers: a few staples)
    sessions_per_ms: float  # at activity 1, before churn
    churn_after: int  # sessions before going silent; 0: never
    sessions: int = 0
    cart: dict[int, int] = field(default_factory=dict)  # item index -> quantity
    bought: list[int] = field(default_factory=list)  # distinct items bought, latest last


def make_user(rng: random.Random, index: int) -> User:
    persona = PERSONAS[_index(rng, tuple(p.share for p in PERSONAS))]
    tz, _, cities = TIMEZONES[_index(rng, tuple(z[1] for z in TIMEZONES))]
    traits = draw_traits(rng, cities)  # before the favourites: they lean by gender (tastes.py)
    k = 2 if persona.loyalty > 0.5 else 3
    fav_cats = favourite_categories(rng, CATEGORY_NAMES, traits["gender"], k)
    fav_items = [i for c in fav_cats for i in _ITEMS_BY_BRAND[c, rng.choice(CATEGORIES[c].brands)]]
    if persona.loyalty > 0.5:
        fav_items = rng.sample(fav_items, min(len(fav_items), rng.randint(2, 4)))
    churn = persona.churn_after
    return User(
        user_id=f"u{index:06d}",
        persona=persona,
        tz=tz,
        cities=cities,
        context=draw_context(rng, tz),
        traits=traits,
        fav_cats=fav_cats,
        fav_items=tuple(fav_items),
        sessions_per_ms=persona.sessions_per_day * rng.uniform(0.5, 1.5) / _DAY_MS,
        churn_after=rng.randint(*churn) if churn else 0,
    )
