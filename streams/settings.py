"""One frozen settings object, read from the environment (and the YAML file it names) at the edge.

Environment: ``KAFKA_BOOTSTRAP_SERVERS``, ``REDIS_URL``, ``PORTRAIT_CONFIG`` (path of one YAML file
holding every tunable, see docs/configuration.md), ``PORTRAIT_METRICS_PORT``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from profiles.constants import CONSUMER_GROUP
from profiles.durations import parse_duration_ms
from profiles.model import ModelConfig

_T = TypeVar("_T")

DEFAULT_KAFKA = "localhost:9092"
DEFAULT_REDIS = "redis://localhost:6379/0"
DEFAULT_METRICS_PORT = 9464


class ConfigError(ValueError):
    """The configuration file or environment holds a value Portrait cannot use."""


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    batch_max_records: int = 20_000
    poll_timeout_ms: int = 100
    cache_max_users: int = 200_000
    redis_retry_initial_ms: int = 100
    redis_retry_max_ms: int = 5_000
    startup_timeout_s: float = 20.0
    show_changes_per_s: float = 0.0  # >0: log a sample of users whose tags changed


@dataclass(frozen=True, slots=True)
class TopicsConfig:
    partitions: int = 8
    replication_factor: int = 1
    prefix: str = ""  # prepended to every topic and the consumer group (shared clusters, tests)


@dataclass(frozen=True, slots=True)
class Settings:
    kafka_bootstrap_servers: str = DEFAULT_KAFKA
    redis_url: str = DEFAULT_REDIS
    metrics_port: int = DEFAULT_METRICS_PORT
    config_path: str | None = None
    topics: TopicsConfig = field(default_factory=TopicsConfig)
    worker: WorkerConfig = field(default_factory=WorkerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)

    def topic(self, name: str) -> str:
        """The full name of one of the topics in :mod:`profiles.constants`."""
        return self.topics.prefix + name

    @property
    def group_id(self) -> str:
        return self.topics.prefix + CONSUMER_GROUP

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        path = env.get("PORTRAIT_CONFIG") or None
        data = load_yaml(path) if path else {}
        unknown = set(data) - TOP_LEVEL_KEYS
        if unknown:
            raise ConfigError(f"unknown top-level keys in {path}: {sorted(unknown)}")
        return cls(
            kafka_bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS")
            or str(data.get("kafka_bootstrap_servers", DEFAULT_KAFKA)),
            redis_url=env.get("REDIS_URL") or str(data.get("redis_url", DEFAULT_REDIS)),
            metrics_port=_port(env, data),
            config_path=path,
            topics=_section(TopicsConfig, data.get("topics")),
            worker=_section(WorkerConfig, data.get("worker")),
            model=_model_section(data.get("profile")),
        )


TOP_LEVEL_KEYS = frozenset(
    {"kafka_bootstrap_servers", "redis_url", "metrics_port", "topics", "worker", "profile"}
)


def _port(env: Mapping[str, str], data: dict[str, Any]) -> int:
    source, raw = (
        ("PORTRAIT_METRICS_PORT", env["PORTRAIT_METRICS_PORT"])
        if "PORTRAIT_METRICS_PORT" in env
        else ("metrics_port", data.get("metrics_port", DEFAULT_METRICS_PORT))
    )
    try:
        port = int(raw) if not isinstance(raw, bool | float) else -1
    except (TypeError, ValueError):
        port = -1
    if not 0 <= port <= 65535:
        raise ConfigError(f"{source} is not a port number: {raw!r}")
    return port


def load_yaml(path: str) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read PORTRAIT_CONFIG {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"PORTRAIT_CONFIG {path} is not valid YAML: {exc}") from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"PORTRAIT_CONFIG {path} must hold a mapping at the top level")
    return loaded


def _section(kind: type[_T], raw: object) -> _T:
    if raw is None:
        return kind()
    if not isinstance(raw, dict):
        raise ConfigError(f"{kind.__name__}: expected a mapping, got {type(raw).__name__}")
    names = {f.name: f for f in dataclasses.fields(kind)}  # type: ignore[arg-type]
    unknown = set(raw) - set(names)
    if unknown:
        raise ConfigError(f"unknown keys for {kind.__name__}: {sorted(unknown)}")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            values[key] = _coerce(names[key].default, value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{kind.__name__}.{key}: {exc}") from exc
    return kind(**values)


def _coerce(default: object, value: object) -> object:
    """Convert ``value`` to the type of the field's default (int, float, str or bool)."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise TypeError(f"expected true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)  # a quoted number in YAML
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"expected a whole number, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"expected a number, got {value!r}")
        return float(value)
    if isinstance(default, str):
        return str(value)
    return value


_MODEL_DURATIONS = {"dedupe_window": "dedupe_window_ms", "cart_window": "cart_window_ms"}


def _model_section(raw: object) -> ModelConfig:
    if raw is None:
        return ModelConfig()
    if not isinstance(raw, dict):
        raise ConfigError("profile: expected a mapping")
    converted: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _MODEL_DURATIONS:
            try:
                converted[_MODEL_DURATIONS[key]] = parse_duration_ms(value)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"profile.{key}: {exc}") from exc
        else:
            converted[key] = value
    model = _section(ModelConfig, converted)
    if model.bucket_days < 30:
        raise ConfigError("profile.bucket_days must be at least 30 (the longest window)")
    return model
