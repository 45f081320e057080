"""What an insight report compares: the dimensions (tags) of the default report and how a
user's tag value becomes a tallied value.

A dimension names the tag it reads (docs/tags.md) and how it is tallied (its ``kind``):
``category`` counts users per value, ``number`` counts users per (rounded) value, ``list``
counts users per item of a list tag, ``hours`` sums each user's active-hour shares. The value
rules live here, beside the dimensions, so that the tally and the report agree on them and a
test can hold them as a table: a missing value is ``(unknown)``, a bool is ``yes``/``no``, a
number is rounded to 3 significant digits (which leaves integers below 1000 exact) so that a
counter of a million users' spend stays a few thousand entries long.

Display order of category values comes from the tags' declared types
(:data:`profiles.rules.catalogue.BUILTIN_TYPES`): an enum keeps its declared order (age bands
young to old, lifecycle new to churn risk) so that audiences read side by side, bools read
yes then no, and ``peak_hour`` reads 0 to 23; other values are ordered by users (report.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias

from profiles.rules.catalogue import BUILTIN_TYPES

Kind = Literal["category", "number", "list", "hours"]
# A section of the report document (report.py): plain JSON, read by summary.py and the pictures.
Section: TypeAlias = Mapping[str, Any]

UNKNOWN: Final = "(unknown)"  # a category tag that is None or missing
OTHER: Final = "(other)"  # values past the cap (tally.py) or past the top values shown
YES, NO = "yes", "no"
HOURS_OF_WEEK: Final = 168


@dataclass(frozen=True, slots=True)
class Dimension:
    """One thing the report compares: the tag ``name`` reads, shown as ``label``."""

    name: str  # the tag it reads (docs/tags.md), or "active_hours"
    label: str  # "Age band", "Total spend", ...
    kind: Kind


def _dims(kind: Kind, *pairs: tuple[str, str]) -> tuple[Dimension, ...]:
    return tuple(Dimension(name, label, kind) for name, label in pairs)


DIMENSIONS: Final[tuple[Dimension, ...]] = (
    *_dims(
        "category",
        ("gender", "Gender"),
        ("purchase_gender", "Gender by purchases"),
        ("age_band", "Age band"),
        ("city", "City"),
        ("occupation", "Occupation"),
        ("marital_status", "Marital status"),
        ("income_band", "Income band"),
        ("device_top", "Device"),
        ("os_last", "Operating system"),
        ("channel_top", "Channel"),
        ("lifecycle", "Lifecycle"),
        ("rfm_segment", "RFM segment"),
        ("shopping_type", "Shopping type"),
        ("price_band", "Price band"),
        ("high_value", "High value"),
        ("potential", "Potential"),
        ("churn_risk", "Churn risk"),
        ("peak_hour", "Peak hour (local time)"),
    ),
    *_dims(
        "number",
        ("spend_total", "Total spend"),
        ("orders_total", "Orders"),
        ("avg_order_value", "Average order value"),
        ("spend_180d", "Spend, 180 days"),
        ("events_total", "Events"),
        ("active_days_30d", "Active days, 30 days"),
        ("days_since_last_seen", "Days since last seen"),
        ("days_since_last_purchase", "Days since last purchase"),
    ),
    *_dims("list", ("top_categories", "Top categories"), ("top_brands", "Top brands")),
    Dimension("active_hours", "Active hours (local time)", "hours"),
)

_HOURS_OF_DAY: Final = tuple(str(h) for h in range(24))


def domain(name: str) -> tuple[str, ...] | None:
    """The values a category tag can take, in display order; None when they are open (a city,
    a device) and are ordered by users instead."""
    if name == "peak_hour":
        return _HOURS_OF_DAY
    kind = BUILTIN_TYPES.get(name)
    if kind is None:
        return None
    if kind.kind == "bool":
        return (YES, NO)
    return kind.values


def category_value(value: Any) -> str:
    """A tag value as a category: None -> ``(unknown)``, bools -> ``yes``/``no`` (before ints:
    a bool is an int in Python), a whole float as an int (``peak_hour`` 19.0 is ``19``)."""
    if value is None:
        return UNKNOWN
    if isinstance(value, bool):
        return YES if value else NO
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def number_value(value: Any) -> float | None:
    """A tag value as a tallied number, rounded to 3 significant digits; None (not counted)
    for a missing, non-numeric or non-finite value. Integers below 1000 have at most 3 digits
    and stay exact, so counts and days are compared without loss."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        x = float(value)
    except OverflowError:  # an int beyond any float
        return None
    if not math.isfinite(x):
        return None
    return float(f"{x:.3g}") + 0.0  # + 0.0: -0.0 counts as 0.0


def list_values(value: Any) -> list[str]:
    """The distinct items of a list tag as strings, in their order (a user counts once per
    item); a missing or non-list value has none."""
    if not isinstance(value, list | tuple):
        return []
    return list(dict.fromkeys(category_value(item) for item in value if item is not None))
