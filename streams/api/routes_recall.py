"""``GET /v1/recall?since=&until=&as_of=``: the recall report of ``portrait recall report``
(docs/recall.md) as its JSON document: per channel and per campaign the recall messages sent,
click rate, users recalled and their share, cost per recalled user and re-churn, and overall the
distinct recalled users with the last-touch attribution.

The period is of send times; a period longer than :data:`MAX_DAYS` is a 400 that names the
command (which walks any period with a progress line)."""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Query

from streams.api.auth import require
from streams.api.context import Ctx
from streams.api.errors import ApiError, bad_request
from streams.api.models import errors
from streams.api.query import parse_as_of
from triggers.config import DAY_MS

router = APIRouter(prefix="/v1", tags=["recall"], dependencies=[Depends(require("read"))])

DEFAULT_DAYS: Final = 30
MAX_DAYS: Final = 120
Moment = Annotated[str | None, Query(description="RFC 3339 or epoch ms", max_length=64)]


@router.get(
    "/recall",
    responses=errors(400, 401, 403, 422, 500),
    summary="Recall per channel and campaign: sent, clicks, recalled, cost, re-churn",
)
async def recall(
    ctx: Ctx, since: Moment = None, until: Moment = None, as_of: Moment = None
) -> dict[str, Any]:
    from streams.feedback.recall_report import read_recall_report

    as_of_ms = parse_as_of(as_of, ctx.clock())
    until_ms = _moment("until", until, as_of_ms)
    since_ms = _moment("since", since, until_ms - DEFAULT_DAYS * DAY_MS)
    if since_ms >= until_ms:
        raise bad_request("since must be before until")
    if until_ms - since_ms > MAX_DAYS * DAY_MS:
        raise bad_request(
            f"a period of at most {MAX_DAYS} days; `portrait recall report` reads any"
        )
    t = ctx.settings.triggers
    period = (since_ms, until_ms)
    return await read_recall_report(
        ctx.redis, ctx.namespace, t.recall, dict(t.cost), period, as_of_ms
    )


def _moment(name: str, value: str | None, default: int) -> int:
    """``?since=`` / ``?until=`` as ``?as_of=`` is read, its errors named for the parameter."""
    if value is None:
        return default
    try:
        return parse_as_of(value, default)
    except ApiError as exc:
        raise bad_request(f"{name}{exc.message.removeprefix('as_of')}") from None
