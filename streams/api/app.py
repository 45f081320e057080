"""The HTTP API's application (docs/api.md): :func:`create_app` puts the routes, the error
shape, the metrics middleware, ``/healthz``, ``/metrics``, ``/openapi.json`` and the offline
interactive docs (``/docs``, swagger-ui-bundle's files) on one FastAPI app over an
:class:`~streams.api.context.ApiContext`."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from swagger_ui_bundle import swagger_ui_path

from streams.api import (
    errors,
    routes_events,
    routes_insight,
    routes_privacy,
    routes_profiles,
    routes_recall,
    routes_segments,
    routes_ui,
)
from streams.api.context import ApiContext
from streams.api.errors import JSONOut
from streams.api.models import Health
from streams.ops.api_metrics import UNMATCHED, ApiMetrics

DESCRIPTION = (
    "Profiles, segments, event ingestion and GDPR erase/export of Portrait (docs/api.md). "
    "Send `Authorization: Bearer TOKEN`; scopes read, ingest, admin (admin implies the others). "
    'Every error is `{"error": {"code", "message", "status"}}`.'
)
DOCS_STATIC = "/docs/static"


def create_app(ctx: ApiContext) -> FastAPI:
    """The app over ``ctx``. Its lifespan starts the context unless it is started already
    (streams.api.server starts it first, for a one-line error) and closes what it started."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = not ctx.started
        if owned:
            await ctx.start()
        try:
            yield
        finally:
            if owned:
                await ctx.close()

    app = FastAPI(
        title="Portrait API",
        version="1",
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        default_response_class=JSONOut,
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    app.state.tokens = ctx.tokens
    errors.install(app)
    routes = (
        routes_profiles, routes_segments, routes_events, routes_privacy, routes_insight,
        routes_recall,
    )  # fmt: skip
    for module in routes:
        app.include_router(module.router)
    routes_ui.mount(app)
    _open_routes(app, ctx)
    cors(app, ctx.settings.api.cors_origins)
    app.add_middleware(Observe, metrics=ctx.metrics)
    return app


def cors(app: FastAPI, origins: tuple[str, ...]) -> None:
    """Let web pages of ``origins`` call the API from a browser (``api.cors_origins``): the
    preflight of a bearer-token request answered, no cookies (the page's sign-in cookie is
    same-origin). Without origins no CORS header is sent: browsers elsewhere are refused."""
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            allow_credentials=False,
            max_age=600,
        )


def _open_routes(app: FastAPI, ctx: ApiContext) -> None:
    """The routes anyone may call: health, metrics, the docs."""

    @app.get("/healthz", response_model=Health, responses={503: {"model": Health}},
             tags=["ops"], summary="Redis answers and the producer reaches a broker")  # fmt: skip
    async def healthz() -> Response:
        redis_ok, kafka_ok = await asyncio.gather(_redis_ok(ctx), _kafka_ok(ctx))
        ok = redis_ok and kafka_ok
        body = {"status": "ok" if ok else "unavailable", "redis": redis_ok, "kafka": kafka_ok}
        return JSONOut(body, status_code=200 if ok else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(exported(ctx)), media_type=CONTENT_TYPE_LATEST)

    app.mount(DOCS_STATIC, StaticFiles(directory=swagger_ui_path), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Portrait API",
            swagger_js_url=f"{DOCS_STATIC}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_STATIC}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_STATIC}/favicon-32x32.png",
            swagger_ui_parameters={"persistAuthorization": True},
        )


def exported(ctx: ApiContext) -> CollectorRegistry:
    """What ``/metrics`` shows: this process's registry, or under ``portrait api --processes``
    (``PROMETHEUS_MULTIPROC_DIR`` set) every process's figures summed."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return ctx.metrics.registry
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return registry


async def _redis_ok(ctx: ApiContext) -> bool:
    try:
        async with asyncio.timeout(1.0):
            return bool(await ctx.redis.ping())
    except Exception:  # down, refused, timed out: unhealthy, not an error of the probe
        return False


async def _kafka_ok(ctx: ApiContext) -> bool:
    if not ctx.started:
        return False
    client: Any = ctx.producer.client
    try:
        async with asyncio.timeout(1.0):
            for broker in client.cluster.brokers():
                if await client.ready(broker.nodeId):
                    return True
    except Exception:
        return False
    return False


class Observe:
    """ASGI middleware: every HTTP request's route template, method, status and duration to the
    metrics observer (templates, not paths: one series per route, whatever the ids)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.on_request_start()
        try:
            await self.app(scope, receive, sending)
        finally:
            seconds = time.perf_counter() - start
            self.metrics.on_request(route_of(scope), scope["method"], status, seconds)


def route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    for mount in (routes_ui.STATIC, DOCS_STATIC):
        if str(scope.get("path", "")).startswith(mount + "/"):
            return mount
    return UNMATCHED
