"""Browsers on other origins (``api.cors_origins``): the preflight of a bearer-token request is
answered for the configured origins only; without any, no CORS header at all."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import pytest

from profiles.config import ModelConfig
from profiles.model import ProfileModel
from streams.api.app import create_app
from streams.api.context import ApiContext
from streams.ops.api_metrics import ApiMetrics
from streams.settings.api import ApiConfig
from streams.settings.base import ConfigError
from streams.settings.tree import Settings

SHOP = "https://shop.example"
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization,content-type",
}


def client(origins: tuple[str, ...]) -> httpx.AsyncClient:
    settings = Settings(api=dataclasses.replace(ApiConfig(), cors_origins=origins))
    none: Any = None
    ctx = ApiContext(settings, none, none, ApiMetrics(), ProfileModel(ModelConfig()))
    transport = httpx.ASGITransport(app=create_app(ctx))
    return httpx.AsyncClient(transport=transport, base_url="http://api")


async def preflight(origins: tuple[str, ...], origin: str) -> httpx.Response:
    async with client(origins) as http:
        return await http.options("/v1/events", headers={"Origin": origin, **PREFLIGHT})


async def test_a_configured_origin_gets_its_preflight_answered() -> None:
    reply = await preflight((SHOP,), SHOP)
    assert reply.status_code == 200
    assert reply.headers["access-control-allow-origin"] == SHOP
    allowed = reply.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed
    assert "POST" in reply.headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in reply.headers


@pytest.mark.parametrize(
    "origins,origin",
    [((SHOP,), "https://evil.example"), ((SHOP,), "http://shop.example"), ((), SHOP)],
)
async def test_other_origins_get_no_allow_origin(origins: tuple[str, ...], origin: str) -> None:
    reply = await preflight(origins, origin)
    assert reply.status_code in (400, 405)
    assert "access-control-allow-origin" not in reply.headers


async def test_any_origin_with_a_star() -> None:
    reply = await preflight(("*",), "https://anywhere.example")
    assert reply.status_code == 200 and reply.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize(
    "env,expected",
    [
        ({}, ()),
        ({"PORTRAIT_API_CORS_ORIGINS": ""}, ()),
        ({"PORTRAIT_API_CORS_ORIGINS": f"{SHOP}, {SHOP},http://localhost:3000"},
         (SHOP, "http://localhost:3000")),
        ({"PORTRAIT_API_CORS_ORIGINS": "http://[::1]:8000"}, ("http://[::1]:8000",)),
    ],
)  # fmt: skip
def test_origins_from_the_environment(env: dict[str, str], expected: tuple[str, ...]) -> None:
    assert ApiConfig.load(None, env).cors_origins == expected


@pytest.mark.parametrize("bad", [f"{SHOP}/", "shop.example", f"{SHOP}/path", "ftp://x.example"])
def test_a_bad_origin_is_one_line(bad: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ApiConfig.load({"cors_origins": [bad]}, {})
    assert repr(bad) in str(caught.value) and "\n" not in str(caught.value)
