"""The ops loop's tunables: the ``ops:`` YAML section, overridden by environment variables
(docs/operations.md): ``PORTRAIT_LAG_INTERVAL_S`` (5), ``PORTRAIT_CENSUS_INTERVAL_S`` (60; 0 turns
the census off), ``PORTRAIT_CENSUS_SAMPLE`` (2000)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from streams.settings.base import ConfigError, Section, build, decode, section_of

_LAG_S, _CENSUS_S, _SAMPLE = 5.0, 60.0, 2000


@dataclass(frozen=True, slots=True)
class OpsConfig:
    lag_interval_s: float = _LAG_S
    census_interval_s: float = _CENSUS_S
    census_sample: int = _SAMPLE

    @classmethod
    def load(cls, raw: object, env: Mapping[str, str]) -> OpsConfig:
        """The YAML section (decoded already, or a mapping), then the environment over it."""
        if not isinstance(raw, Section):
            raw = decode({} if raw is None else raw, OpsSection, "ops")
        base = build(cls, raw)
        return dataclasses.replace(
            base,
            lag_interval_s=_number(env, "PORTRAIT_LAG_INTERVAL_S", base.lag_interval_s, 0.1),
            census_interval_s=_number(env, "PORTRAIT_CENSUS_INTERVAL_S", base.census_interval_s),
            census_sample=int(_number(env, "PORTRAIT_CENSUS_SAMPLE", base.census_sample, 1)),
        )


OpsSection = section_of(OpsConfig)


def _number(env: Mapping[str, str], name: str, default: float, low: float = 0.0) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} is not a number: {raw!r}") from None
    if value < low:
        raise ConfigError(f"{name} must be at least {low}: {raw!r}")
    return value
