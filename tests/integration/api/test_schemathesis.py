"""Property-based tests of the API from its own OpenAPI document (schemathesis) against a live
server over a real Redis and broker, with an admin token: whatever the generated request (valid
and invalid alike), no 500, every answer's status is one the document lists and its body matches
the schema. DELETE runs too: erasing a random unknown user must not fail either."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from streams.settings.tree import Settings
from tests.integration.api.live import TOKENS, threaded_api

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": f"Bearer {TOKENS['admin']}"}
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]
EXAMPLES = 30  # per operation and mode: the whole run stays under a minute
# HTTP framing, not API input: a malformed one is refused by the HTTP server (uvicorn's h11, a
# bare 400 "Invalid HTTP request received.") before any route runs, and the client sets them
FRAMING = frozenset({"content-length", "transfer-encoding", "host", "connection"})


def test_every_operation_keeps_to_its_schema(settings: Settings) -> None:
    with threaded_api(settings) as url:
        schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 9
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                check(operation, mode)


def check(operation: schemathesis.APIOperation, mode: GenerationMode) -> None:
    @given(st.data())
    @hypothesis_settings(max_examples=EXAMPLES, deadline=None, database=None,
                         suppress_health_check=list(HealthCheck))  # fmt: skip
    def run(data: st.DataObject) -> None:
        case = data.draw(operation.as_strategy(mode))
        if case.headers:
            case.headers = {k: v for k, v in case.headers.items() if k.lower() not in FRAMING}
        case.call_and_validate(headers=ADMIN, checks=CHECKS)

    try:
        run()
    except Unsatisfiable:
        if mode is GenerationMode.POSITIVE:
            raise  # else: nothing of it can be invalid (no parameter, no body)
    except Exception as exc:
        exc.add_note(f"operation: {operation.label}, {mode.value} data")
        raise
