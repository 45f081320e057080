"""The documented example config is a runnable file: it loads, and it states the defaults."""

from __future__ import annotations

from pathlib import Path

from streams.settings.tree import Settings

EXAMPLE = Path(__file__).resolve().parents[4] / "docs" / "examples" / "portrait.yaml"


def test_example_config_loads_and_matches_the_defaults() -> None:
    loaded = Settings.from_env({"PORTRAIT_CONFIG": str(EXAMPLE)})
    defaults = Settings()
    assert loaded.topics == defaults.topics
    assert loaded.worker == defaults.worker
    assert loaded.model == defaults.model
    assert loaded.triggers == defaults.triggers
    assert loaded.ops == defaults.ops
    assert loaded.kafka_security == defaults.kafka_security
    assert loaded.redis_security == defaults.redis_security
    assert loaded.kafka_bootstrap_servers == defaults.kafka_bootstrap_servers
    assert loaded.redis_url == defaults.redis_url
    assert loaded.metrics_port == defaults.metrics_port


def test_example_lists_every_security_key_but_the_secrets() -> None:
    import dataclasses

    import yaml

    from streams.settings.security import KafkaSecurity, RedisSecurity

    raw = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    for name, kind, secrets in (
        ("kafka_security", KafkaSecurity, {"sasl_password", "ssl_key_password"}),
        ("redis_security", RedisSecurity, {"password"}),
    ):
        assert set(raw[name]) == {f.name for f in dataclasses.fields(kind)} - secrets
