"""What a rule may read: every built-in tag with its type, and the rules' one error type.

The types are static (a table, not a call into the model) so that a rules file is checked
without building a model; tests/unit/profiles/rules/test_catalogue.py holds the table equal to
what :meth:`profiles.model.ProfileModel.tags` produces on random profiles. A rule is checked
against these types when it is parsed, so that a typo or a type error is a one-line error
with its place in the file, never a surprise at evaluation.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

from profiles.aggregators import PREFIXES, WINDOWS
from profiles.layers import LIFECYCLE_STAGES, RFM_SEGMENTS, SHOPPING_TYPES

Kind = Literal["int", "float", "number", "bool", "str", "list", "lookup", "any"]
NUMERIC: Final = frozenset({"int", "float", "number"})


class RulesError(ValueError):
    """A bad rule: one line, ``SOURCE:LINE:COL: message`` (line and column when known).

    ``path`` is where in the parsed data the error lies (keys and list indices), so that a
    loader that kept the YAML nodes can map it to a line and a column (profiles/rules/load.py);
    ``at_key``: the error is the mapping key at the end of ``path``, not its value."""

    def __init__(
        self,
        message: str,
        source: str = "",
        line: int | None = None,
        column: int | None = None,
        path: tuple[str | int, ...] = (),
        at_key: bool = False,
    ) -> None:
        self.message, self.source, self.line, self.column = message, source, line, column
        self.path, self.at_key = path, at_key
        super().__init__(self._text())

    def _text(self) -> str:
        place = ":".join(
            str(p) for p in (self.source, self.line, self.column) if p not in ("", None)
        )
        return f"{place}: {self.message}" if place else self.message

    def inside(self, *outer: str | int) -> RulesError:
        """The same error, ``outer`` keys deeper (a condition's error inside a rules file)."""
        return RulesError(self.message, self.source, self.line, self.column, (*outer, *self.path),
                          self.at_key)  # fmt: skip

    def placed(self, source: str, line: int | None, column: int | None) -> RulesError:
        return RulesError(self.message, source, line, column, self.path, self.at_key)


@dataclass(frozen=True, slots=True)
class TagType:
    """The values of a tag: ``kind``, whether it may be null, and for strings the values it
    can take (``values``, None: any) and whether ordering them means something (RFC 3339
    times do; enum-like names do not). ``item``: the kind of a list's items; a lookup's
    values are shares (floats, 0 for a missing key)."""

    kind: Kind
    nullable: bool = False
    values: tuple[str, ...] | None = None
    ordered: bool = False
    item: Kind | None = None

    def describe(self) -> str:
        """``int``, ``float or null``, ``list of str``, ``str (a, b, c)`` ...: for messages."""
        text = f"list of {self.item}" if self.kind == "list" else self.kind
        if self.kind == "lookup":
            text = "lookup (key -> share 0..1)"
        if self.values is not None:
            text += f" ({', '.join(self.values)})"
        return f"{text} or null" if self.nullable else text


COUNT: Final = TagType("int")
MONEY: Final = TagType("float")
RATIO: Final = TagType("float", nullable=True)
NAME: Final = TagType("str", nullable=True)
TIME: Final = TagType("str", nullable=True, ordered=True)
DAYS: Final = TagType("int", nullable=True)
FLAG: Final = TagType("bool")
SHARES: Final = TagType("lookup")


def _enum(*values: str) -> TagType:
    return TagType("str", nullable=True, values=values)


def _builtin() -> dict[str, TagType]:
    out: dict[str, TagType] = {"events_total": COUNT}
    for prefix in PREFIXES:
        out.update({f"{prefix}_{days}d": COUNT for days in WINDOWS})
        out[f"{prefix}_total"] = COUNT
    out["active_days_30d"] = COUNT
    out.update({f"spend_{days}d": MONEY for days in WINDOWS})
    out["spend_total"] = MONEY
    out.update(dict.fromkeys(("orders_total", "orders_30d", "orders_180d"), COUNT))
    out["order_days_180d"] = COUNT
    out.update(dict.fromkeys(("max_order_value", "avg_order_value"), RATIO))
    out.update(dict.fromkeys(("coupon_share", "price_ratio"), RATIO))
    out["price_band"] = _enum("budget", "mid", "premium")
    out.update(
        dict.fromkeys(("first_seen", "last_seen", "last_purchase_at", "registered_at"), TIME)
    )
    out.update(dict.fromkeys(("days_since_first_seen", "days_since_last_seen"), DAYS))
    out["days_since_last_purchase"] = DAYS
    out["cart_open_items"] = COUNT
    out.update(dict.fromkeys(("cart_to_purchase_rate", "favorite_to_purchase_rate"), RATIO))
    out.update(dict.fromkeys(("first_sight_share", "decision_hours"), RATIO))
    out.update(dict.fromkeys(("gender", "city", "occupation", "income_band"), NAME))
    out["marital_status"] = NAME
    out["age_band"] = _enum("<18", "18-24", "25-34", "35-44", "45-54", "55-64", "65+")
    out["top_category"] = NAME
    out["top_categories"] = TagType("list", item="str")
    out["top_brand"] = NAME
    out["top_brands"] = TagType("list", item="str")
    out["repeated_search"] = NAME
    out["repeated_search_days"] = COUNT
    out["peak_hours"] = TagType("list", item="int")
    out.update(dict.fromkeys(("peak_hour", "peak_weekday"), DAYS))
    out["active_now"] = TagType("bool", nullable=True)
    out["timezone"] = TagType("str")
    out["purchase_gender"] = _enum("female", "male")
    out.update(dict.fromkeys(("device_last", "device_top", "channel_last", "channel_top"), NAME))
    out["os_last"] = NAME
    out.update(dict.fromkeys(("rfm_r", "rfm_f", "rfm_m"), DAYS))
    out["rfm"] = NAME
    out["rfm_segment"] = _enum(*RFM_SEGMENTS)
    out.update(dict.fromkeys(("high_value", "potential", "churn_risk", "churn_risk_strong"), FLAG))
    out["lifecycle"] = _enum(*LIFECYCLE_STAGES)
    out["shopping_type"] = _enum(*SHOPPING_TYPES)
    return out


# The lookup tags: category (brand) -> its share of the user's decayed interest score.
LOOKUP_TAGS: Final = ("category_affinity", "brand_affinity")
# What ProfileModel.tags produces (102 tags), in its order.
MODEL_TYPES: Final[Mapping[str, TagType]] = MappingProxyType(_builtin())
BUILTIN_TYPES: Final[Mapping[str, TagType]] = MappingProxyType(
    {**MODEL_TYPES, **dict.fromkeys(LOOKUP_TAGS, SHARES)}
)
# The tags that grow by one every day without an event (profiles/rules/ruleset.py day_marks).
DAY_COUNTERS: Final = frozenset(
    {"days_since_first_seen", "days_since_last_seen", "days_since_last_purchase"}
)


def bool_hint(value: object) -> str:
    """Where a string was expected and a bool came: most likely an unquoted yes/no/on/off
    that a YAML 1.1 reader (``yaml.safe_load``) took for a boolean."""
    if isinstance(value, bool):
        return " (a YAML 1.1 reader takes unquoted yes/no/on/off for booleans: quote them)"
    return ""


def closest(name: str, names: Iterable[str]) -> str | None:
    """The valid name a typo most likely meant, or None."""
    found = difflib.get_close_matches(name, list(names), n=1, cutoff=0.6)
    return found[0] if found else None


def unknown(what: str, name: object, names: Iterable[str]) -> str:
    """``unknown tag 'spend_totl' (did you mean 'spend_total'?)``."""
    guess = closest(name, names) if isinstance(name, str) else None
    hint = f" (did you mean {guess!r}?)" if guess else ""
    return f"unknown {what} {name!r}{hint}"
