"""Validate the shopping-type heuristic (docs/tags.md) on real histories.

    python -m bench.shopping_types [--source taobao|rees46]

Applies a real log through the pure model (no services), reads every user's tags as of the
log's last event, and prints, per shopping type, how many users it holds and the medians of the
behaviour it is defined from and of behaviour it is *not* defined from (active days, categories
viewed, cart adds per purchase). A heuristic that means something separates the types on the
second kind too: impulse buyers should decide fast and compare little, rational comparers view
many items per purchase, hesitant users add and remove, browsers rarely buy.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from streams.replay.cutoffs import profiles

SOURCES = {
    "taobao": Path("../shared/data/taobao_userbehavior_by_user/UserBehavior.csv"),
    "rees46": Path("../shared/data/rees46_multicategory_2019oct_head/2019-Oct.head.csv"),
}
COLUMNS = (
    ("users", None),
    ("views/purchase", "vpp"),
    ("first sight", "first_sight_share"),
    ("decision h", "decision_hours"),
    ("removes/add", "removal"),
    ("adds/purchase", "adds_per_purchase"),
    ("active days", "active_days"),
    ("categories", "categories"),
    ("purchases", "purchases_total"),
)


def features(tags: dict[str, Any], active_days: int, categories: int) -> dict[str, float | None]:
    purchases = tags["purchases_total"]
    adds = tags["cart_adds_total"]
    return {
        "vpp": tags["views_total"] / purchases if purchases else None,
        "first_sight_share": tags["first_sight_share"],
        "decision_hours": tags["decision_hours"],
        "removal": tags["cart_removes_total"] / adds if adds else None,
        "adds_per_purchase": adds / purchases if purchases else None,
        "active_days": float(active_days),
        "categories": float(categories),
        "purchases_total": float(purchases),
    }


def median(values: list[float | None]) -> str:
    known = [v for v in values if v is not None]
    return f"{statistics.median(known):.2f}" if known else "-"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", choices=tuple(SOURCES), default="taobao")
    args = p.parse_args()
    model, states, newest = profiles(SOURCES[args.source])  # the log through the pure model
    if newest is None:
        print(f"{args.source}: no event accepted", file=sys.stderr)
        return 2
    as_of = newest
    rows: dict[str, list[dict[str, float | None]]] = defaultdict(list)
    for state in states.values():
        tags = model.tags(state, as_of)
        days = len(state.counters["b"])
        categories = len(state.categories[1])
        rows[str(tags["shopping_type"])].append(features(tags, days, categories))
    print(f"{args.source}: {len(states)} users, as of the log's last event; medians per type")
    print("  " + "".join(f"{title:>15}" for title, _ in [("type", None), *COLUMNS]))
    for kind, found in sorted(rows.items(), key=lambda kv: -len(kv[1])):
        cells = [kind, str(len(found))]
        cells += [median([f[key] for f in found]) for _, key in COLUMNS[1:] if key]
        print("  " + "".join(f"{cell:>15}" for cell in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
