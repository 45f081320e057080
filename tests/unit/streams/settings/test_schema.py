"""The shipped JSON Schema is the one the types generate, and the shipped YAML files follow it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from streams.settings.base import ConfigError, decode
from streams.settings.schema import SHIPPED, render, schema
from streams.settings.tree import PortraitFile

from .test_errors import SECTIONS, nest

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


WRONG = [1, -1, 0, 2.5, 70000, 1350, True, None, [], {}, [1, 2, 3, 4], [4, 3, 2, 1], "x", ""]
VALUES = [*WRONG, ["push"], ["fax"], "45s", "soon", "22:30", "2100-01-01T00:00:00Z", "push"]


@given(st.sampled_from(SECTIONS), st.data())
def test_the_schema_and_the_loader_agree(section: tuple[str, list[str]], data: Any) -> None:
    path, keys = section
    document = nest(path, {data.draw(st.sampled_from(keys)): data.draw(st.sampled_from(VALUES))})
    try:
        decode(document, PortraitFile)
        loads = True
    except ConfigError:
        loads = False
    assert VALIDATOR.is_valid(document) == loads


@pytest.mark.parametrize(
    "document",
    [{"worker": {"poll_timeout_ms": "50"}}, {"triggers": {"cart_reminder": {"priority": " 99"}}}],
)
def test_a_quoted_whole_number_loads_though_the_schema_flags_it(document: dict[str, Any]) -> None:
    decode(document, PortraitFile)
    assert not VALIDATOR.is_valid(document)


@pytest.mark.parametrize("flag", [1, 0, "true", "yes"])
def test_a_flag_must_be_true_or_false(flag: object) -> None:
    with pytest.raises(ConfigError, match=r"triggers\.enabled: expected true or false"):
        decode({"triggers": {"enabled": flag}}, PortraitFile)
