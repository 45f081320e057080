"""``GET /v1/segments``, ``GET /v1/segments/{name}`` and ``GET /v1/segments/{name}/members``:
the segments of the current rules, their exact sizes (the segment store's SCARD) and their
members page by page (SSCAN: a cursor, no snapshot; docs/api.md). On Redis Cluster a segment's
member set is 16 shards: its size is their SCARDs summed, and the members' cursor carries the
shard (:func:`members`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from starlette.responses import Response

from profiles.rules import RuleSet, SegmentRule
from profiles.rules.catalogue import closest
from streams.api.auth import require
from streams.api.context import Ctx
from streams.api.errors import ApiError, JSONOut, not_found
from streams.api.models import MembersPage, SegmentList, errors
from streams.api.models import Segment as SegmentModel
from streams.api.query import parse_cursor
from streams.names import DUE_SHARDS

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
    """A page of the segment's members, sorted, and `next_cursor` (null after the last page).

    Start without `cursor` and pass each page's `next_cursor` back as is until it is null. The
    walk is Redis SSCAN, no snapshot: a member present throughout is listed (rarely twice,
    while Redis rehashes the set); one who joins or leaves meanwhile may be missed.

    The cursor's form depends on the deployment's Redis. On a single Redis it is the SSCAN
    cursor of the segment's one set, digits (`"1234"`). On Redis Cluster the segment's set is
    16 shards walked one after the other and the cursor carries the shard,
    `"<shard>:<cursor>"` (`"3:1234"`: shard 3 at SSCAN cursor 1234; `"4:0"`: shard 4 from its
    start); a page that finishes a shard with fewer than `limit` members goes on into the
    next. A cursor of the other form is refused (400).
    """
    cluster = ctx.segments.cluster
    shard, start = parse_shard_cursor(cursor) if cluster else (0, parse_cursor(cursor))
    find_segment(ctx.rules, name)
    page = await ctx.segments.page(name, shard, start, limit)
    after = None if page.done else next_cursor(page.shard, page.position, cluster)
    return JSONOut({"segment": name, "members": page.members, "next_cursor": after})


def parse_shard_cursor(value: str | None) -> tuple[int, int]:
    """A cluster page's ``?cursor=`` (``"<shard>:<SSCAN cursor>"``): (shard, cursor); absent:
    the first page, (0, 0)."""
    if value is None or value == "":
        return 0, 0
    shard, sep, position = value.partition(":")
    if sep and position and shard.isascii() and shard.isdigit() and int(shard) < DUE_SHARDS:
        return int(shard), parse_cursor(position)
    raise ApiError(400, "cursor: expected the next_cursor of the previous page")


def next_cursor(shard: int, position: int, cluster: bool) -> str:
    """The ``next_cursor`` of a page that is not the last: SSCAN's cursor on a single Redis,
    ``"<shard>:<cursor>"`` on Redis Cluster (:func:`members`)."""
    return f"{shard}:{position}" if cluster else str(position)


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
