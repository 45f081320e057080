"""The insight report in a real headless browser (Debian's chromium): the hand-built report of
tests/unit/streams/insight/report.json written as a user gets it (``write``), opened from disk,
and its DOM checked after load: every section with its figure's SVG, one row per test, one
summary per audience, and users' ``<script>`` shown as text, never run.

Each run keeps its screenshots (desktop 1280 px wide and phone 390 px, the top of the page and
all of it) under ``.portrait/artefacts/insight-browser/`` and prints where. Skipped only when
chromium is not installed (``make tools`` installs it: .ci/install-chromium).
"""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest

from streams.insight.html import write
from tests.integration.api import browser
from tests.unit.streams.insight import fixture_report, section_tests
from tests.unit.streams.insight.page import Page

pytestmark = pytest.mark.skipif(
    browser.chromium() is None, reason="chromium is not installed (bash .ci/install-chromium)"
)

ARTEFACTS = Path(".portrait/artefacts/insight-browser")
SHOTS = (("desktop", 1280, 2400), ("desktop-full", 1280, 5200), ("phone", 390, 2400),
         ("phone-full", 390, 8000))  # fmt: skip


@pytest.fixture(scope="module")
def report_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("insight") / "report.html"
    write(fixture_report(), out)
    return out.as_uri()


def test_report_dom_after_load(report_url: str) -> None:
    report = fixture_report()
    dom_text, console = browser.dump_dom_and_console(report_url)
    assert not [line for line in console if "Uncaught" in line or "Failed to load" in line]
    assert not [line for line in console if "Content Security Policy" in line], console
    dom = Page(dom_text)
    names = [s["name"] for s in report["sections"]]
    assert [a["data-name"] for a in dom.having("section", "section")] == names
    assert dom.svg_in == names  # every figure drawn inline, inside its section's figure
    assert len([t for t, _ in dom.elements if t == "svg"]) == len(names)
    assert len(dom.having("table", "tests")) == 1
    rows = [a["data-section"] for t, a in dom.elements if t == "tr" and "data-section" in a]
    assert rows == [name for name, _ in section_tests(report)] and len(rows) == report["tests"]
    summaries = [a["data-audience"] for a in dom.having("div", "summary")]
    assert summaries == [str(i) for i in range(len(report["audiences"]))]
    shown = " ".join("".join(dom.text).split())
    for audience in report["audiences"]:
        assert " ".join(audience["summary"].split()) in shown  # the summary, as written
    # users' <script> is text on the page, never an element, never run
    assert "script" not in {t for t, _ in dom.elements}
    assert "<script>document.title='pwned'</script> & beauty" in shown
    assert "<script>document.title='city'</script> & Sons" in shown
    title = unescape(re.search(r"<title>(.*?)</title>", dom_text, re.S)[1])  # type: ignore[index]
    assert title == "Insight: electronics_fans vs <script>document.title='pwned'</script> & beauty"
    assert not re.findall(r'(?:src|href)="(?:https?:)?//', dom_text)  # nothing fetched


def test_report_screenshots(report_url: str) -> None:
    shots = []
    for name, width, height in SHOTS:
        path = ARTEFACTS / f"report-{name}.png"
        browser.screenshot(report_url, path, width=width, height=height)
        shots.append(path.resolve())
    print(f"\nscreenshots: {', '.join(str(p) for p in shots)}")
