"""The one error shape, FastAPI's validation problems in one line, orjson's output."""

from __future__ import annotations

import httpx
import orjson
import pytest
from aiokafka.errors import KafkaConnectionError
from fastapi import FastAPI
from redis.exceptions import ClusterError, ResponseError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError

from streams.api.errors import CODES, ApiError, JSONOut, error_body, first_problem, install


@pytest.mark.parametrize("status", sorted(CODES))
def test_every_status_has_its_stable_code(status: int) -> None:
    body = error_body(status, "why")
    assert body == {"error": {"code": CODES[status], "message": "why", "status": status}}
    assert ApiError(status, "why").code == CODES[status]


def test_a_code_can_be_named() -> None:
    assert ApiError(404, "x", code="unknown_segment").code == "unknown_segment"


@pytest.mark.parametrize(
    ("errors", "expected"),
    [
        ([], "invalid request"),
        ([{"loc": ("query", "limit"), "msg": "Input should be\n less than 1000"}],
         "query.limit: Input should be less than 1000"),
        ([{"loc": ("body",), "msg": "Field required"}, {"loc": ("body", "x"), "msg": "bad"}],
         "body: Field required (and 1 more)"),
        ([{"msg": "JSON decode error"}], "JSON decode error"),
        (["not a mapping"], "invalid value"),
    ],
)  # fmt: skip
def test_validation_problems_become_one_line(errors: list[object], expected: str) -> None:
    assert first_problem(errors) == expected


def test_json_out_writes_integer_keys_and_sets() -> None:
    response = JSONOut({"active_hours": {46: 2.0}, "s": frozenset({"b", "a"})})
    assert orjson.loads(response.body) == {"active_hours": {"46": 2.0}, "s": ["a", "b"]}
    assert response.headers["content-type"] == "application/json"


async def _answer(exc: Exception) -> httpx.Response:
    """What the API answers for a route that raises ``exc``."""
    app = FastAPI()
    install(app)

    @app.get("/raises")
    async def raises() -> None:
        raise exc

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        return await client.get("/raises")


@pytest.mark.parametrize(
    "exc",
    [
        RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused."),
        ClusterError("TTL exhausted."),
        TryAgainError("TRYAGAIN Multiple keys request during rehashing of slot"),
        KafkaConnectionError("broker gone"),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_a_store_that_is_away_is_a_503_to_retry(exc: Exception) -> None:
    response = await _answer(exc)
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    error = response.json()["error"]
    assert error["code"] == "unavailable" and f"{type(exc).__name__}: {exc}" in error["message"]


@pytest.mark.parametrize(
    "exc", [ValueError("a bug"), ResponseError("ERR syntax error")], ids=lambda e: type(e).__name__
)
async def test_any_other_failure_is_a_500_that_names_it_in_one_line(exc: Exception) -> None:
    response = await _answer(exc)
    assert response.status_code == 500 and "retry-after" not in response.headers
    assert response.json()["error"]["message"] == (
        f"internal error ({type(exc).__name__}); see the API's log"
    )
