"""The experiments of docs/examples/experiments/portrait.yaml and of `portrait up`'s demo load
as the page says (docs/experiments.md)."""

from __future__ import annotations

from pathlib import Path

import yaml

from streams.app.up import DEMO_TRIGGERS
from streams.settings.tree import Settings
from triggers.experiments import split

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "docs" / "examples" / "experiments" / "portrait.yaml"


def test_the_documented_example_loads_with_its_arms() -> None:
    settings = Settings.from_env({"PORTRAIT_CONFIG": str(EXAMPLE)})
    cart, win_back = settings.triggers.experiments
    assert (cart.name, cart.metric, cart.window_days) == ("cart_copy", "converted", 1)
    assert [v.name for v in cart.variants] == ["plain", "urgent", "at_eight"]
    assert cart.variants[2].hour == 8 and cart.variants[1].channel == "sms"
    assert (win_back.metric, win_back.mde, win_back.window_days) == ("recalled", 0.03, 7)
    assert round(sum(split(cart).values()), 12) == 1.0
    assert split(cart)["holdout"] == 0.2


def test_the_page_shows_the_example_file() -> None:
    page = (ROOT / "docs" / "experiments.md").read_text(encoding="utf-8")
    assert "docs/examples/experiments/portrait.yaml" in page
    body = EXAMPLE.read_text(encoding="utf-8")
    section = body[body.index("triggers:") :]
    assert section.strip() in page


def test_the_demo_of_portrait_up_runs_an_experiment(tmp_path: Path) -> None:
    config = tmp_path / "demo.yaml"
    config.write_text(DEMO_TRIGGERS, encoding="utf-8")
    [experiment] = Settings.from_env({"PORTRAIT_CONFIG": str(config)}).triggers.experiments
    assert (experiment.name, experiment.holdout) == ("cart_copy", 0.2)
    assert yaml.safe_load(DEMO_TRIGGERS)["triggers"]["cart_reminder"] == {"delay": "20s"}
