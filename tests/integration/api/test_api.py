"""The HTTP API against a real broker and Redis: profiles made by a real worker are read over a
real socket (one, many, a part, as of a time), segments are listed and paged, a membership is
explained, a mixed batch of events is ingested event by event and the valid ones reach the
profile; tokens and scopes are enforced; every error has the one JSON shape."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import httpx
import pytest

from streams.api.auth import COOKIE
from streams.api.server import serve_api
from streams.connect.lifecycle import StartupError
from streams.settings.api import parse_tokens
from streams.settings.tree import Settings
from tests.integration.api.live import SPEC, TOKENS, LiveApi, free_port, live_api
from tests.integration.helpers import DAY, ev, produce, running_worker, wait_for_count, wait_until

pytestmark = pytest.mark.integration

NOW = int(time.time() * 1000)
BUYERS = 150  # beyond Redis's small-set encoding (128), so SSCAN pages for real


def error_of(response: httpx.Response, status: int, code: str) -> str:
    """The one error shape; returns its message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["status"] == status and body["error"]["code"] == code
    message = body["error"]["message"]
    assert isinstance(message, str) and message and "\n" not in message
    return message


def buyers(ns: str) -> list[dict[str, Any]]:
    events = []
    for i in range(BUYERS):
        for n in range(2):
            ts = NOW - (n + 1) * DAY
            events.append(ev("purchase", f"{ns}b{i}", ts, item_id=f"i{n}", price=10 + n))
    events.append(ev("view", f"{ns}viewer", NOW - DAY, item_id="i9", category="shoes"))
    return events


async def test_profiles_segments_and_explain_read_what_the_worker_stored(
    settings: Settings,
) -> None:
    ns = settings.topics.prefix
    async with running_worker(settings):
        await produce(settings, buyers(ns))
        await wait_for_count(settings, f"{ns}b{BUYERS - 1}", "purchase", 2, "the last buyer")
        await wait_for_count(settings, f"{ns}viewer", "view", 1, "the viewer")
    async with (
        live_api(settings) as api,
        httpx.AsyncClient(base_url=api.url, headers=api.auth("read"), timeout=10) as http,
    ):
        await _read_one(http, ns)
        await _read_many(http, ns)
        await _segments(http, ns)
        await _explain(http, ns)
        await _insight(http)
        metrics = (await http.get("/metrics")).text
        assert 'portrait_api_requests_total{method="GET",route="/v1/profiles/{user_id}",' \
            'status="200"}' in metrics  # fmt: skip


async def _read_one(http: httpx.AsyncClient, ns: str) -> None:
    r = await http.get(f"/v1/profiles/{ns}b0")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    doc = r.json()
    assert doc["user_id"] == f"{ns}b0"
    assert doc["tags"]["orders_total"] == 2 and doc["tags"]["spend_total"] == 21.0
    assert "repeat_buyers" in doc["segments"]
    r = await http.get(f"/v1/profiles/{ns}b0", params={"fields": "tags.orders_total,segments"})
    part = r.json()
    assert set(part) == {"user_id", "as_of", "tags", "segments"}
    assert part["tags"] == {"orders_total": 2}
    # the stored state viewed ten days later: epoch ms or RFC 3339 alike
    later = NOW + 10 * DAY
    r = await http.get(f"/v1/profiles/{ns}b0", params={"as_of": str(later)})
    assert r.json()["tags"]["days_since_last_purchase"] == 11
    same = await http.get(f"/v1/profiles/{ns}b0", params={"as_of": r.json()["as_of"]})
    assert same.json()["as_of"] == r.json()["as_of"]
    error_of(await http.get(f"/v1/profiles/{ns}b0", params={"as_of": "yesterday"}), 400,
             "invalid_request")  # fmt: skip
    assert "as_of" in error_of(
        await http.get(f"/v1/profiles/{ns}b0", params={"as_of": "2026-13-01T00:00:00Z"}),
        400, "invalid_request",
    )  # fmt: skip
    assert ns in error_of(await http.get(f"/v1/profiles/{ns}nobody"), 404, "not_found")


