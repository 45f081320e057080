"""Config errors name the YAML path, the expected type and the closest valid key, in one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.settings.base import ConfigError, _is_struct, _strip, _union, decode
from streams.settings.tree import PortraitFile, Settings


def load(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "portrait.yaml"
    path.write_text(text, encoding="utf-8")
    return Settings.from_env({"PORTRAIT_CONFIG": str(path)})


@pytest.mark.parametrize(
    "text,message",
    [
        # a typo: the path, and the closest key
        ("profile: {layers: {dormant_dys: 3}}",
         "profile.layers.dormant_dys: unknown key; did you mean dormant_days?"),
        ("profile: {cart_windw: 3d}", "profile.cart_windw: unknown key; did you mean cart_window?"),
        ("worker: {batch_max_record: 5}",
         "worker.batch_max_record: unknown key; did you mean batch_max_records?"),
        ("topics: {partitons: 4}", "topics.partitons: unknown key; did you mean partitions?"),
        ("ops: {census_sampel: 5}", "ops.census_sampel: unknown key; did you mean census_sample?"),
        ("triggers: {policy: {caps: {smss: {day: 1}}}}",
         "triggers.policy.caps.smss: unknown key; did you mean sms?"),
        ("redis_security: {user: u}", "redis_security.user: unknown key; did you mean username?"),
        # an unknown section, or a key with nothing close
        ("wroker: {batch_max_records: 1}", "wroker: unknown key; did you mean worker?"),
        ("triger: {enabled: false}", "triger: unknown key; did you mean triggers?"),
        ("telemetry: {on: true}", "telemetry: unknown key"),
        ("profile: {colour: red}", "profile.colour: unknown key"),
        # the wrong type
        ("triggers: {scheduler: {batch: lots}}",
         "triggers.scheduler.batch: expected a whole number, got 'lots'"),
        ("triggers: {scheduler: {batch: 0}}",
         "triggers.scheduler.batch: expected a whole number >= 1, got 0"),
        ("worker: {startup_timeout_s: soon}",
         "worker.startup_timeout_s: expected a number, got 'soon'"),
        ("worker: {cache_max_users: null}",
         "worker.cache_max_users: expected a whole number, got None"),
        ("topics: {prefix: [a]}", "topics.prefix: expected text, got ['a']"),
        ("triggers: {enabled: maybe}", "triggers.enabled: expected true or false, got 'maybe'"),
        ("profile: {layers: 5}", "profile.layers: expected a mapping, got 5"),
        ("profile: {rfm: {recency_days: [1, 2]}}",
         "profile.rfm.recency_days: expected a list of length >= 4, got [1, 2]"),
        ("metrics_port: 70000", "metrics_port: expected a whole number <= 65535, got 70000"),
        ("profile: {affinity_weights: {view: -1}}",
         "profile.affinity_weights.view: expected a number >= 0.0, got -1"),
        ("triggers: {first_purchase: {channels: [emial]}}",
         "triggers.first_purchase.channels[0]: 'emial' is not one of push, sms, email; "
         "did you mean email?"),
        # a bad duration, clock time or instant
        ("profile: {dedupe_window: soon}", "profile.dedupe_window: not a duration: 'soon'"),
        ("triggers: {win_back: {ttl: 7 days}}", "triggers.win_back.ttl: not a duration: '7 days'"),
        ("triggers: {policy: {min_gap: -1}}", "triggers.policy.min_gap: not a duration in seconds"),
        ("triggers: {policy: {quiet_hours: {start: '25:00', end: '08:00'}}}",
         "triggers.policy.quiet_hours.start: expected HH:MM, got '25:00'"),
        ("profile: {min_event_time: yesterday}",
         "profile.min_event_time: expected an RFC 3339 time with a UTC offset or epoch ms"),
        # checks beyond the types
        ("profile: {default_timezone: Mars/Olympus}",
         "profile.default_timezone: unknown time zone 'Mars/Olympus'"),
        ("profile: {bucket_days: 30}", "profile: bucket_days must be at least 180"),
        ("triggers: {recall: {follow_up: 10d, lost_after: 14d}}",
         "triggers.recall: lost_after must not exceed follow_up"),
        ("triggers: {recall: {retention: 20d}}",
         "triggers.recall: retention must cover recall_window + follow_up + 7d (38 days)"),
        ("triggers: {recall: {campaigns: [1]}}", "triggers.recall.campaigns"),
    ],
)  # fmt: skip
def test_error_table(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def sections(kind: Any = PortraitFile, path: str = "") -> list[tuple[str, list[str]]]:
    """Every mapping of the file: its YAML path and its keys."""
    found = [(path, [f.name for f in msgspec.structs.fields(kind)])]
    for field in msgspec.structs.fields(kind):
        for arg in _union(_strip(field.type)):
            if _is_struct(arg):
                found += sections(arg, f"{path}.{field.name}".lstrip("."))
    return found


SECTIONS = sections()


def nest(path: str, leaf: dict[str, Any]) -> dict[str, Any]:
    for part in reversed([p for p in path.split(".") if p]):
        leaf = {part: leaf}
    return leaf


def test_every_section_is_walked() -> None:
    paths = {path for path, _ in SECTIONS}
    assert len(SECTIONS) == len(paths) == 29
    assert {"", "profile.layers", "triggers.policy.caps.email", "triggers.win_back"} <= paths


@given(st.sampled_from(SECTIONS), st.data())
def test_any_unknown_key_is_named_with_its_path(
    section: tuple[str, list[str]], data: st.DataObject
) -> None:
    path, keys = section
    key = data.draw(st.sampled_from(keys))
    typo = data.draw(st.sampled_from([key + "x", key[:-1], "x" + key, key.upper()]))
    if typo in keys:
        return
    with pytest.raises(ConfigError) as caught:
        decode(nest(path, {typo: 1}), PortraitFile)
    message = str(caught.value)
    assert message.startswith(f"{path}.{typo}: unknown key".lstrip("."))
    assert "\n" not in message
    if typo != key.upper():
        assert message.endswith(f"; did you mean {key}?")


UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


@given(st.integers(0, 10**6), st.sampled_from(sorted(UNITS)))
def test_durations_decode_to_milliseconds(count: int, unit: str) -> None:
    settings = decode({"triggers": {"scheduler": {"lease": f"{count}{unit}"}}}, PortraitFile)
    assert settings.triggers.to_config().scheduler.lease_ms == count * UNITS[unit]


@pytest.mark.parametrize(
    "text,message",
    [
        ("profile: {layers: {dormant_dys: 3}}",
         "profile.layers.dormant_dys: unknown key; did you mean dormant_days?"),
        ("triggers: {scheduler: {batch: lots}}",
         "triggers.scheduler.batch: expected a whole number, got 'lots'"),
        ("triggers: {policy: {dedupe: a month}}", "triggers.policy.dedupe: not a duration"),
        ("wroker: {}", "wroker: unknown key; did you mean worker?"),
    ],
)  # fmt: skip
def test_the_cli_prints_one_line_and_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    text: str, message: str,
) -> None:  # fmt: skip
    from streams.app.cli import main

    path = tmp_path / "portrait.yaml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("PORTRAIT_CONFIG", str(path))
    assert main(["profile", "get", "u1"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith(f"portrait profile get: configuration error: {message}")


def test_every_key_of_every_section_is_suggested_for_its_typos() -> None:
    checked = 0
    for path, keys in SECTIONS:
        for key in keys:
            for typo in {key + "x", key[:-1], "x" + key} - set(keys):
                with pytest.raises(ConfigError) as caught:
                    decode(nest(path, {typo: 1}), PortraitFile)
                assert str(caught.value).endswith(f": unknown key; did you mean {key}?")
                checked += 1
    assert (sum(len(keys) for _, keys in SECTIONS), checked) == (191, 573)  # + commit_interval_ms
