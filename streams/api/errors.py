"""One JSON shape for every error the API answers (docs/api.md, "Errors"):
``{"error": {"code": "not_found", "message": "...", "status": 404}}``.

The routes raise :class:`ApiError`; the handlers installed by :func:`install` turn it, FastAPI's
validation errors (422, the first problem in one line), Starlette's own 404 and 405, a Redis or
Kafka that is down or a cluster moving a slot (503 with ``Retry-After``: the same request will
do once it is back, ``streams.pipeline.retry.TRANSIENT``) and any other exception (500, logged
with its traceback, one line to the client) into that shape.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Final

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response

from streams.pipeline.retry import TRANSIENT

log = logging.getLogger("portrait.api")

CODES: Final = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    422: "invalid_request",
    500: "internal",
    503: "unavailable",
}


class JSONOut(JSONResponse):
    """A JSON response written by orjson (integer keys, as the active hours have, allowed)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=_default, option=orjson.OPT_NON_STR_KEYS)


def _default(value: Any) -> Any:
    """What orjson does not write itself: sets (as sorted lists)."""
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    raise TypeError(f"not JSON: {type(value).__name__}")


class ApiError(Exception):
    """An answer other than success: its status, stable code and one-line message."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or CODES.get(status, "error")
        self.message = message


def not_found(message: str) -> ApiError:
    return ApiError(404, message)


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def error_body(status: int, message: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code or CODES.get(status, "error"), "message": message,
                      "status": status}}  # fmt: skip


def error_response(
    status: int, message: str, code: str | None = None, headers: Mapping[str, str] | None = None
) -> Response:
    return JSONOut(error_body(status, message, code), status_code=status, headers=headers)


def first_problem(errors: Sequence[Any]) -> str:
    """FastAPI's list of validation problems as one line: the first, where it is, and how
    many more (``query.limit: Input should be less than or equal to 1000``)."""
    if not errors:
        return "invalid request"
    first = errors[0] if isinstance(errors[0], Mapping) else {}
    where = ".".join(str(part) for part in first.get("loc", ()))
    text = " ".join(str(first.get("msg", "invalid value")).split())
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {text}{more}" if where else f"{text}{more}"


def install(app: FastAPI) -> None:
    """The handlers that give every error the one shape."""

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return error_response(exc.status, exc.message, exc.code, headers)

    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return error_response(422, first_problem(exc.errors()))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = exc.detail if isinstance(exc.detail, str) else "request refused"
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such path: {request.url.path}"
        elif exc.status_code == 405:
            message = f"method {request.method} not allowed on {request.url.path}"
        return error_response(exc.status_code, message, headers=exc.headers)

    async def internal(request: Request, exc: Exception) -> Response:
        if isinstance(exc, TRANSIENT):  # not a bug: the store or the broker is away a while
            log.warning("%s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
            message = f"the store is unavailable ({type(exc).__name__}: {exc}); retry shortly"
            return error_response(503, message, headers={"Retry-After": "1"})
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return error_response(500, f"internal error ({type(exc).__name__}); see the API's log")

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, internal)
