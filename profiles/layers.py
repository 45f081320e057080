"""Derived tags: RFM scores, lifecycle layers and shopping type (pure functions of inputs).

They read only values the aggregators computed at the same as-of time (:class:`Inputs`), so
they need no state of their own; docs/tags.md gives every rule and its defaults
(``profile.rfm``, ``profile.layers``). The worker evaluates them for every touched user of every
batch (profiles/changes.py), so they take a small typed record, not the whole tag dict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from profiles.aggregators import TOTAL_SLOT, Tags
from profiles.config import LayerConfig, RfmConfig
from profiles.names import BEHAVIOURS

MIN_EVENTS_FOR_TYPE = 5
# Every value these functions give (None aside): what metrics may label a segment with.
LIFECYCLE_STAGES: Final = ("new", "active", "dormant", "churn_risk")
RFM_SEGMENTS: Final = (
    "champion", "loyal", "big_spender", "new_customer", "at_risk", "hibernating", "regular",
)  # fmt: skip
SHOPPING_TYPES: Final = ("browser", "hesitant", "impulse", "goal_directed", "rational")
_V, _C, _S, _A, _R, _P, _F, _L = (TOTAL_SLOT[t] for t in BEHAVIOURS)


@dataclass(slots=True)
class Inputs:
    totals: list[int]  # lifetime counts per event type, in TOTAL_SLOT order
    views_30d: int
    cart_adds_30d: int
    days_since_first_seen: int | None
    days_since_last_seen: int | None
    days_since_last_purchase: int | None
    spend_total: float
    spend_30d: float
    spend_180d: float
    orders_total: int
    orders_180d: int
    order_days_180d: int
    first_sight_share: float | None
    decision_hours: float | None

    @classmethod
    def from_tags(cls, totals: list[int], tags: Tags) -> Inputs:
        """The inputs as the full tag evaluation computed them."""
        values = {name: tags[name] for name in _FROM_TAGS}
        return cls(totals, **values)  # type: ignore[arg-type]


_FROM_TAGS = (
    "views_30d", "cart_adds_30d", "days_since_first_seen", "days_since_last_seen",
    "days_since_last_purchase", "spend_total", "spend_30d", "spend_180d", "orders_total",
    "orders_180d", "order_days_180d", "first_sight_share", "decision_hours",
)  # fmt: skip


def _at_least(value: float, cuts: tuple[float, ...] | tuple[int, ...]) -> int:
    """1 + the number of ascending cut-offs ``value`` reaches."""
    return 1 + sum(1 for cut in cuts if value >= cut)


def rfm(i: Inputs, config: RfmConfig) -> Tags:
    days = i.days_since_last_purchase
    if days is None:
        return {"rfm_r": None, "rfm_f": None, "rfm_m": None, "rfm": None, "rfm_segment": None}
    r = 5 - sum(1 for cut in config.recency_days if days > cut)
    f = _at_least(i.orders_180d, config.frequency_orders)
    m = _at_least(i.spend_180d, config.monetary_spend)
    return {
        "rfm_r": r,
        "rfm_f": f,
        "rfm_m": m,
        "rfm": f"{r}{f}{m}",
        "rfm_segment": segment(r, f, m),
    }


def segment(r: int, f: int, m: int) -> str:
    if r >= 4 and f >= 4 and m >= 4:
        return "champion"
    if f >= 4:
        return "loyal"
    if m >= 4:
        return "big_spender"
    if r >= 4 and f == 1:
        return "new_customer"
    if r <= 2 and f >= 3:
        return "at_risk"
    if r <= 2:
        return "hibernating"
    return "regular"


def layers(i: Inputs, config: LayerConfig) -> Tags:
    orders = i.orders_total
    high_value = i.spend_30d >= config.high_value_spend_30d or (
        i.orders_180d >= config.high_value_orders_180d and i.order_days_180d >= 2
    )
    first_order = (
        orders == 1
        and config.potential_first_order_min <= i.spend_total <= config.potential_first_order_max
    )
    no_order_interest = orders == 0 and (
        i.cart_adds_30d >= config.potential_cart_adds_30d
        or i.views_30d >= config.potential_views_30d
    )
    seen = i.days_since_last_seen
    churn = seen is not None and seen >= config.churn_risk_days
    churn = churn and orders <= config.churn_risk_max_orders
    stage: str | None
    if seen is None:
        stage = None
    elif churn:
        stage = "churn_risk"
    elif seen >= config.dormant_days:
        stage = "dormant"
    elif i.days_since_first_seen is not None and i.days_since_first_seen < config.new_days:
        stage = "new"
    else:
        stage = "active"
    return {
        "high_value": high_value,
        "potential": not high_value and (first_order or no_order_interest),
        "churn_risk": churn,
        "churn_risk_strong": churn and seen is not None and seen >= config.churn_risk_strong_days,
        "lifecycle": stage,
    }


def shopping_type(i: Inputs) -> str | None:
    """The heuristic of docs/tags.md ("Shopping type"), first matching rule."""
    t = i.totals
    if t[_V] + t[_C] + t[_S] + t[_A] + t[_R] + t[_P] + t[_F] + t[_L] < MIN_EVENTS_FOR_TYPE:
        return None
    purchases, adds = t[_P], t[_A]
    if purchases == 0:
        return "hesitant" if adds >= 3 or t[_F] >= 3 else "browser"
    vpp = t[_V] / purchases
    removal = t[_R] / adds if adds else 0.0
    decision = i.decision_hours
    if (removal >= 0.5 and adds >= 4) or (decision is not None and decision >= 72):
        return "hesitant"
    if vpp <= 3 and i.first_sight_share is not None and i.first_sight_share >= 0.5:
        return "impulse"
    if t[_S] >= purchases and vpp <= 10:
        return "goal_directed"
    if vpp >= 15 or (decision is not None and decision >= 24):
        return "rational"
    return "goal_directed" if vpp <= 10 else "browser"


def derived(i: Inputs, rfm_config: RfmConfig, layer_config: LayerConfig) -> Tags:
    out = rfm(i, rfm_config)
    out.update(layers(i, layer_config))
    out["shopping_type"] = shopping_type(i)
    return out
