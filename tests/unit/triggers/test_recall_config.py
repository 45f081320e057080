"""RecallConfig (triggers/config.py): which messages recall; decode_sent's campaign_id
(triggers/feedback.py); and the ``triggers.recall`` settings section (streams/settings/triggers.py).
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from streams.settings.base import ConfigError
from streams.settings.triggers import trigger_config
from triggers.config import DAY_MS, RecallConfig
from triggers.feedback import BadFeedback, Sent, decode_sent
from triggers.model import Trigger, message

NOW = 1_700_000_000_000
WINBACK = RecallConfig(campaigns=("winback-*",))
BOTH = RecallConfig(kinds=frozenset({"win_back", "campaign"}))
PATTERNS = RecallConfig(kinds=frozenset(), campaigns=("winback-*", "re?all", "exact"))

# --- RecallConfig.watches ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "config,kind,campaign_id,watched",
    [
        pytest.param(RecallConfig(), "win_back", None, True, id="default: win_back"),
        pytest.param(RecallConfig(), "cart_reminder", None, False, id="default: other kind"),
        pytest.param(RecallConfig(), "campaign", "winback-spring", False,
                     id="default: no campaign pattern"),
        pytest.param(WINBACK, "win_back", None, True, id="kind in kinds, campaign None"),
        pytest.param(WINBACK, "win_back", "spring-sale", True,
                     id="kind in kinds, campaign not matching"),
        pytest.param(WINBACK, "campaign", "winback-spring", True, id="campaign matches pattern"),
        pytest.param(WINBACK, "campaign", "winback-", True, id="* matches the empty suffix"),
        pytest.param(WINBACK, "campaign", "spring-sale", False, id="campaign not matching"),
        pytest.param(WINBACK, "campaign", "xwinback-1", False, id="pattern is anchored"),
        pytest.param(WINBACK, "campaign", "WINBACK-1", False, id="pattern is case-sensitive"),
        pytest.param(WINBACK, "campaign", None, False, id="campaign None, kind not in kinds"),
        pytest.param(WINBACK, "campaign", "", False, id="empty campaign id"),
        pytest.param(BOTH, "campaign", None, True, id="kind campaign in kinds, no id"),
        pytest.param(BOTH, "campaign", "anything", True, id="kind campaign in kinds, any id"),
        pytest.param(PATTERNS, "win_back", None, False, id="no kinds: win_back not watched"),
        pytest.param(PATTERNS, "campaign", "recall", True, id="? pattern"),
        pytest.param(PATTERNS, "campaign", "reecall", False, id="? is one character"),
        pytest.param(PATTERNS, "campaign", "exact", True, id="literal pattern"),
        pytest.param(PATTERNS, "campaign", "exact-2", False, id="literal pattern, longer id"),
        pytest.param(PATTERNS, "campaign", "winback-2024.q1", True, id="second of patterns"),
    ],
)  # fmt: skip
def test_watches(config: RecallConfig, kind: str, campaign_id: str | None, watched: bool) -> None:
    assert config.watches(kind, campaign_id) is watched


def test_defaults() -> None:
    config = RecallConfig()
    assert config.kinds == frozenset({"win_back"}) and config.campaigns == ()
    assert (config.follow_up_ms, config.lost_after_ms, config.retention_ms) == (
        30 * DAY_MS, 14 * DAY_MS, 90 * DAY_MS,
    )  # fmt: skip


# --- decode_sent: campaign_id -----------------------------------------------------------------

BASE: dict[str, Any] = {
    "trigger_id": "campaign-1",
    "kind": "campaign",
    "channel": "sms",
    "user_id": "u1",
    "sent_at": NOW,
}


def sent(**fields: object) -> bytes:
    return orjson.dumps({**BASE, **fields})


@pytest.mark.parametrize(
    "value,campaign_id",
    [
        pytest.param(sent(campaign_id="winback-spring"), "winback-spring", id="present"),
        pytest.param(sent(), None, id="absent"),
        pytest.param(sent(campaign_id=None), None, id="null"),
        pytest.param(sent(campaign_id="c" * 64), "c" * 64, id="64 characters"),
    ],
)
def test_decode_sent_campaign_id(value: bytes, campaign_id: str | None) -> None:
    assert decode_sent(value) == Sent("campaign-1", "campaign", "sms", "u1", NOW, campaign_id)


@pytest.mark.parametrize(
    "campaign_id",
    [
        pytest.param(5, id="a number"),
        pytest.param(["winback"], id="a list"),
        pytest.param(True, id="a bool"),
        pytest.param("winback|spring", id="has |"),
        pytest.param("", id="empty"),
        pytest.param("c" * 65, id="too long"),
    ],
)
def test_decode_sent_refuses_a_bad_campaign_id(campaign_id: object) -> None:
    with pytest.raises(BadFeedback) as caught:
        decode_sent(sent(campaign_id=campaign_id))
    assert caught.value.reason == "bad_field"


def test_decode_sent_reads_a_campaign_message() -> None:
    trigger = Trigger(
        "campaign-7", "campaign", "u9", NOW, NOW - 10, NOW + 1000, 50, ("email",),
        campaign_id="winback-spring",
    )  # fmt: skip
    body = orjson.dumps(message(trigger, "email", NOW + 7))
    got = decode_sent(body)
    assert got == Sent("campaign-7", "campaign", "email", "u9", NOW + 7, "winback-spring")
    assert RecallConfig(campaigns=("winback-*",)).watches(got.kind, got.campaign_id)


# --- the triggers.recall settings section ------------------------------------------------------


@pytest.mark.parametrize(
    "raw,expected",
    [
        pytest.param(
            {"recall": {"kinds": ["win_back", "campaign"], "campaigns": "winback-*",
                        "follow_up": "20d", "lost_after": "7d", "retention": "60d"}},
            RecallConfig(frozenset({"win_back", "campaign"}), ("winback-*",), 20 * DAY_MS,
                         7 * DAY_MS, 60 * DAY_MS),
            id="every key",
        ),
        pytest.param(
            {"recall": {"kinds": "campaign", "campaigns": ["winback-*", "reactivate-*"]}},
            RecallConfig(frozenset({"campaign"}), ("winback-*", "reactivate-*")),
            id="one kind as text, a list of patterns",
        ),
        pytest.param({"recall": {"follow_up": "20d"}},
                     RecallConfig(follow_up_ms=20 * DAY_MS), id="one key, others default"),
        pytest.param({"recall": {"lost_after": "2w"}},
                     RecallConfig(lost_after_ms=14 * DAY_MS), id="weeks"),
        pytest.param({"recall": {"follow_up": "10d", "lost_after": "10d"}},
                     RecallConfig(follow_up_ms=10 * DAY_MS, lost_after_ms=10 * DAY_MS),
                     id="lost_after == follow_up"),
        pytest.param({"recall": {"retention": "38d"}}, RecallConfig(retention_ms=38 * DAY_MS),
                     id="retention exactly recall_window + follow_up + 7d"),
        pytest.param({"recall_window": "3d", "recall": {"retention": "40d"}},
                     RecallConfig(retention_ms=40 * DAY_MS), id="retention with a longer window"),
        pytest.param({"recall": {}}, RecallConfig(), id="empty section"),
        pytest.param({}, RecallConfig(), id="absent section"),
        pytest.param(None, RecallConfig(), id="no triggers section"),
    ],
)  # fmt: skip
def test_recall_settings(raw: dict[str, Any] | None, expected: RecallConfig) -> None:
    assert trigger_config(raw).recall == expected


def test_recall_settings_defaults() -> None:
    recall = trigger_config({}).recall
    assert recall.kinds == frozenset({"win_back"}) and recall.campaigns == ()
    assert recall.follow_up_ms == 30 * DAY_MS
    assert recall.lost_after_ms == 14 * DAY_MS
    assert recall.retention_ms == 90 * DAY_MS


def test_a_long_recall_window_stretches_the_default_retention() -> None:
    recall = trigger_config({"recall_window": "60d"}).recall
    assert recall.retention_ms == (60 + 30 + 7) * DAY_MS


def test_recall_settings_kinds_are_a_frozenset() -> None:
    recall = trigger_config({"recall": {"kinds": ["win_back", "win_back", "campaign"]}}).recall
    assert isinstance(recall.kinds, frozenset) and recall.kinds == {"win_back", "campaign"}
    assert isinstance(recall.campaigns, tuple)


@pytest.mark.parametrize(
    "raw,match",
    [
        pytest.param({"recall": {"lost_after": "31d"}},
                     "lost_after must not exceed follow_up", id="lost_after > default follow_up"),
        pytest.param({"recall": {"follow_up": "7d", "lost_after": "8d"}},
                     "lost_after must not exceed follow_up", id="lost_after > follow_up"),
        pytest.param({"recall": {"retention": "37d"}},
                     r"retention must cover recall_window \+ follow_up \+ 7d \(38 days\)",
                     id="retention a day short"),
        pytest.param({"recall": {"follow_up": "60d", "retention": "60d"}},
                     r"\(68 days\)", id="retention short of a longer follow_up"),
        pytest.param({"recall_window": "3d", "recall": {"retention": "39d"}},
                     r"\(40 days\)", id="retention short of a longer recall_window"),
        pytest.param({"recall": {"folow_up": "20d"}},
                     r"triggers\.recall\.folow_up: unknown key; did you mean follow_up\?",
                     id="typo"),
        pytest.param({"recall": {"kinds": [""]}}, r"triggers\.recall\.kinds", id="empty kind"),
        pytest.param({"recall": {"follow_up": "soon"}}, r"triggers\.recall\.follow_up",
                     id="not a duration"),
        pytest.param({"recall": {"lost_after": "12h"}},
                     r"triggers\.recall\.lost_after: a whole number of days, at least 1d",
                     id="lost_after under a day"),
        pytest.param({"recall": {"lost_after": "0d"}}, r"triggers\.recall\.lost_after",
                     id="lost_after zero"),
        pytest.param({"recall": {"follow_up": "30d 12h"}}, r"triggers\.recall\.follow_up",
                     id="not a duration either"),
        pytest.param({"recall": {"follow_up": "36h"}},
                     r"triggers\.recall\.follow_up: a whole number of days",
                     id="follow_up of a day and a half"),
    ],
)  # fmt: skip
def test_recall_settings_errors(raw: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        trigger_config(raw)
