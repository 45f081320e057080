"""``GET /v1/profiles/{user_id}``, ``POST /v1/profiles:batchGet`` and
``GET /v1/profiles/{user_id}/explain/{name}``: the CLI's read path (streams.read.profile) and
``portrait explain``'s explanation, as JSON."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from starlette.responses import Response

from profiles.rules import read_inputs
from profiles.rules.catalogue import closest
from profiles.timeutil import rfc3339
from streams.api.auth import require
from streams.api.context import Ctx
from streams.api.errors import ApiError, JSONOut, not_found
from streams.api.models import (
    BatchGetReply,
    BatchGetRequest,
    Explanation,
    ProfileDocument,
    UserId,
    errors,
)
from streams.api.query import parse_as_of, parse_fields
from streams.read.profile import select
from streams.store.profiles import ProfileStore

router = APIRouter(prefix="/v1", tags=["profiles"], dependencies=[Depends(require("read"))])

AS_OF = Query(None, description="RFC 3339 or epoch ms; default: now", max_length=64)
PathId = Annotated[UserId, Path(description="The user id")]


@router.get(
    "/profiles/{user_id}",
    response_model=ProfileDocument,
    responses=errors(400, 401, 403, 404, 422, 500),
    summary="One user's profile document",
)
async def get_profile(
    ctx: Ctx,
    user_id: PathId,
    as_of: str | None = AS_OF,
    fields: str | None = Query(
        None, description="Comma-separated: tags, cart, tags.rfm_segment ...", max_length=4096
    ),
) -> Response:
    at = parse_as_of(as_of, ctx.clock())
    wanted = parse_fields(fields)
    doc = await ctx.reader().document(user_id, at)
    if doc is None:
        survivor = await ctx.identity.survivor(user_id)
        if survivor is not None:  # docs/identity.md: the person's profile is the survivor's
            raise ApiError(
                404, f"{user_id!r} was merged into {survivor!r}: read that profile", "merged"
            )
        raise not_found(f"no profile for user {user_id!r}")
    return JSONOut(select(doc, wanted) if wanted else doc)


@router.post(
    "/profiles:batchGet",
    response_model=BatchGetReply,
    responses=errors(400, 401, 403, 422, 500),
    summary="Many profiles in one Redis round trip: those found and the missing ids",
)
async def batch_get(ctx: Ctx, body: BatchGetRequest, as_of: str | None = AS_OF) -> Response:
    at = parse_as_of(as_of, ctx.clock())
    found = await ctx.reader().documents(body.user_ids, at)
    missing = [u for u in dict.fromkeys(body.user_ids) if u not in found]
    return JSONOut({"profiles": found, "missing": missing})


@router.get(
    "/profiles/{user_id}/explain/{name}",
    response_model=Explanation,
    responses=errors(400, 401, 403, 404, 422, 500),
    summary="Why a user has a rule tag's value or is (not) in a segment",
)
async def explain(
    ctx: Ctx,
    user_id: PathId,
    name: Annotated[str, Path(description="A rule tag or a segment", max_length=256)],
    as_of: str | None = AS_OF,
) -> Response:
    at = parse_as_of(as_of, ctx.clock())
    rules = ctx.rules
    if rules.find(name) is None:
        known = [t.name for t in rules.tags] + [s.name for s in rules.segments]
        raise not_found(unknown_rule(name, known))
    state = await ProfileStore(ctx.redis, ctx.namespace).get(user_id)
    if state is None:
        raise not_found(f"no profile for user {user_id!r}")
    tags = read_inputs(ctx.model, state, at, rules.inputs)
    values, members = rules.evaluate(tags)
    is_segment = any(s.name == name for s in rules.segments)
    lines = rules.explain(name, {**tags, **values})
    return JSONOut(explanation(user_id, name, is_segment, at, rules.version, lines,
                               name in members if is_segment else values.get(name)))  # fmt: skip


def unknown_rule(name: str, known: list[str]) -> str:
    guess = closest(name, known)
    hint = f" (did you mean {guess!r}?)" if guess else ""
    return f"unknown rule tag or segment {name!r}{hint}"


def explanation(
    user_id: str, name: str, is_segment: bool, at: int, version: str, lines: Any, result: Any
) -> dict[str, Any]:
    clauses = [{"depth": x.depth, "text": x.text, "held": bool(x.held), "value": x.value}
               for x in lines]  # fmt: skip
    return {"user_id": user_id, "name": name, "kind": "segment" if is_segment else "tag",
            "as_of": rfc3339(at), "rules_version": version, "clauses": clauses,
            "result": result}  # fmt: skip
