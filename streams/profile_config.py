"""The ``profile:`` section of the YAML configuration -> :class:`profiles.config.ModelConfig`.

Durations are written like ``24h`` or ``30d``; ``price_reference`` names a JSON file
(``{category: typical price}``, e.g. from ``portrait price-reference``); ``rfm:`` and
``layers:`` are sub-sections (docs/examples/portrait.yaml lists every key with its default).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

from profiles.config import LayerConfig, ModelConfig, RfmConfig
from profiles.durations import parse_duration_ms
from profiles.events import EVENT_TYPES
from profiles.timeutil import valid_zone
from streams.config_base import ConfigError, section

_DURATIONS: Final = {
    "dedupe_window": "dedupe_window_ms",
    "cart_window": "cart_window_ms",
    "affinity_half_life": "affinity_half_life_ms",
    "active_hours_half_life": "active_hours_half_life_ms",
}
_RFM_KEYS: Final = ("recency_days", "frequency_orders", "monetary_spend")


def model_config(raw: object) -> ModelConfig:
    if raw is None:
        return ModelConfig()
    if not isinstance(raw, dict):
        raise ConfigError("profile: expected a mapping")
    converted: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _DURATIONS:
            converted[_DURATIONS[key]] = _duration(key, value)
        elif key == "price_reference":
            converted[key] = None if value is None else load_price_reference(str(value))
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


def load_price_reference(path: str) -> dict[str, float]:
    """A ``{category: typical price}`` JSON file, every price a positive number."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"profile.price_reference: cannot read {path}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"profile.price_reference: {path} is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"profile.price_reference: {path} must hold an object")
    table: dict[str, float] = {}
    for category, price in data.items():
        if isinstance(price, bool) or not isinstance(price, int | float) or not price > 0:
            raise ConfigError(f"profile.price_reference: {category!r} has no positive price")
        table[str(category)] = float(price)
    return table


def _duration(key: str, value: Any) -> int:
    try:
        return parse_duration_ms(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"profile.{key}: {exc}") from exc


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
