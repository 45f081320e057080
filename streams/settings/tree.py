"""One frozen settings object, read from the environment (and the YAML file it names) at the edge.

Environment: ``KAFKA_BOOTSTRAP_SERVERS``, ``REDIS_URL``, ``PORTRAIT_CONFIG`` (path of one YAML file
holding every tunable: docs/examples/portrait.yaml; its schema: portrait.schema.json),
``PORTRAIT_METRICS_PORT``, ``PORTRAIT_RULES`` (a rules file: docs/rules.md), the HTTP API's
``PORTRAIT_API_*`` (streams/settings/api.py), and the secrets of
secured services (streams/settings/security.py): ``KAFKA_SASL_PASSWORD[_FILE]``,
``KAFKA_SSL_KEY_PASSWORD[_FILE]``, ``REDIS_PASSWORD[_FILE]``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import msgspec
import yaml
from msgspec import UNSET, UnsetType

from profiles.config import ModelConfig
from profiles.rules import RuleSet
from streams.names import CONSUMER_GROUP
from streams.settings.api import ApiConfig, ApiSection
from streams.settings.base import ConfigError, Section, build, decode, section_of
from streams.settings.identity import IdentityConfig, IdentitySection
from streams.settings.ops import OpsConfig, OpsSection
from streams.settings.profile import ProfileSection
from streams.settings.rules import RulesSource, rules_source
from streams.settings.security import (
    KafkaSecurity,
    KafkaSecuritySection,
    RedisSecurity,
    RedisSecuritySection,
    check_redis_url,
    kafka_security,
    redis_security,
    refuse_secrets,
)
from streams.settings.triggers import TriggersSection
from triggers.config import TriggerConfig

__all__ = ["ConfigError", "PortraitFile", "Settings"]

DEFAULT_KAFKA = "localhost:9092"
DEFAULT_REDIS = "redis://localhost:6379/0"
DEFAULT_METRICS_PORT = 9464


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    # Records per getmany. A caught-up worker gets what has arrived (small batches, low
    # latency); a worker behind gets up to this many, and the per-user work (settle, rules,
    # encode, write) is paid once per user and batch: 50,000 gave 17k events/s against 13k at
    # 20,000 in one bench.throughput run (docs/design.md, "Issue 15"). The fetch buffers
    # (8 MiB per partition) bound a batch too.
    batch_max_records: int = 50_000
    poll_timeout_ms: int = 100
    # How long the broker may hold a fetch that finds no record (Kafka's fetch.max.wait.ms).
    # Kafka answers a waiting fetch as soon as records arrive, so this only paces the empty
    # fetches of an idle worker; Tansu holds it for about half of it before it looks again,
    # which delays a live event by as much (500, aiokafka's default: a 250 ms sawtooth).
    fetch_max_wait_ms: int = 20
    # Offsets are committed at most this often (and always on a rebalance and at stop), not
    # after every batch: a caught-up worker makes a batch of every poll, over a hundred a
    # second at low rates, and each commit was a Kafka round trip in the consume loop. What a
    # crash leaves uncommitted is re-read and skipped by the fence (docs/design.md).
    commit_interval_ms: int = 100
    # The worker's producer (profile.changes, DLQ, forwards): the store of a batch awaits its
    # sends, partition by partition, and the next batch's store awaits that store, so a linger
    # is paid several times per batch (5 ms: +60 ms at 200 events/s; bench/latency.py).
    producer_linger_ms: int = 0
    cache_max_users: int = 200_000
    redis_retry_initial_ms: int = 100
    redis_retry_max_ms: int = 5_000
    startup_timeout_s: float = 20.0
    # On a rebalance, how long the batch in flight may take to be stored before it is given up
    # uncommitted (Redis down): the group waits for this worker's revocation meanwhile.
    revoke_timeout_s: float = 10.0
    show_changes_per_s: float = 0.0  # >0: log a sample of users whose tags changed
    # How often, between batches, the rules' upkeep runs: users whose segments time alone can
    # flip, the changes outbox, a reloaded rules file (streams/pipeline/rules_upkeep.py).
    rules_upkeep_interval_s: float = 1.0
    # How long an erased user's tombstone keeps older writes (a zombie owner's batch, a late
    # re-evaluation) and late trigger feedback from bringing data back (docs/privacy.md).
    erase_tombstone_s: float = 86_400.0


@dataclass(frozen=True, slots=True)
class TopicsConfig:
    partitions: int = 8
    replication_factor: int = 1
    prefix: str = ""  # prepended to every topic and the consumer group (shared clusters, tests)


TopicsSection = section_of(TopicsConfig)
WorkerSection = section_of(WorkerConfig)


def _section(kind: type[Section]) -> Any:
    return msgspec.field(default_factory=kind)


class PortraitFile(Section):
    """The YAML file PORTRAIT_CONFIG names (docs/examples/portrait.yaml; its JSON Schema:
    streams/settings/portrait.schema.json). The environment wins over the first three keys."""

    kafka_bootstrap_servers: str | UnsetType = UNSET
    redis_url: str | UnsetType = UNSET
    metrics_port: Annotated[int, msgspec.Meta(ge=0, le=65535)] | UnsetType = UNSET
    kafka_security: KafkaSecuritySection = _section(KafkaSecuritySection)  # type: ignore[valid-type]
    redis_security: RedisSecuritySection = _section(RedisSecuritySection)  # type: ignore[valid-type]
    topics: TopicsSection = _section(TopicsSection)  # type: ignore[valid-type]
    worker: WorkerSection = _section(WorkerSection)  # type: ignore[valid-type]
    ops: OpsSection = _section(OpsSection)  # type: ignore[valid-type]
    api: ApiSection = _section(ApiSection)  # type: ignore[valid-type]
    profile: ProfileSection = _section(ProfileSection)
    triggers: TriggersSection = _section(TriggersSection)
    identity: IdentitySection = _section(IdentitySection)  # type: ignore[valid-type]
    rules: dict[str, Any] | None = None  # business tags and segments (docs/rules.md)


@dataclass(frozen=True, slots=True)
class Settings:
    kafka_bootstrap_servers: str = DEFAULT_KAFKA
    redis_url: str = DEFAULT_REDIS
    metrics_port: int = DEFAULT_METRICS_PORT
    config_path: str | None = None
    topics: TopicsConfig = field(default_factory=TopicsConfig)
    worker: WorkerConfig = field(default_factory=WorkerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    triggers: TriggerConfig = field(default_factory=TriggerConfig)
    ops: OpsConfig = field(default_factory=OpsConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    identity: IdentityConfig = field(default_factory=IdentityConfig)
    kafka_security: KafkaSecurity = field(default_factory=KafkaSecurity)
    redis_security: RedisSecurity = field(default_factory=RedisSecurity)
    rules_source: RulesSource = field(default_factory=RulesSource)

    @property
    def rules(self) -> RuleSet:
        """The business rules as the source holds them now (read on each access)."""
        return self.rules_source.load()

    def topic(self, name: str) -> str:
        """The full name of one of the topics in :mod:`streams.names`."""
        return self.topics.prefix + name

    @property
    def group_id(self) -> str:
        return self.topics.prefix + CONSUMER_GROUP

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        path = env.get("PORTRAIT_CONFIG") or None
        data = load_yaml(path) if path else {}
        refuse_secrets(data)
        file = decode({k: v for k, v in data.items() if v is not None}, PortraitFile)
        redis_url = _redis_url(env, file.redis_url)
        return cls(
            kafka_bootstrap_servers=_bootstrap(env, file.kafka_bootstrap_servers),
            redis_url=redis_url,
            metrics_port=_port(env, file.metrics_port),
            config_path=path,
            topics=build(TopicsConfig, file.topics),
            worker=build(WorkerConfig, file.worker),
            model=file.profile.to_config(),
            triggers=file.triggers.to_config(),
            ops=OpsConfig.load(file.ops, env),
            api=ApiConfig.load(file.api, env),
            identity=build(IdentityConfig, file.identity),
            kafka_security=kafka_security(file.kafka_security, env),
            redis_security=redis_security(file.redis_security, env, redis_url),
            rules_source=_checked(rules_source(env, path, file.rules)),
        )


def _checked(source: RulesSource) -> RulesSource:
    """The source, once its rules have been read without error (start-up fails early)."""
    source.load()
    return source


def _redis_url(env: Mapping[str, str], url: str | UnsetType) -> str:
    if env.get("REDIS_URL"):
        return check_redis_url(env["REDIS_URL"], "REDIS_URL")
    return check_redis_url(DEFAULT_REDIS if url is UNSET else url, "redis_url")


def _port(env: Mapping[str, str], port: int | UnsetType) -> int:
    if "PORTRAIT_METRICS_PORT" not in env:
        return DEFAULT_METRICS_PORT if port is UNSET else port
    raw = env["PORTRAIT_METRICS_PORT"]
    try:
        port = int(raw)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise ConfigError(f"PORTRAIT_METRICS_PORT is not a port number: {raw!r}")
    return port


def _bootstrap(env: Mapping[str, str], servers: str | UnsetType) -> str:
    """``host[:port],...``: a port that is not a number is refused here, in one line (aiokafka
    would raise a ValueError from deep inside its start)."""
    source, value = (
        ("KAFKA_BOOTSTRAP_SERVERS", env["KAFKA_BOOTSTRAP_SERVERS"])
        if env.get("KAFKA_BOOTSTRAP_SERVERS")
        else ("kafka_bootstrap_servers", DEFAULT_KAFKA if servers is UNSET else servers)
    )
    for server in value.split(","):
        host, colon, port = server.strip().rpartition(":")
        if not colon:
            host, port = port, "9092"
        if not host or not port.isdigit() or not 0 < int(port) <= 65535:
            raise ConfigError(f"{source} {value!r}: each server must be host:port")
    return value


def load_yaml(path: str) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read PORTRAIT_CONFIG {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"PORTRAIT_CONFIG {path} is not UTF-8 text") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"PORTRAIT_CONFIG {path} is not valid YAML: {exc}") from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"PORTRAIT_CONFIG {path} must hold a mapping at the top level")
    return loaded