async def _insight(http: httpx.AsyncClient) -> None:
    """The insight report of two segments (one of them empty) as JSON and as its HTML page."""
    two = {"segment": ["repeat_buyers", "lapsed_buyers"]}
    r = await http.get("/v1/insight", params=two, timeout=60)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert [(a["name"], a["users"]) for a in doc["audiences"]] == [
        ("repeat_buyers", BUYERS),
        ("lapsed_buyers", 0),
    ]
    orders = next(s for s in doc["sections"] if s["name"] == "orders_total")
    assert orders["quantiles"]["p50"][0] == 2
    narrowed = {**two, "where": '{spend_total: {">": 20.5}}'}
    doc = (await http.get("/v1/insight", params=narrowed, timeout=60)).json()
    assert doc["audiences"][0]["users"] == BUYERS  # each spent 10 + 11
    assert doc["where"] == {"spend_total": {">": 20.5}}
    r = await http.get("/v1/insight", params={**two, "format": "html"}, timeout=60)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "<svg" in r.text and "repeat_buyers" in r.text
    missing = {"segment": ["repeat_buyer", "lapsed_buyers"]}
    assert "did you mean 'repeat_buyers'" in error_of(
        await http.get("/v1/insight", params=missing), 404, "not_found"
    )
    bad = {**two, "where": "{spend_totl: 1}"}
    assert "spend_total" in error_of(await http.get("/v1/insight", params=bad), 400,
                                     "invalid_request")  # fmt: skip


async def _read_many(http: httpx.AsyncClient, ns: str) -> None:
    ids = [f"{ns}b1", f"{ns}nobody", f"{ns}viewer", f"{ns}b1"]
    r = await http.post("/v1/profiles:batchGet", json={"user_ids": ids})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body["profiles"]) == {f"{ns}b1", f"{ns}viewer"}
    assert body["missing"] == [f"{ns}nobody"]
    assert body["profiles"][f"{ns}viewer"]["categories"][0][0] == "shoes"
    error_of(await http.post("/v1/profiles:batchGet", json={"user_ids": []}), 422,
             "invalid_request")  # fmt: skip
    too_many = {"user_ids": [f"u{i}" for i in range(1001)]}
    error_of(await http.post("/v1/profiles:batchGet", json=too_many), 422, "invalid_request")
    error_of(await http.post("/v1/profiles:batchGet", content=b"{"), 422, "invalid_request")


async def _segments(http: httpx.AsyncClient, ns: str) -> None:
    listed = (await http.get("/v1/segments")).json()
    sizes = {s["name"]: s["size"] for s in listed["segments"]}
    assert sizes["repeat_buyers"] == BUYERS and sizes["layer_high_value"] >= 0
    one = (await http.get("/v1/segments/repeat_buyers")).json()
    assert one["size"] == BUYERS and one["rules_version"] == listed["rules_version"]
    assert one["where"] == {"tag": "orders_total", "key": None, "op": ">=", "operand": 2}
    assert "repeat_buyers" in error_of(await http.get("/v1/segments/repeat_buyer"), 404,
                                       "not_found")  # fmt: skip
    seen: list[str] = []
    pages, cursor = 0, None
    while True:
        params = {"limit": "20", **({"cursor": cursor} if cursor else {})}
        page = (await http.get("/v1/segments/repeat_buyers/members", params=params)).json()
        seen += page["members"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages > 2
    assert set(seen) == {f"{ns}b{i}" for i in range(BUYERS)}
    error_of(await http.get("/v1/segments/repeat_buyers/members", params={"limit": "0"}), 422,
             "invalid_request")  # fmt: skip
    error_of(await http.get("/v1/segments/repeat_buyers/members", params={"cursor": "x1"}), 400,
             "invalid_request")  # fmt: skip


async def _explain(http: httpx.AsyncClient, ns: str) -> None:
    r = await http.get(f"/v1/profiles/{ns}b2/explain/repeat_buyers")
    body = r.json()
    assert body["kind"] == "segment" and body["result"] is True
    assert body["clauses"][0]["held"] is True and body["clauses"][0]["value"] == 2
    assert "orders_total" in body["clauses"][0]["text"]
    tag = (await http.get(f"/v1/profiles/{ns}viewer/explain/value_layer")).json()
    assert tag["kind"] == "tag" and tag["result"] == "regular"
    assert "repeat_buyers" in error_of(
        await http.get(f"/v1/profiles/{ns}b2/explain/repeat_buyer"), 404, "not_found"
    )
    error_of(await http.get(f"/v1/profiles/{ns}nobody/explain/repeat_buyers"), 404, "not_found")


async def test_a_mixed_batch_gets_per_event_results_and_the_valid_events_reach_the_profile(
    settings: Settings,
) -> None:
    ns = settings.topics.prefix
    user = f"{ns}shopper"
    batch: list[Any] = [
        ev("view", user, NOW - 60_000, event_id=f"{ns}v1", item_id="sku-1", category="bags"),
        {"event_id": f"{ns}bad", "type": "teleport", "user_id": user, "ts": NOW},
        ev("purchase", user, NOW - 30_000, event_id=f"{ns}p1", item_id="sku-1", price=42),
        3,
        ev("view", user, NOW + 30 * DAY, event_id=f"{ns}future", item_id="sku-2"),
    ]
    async with (
        running_worker(settings),
        live_api(settings) as api,
        httpx.AsyncClient(base_url=api.url, headers=api.auth("ingest"), timeout=30) as http,
    ):
        r = await http.post("/v1/events", json=batch)
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["accepted"], body["rejected"]) == (2, 3)
        by_index = {x["index"]: x for x in body["results"]}
        assert [by_index[i]["status"] for i in range(5)] == [
            "accepted", "rejected", "accepted", "rejected", "rejected"]  # fmt: skip
        assert by_index[0]["event_id"] == f"{ns}v1"
        assert by_index[1]["reason"] == "unknown_type" and by_index[1]["detail"]
        assert by_index[4]["reason"] == "bad_timestamp"
        await wait_for_count(settings, user, "purchase", 1, "the ingested purchase")
        doc = (await http.get(f"/v1/profiles/{user}", headers=api.auth("read"))).json()
        assert doc["tags"]["events_total"] == 2 and doc["tags"]["spend_total"] == 42.0

        error_of(await http.post("/v1/events", json={"events": []}), 400, "invalid_request")
        error_of(await http.post("/v1/events", content=b"[1,"), 400, "invalid_request")
        error_of(await http.post("/v1/events", json=[]), 400, "invalid_request")
        error_of(await http.post("/v1/events", json=[{}] * 501), 400, "invalid_request")
        metrics = (await http.get("/metrics")).text
        assert 'portrait_api_events_total{outcome="accepted",reason=""} 2.0' in metrics
        assert 'portrait_api_events_total{outcome="rejected",reason="unknown_type"} 1.0' in metrics


