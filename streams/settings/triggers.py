"""The ``triggers:`` section of the YAML configuration -> :class:`triggers.config.TriggerConfig`.

Durations are written like ``45s``, ``30m`` or ``24h``; quiet hours as ``{start: "22:00",
end: "08:00"}`` or ``null``; caps per channel as ``{day: 2, week: 6}`` (``null``: no cap).
docs/triggers.md lists every key with its default.
"""

from __future__ import annotations

import dataclasses
import re
from types import MappingProxyType
from typing import Any, Final

from profiles.durations import parse_duration_ms
from streams.settings.base import ConfigError, coerce
from triggers.config import (
    CHANNELS,
    KINDS,
    Cap,
    KindConfig,
    PolicyConfig,
    SchedulerConfig,
    TriggerConfig,
    WinBackConfig,
)

_CLOCK: Final = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_WIN_BACK_KEYS: Final = frozenset(f.name for f in dataclasses.fields(WinBackConfig))


def trigger_config(raw: object) -> TriggerConfig:
    if raw is None:
        return TriggerConfig()
    data = _mapping("triggers", raw)
    base = TriggerConfig()
    kinds = dict(base.kinds)
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key in KINDS:
            kinds[key] = _kind(key, value, kinds[key])
            if key == "win_back":
                values["win_back"] = _win_back(value)
        elif key == "enabled":
            values[key] = coerce(True, value) if isinstance(value, bool) else _bad(key, value)
        elif key == "policy":
            values[key] = _policy(value)
        elif key == "scheduler":
            values[key] = _scheduler(value)
        elif key == "cost":
            values[key] = MappingProxyType({**base.cost, **_per_channel(key, value, float)})
        elif key == "topics":
            values[key] = MappingProxyType({**base.topics, **_per_channel(key, value, str)})
        elif key == "recall_window":
            values["recall_window_ms"] = _duration(key, value)
        else:
            raise ConfigError(f"triggers: unknown key {key!r}")
    return dataclasses.replace(base, kinds=MappingProxyType(kinds), **values)


def _mapping(where: str, raw: object) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(raw).__name__}")
    return raw


def _bad(where: str, value: object) -> Any:
    raise ConfigError(f"triggers.{where}: unusable value {value!r}")


def _duration(where: str, value: object) -> int:
    try:
        return parse_duration_ms(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"triggers.{where}: {exc}") from exc


def _channels(where: str, value: object) -> tuple[str, ...]:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names or any(n not in CHANNELS for n in names):
        raise ConfigError(f"triggers.{where}: expected channels among {list(CHANNELS)}")
    return tuple(names)


def _kind(name: str, raw: object, base: KindConfig) -> KindConfig:
    data = _mapping(f"triggers.{name}", raw)
    out: dict[str, Any] = {}
    for key, value in data.items():
        where = f"{name}.{key}"
        if key in ("delay", "ttl"):
            out[f"{key}_ms"] = _duration(where, value)
        elif key == "channels":
            out[key] = _channels(where, value)
        elif key in ("enabled", "priority", "at_active_hour"):
            out[key] = _coerce(where, getattr(base, key), value)
        elif name == "win_back" and key in _WIN_BACK_KEYS:
            continue
        else:
            raise ConfigError(f"triggers.{name}: unknown key {key!r}")
    return dataclasses.replace(base, **out)


def _win_back(raw: object) -> WinBackConfig:
    data = _mapping("triggers.win_back", raw)
    out: dict[str, Any] = {}
    for key in _WIN_BACK_KEYS & set(data):
        value = data[key]
        if key.endswith("_channels"):
            out[key] = _channels(f"win_back.{key}", value)
        elif key == "vip_segments":
            values = value if isinstance(value, list) else [value]
            out[key] = tuple(_text(f"win_back.{key}", v) for v in values)
        else:
            out[key] = _text(f"win_back.{key}", value)
    return WinBackConfig(**out)


def _policy(raw: object) -> PolicyConfig:
    data = _mapping("triggers.policy", raw)
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == "quiet_hours":
            if value is None:
                out["quiet_start_min"] = None
            else:
                q = _mapping("triggers.policy.quiet_hours", value)
                if set(q) != {"start", "end"}:
                    raise ConfigError("triggers.policy.quiet_hours: expected start and end")
                out["quiet_start_min"] = _clock("quiet_hours.start", q["start"])
                out["quiet_end_min"] = _clock("quiet_hours.end", q["end"])
        elif key == "caps":
            caps = dict(PolicyConfig().caps)
            for channel, cap in _per_channel("policy.caps", value, dict).items():
                caps[channel] = _cap(channel, cap, caps.get(channel) or Cap())
            out["caps"] = MappingProxyType(caps)
        elif key in ("min_gap", "dedupe"):
            out[f"{key}_ms"] = _duration(f"policy.{key}", value)
        else:
            raise ConfigError(f"triggers.policy: unknown key {key!r}")
    return PolicyConfig(**out)


def _text(where: str, value: object) -> str:
    if not isinstance(value, str | int | float) or isinstance(value, bool) or value == "":
        raise ConfigError(f"triggers.{where}: expected a name, got {value!r}")
    return str(value)


def _clock(where: str, value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        return value  # YAML 1.1 reads an unquoted 22:30 as the base-60 number 1350 (minutes)
    match = _CLOCK.match(str(value))
    if match is None:
        raise ConfigError(f"triggers.policy.{where}: expected HH:MM, got {value!r}")
    return int(match.group(1)) * 60 + int(match.group(2))


def _cap(channel: str, raw: dict[str, Any], default: Cap) -> Cap:
    """Keys left out keep their default; ``null`` removes that cap."""
    unknown = set(raw) - {"day", "week"}
    if unknown:
        raise ConfigError(f"triggers.policy.caps.{channel}: unknown keys {sorted(unknown)}")
    values = {"day": default.day, "week": default.week}
    for key in set(raw):
        v = raw[key]
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            raise ConfigError(f"triggers.policy.caps.{channel}.{key}: expected a count or null")
        values[key] = v
    return Cap(**values)


def _per_channel(where: str, raw: object, kind: type) -> dict[str, Any]:
    data = _mapping(f"triggers.{where}", raw)
    unknown = set(data) - set(CHANNELS)
    if unknown:
        raise ConfigError(f"triggers.{where}: unknown channels {sorted(unknown)}")
    out = {}
    for channel, value in data.items():
        if kind is float:
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ConfigError(f"triggers.{where}.{channel}: expected a number >= 0")
            value = float(value)
        elif kind is str:
            value = _text(f"{where}.{channel}", value)
        elif not isinstance(value, dict):
            raise ConfigError(f"triggers.{where}.{channel}: expected a mapping")
        out[channel] = value
    return out


def _scheduler(raw: object) -> SchedulerConfig:
    data = _mapping("triggers.scheduler", raw)
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("poll", "lease", "overdue"):
            out[f"{key}_ms"] = _duration(f"scheduler.{key}", value)
        elif key == "batch":
            out[key] = _coerce("scheduler.batch", 1, value)
            if out[key] < 1:
                raise ConfigError("triggers.scheduler.batch: expected at least 1")
        else:
            raise ConfigError(f"triggers.scheduler: unknown key {key!r}")
    return SchedulerConfig(**out)


def _coerce(where: str, default: object, value: object) -> Any:
    try:
        return coerce(default, value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"triggers.{where}: {exc}") from exc
