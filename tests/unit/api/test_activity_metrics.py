"""The page's trigger activity (pure) and the API's metrics observer."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from streams.api.activity import activity
from streams.ops.api_metrics import ApiMetrics
from streams.store.triggers import SentRecord
from triggers.model import Trigger

T = 1_750_000_000_000


def test_recent_sends_carry_their_furthest_feedback_newest_first() -> None:
    sent = {b"t1": SentRecord("email", "cart_reminder", T).encode().encode(),
            b"t2": SentRecord("push", "win_back", T + 60_000).encode().encode()}  # fmt: skip
    seen = {b"t1|delivered": b"1", b"t1|clicked": b"2", b"t1|opened": b"3", b"t9|converted": b"4"}
    got = activity([], sent, seen)
    assert [(r["trigger_id"], r["outcome"]) for r in got["recent"]] == [
        ("t2", "sent"), ("t1", "clicked")]  # fmt: skip
    assert got["recent"][1]["sent_at"] == "2025-06-15T15:06:40.000Z"


def test_pending_triggers_are_due_first() -> None:
    def trigger(tid: str, due: int) -> Trigger:
        return Trigger(tid, "cart_reminder", "u1", due, T, due + 1, 1, ("email", "push"))

    got = activity([trigger("late", T + 2), trigger("soon", T + 1)], {}, {})
    assert [p["trigger_id"] for p in got["pending"]] == ["soon", "late"]
    assert got["pending"][0]["channel"] == "email" and got["recent"] == []


def test_metrics_count_requests_by_template_and_events_by_reason() -> None:
    registry = CollectorRegistry()
    metrics = ApiMetrics(registry)
    metrics.on_request_start()
    metrics.on_request("/v1/profiles/{user_id}", "GET", 404, 0.002)
    metrics.on_events(3, {"bad_timestamp": 2})
    sample = registry.get_sample_value
    route = "/v1/profiles/{user_id}"
    labels = {"route": route, "method": "GET", "status": "404"}
    assert sample("portrait_api_requests_total", labels) == 1
    assert sample("portrait_api_request_seconds_count",
                  {"route": "/v1/profiles/{user_id}", "method": "GET"}) == 1  # fmt: skip
    assert sample("portrait_api_events_total", {"outcome": "accepted", "reason": ""}) == 3
    assert sample("portrait_api_events_total",
                  {"outcome": "rejected", "reason": "bad_timestamp"}) == 2  # fmt: skip
    assert sample("portrait_api_requests_in_flight", {}) == 0
