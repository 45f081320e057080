"""docs/rules.md: its example files load and evaluate as the page says, the files it shows are
the files, and its table of built-in tag types is the catalogue's."""

# ruff: noqa: E501  (the example table keeps one case per row)

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from profiles.rules import BUILTIN_TYPES, load_rules_file

ROOT = Path(__file__).resolve().parents[4]
DOC = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
EXAMPLES = sorted((ROOT / "docs" / "examples" / "rules").glob("*.yaml"))


SHOWN = ("contract.yaml", "audiences.yaml")  # the examples the page shows whole


def test_there_are_examples() -> None:
    assert {p.name for p in EXAMPLES} >= set(SHOWN)


@pytest.mark.parametrize("name", SHOWN)
def test_the_page_shows_its_example_files_whole(name: str) -> None:
    path = ROOT / "docs" / "examples" / "rules" / name
    assert path.read_text(encoding="utf-8") in DOC
    assert f"(examples/rules/{name})" in DOC


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_file_loads(path: Path) -> None:
    rules = load_rules_file(path)
    assert rules.tags or rules.segments


def test_the_page_shows_the_default_pack_whole() -> None:
    assert (ROOT / "profiles" / "rules" / "default.yaml").read_text(encoding="utf-8") in DOC


BABY = {"baby": 0.5, "toys": 0.5}
# (file, inputs, tag values, segments)
CASES = [
    ("contract.yaml", {}, {"big_spender": False, "price_sensitivity": "low", "new_parent": 0.119203, "vip": None}, []),
    ("contract.yaml", {"spend_total": 120.0, "coupon_share": 0.6, "purchases_total": 2, "vip": "gold",
                       "category_affinity": {"baby": 1.0}},
     {"big_spender": True, "price_sensitivity": "high", "new_parent": 0.75026, "vip": "gold"}, ["repeat_buyers"]),
    ("contract.yaml", {"price_ratio": 0.8, "vip": "platinum"},
     {"big_spender": False, "price_sensitivity": "medium", "new_parent": 0.119203, "vip": None}, []),
    ("audiences.yaml", {"active_days_30d": 5, "category_affinity": BABY, "spend_180d": 150.0, "lifecycle": "active"},
     {"engaged": True, "baby_shopper": True, "spend_level": "mid"}, ["baby_campaign"]),
    ("audiences.yaml", {"logins_7d": 1, "category_affinity": BABY, "spend_180d": 150.0, "lifecycle": "churn_risk"},
     {"engaged": True, "baby_shopper": True, "spend_level": "mid"}, []),
    ("audiences.yaml", {"orders_total": 1, "days_since_last_purchase": 60, "days_since_last_seen": 7,
                        "cart_open_items": 1, "top_categories": ["shoes"]},
     {"engaged": False, "baby_shopper": False, "spend_level": "low"}, ["shoes_fans", "winback"]),
    ("audiences.yaml", {"days_since_last_purchase": 60, "days_since_last_seen": 6, "spend_180d": 2000.0,
                        "registered_at": "2024-03-01T10:00:00.000Z"},
     {"engaged": False, "baby_shopper": False, "spend_level": "high"}, ["registered_2024"]),
    ("audiences.yaml", {"days_since_last_purchase": 59, "days_since_last_seen": 9, "spend_180d": 2000.0,
                        "registered_at": "2025-01-01T00:00:00.000Z"},
     {"engaged": False, "baby_shopper": False, "spend_level": "high"}, []),
]  # fmt: skip


@pytest.mark.parametrize(("name", "tags", "values", "segments"), CASES)
def test_examples_evaluate(
    name: str, tags: dict[str, Any], values: dict[str, Any], segments: list[str]
) -> None:
    rules = load_rules_file(ROOT / "docs" / "examples" / "rules" / name)
    assert rules.evaluate(tags) == (values, segments)


def test_the_type_table_is_the_catalogue() -> None:
    section = DOC.split("## Built-in tags a rule reads")[1].split("\n## ")[0]
    documented: dict[str, str] = {}
    for row in re.findall(r"^\| (`.+`) \| (.+) \|$", section, re.MULTILINE):
        for name in re.findall(r"`([a-z0-9_]+)`", row[0]):
            documented[name] = row[1]
    expected = {
        n: t.describe() + (", ordered" if t.ordered else "") for n, t in BUILTIN_TYPES.items()
    }
    assert documented == expected
