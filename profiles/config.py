"""Tunables of the profile model (``profile:`` in the YAML config; docs/tags.md has defaults)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from profiles.events import MAX_LEAD, MAX_TS, MIN_TS, TimeBounds
from profiles.timeutil import DAY_MS

DEFAULT_AFFINITY_WEIGHTS: Final[Mapping[str, float]] = MappingProxyType(
    {
        "view": 1.0,
        "click": 1.0,
        "search": 1.0,
        "favorite": 2.0,
        "add_to_cart": 3.0,
        "purchase": 5.0,
    }
)


@dataclass(frozen=True, slots=True)
class RfmConfig:
    """Ascending cut-offs: R scores 5 at or below the first, F and M score 2 at the first."""

    recency_days: tuple[int, ...] = (7, 30, 90, 180)
    frequency_orders: tuple[int, ...] = (2, 3, 5, 10)
    monetary_spend: tuple[float, ...] = (100.0, 500.0, 2000.0, 5000.0)

    def __post_init__(self) -> None:
        for name in ("recency_days", "frequency_orders", "monetary_spend"):
            cuts = getattr(self, name)
            if len(cuts) != 4 or list(cuts) != sorted(cuts):
                raise ValueError(f"rfm.{name} must be 4 ascending numbers")


@dataclass(frozen=True, slots=True)
class LayerConfig:
    high_value_spend_30d: float = 5000.0
    high_value_orders_180d: int = 5
    potential_first_order_min: float = 200.0
    potential_first_order_max: float = 500.0
    potential_cart_adds_30d: int = 5
    potential_views_30d: int = 50
    churn_risk_days: int = 180
    churn_risk_strong_days: int = 365
    churn_risk_max_orders: int = 1
    dormant_days: int = 30
    new_days: int = 30


@dataclass(frozen=True, slots=True)
class ModelConfig:
    dedupe_window_ms: int = 24 * 3_600_000
    dedupe_max_ids: int = 2_000
    cart_window_ms: int = 30 * DAY_MS
    bucket_days: int = 180
    affinity_half_life_ms: int = 30 * DAY_MS
    affinity_weights: Mapping[str, float] = field(default_factory=lambda: DEFAULT_AFFINITY_WEIGHTS)
    affinity_max_entries: int = 128
    active_hours_half_life_ms: int = 30 * DAY_MS
    default_timezone: str = "UTC"
    repeated_search_days: int = 3
    price_reference: Mapping[str, float] | None = None
    price_band_low: float = 0.8
    price_band_high: float = 1.25
    rfm: RfmConfig = field(default_factory=RfmConfig)
    layers: LayerConfig = field(default_factory=LayerConfig)
    min_event_time_ms: int = MIN_TS  # events outside [min, max) are dead-lettered
    max_event_time_ms: int = MAX_TS
    max_event_lead_ms: int = MAX_LEAD  # events stamped further after their arrival: DLQ

    def __post_init__(self) -> None:
        self.time_bounds  # noqa: B018  # raises when the bounds make no sense
        if self.bucket_days < 180:
            raise ValueError("bucket_days must be at least 180 (the longest window)")
        if self.affinity_half_life_ms <= 0 or self.active_hours_half_life_ms <= 0:
            raise ValueError("half-lives must be positive")
        if not self.price_band_low <= self.price_band_high:
            raise ValueError("price_band_low must not exceed price_band_high")

    @property
    def time_bounds(self) -> TimeBounds:
        return TimeBounds(self.min_event_time_ms, self.max_event_time_ms, self.max_event_lead_ms)