async def test_tokens_and_scopes_are_enforced_and_errors_have_one_shape(
    settings: Settings,
) -> None:
    ns = settings.topics.prefix
    async with live_api(settings) as api, httpx.AsyncClient(base_url=api.url, timeout=10) as http:
        await _auth(http, api, ns)
        await _open(http)
        await _errors(http, api)
        await _ui(http, api, ns)


async def _auth(http: httpx.AsyncClient, api: LiveApi, ns: str) -> None:
    path = f"/v1/profiles/{ns}nobody"
    r = await http.get(path)
    error_of(r, 401, "unauthorized")
    assert r.headers["www-authenticate"] == "Bearer"
    error_of(await http.get(path, headers={"Authorization": "Bearer nope"}), 401, "unauthorized")
    error_of(await http.get(path, headers={"Authorization": f"Basic {TOKENS['read']}"}), 401,
             "unauthorized")  # fmt: skip
    error_of(await http.get(path, headers=api.auth("ingest")), 403, "forbidden")
    error_of(await http.get(path, headers=api.auth("read")), 404, "not_found")
    error_of(await http.get(path, headers=api.auth("admin")), 404, "not_found")  # admin reads
    event = [ev("view", f"{ns}u", NOW, item_id="i")]
    error_of(await http.post("/v1/events", json=event, headers=api.auth("read")), 403,
             "forbidden")  # fmt: skip
    error_of(await http.delete(path, headers=api.auth("read")), 403, "forbidden")
    error_of(await http.delete(path, headers=api.auth("ingest")), 403, "forbidden")
    # the cookie is for the page only: the JSON API wants the header
    http.cookies.set(COOKIE, TOKENS["read"])
    error_of(await http.get(path), 401, "unauthorized")
    http.cookies.clear()


