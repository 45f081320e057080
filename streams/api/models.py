"""The API's request and response types: they validate the requests and, through FastAPI, write
the OpenAPI document (/openapi.json). The routes answer with orjson directly (streams.api.errors
.JSONOut), so these types describe the answers without re-validating each one; the schemathesis
test (tests/integration/api/test_schemathesis.py) holds the answers to them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from streams.api.errors import CODES

UserId = Annotated[str, Field(min_length=1, max_length=256)]
MAX_BATCH_GET = 1000
MAX_EVENTS = 500


class ErrorDetail(BaseModel):
    code: str = Field(description=f"Stable: one of {', '.join(sorted(set(CODES.values())))}")
    message: str = Field(description="One line for a person")
    status: int


class ErrorBody(BaseModel):
    error: ErrorDetail


class ProfileDocument(BaseModel):
    """``portrait profile get``'s document (docs/tags.md); with ``?fields=`` only the parts
    asked for, ``user_id`` and ``as_of`` always."""

    model_config = ConfigDict(extra="allow")

    user_id: str
    as_of: str = Field(description="RFC 3339, UTC")
    tags: dict[str, Any] | None = Field(None, description="Built-in and rule tags")
    changed_at: dict[str, str | None] | None = Field(None, description="Tag -> when it changed")
    attributes: dict[str, Any] | None = None
    cart: list[dict[str, Any]] | None = None
    categories: list[list[str | float]] | None = Field(None, description="[[name, score], ...]")
    brands: list[list[str | float]] | None = None
    active_hours: dict[str, float] | None = Field(
        None, description="Hour of week (weekday*24 + local hour, Monday = 0) -> score"
    )
    segments: list[str] | None = None
    segments_since: dict[str, str | None] | None = None
    rules_version: str | None = None
    marketing: dict[str, Any] | None = None
    experiments: dict[str, dict[str, Any]] | None = Field(
        None, description="Experiment -> the user's recorded arm and exposure time"
    )


class BatchGetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_ids: list[UserId] = Field(min_length=1, max_length=MAX_BATCH_GET)


class BatchGetReply(BaseModel):
    profiles: dict[str, ProfileDocument]
    missing: list[str] = Field(description="The ids without a profile, in the order asked")


class Segment(BaseModel):
    name: str
    description: str
    owner: str
    where: Any = Field(description="The condition, in canonical form (docs/rules.md)")
    size: int = Field(description="Members now (SCARD: exact)")
    path: str = Field(description="This segment's resource")
    rules_version: str


class SegmentList(BaseModel):
    segments: list[Segment]
    rules_version: str


class MembersPage(BaseModel):
    segment: str
    members: list[str]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null: done")


class Clause(BaseModel):
    depth: int
    text: str
    held: bool
    value: Any = Field(description="The user's value the clause read")


class Explanation(BaseModel):
    user_id: str
    name: str
    kind: Literal["tag", "segment"]
    as_of: str
    rules_version: str
    clauses: list[Clause]
    result: Any = Field(description="A segment: whether the user is in it; a tag: its value")


class EventResult(BaseModel):
    index: int
    status: Literal["accepted", "rejected"]
    event_id: str | None = None
    reason: str | None = Field(None, description="The dead-letter reason (docs/events.md)")
    detail: str | None = None


class IngestReply(BaseModel):
    accepted: int
    rejected: int
    results: list[EventResult]


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    redis: bool
    kafka: bool


class Erasure(BaseModel):
    """What an erase removed (streams/privacy: the audit record)."""

    user_id: str
    erase_id: str = Field(description="The id the erase event and the audit entry carry")
    erased_at: str = Field(description="RFC 3339")
    actor: str = Field(description="Who asked: the token's name, or cli:<login>")
    found: bool = Field(description="Anything was stored about the user")
    suppressed: bool = Field(description="The user's later events go to the DLQ (suppressed)")
    keys_deleted: int
    triggers_cancelled: int = Field(description="Queued triggers that will never be sent")
    segments_exited: list[str] = Field(description="Memberships ended (exits emitted)")
    tombstone_s: float = Field(description="How long writes older than the erase are refused")
    linked: list[str] = Field(
        default_factory=list,
        description="The person's other profiles (merged anonymous ids), erased with it",
    )


class Export(BaseModel):
    """Everything stored about one user (right of access)."""

    model_config = ConfigDict(extra="allow")


EXAMPLE_EVENT: dict[str, Any] = {
    "event_id": "e-1",
    "type": "view",
    "user_id": "u1",
    "ts": "2026-01-01T12:00:00Z",
    "properties": {"item_id": "sku-1"},
}
EVENTS_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_EVENTS,
                "items": {"type": "object", "description": "A contract event (docs/events.md)"},
            },
            "example": [
                {
                    "event_id": "e-1",
                    "type": "view",
                    "user_id": "u1",
                    "ts": "2026-01-01T12:00:00Z",
                    "properties": {"item_id": "sku-1"},
                },
            ],
        }
    },
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error answers of a route, each in the one shape (with 401 and 403 for every route
    behind a token, 422 for a bad parameter, 500 always); 503 is added to every route: any of
    them may find Redis or Kafka away (streams/api/errors.py)."""
    return {
        s: {"model": ErrorBody, "description": CODES.get(s, "error")}
        for s in sorted({*statuses, 503})
    }
