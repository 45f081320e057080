"""Campaign requests: validation, windows, and the trigger each user gets."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from triggers.audience import Condition
from triggers.campaign import CampaignError, load_campaign, parse_campaign
from triggers.config import HOUR_MS, KindConfig, TriggerConfig
from triggers.model import make_trigger_id

NOW = 1_709_632_800_000  # 2024-03-05T10:00:00Z
H = HOUR_MS
EXAMPLE = Path(__file__).resolve().parents[3] / "docs" / "examples" / "campaign.json"


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def request(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "campaign_id": "spring-sale.2024",
        "message": {"title": "Spring sale", "body": "20% off", "deeplink": "app://sale"},
        "audience": {"users": ["u1", "u2", "u1"]},
        "window": {"hours": 24},
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def test_a_list_request_with_defaults() -> None:
    c = parse_campaign(request())
    assert c.campaign_id == "spring-sale.2024"
    assert c.users == ("u1", "u2")  # duplicates once, order kept
    assert c.where is None
    assert c.channels is None and c.priority is None
    assert c.window.resolve(NOW) == (NOW, NOW + 24 * HOUR_MS)


def test_a_condition_request() -> None:
    c = parse_campaign(
        request(
            audience={"where": {"lifecycle": ["active", "new"], "orders_180d": {">=": 2}}},
            channels=["sms", "push"],
            priority=70,
            window={"start": "2024-03-06T00:00:00+08:00", "end": "2024-03-07T00:00:00Z"},
        )
    )
    assert isinstance(c.where, Condition)
    assert c.where({"lifecycle": "new", "orders_180d": 2})
    assert not c.where({"lifecycle": "dormant", "orders_180d": 2})
    assert c.channels == ("sms", "push") and c.priority == 70
    assert c.window.resolve(NOW) == (ms("2024-03-05T16:00:00Z"), ms("2024-03-07T00:00:00Z"))


@pytest.mark.parametrize(
    ("window", "now", "expected"),
    [
        ({"hours": 2}, NOW, (NOW, NOW + 2 * HOUR_MS)),
        ({"start": None, "hours": 1.5}, NOW, (NOW, NOW + 90 * 60_000)),
        # a start in the past begins now; hours count from the given start
        ({"start": "2024-03-05T09:00:00Z", "hours": 2}, NOW, (NOW, NOW + HOUR_MS)),
        ({"start": "2024-03-06T09:00:00Z", "hours": 2}, NOW, (NOW + 23 * H, NOW + 25 * H)),
        ({"end": "2024-03-05T12:00:00Z"}, NOW, (NOW, NOW + 2 * HOUR_MS)),
    ],
)
def test_windows_resolve_against_now(
    window: dict[str, Any], now: int, expected: tuple[int, int]
) -> None:
    assert parse_campaign(request(window=window)).window.resolve(now) == expected


@pytest.mark.parametrize(
    ("window", "message"),
    [
        ({"end": "2024-03-05T09:00:00Z"}, "window_ended"),
        ({"start": "2024-03-05T08:00:00Z", "hours": 1}, "window_ended"),
        ({"end": "2024-05-05T09:00:00Z"}, "longer than"),
    ],
)
def test_windows_that_cannot_be_planned_now(window: dict[str, Any], message: str) -> None:
    campaign = parse_campaign(request(window=window))
    with pytest.raises(CampaignError, match=message):
        campaign.window.resolve(NOW)


@pytest.mark.parametrize(
    ("changes", "reason", "detail"),
    [
        ({"campaign_id": "has space"}, "bad_campaign_id", "must match"),
        ({"campaign_id": "x" * 65}, "bad_campaign_id", "must match"),
        ({"campaign_id": None}, "bad_campaign_id", "None"),
        ({"campaign_id": 7}, "bad_campaign_id", "7"),
        ({"message": "hi"}, "bad_message", "JSON object, not str"),
        ({"message": None}, "bad_message", "not null"),
        ({"message": {"body": "x" * 9000}}, "bad_message", "bytes"),
        ({"message": {"campaign_id": "other"}}, "bad_message", "may not set campaign_id"),
        ({"channel": "fax"}, "bad_channel", "unknown channel 'fax'"),
        ({"channels": []}, "bad_channel", "non-empty list"),
        ({"channels": ["push", "push"]}, "bad_channel", "named twice"),
        ({"channel": "push", "channels": ["sms"]}, "bad_channel", "not both"),
        ({"priority": "high"}, "bad_priority", "integer"),
        ({"priority": True}, "bad_priority", "integer"),
        ({"priority": 1001}, "bad_priority", "integer"),
        ({"audience": None}, "bad_audience", "audience must be"),
        ({"audience": {"users": ["u1"], "where": {}}}, "bad_audience", "audience must be"),
        ({"audience": {"users": []}}, "bad_audience", "non-empty list"),
        ({"audience": {"users": ["u1", 2]}}, "bad_audience", "not a user id: 2"),
        ({"audience": {"users": [""]}}, "bad_audience", "not a user id"),
        ({"audience": {"where": {"vip": True}}}, "bad_condition", "unknown tag 'vip'"),
        ({"audience": {"where": {"orders_180d": {"~": 1}}}}, "bad_condition", "operator"),
        ({"window": None}, "bad_window", "window must be"),
        ({"window": {"hours": 24, "end": "2024-03-06T00:00:00Z"}}, "bad_window", "exactly one"),
        ({"window": {"start": "2024-03-06T00:00:00Z"}}, "bad_window", "exactly one"),
        ({"window": {"hours": 0}}, "bad_window", "hours must be in"),
        ({"window": {"hours": 745}}, "bad_window", "hours must be in"),
        ({"window": {"hours": "24"}}, "bad_window", "must be a number"),
        ({"window": {"end": "2024-03-06"}}, "bad_window", "RFC 3339"),
        ({"window": {"end": "2024-03-06T00:00:00"}}, "bad_window", "with an offset"),
        ({"window": {"end": None}}, "bad_window", "end is required"),
        ({"window": {"days": 1}}, "bad_window", "window must be"),
        (
            {"window": {"start": "2024-03-06T00:00:00Z", "end": "2024-03-05T00:00:00Z"}},
            "bad_window",
            "end after its start",
        ),
        ({"audiences": {}}, "unknown_field", "audiences"),
    ],
)
def test_malformed_requests_say_what_is_wrong(
    changes: dict[str, Any], reason: str, detail: str
) -> None:
    raw = request()
    raw.update(changes)
    with pytest.raises(CampaignError, match=detail) as caught:
        parse_campaign(raw)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("blob", "reason"),
    [(b"{not json", "not_json"), (b"[]", "not_an_object"), (b"null", "not_an_object")],
)
def test_requests_that_are_not_json_objects(blob: bytes, reason: str) -> None:
    with pytest.raises(CampaignError) as caught:
        load_campaign(blob)
    assert caught.value.reason == reason


def test_the_trigger_of_a_user_is_the_same_at_every_replanning() -> None:
    c = parse_campaign(request())
    config = TriggerConfig()
    first = c.trigger("u1", NOW + H, NOW + 24 * H, NOW, config)
    again = c.trigger("u1", NOW + 2 * H, NOW + 25 * H, NOW + H, config)
    assert first.trigger_id == again.trigger_id == make_trigger_id("campaign", "u1", c.campaign_id)
    assert c.trigger("u2", NOW + H, NOW + 24 * H, NOW, config).trigger_id != first.trigger_id
    assert first.kind == "campaign" and first.campaign_id == "spring-sale.2024"
    assert first.slot == "campaign:spring-sale.2024"
    assert (first.due_at, first.expires_at, first.created_at) == (NOW + H, NOW + 24 * H, NOW)
    assert first.priority == config.kinds["campaign"].priority
    assert first.channels == config.kinds["campaign"].channels
    assert first.payload == {**c.message, "campaign_id": "spring-sale.2024"}
    assert not first.at_active_hour


def test_the_request_overrides_the_configured_priority_and_channels() -> None:
    c = parse_campaign(request(priority=5, channel="email"))
    config = TriggerConfig(kinds={"campaign": KindConfig(priority=99, channels=("sms",))})
    t = c.trigger("u1", NOW, NOW + H, NOW, config)
    assert (t.priority, t.channels) == (5, ("email",))
    t = parse_campaign(request()).trigger("u1", NOW, NOW + H, NOW, config)
    assert (t.priority, t.channels) == (99, ("sms",))


def test_the_documented_example_is_valid() -> None:
    c = load_campaign(EXAMPLE.read_bytes())
    assert c.where is not None
    assert orjson.loads(EXAMPLE.read_bytes())["campaign_id"] == c.campaign_id