async def _open(http: httpx.AsyncClient) -> None:
    health = await http.get("/healthz")
    assert health.status_code == 200 and health.json() == {
        "status": "ok", "redis": True, "kafka": True}  # fmt: skip
    assert (await http.get("/metrics")).text.startswith("# HELP")
    spec = (await http.get("/openapi.json")).json()
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert "/v1/profiles:batchGet" in spec["paths"]
    docs = await http.get("/docs")
    assert docs.status_code == 200 and "/docs/static/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text.replace("fastapi.tiangolo", "")
    bundle = await http.get("/docs/static/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and len(bundle.content) > 100_000


async def _errors(http: httpx.AsyncClient, api: LiveApi) -> None:
    assert "/v2/nothing" in error_of(await http.get("/v2/nothing"), 404, "not_found")
    error_of(await http.put("/v1/segments", headers=api.auth("read")), 405,
             "method_not_allowed")  # fmt: skip
    error_of(await http.get("/v1/segments/x/members", params={"limit": "many"},
                            headers=api.auth("read")), 422, "invalid_request")  # fmt: skip


async def _ui(http: httpx.AsyncClient, api: LiveApi, ns: str) -> None:
    r = await http.get("/ui/", params={"token": TOKENS["read"], "q": f"{ns}b0"})
    assert r.status_code == 303 and r.headers["location"] == f"/ui/?q={ns}b0"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}={TOKENS['read']};")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    r = await http.get("/ui/", params={"q": f"{ns}b0"})
    assert r.status_code == 303 and r.headers["location"] == f"/ui/profiles/{ns}b0"
    http.cookies.clear()
    search = await http.get("/ui/")
    assert search.status_code == 200 and search.headers["content-type"].startswith("text/html")
    refused = await http.get(f"/ui/profiles/{ns}nobody")
    assert refused.status_code == 401 and "token" in refused.text
    http.cookies.set(COOKIE, TOKENS["read"], path="/ui")
    missing = await http.get(f"/ui/profiles/{ns}nobody")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert (await http.get("/ui/static/page.css")).status_code == 200


async def test_the_page_of_a_stored_user_is_html(settings: Settings) -> None:
    ns = settings.topics.prefix
    user = f"{ns}page"
    async with running_worker(settings):
        await produce(settings, [ev("add_to_cart", user, NOW - 1000, item_id="sku-9", price=5)])
        await wait_for_count(settings, user, "add_to_cart", 1, "the cart add")
    async with live_api(settings) as api, httpx.AsyncClient(base_url=api.url, timeout=10) as http:
        r = await http.get(f"/ui/profiles/{user}", headers=api.auth("read"))
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert "sku-9" in r.text and r.headers["cache-control"] == "no-store"


async def test_erase_and_export_go_through_the_privacy_service(settings: Settings) -> None:
    pytest.importorskip("streams.privacy.service")
    ns = settings.topics.prefix
    user = f"{ns}forget-me"
    async with running_worker(settings):
        await produce(settings, [ev("view", user, NOW - 1000, item_id="sku-1")])
        await wait_for_count(settings, user, "view", 1, "the view")
    async with (
        live_api(settings) as api,
        httpx.AsyncClient(base_url=api.url, headers=api.auth("admin"), timeout=30) as http,
    ):
        exported = await http.get(f"/v1/profiles/{user}/export")
        assert exported.status_code == 200, exported.text
        assert user in exported.text
        erased = await http.delete(f"/v1/profiles/{user}")
        assert erased.status_code == 200, erased.text

        async def gone() -> bool:
            return (await http.get(f"/v1/profiles/{user}")).status_code == 404

        await wait_until(gone, what="the erased profile to be gone")
        after = await http.get(f"/v1/profiles/{user}/export")
        assert after.status_code == 404 or after.json()["profile"] is None, after.text
        lift = f"/v1/profiles/{user}/suppression"
        error_of(await http.delete(lift), 404, "not_found")  # erased, not suppressed
        suppressed = await http.delete(f"/v1/profiles/{user}", params={"suppress": "true"})
        assert suppressed.status_code == 200 and suppressed.json()["suppressed"] is True
        error_of(await http.delete(lift, headers=api.auth("read")), 403, "forbidden")
        lifted = await http.delete(lift)
        assert lifted.status_code == 200 and lifted.json()["user_id"] == user, lifted.text
        assert lifted.json()["actor"]
        error_of(await http.delete(lift), 404, "not_found")


async def test_an_unreachable_redis_stops_the_start_in_one_line(settings: Settings) -> None:
    dead = dataclasses.replace(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(StartupError) as caught:
        await serve_api(dead, host="127.0.0.1", port=free_port(), tokens=parse_tokens(SPEC))
    assert str(caught.value).startswith("cannot reach Redis at redis://127.0.0.1:")
