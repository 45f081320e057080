"""The API's rules follow their file: read again when it changes, kept when it breaks."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from profiles.config import ModelConfig
from profiles.model import ProfileModel
from streams.api.context import ApiContext
from streams.settings.base import ConfigError
from streams.settings.rules import RulesSource
from streams.settings.tree import Settings

RULES = """
segments:
  - name: {name}
    where: {{orders_total: {{">=": 2}}}}
"""


def context(path: Path) -> ApiContext:
    settings = Settings(rules_source=RulesSource(str(path)))
    none: Any = None
    return ApiContext(settings, none, none, none, ProfileModel(ModelConfig()))


def write(path: Path, text: str, mtime_ns: int) -> None:
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(mtime_ns, mtime_ns))


def test_a_changed_file_is_read_again_and_a_broken_one_keeps_the_last_rules(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rules.yaml"
    write(path, RULES.format(name="buyers"), 1_000_000_000)
    ctx = context(path)
    first = ctx.rules
    assert [s.name for s in first.segments] == ["buyers"]
    assert ctx.rules is first  # unchanged file: not parsed again
    write(path, RULES.format(name="big_buyers"), 2_000_000_000)
    assert [s.name for s in ctx.rules.segments] == ["big_buyers"]
    kept = ctx.rules
    write(path, "segments: [{where: 3}]", 3_000_000_000)
    assert ctx.rules is kept


def test_a_broken_file_at_the_first_read_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("segments: [{where: 3}]", encoding="utf-8")
    with pytest.raises(ConfigError):
        _ = context(path).rules
