"""The price reference: the typical (median) item price per category, from an event log.

``price_ratio`` and ``price_band`` (docs/tags.md) compare a user's prices with this table
(``profile.price_reference``); ``portrait price-reference PATH`` prints it as JSON, and
``portrait replay`` computes it from the replayed file unless it is given one.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Final

import orjson

from profiles.events import Rejected
from profiles.wire import decode  # the worker's decoder: profiles.events.decode, 3x faster
from streams.errors import CommandError
from streams.replay.adapters import Message
from streams.replay.sources import read_messages

# The event types whose price is an item's price (a cart removal names no price of its own).
PRICED_TYPES: Final = frozenset({"view", "add_to_cart", "purchase"})


def price_reference(messages: Iterable[Message]) -> dict[str, float]:
    """Median price per category over the priced view, add_to_cart and purchase events.

    Messages the decoder rejects, events without a category and prices absent or 0 are left
    out; every message counts, duplicates included. Categories are in sorted order.
    """
    prices: dict[str, list[float]] = {}
    for message in messages:
        try:
            event = decode(message.value)
        except Rejected:
            continue
        if event.type in PRICED_TYPES and event.price and event.category is not None:
            prices.setdefault(event.category, []).append(event.price)
    return {category: statistics.median(prices[category]) for category in sorted(prices)}


def price_reference_main(path: Path, fmt: str = "auto") -> int:
    """``portrait price-reference PATH [--format F]``: the table as JSON on stdout; a file it
    cannot read is a :class:`CommandError` (exit 2)."""
    if not path.is_file():
        raise CommandError(f"no such file: {path}")
    try:
        table = price_reference(read_messages(path, fmt))
    except ValueError as exc:  # an unknown or undetectable format
        raise CommandError(str(exc)) from exc
    sys.stdout.write(orjson.dumps(table, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0
