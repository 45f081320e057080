"""The ``profile:`` section of the YAML configuration -> :class:`profiles.config.ModelConfig`.

Durations are written like ``24h`` or ``30d``; ``price_reference`` names a JSON file
(``{category: typical price}``, e.g. from ``portrait price-reference``); ``rfm:`` and
``layers:`` are sub-sections (docs/examples/portrait.yaml lists every key with its default).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from profiles.config import LayerConfig, ModelConfig, RfmConfig
from profiles.durations import parse_duration_ms
from profiles.events import EVENT_TYPES
from profiles.timeutil import valid_zone
from streams.replay.reference import load_price_reference
from streams.settings.base import ConfigError, section

_DURATIONS: Final = {
    "dedupe_window": "dedupe_window_ms",
    "max_event_lead": "max_event_lead_ms",
    "cart_window": "cart_window_ms",
    "affinity_half_life": "affinity_half_life_ms",
    "active_hours_half_life": "active_hours_half_life_ms",
}
_RFM_KEYS: Final = ("recency_days", "frequency_orders", "monetary_spend")
_INSTANTS: Final = {"min_event_time": "min_event_time_ms", "max_event_time": "max_event_time_ms"}


def model_config(raw: object) -> ModelConfig:
    if raw is None:
        return ModelConfig()
    if not isinstance(raw, dict):
        raise ConfigError("profile: expected a mapping")
    converted: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _DURATIONS:
            converted[_DURATIONS[key]] = _duration(key, value)
        elif key in _INSTANTS:
            converted[_INSTANTS[key]] = _instant(key, value)
        elif key == "price_reference":
            converted[key] = None if value is None else _price_reference(str(value))
        elif key == "affinity_weights":
            converted[key] = _weights(value)
        elif key == "rfm":
            converted[key] = _rfm(value)
        elif key == "layers":
            converted[key] = section(LayerConfig, value)
        else:
            converted[key] = value
    zone = converted.get("default_timezone")
    if zone is not None and not valid_zone(str(zone)):
        raise ConfigError(f"profile.default_timezone: unknown time zone {zone!r}")
    try:
        return section(ModelConfig, converted)
    except ValueError as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"profile: {exc}") from exc


def _price_reference(path: str) -> dict[str, float]:
    try:
        return load_price_reference(Path(path))
    except ValueError as exc:
        raise ConfigError(f"profile.price_reference: {exc}") from exc


def _duration(key: str, value: Any) -> int:
    try:
        return parse_duration_ms(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"profile.{key}: {exc}") from exc


def _instant(key: str, value: Any) -> int:
    """An RFC 3339 time (YAML may hand it over as a datetime) or epoch milliseconds."""
    if isinstance(value, datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=UTC)
        return int(stamp.timestamp() * 1000)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return int(parsed.timestamp() * 1000)
    raise ConfigError(f"profile.{key}: expected an RFC 3339 time with a UTC offset or epoch ms")


def _weights(value: object) -> dict[str, float]:
    if not isinstance(value, dict):
        raise ConfigError("profile.affinity_weights: expected a mapping of event type to weight")
    weights: dict[str, float] = {}
    for etype, weight in value.items():
        if etype not in EVENT_TYPES:
            raise ConfigError(f"profile.affinity_weights: unknown event type {etype!r}")
        if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
            raise ConfigError(f"profile.affinity_weights.{etype}: expected a number >= 0")
        weights[str(etype)] = float(weight)
    return weights


def _rfm(value: object) -> RfmConfig:
    if not isinstance(value, dict):
        raise ConfigError("profile.rfm: expected a mapping")
    unknown = set(value) - set(_RFM_KEYS)
    if unknown:
        raise ConfigError(f"profile.rfm: unknown keys {sorted(unknown)}")
    cuts: dict[str, tuple[Any, ...]] = {}
    for key, numbers in value.items():
        if not isinstance(numbers, list) or not all(
            isinstance(n, int | float) and not isinstance(n, bool) for n in numbers
        ):
            raise ConfigError(f"profile.rfm.{key}: expected a list of 4 ascending numbers")
        cuts[key] = tuple(numbers)
    try:
        return RfmConfig(**cuts)
    except ValueError as exc:
        raise ConfigError(f"profile.{exc}") from exc
