"""The ``profile:`` section of the YAML configuration -> :class:`profiles.config.ModelConfig`.

Keys left out keep the default of :class:`ModelConfig` (one place for the defaults; docs/tags.md).
Durations are written like ``24h`` or ``30d``; ``price_reference`` names a JSON file
(``{category: typical price}``, e.g. from ``portrait price-reference``). The ``*_ms`` keys are the
older spelling, in milliseconds, still read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Final

import msgspec
import orjson
from msgspec import UNSET, UnsetType

from profiles.config import LayerConfig, ModelConfig, RfmConfig
from profiles.events import EVENT_TYPES
from profiles.timeutil import valid_zone
from streams.settings.base import ConfigError, Section, build, decode, section_of
from streams.settings.values import Duration, Instant

Weight = Annotated[float, msgspec.Meta(ge=0)]
Cuts = Annotated[list[float], msgspec.Meta(min_length=4, max_length=4)]
WholeCuts = Annotated[list[int], msgspec.Meta(min_length=4, max_length=4)]
LayerSection = section_of(LayerConfig)
# Replaces the default weights as a whole: an event type left out weighs 0.
WeightsSection = msgspec.defstruct(
    "WeightsSection",
    [(name, Weight | UnsetType, UNSET) for name in sorted(EVENT_TYPES)],
    bases=(Section,),
    kw_only=True,
)

_RENAMED: Final = {
    "dedupe_window": "dedupe_window_ms",
    "max_event_lead": "max_event_lead_ms",
    "cart_window": "cart_window_ms",
    "affinity_half_life": "affinity_half_life_ms",
    "active_hours_half_life": "active_hours_half_life_ms",
    "min_event_time": "min_event_time_ms",
    "max_event_time": "max_event_time_ms",
}


class RfmSection(Section):
    """Four ascending cut-offs each (docs/tags.md, "RFM")."""

    recency_days: WholeCuts | UnsetType = UNSET
    frequency_orders: WholeCuts | UnsetType = UNSET
    monetary_spend: Cuts | UnsetType = UNSET


class ProfileSection(Section):
    """The tag catalogue's tunables; a key left out keeps its default (docs/tags.md)."""

    dedupe_window: Duration | UnsetType = UNSET
    dedupe_max_ids: int | UnsetType = UNSET
    min_event_time: Instant | UnsetType = UNSET
    max_event_time: Instant | UnsetType = UNSET
    max_event_lead: Duration | UnsetType = UNSET
    cart_window: Duration | UnsetType = UNSET
    bucket_days: int | UnsetType = UNSET
    affinity_half_life: Duration | UnsetType = UNSET
    affinity_weights: WeightsSection | UnsetType = UNSET  # type: ignore[valid-type]
    affinity_max_entries: int | UnsetType = UNSET
    active_hours_half_life: Duration | UnsetType = UNSET
    default_timezone: str | UnsetType = UNSET
    repeated_search_days: int | UnsetType = UNSET
    price_reference: str | UnsetType | None = UNSET
    price_band_low: float | UnsetType = UNSET
    price_band_high: float | UnsetType = UNSET
    rfm: RfmSection | UnsetType = UNSET
    layers: LayerSection | UnsetType = UNSET  # type: ignore[valid-type]
    dedupe_window_ms: int | UnsetType = UNSET
    max_event_lead_ms: int | UnsetType = UNSET
    cart_window_ms: int | UnsetType = UNSET
    affinity_half_life_ms: int | UnsetType = UNSET
    active_hours_half_life_ms: int | UnsetType = UNSET
    min_event_time_ms: int | UnsetType = UNSET
    max_event_time_ms: int | UnsetType = UNSET

    def to_config(self) -> ModelConfig:
        values: dict[str, Any] = {
            _RENAMED.get(k, k): int(v) if k in _RENAMED else v
            for k, v in msgspec.structs.asdict(self).items()
            if v is not UNSET
        }
        zone = values.get("default_timezone")
        if zone is not None and not valid_zone(zone):
            raise ConfigError(f"profile.default_timezone: unknown time zone {zone!r}")
        if values.get("price_reference") is not None:
            values["price_reference"] = _price_reference(values["price_reference"])
        if "affinity_weights" in values:
            weights = msgspec.structs.asdict(values["affinity_weights"])
            values["affinity_weights"] = {k: v for k, v in weights.items() if v is not UNSET}
        if "layers" in values:
            values["layers"] = build(LayerConfig, values["layers"])
        if "rfm" in values:
            values["rfm"] = _rfm(values["rfm"])
        try:
            return ModelConfig(**values)
        except ValueError as exc:
            raise ConfigError(f"profile: {exc}") from None


def _rfm(section: RfmSection) -> RfmConfig:
    cuts = {k: tuple(v) for k, v in msgspec.structs.asdict(section).items() if v is not UNSET}
    try:
        return RfmConfig(**cuts)
    except ValueError as exc:
        raise ConfigError(f"profile.{exc}") from None


def _price_reference(path: str) -> dict[str, float]:
    try:
        return load_price_reference(Path(path))
    except ValueError as exc:
        raise ConfigError(f"profile.price_reference: {exc}") from exc


def model_config(raw: object) -> ModelConfig:
    """The ``profile:`` section alone (tools and tests that hold just that mapping)."""
    return decode(raw or {}, ProfileSection, "profile").to_config()


def load_price_reference(path: Path) -> dict[str, float]:
    """A table written by ``portrait price-reference``: ``{category: price}``; ValueError if not."""
    try:
        table = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise ValueError(f"cannot read the price reference {path}: {exc.strerror}") from exc
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"the price reference {path} is not JSON: {exc}") from exc
    if not isinstance(table, dict) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in table.values()
    ):
        raise ValueError(f"the price reference {path} must be an object of positive prices")
    return {str(category): float(price) for category, price in table.items()}
