"""``GET /v1/insight?segment=A&segment=B[&where=...][&as_of=...][&format=json|html]``: the
segment insight report of ``portrait insight`` (docs/insight.md) as its JSON document, or as the
self-contained HTML page with its charts.

The API answers while it scans, so an audience is capped at :data:`MAX_MEMBERS` (a bigger one is
a 413 that names the command, which streams any size with a progress line); the scan yields to
other requests between chunks, and the statistics and figures run in a worker thread."""

from __future__ import annotations

import asyncio
from typing import Annotated, Final, Literal

from fastapi import APIRouter, Depends, Query
from starlette.responses import HTMLResponse, Response

from streams.api.auth import require
from streams.api.context import Ctx
from streams.api.errors import ApiError, JSONOut, bad_request, not_found
from streams.api.models import errors
from streams.api.query import parse_as_of
from streams.errors import CommandError, NotFound
from streams.ops.progress import ProgressLine

router = APIRouter(prefix="/v1", tags=["insight"], dependencies=[Depends(require("read"))])

MAX_MEMBERS: Final = 100_000  # per audience; larger ones: `portrait insight` (docs/insight.md)
MAX_AUDIENCES: Final = 8


@router.get(
    "/insight",
    responses=errors(400, 401, 403, 404, 413, 422, 500),
    summary="Segments side by side: distributions, tests and effect sizes (JSON or HTML)",
)
async def insight(
    ctx: Ctx,
    segment: Annotated[
        list[str], Query(description="Two or more segments of the rules", max_length=256)
    ],
    where: Annotated[
        str | None, Query(description="A segment-style condition (JSON)", max_length=4096)
    ] = None,
    as_of: Annotated[str | None, Query(description="RFC 3339 or epoch ms")] = None,
    format: Annotated[Literal["json", "html"], Query(description="The answer's form")] = "json",
) -> Response:
    from streams.insight.request import check_audiences, parse_where, report, scan_audiences

    rules = ctx.rules
    as_of_ms = parse_as_of(as_of, ctx.clock())
    if len(segment) > MAX_AUDIENCES:
        raise bad_request(f"segment: at most {MAX_AUDIENCES} audiences, got {len(segment)}")
    try:
        names = check_audiences(segment, rules)
        if "all" in names and "all" not in {s.name for s in rules.segments}:
            raise CommandError("'all' is for `portrait insight`: the API reads segments only")
        predicate, spec = parse_where(where, rules)
    except NotFound as exc:
        raise not_found(str(exc)) from None
    except CommandError as exc:
        raise bad_request(str(exc)) from None
    sizes = await ctx.segments.sizes(names)
    big = [f"{n} ({sizes[n]:,})" for n in names if sizes[n] > MAX_MEMBERS]
    if big:
        raise ApiError(413, f"more than {MAX_MEMBERS:,} members: {', '.join(big)}; "
                       "run `portrait insight` for audiences this size")  # fmt: skip

    def quiet(name: str, i: int, n: int) -> ProgressLine:
        return ProgressLine(name, enabled=False)

    scans = await scan_audiences(
        ctx.redis, ctx.namespace, ctx.model, rules, names, as_of_ms, predicate, quiet
    )
    document = await asyncio.to_thread(report, scans, as_of_ms, spec)
    if format == "json":
        return JSONOut(document)
    from streams.insight.figures import figures
    from streams.insight.html import render

    page = await asyncio.to_thread(lambda: render(document, figures(document)))
    return HTMLResponse(page)
