"""render() and write(): the self-contained page with its DOM hooks, every user's value escaped,
and the three outputs written atomically beside each other."""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.insight.figures import Figure, colour, figures
from streams.insight.html import render, write
from tests.unit.streams.insight import fixture_report, section_tests
from tests.unit.streams.insight.page import Page

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@cache
def page_text() -> str:
    report = fixture_report()
    return render(report, figures(report))


def test_the_spec_dom_hooks() -> None:
    report, page = fixture_report(), Page(page_text())
    sections = [a["data-name"] for a in page.having("section", "section")]
    assert sections == [s["name"] for s in report["sections"]]
    assert page.svg_in == sections  # each section's figure holds its svg
    summaries = [(a["data-audience"]) for a in page.having("div", "summary")]
    assert summaries == [str(i) for i in range(len(report["audiences"]))]
    assert len(page.having("table", "tests")) == 1
    rows = [
        (a["data-section"], a.get("data-value")) for t, a in page.elements if "data-section" in a
    ]
    assert [name for name, _ in rows] == [name for name, _ in section_tests(report)]
    assert len(rows) == report["tests"] == 11
    assert sum(a["class"] == "significant" for _, a in page.elements if "data-section" in a) == 8


def test_every_users_value_is_escaped() -> None:
    text = page_text()
    assert "<script" not in text.lower() and "<b>" not in text
    assert "&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt; &amp; beauty" in text
    assert "&lt;script&gt;document.title=&#x27;city&#x27;&lt;/script&gt; &amp; Sons" in text
    assert "skincare &amp; &lt;b&gt;care&lt;/b&gt;" in text
    shown = "".join(Page(text).text)  # what a reader sees: the text, as written
    assert "<script>document.title='pwned'</script> & beauty" in shown
    assert "a <script>note</script> & more" in shown


def test_self_contained_and_scriptless() -> None:
    text = page_text()
    assert not re.findall(r'(?:src|href)="(?:https?:)?//', text)
    assert "@import" not in text and "url(http" not in text and "<link" not in text
    assert "default-src 'none'" in text  # and a policy that would refuse any script anyway
    assert '<meta name="viewport"' in text


def test_audience_colours_match_the_figures() -> None:
    page = Page(page_text())
    cards = page.having("article", "audience")
    assert [a["style"] for a in cards] == [f"--c:{colour(i)}" for i in range(len(cards))]


def test_a_section_without_test_says_why() -> None:
    text = page_text()
    assert "no test: fewer than 2 audiences with known values" in text
    assert 'data-name="city" data-kind="category"' in text


def test_a_missing_figure_leaves_its_section() -> None:
    report = fixture_report()
    drawn = [f for f in figures(report) if f.name != "gender"]
    page = Page(render(report, drawn))
    assert "gender" not in page.svg_in and len(page.svg_in) == len(report["sections"]) - 1


def outputs(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_write_produces_all_three_and_no_temp_files(tmp_path: Path) -> None:
    report = fixture_report()
    out = tmp_path / "report.html"
    assert write(report, out) == (out, tmp_path / "report.json", tmp_path / "report.figures")
    assert outputs(tmp_path) == ["report.figures", "report.html", "report.json"]
    assert orjson.loads((tmp_path / "report.json").read_bytes()) == report
    assert (tmp_path / "report.json").read_text().startswith('{\n  "version": 1')
    pngs = outputs(tmp_path / "report.figures")
    assert pngs == [f"{i:02d}-{s['name']}.png" for i, s in enumerate(report["sections"], 1)]
    assert all((tmp_path / "report.figures" / p).read_bytes()[:8] == PNG_MAGIC for p in pngs)
    assert out.read_text().startswith("<!doctype html>")
    (tmp_path / "report.figures" / "99-stale.png").write_bytes(b"old")
    write(report, str(out))  # again over the first: replaced whole, nothing stale, no leftovers
    assert outputs(tmp_path) == ["report.figures", "report.html", "report.json"]
    assert outputs(tmp_path / "report.figures") == pngs


def test_a_failed_write_leaves_no_temp_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = os.replace

    def refuse_html(src: Any, dst: Any) -> None:
        if str(dst).endswith(".html"):
            raise OSError(28, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(os, "replace", refuse_html)
    with pytest.raises(OSError, match="No space"):
        write(fixture_report(), tmp_path / "report.html")
    assert outputs(tmp_path) == ["report.figures", "report.json"]  # no half page, no temp


def test_figures_are_drawn_before_anything_is_written(tmp_path: Path) -> None:
    report = fixture_report()
    report["sections"][0]["kind"] = "unknown"
    with pytest.raises(KeyError):
        write(report, tmp_path / "report.html")
    assert outputs(tmp_path) == []


def test_figure_type_is_what_render_takes() -> None:
    one = Figure("gender", "Gender", '<svg id="x"></svg>', PNG_MAGIC)
    report = fixture_report()
    assert '<figure data-name="gender"><svg id="x"></svg></figure>' in render(report, [one])
