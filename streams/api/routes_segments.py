"""``GET /v1/segments``, ``GET /v1/segments/{name}`` and ``GET /v1/segments/{name}/members``:
the segments of the current rules, their exact sizes (the segment store's SCARD) and their
members page by page (SSCAN: a cursor, no snapshot; docs/api.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from starlette.responses import Response

from profiles.rules import RuleSet, SegmentRule
from profiles.rules.catalogue import closest
from streams.api.auth import require
from streams.api.context import Ctx
from streams.api.errors import JSONOut, not_found
from streams.api.models import MembersPage, SegmentList, errors
from streams.api.models import Segment as SegmentModel
from streams.api.query import parse_cursor
from streams.names import Keys

router = APIRouter(prefix="/v1", tags=["segments"], dependencies=[Depends(require("read"))])

Name = Annotated[str, Path(description="A segment of the rules", max_length=256)]


@router.get(
    "/segments",
    response_model=SegmentList,
    responses=errors(401, 403, 500),
    summary="Every segment of the current rules, with its size",
)
async def list_segments(ctx: Ctx) -> Response:
    rules = ctx.rules
    sizes = await ctx.segments.sizes([s.name for s in rules.segments])
    docs = [segment_doc(s, sizes[s.name], rules.version) for s in rules.segments]
    return JSONOut({"segments": docs, "rules_version": rules.version})


@router.get(
    "/segments/{name}",
    response_model=SegmentModel,
    responses=errors(401, 403, 404, 422, 500),
    summary="One segment: its condition and size",
)
async def get_segment(ctx: Ctx, name: Name) -> Response:
    rules = ctx.rules
    segment = find_segment(rules, name)
    return JSONOut(segment_doc(segment, await ctx.segments.size(name), rules.version))


@router.get(
    "/segments/{name}/members",
    response_model=MembersPage,
    responses=errors(400, 401, 403, 404, 422, 500),
    summary="A page of a segment's members",
)
async def members(
    ctx: Ctx,
    name: Name,
    cursor: str | None = Query(None, description="next_cursor of the previous page", max_length=24),
    limit: int = Query(100, ge=1, le=1000, description="About this many (SSCAN's COUNT)"),
) -> Response:
    start = parse_cursor(cursor)
    find_segment(ctx.rules, name)
    key = Keys(ctx.namespace).segment_members(name)
    raw: Any
    after, raw = await ctx.redis.sscan(key, start, count=limit)
    page = sorted({m.decode() for m in raw})
    return JSONOut({"segment": name, "members": page,
                    "next_cursor": str(after) if int(after) else None})  # fmt: skip


def find_segment(rules: RuleSet, name: str) -> SegmentRule:
    for segment in rules.segments:
        if segment.name == name:
            return segment
    names = [s.name for s in rules.segments]
    guess = closest(name, names)
    hint = f" (did you mean {guess!r}?)" if guess else ""
    raise not_found(f"unknown segment {name!r}{hint}")


def segment_doc(segment: SegmentRule, size: int, version: str) -> dict[str, Any]:
    spec = segment.spec()
    return {"name": segment.name, "description": segment.description, "owner": segment.owner,
            "where": spec["where"], "size": size, "path": f"/v1/segments/{segment.name}",
            "rules_version": version}  # fmt: skip
