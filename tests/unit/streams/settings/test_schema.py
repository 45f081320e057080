"""The shipped JSON Schema is the one the types generate, and the shipped YAML files follow it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from streams.settings.schema import SHIPPED, render, schema

ROOT = Path(__file__).resolve().parents[4]
FILES = [ROOT / "docs" / "examples" / "portrait.yaml", ROOT / "deploy" / "portrait.yaml"]
VALIDATOR = jsonschema.Draft202012Validator(schema())


def test_the_shipped_schema_is_the_generated_one() -> None:
    assert (
        SHIPPED.read_text(encoding="utf-8") == render()
    )  # else: python -m streams.settings.schema
    jsonschema.Draft202012Validator.check_schema(json.loads(SHIPPED.read_text(encoding="utf-8")))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.parent.name)
def test_shipped_files_validate_and_name_the_schema(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert list(VALIDATOR.iter_errors(yaml.safe_load(text))) == []
    first = text.splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=")
    assert first.endswith("streams/settings/portrait.schema.json")


@pytest.mark.parametrize(
    "document,error",
    [
        ({"profile": {"layers": {"high_vlue": 1}}}, "'high_vlue' was unexpected"),
        ({"wroker": {}}, "'wroker' was unexpected"),
        ({"triggers": {"scheduler": {"batch": "many"}}}, "'many' is not of type 'integer'"),
        ({"triggers": {"scheduler": {"batch": 0}}}, "0 is less than the minimum of 1"),
        ({"triggers": {"cart_reminder": {"delay": "soon"}}}, "is not valid under any"),
        ({"triggers": {"cart_reminder": {"channels": ["fax"]}}}, "is not valid under any"),
        ({"kafka_security": {"sasl_password": "x"}}, "'sasl_password' was unexpected"),
        ({"metrics_port": 70000}, "70000 is greater than the maximum of 65535"),
    ],
)
def test_the_schema_refuses_what_the_loader_refuses(document: dict[str, Any], error: str) -> None:
    messages = [e.message for e in VALIDATOR.iter_errors(document)]
    assert len(messages) == 1 and error in messages[0]


@pytest.mark.parametrize(
    "document",
    [
        {"triggers": {"policy": {"quiet_hours": None, "min_gap": "90m"}}},
        {"triggers": {"first_purchase": {"channels": "sms", "delay": 30}}},
        {"profile": {"dedupe_window": "12h", "max_event_time": "2100-01-01T00:00:00Z"}},
        {"worker": {"startup_timeout_s": 3}},
    ],
)
def test_the_schema_accepts_what_the_loader_accepts(document: dict[str, Any]) -> None:
    assert list(VALIDATOR.iter_errors(document)) == []
