"""streams/settings/triggers.py: the ``triggers:`` YAML section -> TriggerConfig, and its errors
(each names the YAML path, the expected type and, for a typo, the closest key)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from streams.settings.base import ConfigError
from streams.settings.tree import Settings
from streams.settings.triggers import trigger_config
from triggers.config import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    Cap,
    KindConfig,
    PolicyConfig,
    SchedulerConfig,
    TriggerConfig,
    WinBackConfig,
)


def get(config: TriggerConfig, path: str) -> Any:
    """``kinds.cart_reminder.delay_ms`` -> the value (mappings by key, dataclasses by field)."""
    value: Any = config
    for part in path.split("."):
        value = value[part] if hasattr(value, "keys") else getattr(value, part)
    return value


@pytest.mark.parametrize("raw", [None, {}])
def test_defaults(raw: dict[str, Any] | None) -> None:
    config = trigger_config(raw)
    assert config == TriggerConfig()
    assert config.enabled and config.recall_window_ms == DAY_MS
    assert config.kinds["cart_reminder"] == KindConfig(delay_ms=30 * MINUTE_MS, priority=80)
    assert config.policy == PolicyConfig() and config.policy.quiet_start_min == 22 * 60
    assert dict(config.policy.caps) == {"push": Cap(2, 6), "sms": Cap(1, 3), "email": Cap(1, 4)}
    assert config.scheduler == SchedulerConfig(100, 500, 30_000, 5_000)
    assert config.kind("no_such_kind") == KindConfig(enabled=False)


@pytest.mark.parametrize(
    "raw,path,expected",
    [
        ({"enabled": False}, "enabled", False),
        ({"cart_reminder": {"delay": "45s"}}, "kinds.cart_reminder.delay_ms", 45_000),
        ({"cart_reminder": {"delay": "45s"}}, "kinds.cart_reminder.priority", 80),  # kept
        ({"cart_reminder": {"delay": 90}}, "kinds.cart_reminder.delay_ms", 90_000),  # seconds
        ({"cart_reminder": {"ttl": "12h"}}, "kinds.cart_reminder.ttl_ms", 12 * HOUR_MS),
        ({"cart_reminder": {"enabled": False}}, "kinds.cart_reminder.enabled", False),
        ({"win_back": {"priority": "99"}}, "kinds.win_back.priority", 99),
        ({"win_back": {"at_active_hour": False}}, "kinds.win_back.at_active_hour", False),
        ({"first_purchase": {"channels": "sms"}}, "kinds.first_purchase.channels", ("sms",)),
        (
            {"campaign": {"channels": ["email", "push"]}},
            "kinds.campaign.channels",
            ("email", "push"),
        ),
        ({"cart_reminder": {"delay": "1m"}}, "kinds.win_back", TriggerConfig().kinds["win_back"]),
        ({"policy": {"quiet_hours": None}}, "policy.quiet_start_min", None),
        (
            {"policy": {"quiet_hours": {"start": "21:30", "end": "07:00"}}},
            "policy.quiet_start_min",
            21 * 60 + 30,
        ),
        (
            {"policy": {"quiet_hours": {"start": "21:30", "end": "07:00"}}},
            "policy.quiet_end_min",
            7 * 60,
        ),
        (
            {"policy": {"quiet_hours": {"start": "0:05", "end": "23:59"}}},
            "policy.quiet_start_min",
            5,
        ),
        ({"policy": {"caps": {"sms": {"day": 3, "week": 10}}}}, "policy.caps.sms", Cap(3, 10)),
        ({"policy": {"caps": {"sms": {"day": 3, "week": 10}}}}, "policy.caps.push", Cap(2, 6)),
        (
            {"policy": {"caps": {"push": {"day": None, "week": 4}}}},
            "policy.caps.push",
            Cap(None, 4),
        ),
        ({"policy": {"caps": {"email": {"day": None, "week": None}}}}, "policy.caps.email", Cap()),
        ({"policy": {"caps": {"email": {"day": 0, "week": 0}}}}, "policy.caps.email", Cap(0, 0)),
        ({"policy": {"min_gap": "2h"}}, "policy.min_gap_ms", 2 * HOUR_MS),
        ({"policy": {"dedupe": "7d"}}, "policy.dedupe_ms", 7 * DAY_MS),
        ({"policy": {"min_gap": "2h"}}, "policy.quiet_start_min", 22 * 60),  # others kept
        ({"scheduler": {"poll": "250ms"}}, "scheduler.poll_ms", 250),
        ({"scheduler": {"lease": "1m"}}, "scheduler.lease_ms", 60_000),
        ({"scheduler": {"overdue": "10s"}}, "scheduler.overdue_ms", 10_000),
        ({"scheduler": {"batch": 50}}, "scheduler.batch", 50),
        ({"cost": {"sms": 0.07}}, "cost.sms", 0.07),
        ({"cost": {"push": 1}}, "cost.push", 1.0),
        ({"cost": {"sms": 0.07}}, "cost.email", 0.001),
        ({"topics": {"sms": "prod.sms"}}, "topics.sms", "prod.sms"),
        ({"topics": {"sms": "prod.sms"}}, "topics.push", "triggers.push"),
        ({"recall_window": "3d"}, "recall_window_ms", 3 * DAY_MS),
        ({"win_back": {"vip_offer": "free_shipping"}}, "win_back.vip_offer", "free_shipping"),
        ({"win_back": {"vip_channels": ["push"]}}, "win_back.vip_channels", ("push",)),
        ({"win_back": {"regular_channels": "email"}}, "win_back.regular_channels", ("email",)),
        ({"win_back": {"regular_offer": "points"}}, "win_back.regular_offer", "points"),
        ({"win_back": {"vip_segments": ["champion"]}}, "win_back.vip_segments", ("champion",)),
        ({"win_back": {"vip_segments": "loyal"}}, "win_back.vip_segments", ("loyal",)),
        ({"win_back": {"vip_offer": "x"}}, "win_back.vip_channels", WinBackConfig().vip_channels),
        ({"win_back": {"vip_offer": "x", "ttl": "2d"}}, "kinds.win_back.ttl_ms", 2 * DAY_MS),
    ],
)
def test_values(raw: dict[str, Any], path: str, expected: Any) -> None:
    assert get(trigger_config(raw), path) == expected


@pytest.mark.parametrize(
    "raw,message",
    [
        ([], "triggers: expected a mapping, got []"),
        (
            {"cart_reminders": {}},
            "triggers.cart_reminders: unknown key; did you mean cart_reminder?",
        ),
        ({"enabled": "yes"}, "triggers.enabled: expected true or false, got 'yes'"),
        (
            {"cart_reminder": {"delai": "1m"}},
            "triggers.cart_reminder.delai: unknown key; did you mean delay?",
        ),
        ({"cart_reminder": None}, "triggers.cart_reminder: expected a mapping, got None"),
        ({"cart_reminder": {"vip_offer": "x"}}, "triggers.cart_reminder.vip_offer: unknown key"),
        (
            {"win_back": {"vip_offers": "x"}},
            "triggers.win_back.vip_offers: unknown key; did you mean vip_offer?",
        ),
        (
            {"cart_reminder": {"delay": "soon"}},
            "triggers.cart_reminder.delay: not a duration: 'soon'",
        ),
        ({"cart_reminder": {"delay": "-5s"}}, "triggers.cart_reminder.delay: not a duration"),
        ({"cart_reminder": {"ttl": True}}, "triggers.cart_reminder.ttl: not a duration"),
        (
            {"cart_reminder": {"priority": "high"}},
            "triggers.cart_reminder.priority: expected a whole number, got 'high'",
        ),
        (
            {"cart_reminder": {"channels": ["fax"]}},
            "triggers.cart_reminder.channels[0]: 'fax' is not one of push, sms, email",
        ),
        (
            {"cart_reminder": {"channels": ["push", "smss"]}},
            "channels[1]: 'smss' is not one of push, sms, email; did you mean sms?",
        ),
        (
            {"cart_reminder": {"channels": "fax"}},
            "triggers.cart_reminder.channels: 'fax' is not one of",
        ),
        (
            {"cart_reminder": {"channels": []}},
            "triggers.cart_reminder.channels: expected a list of length >= 1",
        ),
        (
            {"win_back": {"vip_channels": ["pager"]}},
            "triggers.win_back.vip_channels[0]: 'pager' is not one of",
        ),
        (
            {"policy": {"quiet": None}},
            "triggers.policy.quiet: unknown key; did you mean quiet_hours?",
        ),
        (
            {"policy": {"quiet_hours": {"start": "22:00"}}},
            "triggers.policy.quiet_hours.end: required",
        ),
        (
            {"policy": {"quiet_hours": {"start": "24:00", "end": "08:00"}}},
            "triggers.policy.quiet_hours.start: expected HH:MM, got '24:00'",
        ),
        (
            {"policy": {"quiet_hours": {"start": "22:00", "end": "8h"}}},
            "triggers.policy.quiet_hours.end: expected HH:MM, got '8h'",
        ),
        ({"policy": {"quiet_hours": {"start": "22:60", "end": "08:00"}}}, "expected HH:MM"),
        (
            {"policy": {"quiet_hours": "22-08"}},
            "triggers.policy.quiet_hours: expected a mapping or null, got '22-08'",
        ),
        ({"policy": {"caps": {"fax": {"day": 1}}}}, "triggers.policy.caps.fax: unknown key"),
        (
            {"policy": {"caps": {"sms": {"day": -1}}}},
            "triggers.policy.caps.sms.day: expected a whole number >= 0, got -1",
        ),
        (
            {"policy": {"caps": {"sms": {"week": 1.5}}}},
            "triggers.policy.caps.sms.week: expected a whole number or null, got 1.5",
        ),
        (
            {"policy": {"caps": {"sms": {"week": True}}}},
            "triggers.policy.caps.sms.week: expected a whole number or null, got True",
        ),
        (
            {"policy": {"caps": {"sms": {"month": 3}}}},
            "triggers.policy.caps.sms.month: unknown key",
        ),
        ({"policy": {"caps": {"sms": 3}}}, "triggers.policy.caps.sms: expected a mapping, got 3"),
        ({"policy": {"min_gap": "an hour"}}, "triggers.policy.min_gap: not a duration"),
        ({"policy": {"dedupe": -1}}, "triggers.policy.dedupe: not a duration"),
        ({"scheduler": {"pol": "1s"}}, "triggers.scheduler.pol: unknown key; did you mean poll?"),
        (
            {"scheduler": {"batch": "many"}},
            "triggers.scheduler.batch: expected a whole number, got 'many'",
        ),
        ({"scheduler": {"lease": "30 sec"}}, "triggers.scheduler.lease: not a duration"),
        ({"cost": {"sms": -0.1}}, "triggers.cost.sms: expected a number >= 0.0, got -0.1"),
        ({"cost": {"sms": "cheap"}}, "triggers.cost.sms: expected a number, got 'cheap'"),
        ({"cost": {"fax": 1.0}}, "triggers.cost.fax: unknown key"),
        ({"topics": {"pager": "t"}}, "triggers.topics.pager: unknown key"),
        ({"recall_window": "a day"}, "triggers.recall_window: not a duration"),
    ],
)
def test_errors(raw: Any, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        trigger_config(raw)
    assert message in str(info.value)


def test_a_partial_cap_keeps_the_other_default() -> None:
    caps = trigger_config({"policy": {"caps": {"sms": {"day": 5}}}}).policy.caps
    assert caps["sms"] == Cap(day=5, week=3)


@pytest.mark.parametrize("batch", [0, -1])
def test_scheduler_batch_must_be_positive(batch: int) -> None:
    with pytest.raises(ConfigError, match=r"scheduler\.batch"):
        trigger_config({"scheduler": {"batch": batch}})


@pytest.mark.parametrize("raw", [{"topics": {"push": None}}, {"win_back": {"vip_offer": None}}])
def test_null_strings_are_rejected(raw: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        trigger_config(raw)


YAML = """\
triggers:
  cart_reminder:
    delay: 45s
  win_back:
    vip_offer: gift_card
    vip_segments: [champion, loyal]
  policy:
    quiet_hours: {start: "21:30", end: "07:00"}
    caps:
      sms: {day: 1, week: null}
  scheduler:
    batch: 200
