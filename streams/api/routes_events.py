"""``POST /v1/events``: contract events over HTTP, for backends and browsers without a Kafka
client (docs/api.md, "Ingest").

Each event of the array is written again by orjson and judged by the worker's own decoder and
lead-time check, so HTTP accepts exactly what the worker would; the valid ones are produced to
``events`` keyed by user id and acknowledged by every in-sync replica (acks=all) before the reply.
A broker that fails the batch makes the answer a 503: no event is reported accepted unless it is
stored in Kafka.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from profiles.events import ANON_PREFIX, Rejected, TimeBounds
from profiles.names import ADMIN_TYPES, ERASE_EVENT
from profiles.wire import decode
from streams.api.auth import Principal, require
from streams.api.context import ApiContext, Ctx
from streams.api.errors import ApiError, JSONOut, bad_request
from streams.api.models import EVENTS_BODY, MAX_EVENTS, IngestReply, errors

router = APIRouter(prefix="/v1", tags=["events"])

MAX_BODY: Final = 8 * 1024 * 1024
SEND_TIMEOUT_S: Final = 30.0


@dataclass(frozen=True, slots=True)
class Judged:
    """One event of a batch: the record to produce, or why it is refused."""

    index: int
    event_id: str | None = None
    key: bytes = b""
    value: bytes = b""
    reason: str | None = None
    detail: str | None = None


@router.post(
    "/events",
    response_model=IngestReply,
    responses=errors(400, 401, 403, 413, 500, 503),
    openapi_extra={"requestBody": EVENTS_BODY},
    summary="Ingest 1 to 500 contract events; each one's result",
)
async def ingest(
    ctx: Ctx,
    request: Request,
    who: Principal = Depends(require("ingest")),  # noqa: B008
) -> Response:
    items = parse_batch(await read_body(request))
    now = ctx.clock()
    judged = [
        judge(i, item, ctx.model.config.time_bounds, now, who) for i, item in enumerate(items)
    ]
    good = [j for j in judged if j.reason is None]
    await produce(ctx, good)
    ctx.metrics.on_events(len(good), Counter(j.reason for j in judged if j.reason is not None))
    return JSONOut(reply(judged))


async def read_body(request: Request) -> bytes:
    size = request.headers.get("content-length", "")
    if size.isdigit() and int(size) > MAX_BODY:
        raise ApiError(413, f"the body is larger than {MAX_BODY} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise ApiError(413, f"the body is larger than {MAX_BODY} bytes")
    return body


def parse_batch(body: bytes) -> list[Any]:
    """The body as a JSON array of 1 to 500 items, or a 400 in one line."""
    try:
        items = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"the body is not JSON: {exc}") from None
    if not isinstance(items, list):
        raise bad_request(f"expected a JSON array of events, got a JSON {_kind(items)}")
    if not 1 <= len(items) <= MAX_EVENTS:
        raise bad_request(f"expected 1 to {MAX_EVENTS} events, got {len(items)}")
    return items


def judge(index: int, item: Any, bounds: TimeBounds, now_ms: int, who: Principal) -> Judged:
    """One item as the worker would see it: decoded and checked, or refused with its reason."""
    value = orjson.dumps(item)
    try:
        event = decode(value, bounds)
        bounds.check_lead(event.ts, now_ms)
    except Rejected as exc:
        return Judged(index, _event_id(item), reason=exc.reason, detail=exc.detail)
    except Exception as exc:  # the worker's batch.reject: never let one event fail the batch
        return Judged(
            index, _event_id(item), reason="bad_field", detail=f"{type(exc).__name__}: {exc}"
        )
    if event.type == ERASE_EVENT:  # only the privacy service's erase comes with its marker
        detail = "erase events are the privacy service's: DELETE /v1/profiles/{user_id}"
        return Judged(index, event.event_id, reason="forbidden_type", detail=detail)
    if event.type in ADMIN_TYPES and "admin" not in who.scopes:
        detail = f"{event.type} events need the admin scope"
        return Judged(index, event.event_id, reason="forbidden_type", detail=detail)
    user = event.user_id
    key = user[len(ANON_PREFIX) :] if user.startswith(ANON_PREFIX) else user
    return Judged(index, event.event_id, key.encode(), value)


async def produce(ctx: ApiContext, records: Sequence[Judged]) -> None:
    """Send the records and wait for every acknowledgement, or a 503 for the whole batch."""
    if not records:
        return
    try:
        async with asyncio.timeout(SEND_TIMEOUT_S):
            futures = [
                await ctx.producer.send(ctx.events_topic, r.value, key=r.key) for r in records
            ]
            await asyncio.gather(*futures)
    except Exception as exc:  # KafkaError, a timeout, a stopped producer: none was accepted
        name = type(exc).__name__
        raise ApiError(503, f"Kafka did not acknowledge the events ({name}); none was accepted"
                       ", send them again") from exc  # fmt: skip


def reply(judged: Sequence[Judged]) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    for j in judged:
        if j.reason is None:
            results.append({"index": j.index, "status": "accepted", "event_id": j.event_id})
        else:
            results.append({"index": j.index, "status": "rejected", "event_id": j.event_id,
                            "reason": j.reason, "detail": j.detail})  # fmt: skip
    accepted = sum(1 for j in judged if j.reason is None)
    return {"accepted": accepted, "rejected": len(judged) - accepted, "results": results}


def _event_id(item: Any) -> str | None:
    value = item.get("event_id") if isinstance(item, dict) else None
    return value[:256] if isinstance(value, str) else None


def _kind(value: Any) -> str:
    return {dict: "object", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )
