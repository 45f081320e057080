"""The recall settings of docs/examples/recall/portrait.yaml load as docs/recall.md says."""

from __future__ import annotations

from pathlib import Path

from streams.settings.tree import Settings
from triggers.config import DAY_MS

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "docs" / "examples" / "recall" / "portrait.yaml"
PAGE = ROOT / "docs" / "recall.md"


def test_the_documented_example_loads() -> None:
    triggers = Settings.from_env({"PORTRAIT_CONFIG": str(EXAMPLE)}).triggers
    recall = triggers.recall
    assert triggers.recall_window_ms == 2 * DAY_MS
    assert recall.kinds == {"win_back"}
    assert recall.watches("campaign", "winback-spring") and recall.watches("x", "reactivation-7")
    assert not recall.watches("campaign", "spring-sale") and not recall.watches(
        "cart_reminder", None
    )
    assert (recall.follow_up_ms, recall.lost_after_ms, recall.retention_ms) == (
        30 * DAY_MS, 14 * DAY_MS, 120 * DAY_MS)  # fmt: skip


def test_the_page_shows_the_example_file() -> None:
    page = PAGE.read_text(encoding="utf-8")
    assert "docs/examples/recall/portrait.yaml" in page
    body = EXAMPLE.read_text(encoding="utf-8")
    assert body[body.index("triggers:") :].strip() in page
