"""Settings.from_env: the YAML file named by PORTRAIT_CONFIG, and the environment over it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from profiles.config import LayerConfig, ModelConfig, RfmConfig
from streams.settings.tree import (
    DEFAULT_KAFKA,
    DEFAULT_METRICS_PORT,
    DEFAULT_REDIS,
    ConfigError,
    Settings,
    TopicsConfig,
    WorkerConfig,
)

FULL = """\
kafka_bootstrap_servers: kafka-1:9092,kafka-2:9092
redis_url: redis://redis:6379/2
metrics_port: 9100
topics:
  partitions: 16
  replication_factor: 3
  prefix: "staging."
worker:
  batch_max_records: 5000
  poll_timeout_ms: 250
  cache_max_users: 1000
  redis_retry_initial_ms: 20
  redis_retry_max_ms: 2000
  startup_timeout_s: 7.5
  show_changes_per_s: 2
profile:
  dedupe_window: 12h
  dedupe_max_ids: 500
  cart_window: 14d
  bucket_days: 200
"""


def settings_from(tmp_path: Path, text: str | None, **env: str) -> Settings:
    """Settings from a YAML text (None: no file) and an explicit environment."""
    environ: dict[str, str] = dict(env)
    if text is not None:
        path = tmp_path / "portrait.yaml"
        path.write_text(text, encoding="utf-8")
        environ["PORTRAIT_CONFIG"] = str(path)
    return Settings.from_env(environ)


def test_defaults_without_a_file(tmp_path: Path) -> None:
    settings = settings_from(tmp_path, None)
    assert settings == Settings()
    assert (settings.kafka_bootstrap_servers, settings.redis_url, settings.metrics_port) == (
        DEFAULT_KAFKA,
        DEFAULT_REDIS,
        DEFAULT_METRICS_PORT,
    )
    assert settings.config_path is None
    assert settings.topic("events") == "events"
    assert settings.group_id == "portrait-worker"


@pytest.mark.parametrize("text", ["", "# nothing set\n", "---\n", "topics:\nworker:\nprofile:\n"])
def test_empty_file_or_sections_mean_defaults(tmp_path: Path, text: str) -> None:
    settings = settings_from(tmp_path, text)
    assert (settings.topics, settings.worker, settings.model) == (
        TopicsConfig(),
        WorkerConfig(),
        ModelConfig(),
    )


def test_every_section(tmp_path: Path) -> None:
    settings = settings_from(tmp_path, FULL)
    assert settings.kafka_bootstrap_servers == "kafka-1:9092,kafka-2:9092"
    assert settings.redis_url == "redis://redis:6379/2"
    assert settings.metrics_port == 9100
    assert settings.config_path == str(tmp_path / "portrait.yaml")
    assert settings.topics == TopicsConfig(partitions=16, replication_factor=3, prefix="staging.")
    assert settings.worker == WorkerConfig(
        batch_max_records=5000,
        poll_timeout_ms=250,
        cache_max_users=1000,
        redis_retry_initial_ms=20,
        redis_retry_max_ms=2000,
        startup_timeout_s=7.5,
        show_changes_per_s=2.0,
    )
    assert settings.model == ModelConfig(
        dedupe_window_ms=12 * 3_600_000,
        dedupe_max_ids=500,
        cart_window_ms=14 * 86_400_000,
        bucket_days=200,
    )
    assert settings.topic("events") == "staging.events"
    assert settings.topic("events.dlq") == "staging.events.dlq"
    assert settings.group_id == "staging.portrait-worker"


@pytest.mark.parametrize(
    "text,section,expected",
    [
        ("topics: {partitions: 4}", "topics", TopicsConfig(partitions=4)),
        ("topics: {prefix: t1.}", "topics", TopicsConfig(prefix="t1.")),
        ("worker: {startup_timeout_s: 3}", "worker", WorkerConfig(startup_timeout_s=3.0)),
        ("worker: {poll_timeout_ms: '50'}", "worker", WorkerConfig(poll_timeout_ms=50)),
        ("profile: {dedupe_window: 90m}", "model", ModelConfig(dedupe_window_ms=5_400_000)),
        ("profile: {dedupe_window: 3600}", "model", ModelConfig(dedupe_window_ms=3_600_000)),
        ("profile: {dedupe_window_ms: 1000}", "model", ModelConfig(dedupe_window_ms=1000)),
        ("profile: {cart_window: 1w}", "model", ModelConfig(cart_window_ms=604_800_000)),
        ("profile: {dedupe_max_ids: 10}", "model", ModelConfig(dedupe_max_ids=10)),
        (
            "profile: {affinity_half_life: 7d, active_hours_half_life: 2w}",
            "model",
            ModelConfig(
                affinity_half_life_ms=7 * 86_400_000, active_hours_half_life_ms=14 * 86_400_000
            ),
        ),
        (
            "profile: {affinity_weights: {view: 0.5, purchase: 10}}",
            "model",
            ModelConfig(affinity_weights={"view": 0.5, "purchase": 10.0}),
        ),
        (
            "profile: {rfm: {recency_days: [1, 2, 3, 4]}}",
            "model",
            ModelConfig(rfm=RfmConfig(recency_days=(1, 2, 3, 4))),
        ),
        (
            "profile: {layers: {churn_risk_days: 90}, default_timezone: Asia/Shanghai}",
            "model",
            ModelConfig(layers=LayerConfig(churn_risk_days=90), default_timezone="Asia/Shanghai"),
        ),
    ],
)
def test_partial_sections_keep_other_defaults(
    tmp_path: Path, text: str, section: str, expected: Any
) -> None:
    assert getattr(settings_from(tmp_path, text), section) == expected


@pytest.mark.parametrize(
    "env,expected",
    [
        ({}, ("kafka-1:9092,kafka-2:9092", "redis://redis:6379/2", 9100)),
        ({"KAFKA_BOOTSTRAP_SERVERS": "k:1"}, ("k:1", "redis://redis:6379/2", 9100)),
        ({"REDIS_URL": "redis://r:1/0"}, ("kafka-1:9092,kafka-2:9092", "redis://r:1/0", 9100)),
        ({"PORTRAIT_METRICS_PORT": "0"}, ("kafka-1:9092,kafka-2:9092", "redis://redis:6379/2", 0)),
        (
            {
                "KAFKA_BOOTSTRAP_SERVERS": "k:1",
                "REDIS_URL": "redis://r:1/0",
                "PORTRAIT_METRICS_PORT": "9999",
            },
            ("k:1", "redis://r:1/0", 9999),
        ),
        # an empty variable means unset
        (
            {"KAFKA_BOOTSTRAP_SERVERS": "", "REDIS_URL": ""},
            ("kafka-1:9092,kafka-2:9092", "redis://redis:6379/2", 9100),
        ),
    ],
)
def test_environment_overrides_the_file(
    tmp_path: Path, env: dict[str, str], expected: tuple[str, str, int]
) -> None:
    settings = settings_from(tmp_path, FULL, **env)
    assert (settings.kafka_bootstrap_servers, settings.redis_url, settings.metrics_port) == expected
    assert settings.topics.partitions == 16  # the rest still comes from the file


@pytest.mark.parametrize(
    "text,match",
    [
        # unknown keys, in every section
        ("topics: {partitons: 4}", "partitons"),
        ("worker: {batch_size: 10}", "batch_size"),
        ("profile: {dedupe: 1h}", "dedupe"),
        ("profile: {closed_cart_retention: 7d}", "closed_cart_retention"),
        ("wroker: {batch_max_records: 10}", "wroker"),  # top level: a typo of a section
        ("kafka_bootstrap_server: k:9092", "kafka_bootstrap_server"),
        # sections that are not mappings
        ("topics: 8", "topics: expected a mapping, got 8"),
        ("worker: [batch_max_records]", "worker: expected a mapping"),
        ("profile: 24h", "profile"),
        # values of the wrong type
        ("topics: {partitions: many}", "partitions"),
        ("topics: {partitions: true}", "partitions"),
        ("worker: {poll_timeout_ms: 100ms}", "poll_timeout_ms"),
        ("worker: {startup_timeout_s: [1]}", "startup_timeout_s"),
        ("worker: {cache_max_users: null}", "cache_max_users"),
        ("profile: {dedupe_max_ids: lots}", "dedupe_max_ids"),
        ("profile: {dedupe_window: soon}", "dedupe_window"),
        ("profile: {dedupe_window: -1h}", "dedupe_window"),
        ("profile: {cart_window: true}", "cart_window"),
        ("profile: {dedupe_window: null}", "dedupe_window"),  # `dedupe_window:` left empty
        ("profile: {dedupe_window: [1h]}", "dedupe_window"),
        ("profile: {cart_window: .inf}", "cart_window"),
        ("profile: {bucket_days: 30}", "bucket_days must be at least 180"),
        ("profile: {affinity_weights: {teleport: 1}}", "teleport"),
        ("profile: {affinity_weights: {view: -1}}", "affinity_weights.view"),
        ("profile: {rfm: {recency_days: [30, 7, 90, 180]}}", "rfm.recency_days"),
        ("profile: {rfm: {recency_days: [1, 2]}}", "rfm.recency_days"),
        ("profile: {rfm: {recency: [1, 2, 3, 4]}}", "recency"),
        ("profile: {layers: {vip_spend: 1}}", "vip_spend"),
        ("profile: {default_timezone: Mars/Olympus}", "Mars/Olympus"),
        ("profile: {price_reference: /nonexistent/prices.json}", "price_reference"),
        ("profile: {price_band_low: 2.0, price_band_high: 1.0}", "price_band_low"),
        ("metrics_port: http", "metrics_port"),
        # not YAML, or not a mapping
        ("worker: [unclosed", "YAML"),
        ("topics:\n\tpartitions: 4\n", "YAML"),  # a tab
        ("a: b: c", "YAML"),
        ("- topics\n- worker\n", "mapping"),
        ("just a string", "mapping"),
    ],
)
def test_bad_config_raises_config_error(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        settings_from(tmp_path, text)


def test_price_reference_file_is_loaded(tmp_path: Path) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text('{"shoes": 50, "tv": 499.5}')
    model = settings_from(tmp_path, f"profile: {{price_reference: {prices}}}").model
    assert model.price_reference == {"shoes": 50.0, "tv": 499.5}


@pytest.mark.parametrize("content", ["[1, 2]", '{"shoes": 0}', '{"shoes": "cheap"}', "{oops"])
def test_bad_price_reference_file(tmp_path: Path, content: str) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(content)
    with pytest.raises(ConfigError, match="price_reference"):
        settings_from(tmp_path, f"profile: {{price_reference: {prices}}}")


@pytest.mark.parametrize("port", ["http", "", "9.5"])
def test_bad_metrics_port_in_the_environment(tmp_path: Path, port: str) -> None:
    with pytest.raises(ConfigError, match="PORTRAIT_METRICS_PORT"):
        settings_from(tmp_path, None, PORTRAIT_METRICS_PORT=port)


def test_missing_file_raises_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        Settings.from_env({"PORTRAIT_CONFIG": str(tmp_path / "nope.yaml")})


def test_empty_config_variable_means_no_file() -> None:
    assert Settings.from_env({"PORTRAIT_CONFIG": ""}) == Settings()


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)


SECURED = """\
kafka_security:
  protocol: sasl_ssl
  sasl_mechanism: scram-sha-512
  sasl_username: portrait
  ssl_check_hostname: false
