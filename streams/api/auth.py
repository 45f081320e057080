"""Bearer tokens and their scopes (docs/api.md, "Auth").

Scopes ``read``, ``ingest`` and ``admin``; admin implies the other two. A request without a
known token is answered 401 (``unauthorized``), one whose token lacks the scope 403
(``forbidden``). Tokens are known by their SHA-256 only and every configured digest is compared
in constant time, so neither the answer nor its timing tells how much of a guess was right.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Final

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from streams.api.errors import ApiError
from streams.settings.api import ApiToken

COOKIE: Final = "portrait_token"  # the 360° page's token, set by /ui/?token=...
IMPLIED: Final = {"admin": frozenset({"admin", "read", "ingest"})}
LOCAL_ACTOR: Final = "local"  # who the audit names when auth is off (--no-auth)

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="A token of PORTRAIT_API_TOKENS (scopes read, ingest, admin).",
)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who asks (the audit's actor) and what they may do."""

    actor: str
    scopes: frozenset[str]


class TokenTable:
    """The configured tokens; ``None`` tokens (auth off) let everyone do everything."""

    def __init__(self, tokens: Iterable[ApiToken] | None) -> None:
        self.tokens = None if tokens is None else tuple(tokens)

    @property
    def open(self) -> bool:
        return self.tokens is None

    def identify(self, token: str | None) -> Principal | None:
        """The principal of a presented token, or None; every digest is compared."""
        if self.tokens is None:
            return Principal(LOCAL_ACTOR, IMPLIED["admin"])
        if not token:
            return None
        digest = hashlib.sha256(token.encode()).digest()
        scopes: set[str] = set()
        actor = ""
        for entry in self.tokens:  # no early exit: the time does not depend on the match
            if hmac.compare_digest(entry.digest, digest):
                scopes |= IMPLIED.get(entry.scope, frozenset({entry.scope}))
                actor = actor or entry.actor
        return Principal(actor, frozenset(scopes)) if scopes else None

    def check(self, token: str | None, scope: str) -> Principal:
        """The principal allowed ``scope``, else the 401 or 403 :class:`ApiError`."""
        principal = self.identify(token)
        if principal is None:
            what = "no bearer token" if not token else "unknown token"
            raise ApiError(401, f"{what}: send Authorization: Bearer TOKEN")
        if scope not in principal.scopes:
            raise ApiError(403, f"this token lacks the {scope!r} scope")
        return principal


def require(scope: str, *, cookie: bool = False) -> Callable[..., Awaitable[Principal]]:
    """A FastAPI dependency: the caller's principal when it holds ``scope``. ``cookie``: the
    ``portrait_token`` cookie is accepted too (the 360° page, opened from a browser)."""

    async def principal(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Security(bearer),  # noqa: B008
    ) -> Principal:
        table: TokenTable = request.app.state.tokens
        token = credentials.credentials if credentials is not None else None
        if token is None and cookie:
            token = request.cookies.get(COOKIE)
        found = table.check(token, scope)
        request.state.actor = found.actor
        return found

    return principal
