"""GDPR over HTTP (docs/privacy.md): ``DELETE /v1/profiles/{user_id}`` erases everything stored
about a user (``?suppress=true``: and refuses their later events; ``DELETE
/v1/profiles/{user_id}/suppression`` lets them in again), ``GET
/v1/profiles/{user_id}/export`` returns all of it. Both are the privacy service's
(streams/privacy), audited there with the caller's token as the actor; both need ``admin``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from starlette.responses import Response

from streams.api.auth import Principal, require
from streams.api.context import ApiContext, Ctx, PrivacyService
from streams.api.errors import ApiError, JSONOut, not_found
from streams.api.models import Erasure, Export, UserId, errors
from streams.api.query import parse_as_of

router = APIRouter(prefix="/v1", tags=["privacy"])

PathId = Annotated[UserId, Path(description="The user id")]


@router.delete(
    "/profiles/{user_id}",
    response_model=Erasure,
    responses=errors(401, 403, 422, 500, 503),
    summary="Erase everything stored about a user (audited)",
)
async def erase(
    ctx: Ctx,
    user_id: PathId,
    suppress: bool = Query(False, description="Also send the user's later events to the DLQ"),
    who: Principal = Depends(require("admin")),  # noqa: B008
) -> Response:
    done = await service(ctx).erase(user_id, suppress=suppress, actor=who.actor)
    return JSONOut(done.as_dict())


@router.delete(
    "/profiles/{user_id}/suppression",
    responses=errors(401, 403, 404, 422, 500, 503),
    summary="Lift a user's suppression: their later events are let in again (audited)",
)
async def unsuppress(
    ctx: Ctx,
    user_id: PathId,
    who: Principal = Depends(require("admin")),  # noqa: B008
) -> Response:
    lifted = await service(ctx).unsuppress(user_id, actor=who.actor)
    if lifted is None:
        raise not_found(f"user {user_id!r} is not suppressed")
    return JSONOut(lifted)


@router.get(
    "/profiles/{user_id}/export",
    response_model=Export,
    responses=errors(400, 401, 403, 404, 422, 500, 503),
    summary="Everything stored about a user, as JSON (right of access)",
)
async def export(
    ctx: Ctx,
    user_id: PathId,
    as_of: str | None = Query(None, description="RFC 3339 or epoch ms; default: now"),
    who: Principal = Depends(require("admin")),  # noqa: B008
) -> Response:
    at = parse_as_of(as_of, ctx.clock())
    found = await service(ctx).export(user_id, at, actor=who.actor)
    if found is None:
        raise not_found(f"nothing stored about user {user_id!r}")
    return JSONOut(found)


def service(ctx: ApiContext) -> PrivacyService:
    if ctx.privacy is None:
        raise ApiError(503, "the privacy service is not installed (streams.privacy)")
    return ctx.privacy
