"""bench.memory's ``--model-set``: number fields of the model's config, refused in one line
otherwise."""

from __future__ import annotations

import pytest

from bench.memory import model_config
from profiles.config import ModelConfig


@pytest.mark.parametrize(
    ("pairs", "field", "value"),
    [
        ([], "affinity_max_entries", ModelConfig().affinity_max_entries),
        (["affinity_max_entries=32"], "affinity_max_entries", 32),
        (["affinity_max_entries=32", "affinity_max_entries=16"], "affinity_max_entries", 16),
    ],
)
def test_number_fields_are_replaced(pairs: list[str], field: str, value: int) -> None:
    assert getattr(model_config(pairs), field) == value


@pytest.mark.parametrize("pair", ["affinity_max_entries", "nope=3", "rfm=1", "default_timezone=1"])
def test_anything_else_is_refused_in_one_line(pair: str) -> None:
    with pytest.raises(SystemExit) as refused:
        model_config([pair])
    assert str(refused.value).startswith(f"--model-set {pair}:")
