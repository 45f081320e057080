"""The one error shape, FastAPI's validation problems in one line, orjson's output."""

from __future__ import annotations

import orjson
import pytest

from streams.api.errors import CODES, ApiError, JSONOut, error_body, first_problem


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