redis_security:
  username: portrait
"""


def test_secured_services_non_secret_parts_from_the_file_secrets_from_the_environment(
    tmp_path: Path,
) -> None:
    secret_file = tmp_path / "redis-password"
    secret_file.write_text("redis-pw\n")  # the trailing newline of `echo pw > file` is dropped
    settings = settings_from(
        tmp_path, SECURED, KAFKA_SASL_PASSWORD="kafka-pw", REDIS_PASSWORD_FILE=str(secret_file)
    )
    kafka = settings.kafka_security
    assert (kafka.protocol, kafka.sasl_mechanism, kafka.sasl_username) == (
        "SASL_SSL",
        "SCRAM-SHA-512",
        "portrait",
    )
    assert (kafka.sasl_password, kafka.ssl_check_hostname, kafka.sasl, kafka.tls) == (
        "kafka-pw",
        False,
        True,
        True,
    )
    assert (settings.redis_security.username, settings.redis_security.password) == (
        "portrait",
        "redis-pw",
    )


def test_a_kafka_password_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "kafka-password"
    secret_file.write_text("from-a-file")
    settings = settings_from(tmp_path, SECURED, KAFKA_SASL_PASSWORD_FILE=str(secret_file))
    assert settings.kafka_security.sasl_password == "from-a-file"


@pytest.mark.parametrize("url", ["redis://h:6379/0", "rediss://u:p@h:6380/1", "unix:///tmp/r.sock"])
def test_redis_url_schemes_accepted(tmp_path: Path, url: str) -> None:
    assert settings_from(tmp_path, None, REDIS_URL=url).redis_url == url


@pytest.mark.parametrize(
    "text,env,match",
    [
        # secrets are never read from the file
        ("kafka_security: {sasl_password: s3cret}", {},
         "set KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE"),
        ("kafka_security: {ssl_key_password: s3cret}", {}, "set KAFKA_SSL_KEY_PASSWORD"),
        ("redis_security: {password: s3cret}", {}, "set REDIS_PASSWORD or REDIS_PASSWORD_FILE"),
        ("redis_security: {secret: s3cret}", {}, "secrets are not read from PORTRAIT_CONFIG"),
        ("redis_url: redis://u:s3cret@h:6379/0", {},
         "redis_url in PORTRAIT_CONFIG holds a password"),
        ("redis_url: foo://u:s3cret@h:6379/0", {}, r"'foo://u:\*\*\*@h:6379/0': scheme must be"),
        # REDIS_URL
        ("", {"REDIS_URL": "foo://x"}, "scheme must be redis://, rediss://, unix:// or, for a"),
        ("", {"REDIS_URL": "localhost:6379"}, "scheme must be"),
        ("redis_url: http://h/0", {}, "redis_url 'http://h/0': scheme must be"),
        # Kafka
        ("kafka_security: {protocol: TLS}", {}, "protocol must be one of PLAINTEXT, SSL"),
        ("kafka_security: {protocol: SASL_SSL, sasl_mechanism: GSSAPI, sasl_username: u}",
         {"KAFKA_SASL_PASSWORD": "p"}, "sasl_mechanism must be one of PLAIN, SCRAM-SHA-256"),
        ("kafka_security: {protocol: SASL_SSL}", {"KAFKA_SASL_PASSWORD": "p"},
         "sasl_username is required with SASL_SSL"),
        ("kafka_security: {protocol: SASL_PLAINTEXT, sasl_username: u}", {},
         "set KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE"),
        ("", {"KAFKA_SASL_PASSWORD": "s3cret"}, "kafka_security.protocol is PLAINTEXT"),
        ("kafka_security: {ssl_cafile: /etc/hosts}", {}, "ssl_cafile is set: it needs protocol"),
        ("kafka_security: {protocol: SSL, ssl_cafile: /nonexistent/ca.pem}", {},
         "ssl_cafile: cannot read /nonexistent/ca.pem"),
        ("kafka_security: {protocol: SSL, ssl_cafile: /etc/hosts}", {},
         "cannot load the TLS certificates"),
        ("kafka_security: {protocol: SSL, ssl_keyfile: /etc/hosts}", {},
         "ssl_keyfile is set without kafka_security.ssl_certfile"),
        ("kafka_security: {protocol: SSL}", {"KAFKA_SSL_KEY_PASSWORD": "p"},
         "KAFKA_SSL_KEY_PASSWORD is set but kafka_security.ssl_keyfile is not"),
        ("kafka_security: {protocol: SSL, ssl_check_hostname: maybe}", {}, "ssl_check_hostname"),
        ("kafka_security: {sasl_user: u}", {}, "sasl_user"),
        ("kafka_security: SASL_SSL", {}, "kafka_security: expected a mapping, got 'SASL_SSL'"),
        # Redis
        ("redis_security: {ssl_ca_certs: /etc/hosts}", {}, "needs a rediss:// REDIS_URL"),
        ("", {"REDIS_URL": "rediss://h/0", "REDIS_PASSWORD": "a", "REDIS_PASSWORD_FILE": "/f"},
         "both REDIS_PASSWORD and REDIS_PASSWORD_FILE are set"),
        ("", {"REDIS_URL": "redis://:s3cret@h/0", "REDIS_PASSWORD": "b"},
         "REDIS_URL holds a password and REDIS_PASSWORD"),
        ("redis_security: {username: u}", {"REDIS_URL": "redis://v@h/0"}, "REDIS_URL names a user"),
        ("", {"REDIS_PASSWORD_FILE": "/nonexistent/pw"}, "cannot read REDIS_PASSWORD_FILE"),
    ],
)  # fmt: skip
def test_bad_security_config(tmp_path: Path, text: str, env: dict[str, str], match: str) -> None:
    with pytest.raises(ConfigError, match=match) as caught:
        settings_from(tmp_path, text, **env)
    assert "\n" not in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_an_empty_secret_file_is_an_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(ConfigError, match=r"REDIS_PASSWORD_FILE .* is empty"):
        settings_from(tmp_path, None, REDIS_PASSWORD_FILE=str(empty))
