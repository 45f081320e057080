"""The 360° page's routes (docs/ui.md): ``/ui/`` (the search box; ``?q=ID`` opens that user's
page; ``?token=`` keeps the token in an HttpOnly cookie and reloads without it in the URL),
``/ui/profiles/{user_id}`` (text/html) and the bundled files under ``/ui/static``.

The page needs the ``read`` scope, from ``Authorization: Bearer`` or the ``portrait_token``
cookie; a browser without either gets the search page with the reason (HTML, status 401/403).
"""

from __future__ import annotations

from typing import Final
from urllib.parse import quote, urlencode

from fastapi import APIRouter, FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse, RedirectResponse, Response

from streams.api.activity import load_activity
from streams.api.auth import COOKIE, TokenTable
from streams.api.context import Ctx
from streams.api.errors import ApiError
from streams.api.ui import STATIC_DIR, render_not_found, render_profile_page, render_search_page

STATIC: Final = "/ui/static"
HEADERS: Final = {
    "Cache-Control": "no-store",  # a customer's data: not kept by the browser or a proxy
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}

router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("/")
async def search(request: Request, q: str | None = None, token: str | None = None) -> Response:
    if token is not None:  # keep it in a cookie, out of the address bar and the history
        query = urlencode({"q": q}) if q else ""
        to = RedirectResponse("/ui/" + (f"?{query}" if query else ""), status_code=303)
        to.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/ui",
                      secure=request.url.scheme == "https")  # fmt: skip
        return to
    if q and q.strip():
        return RedirectResponse(f"/ui/profiles/{quote(q.strip(), safe='')}", status_code=303)
    return page(render_search_page(None, "Type a user id." if q is not None else None,
                                   static_prefix=STATIC))  # fmt: skip


@router.get("/profiles/{user_id}")
async def profile_page(ctx: Ctx, request: Request, user_id: str) -> Response:
    refused = check(request.app.state.tokens, request)
    if refused is not None:
        return page(render_search_page(user_id, refused.message, static_prefix=STATIC),
                    refused.status)  # fmt: skip
    doc = await ctx.reader().document(user_id, ctx.clock())
    if doc is None:
        return page(render_not_found(user_id, static_prefix=STATIC), 404)
    activity = await load_activity(ctx.redis, ctx.namespace, user_id)
    return page(render_profile_page(doc, activity, static_prefix=STATIC))


def check(tokens: TokenTable, request: Request) -> ApiError | None:
    """Why the page is refused (no token, no read scope), or None."""
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    token = credentials.strip() if scheme.lower() == "bearer" else request.cookies.get(COOKIE)
    try:
        tokens.check(token, "read")
    except ApiError as exc:
        if exc.status == 401:
            return ApiError(401, "Open /ui/?token=YOUR_TOKEN once to sign in (a read token).")
        return exc
    return None


def page(html: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def mount(app: FastAPI) -> None:
    app.include_router(router)
    app.mount(STATIC, StaticFiles(directory=STATIC_DIR), name="ui-static")