"""


def settings_from(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "portrait.yaml"
    path.write_text(text, encoding="utf-8")
    return Settings.from_env({"PORTRAIT_CONFIG": str(path)})


def test_settings_load_the_triggers_section(tmp_path: Path) -> None:
    t = settings_from(tmp_path, YAML).triggers
    assert t.kinds["cart_reminder"].delay_ms == 45_000
    assert (t.win_back.vip_offer, t.win_back.vip_segments) == ("gift_card", ("champion", "loyal"))
    assert (t.policy.quiet_start_min, t.policy.quiet_end_min) == (21 * 60 + 30, 7 * 60)
    assert (t.policy.caps["sms"], t.scheduler.batch) == (Cap(1, None), 200)
    assert settings_from(tmp_path, "triggers:\n").triggers == TriggerConfig()


def test_settings_report_a_bad_triggers_section(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"triggers\.cart: unknown key; did you mean cart_reminder\?"
    ):
        settings_from(tmp_path, "triggers:\n  cart: {}\n")


def test_settings_accept_unquoted_quiet_hours(tmp_path: Path) -> None:
    text = "triggers:\n  policy:\n    quiet_hours: {start: 22:30, end: 07:00}\n"
    policy = settings_from(tmp_path, text).triggers.policy
    assert (policy.quiet_start_min, policy.quiet_end_min) == (22 * 60 + 30, 7 * 60)
