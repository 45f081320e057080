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
from html.parser import HTMLParser
from pathlib import Path

import pytest

from streams.insight.html import write
from tests.integration.api import browser
from tests.unit.streams.insight import fixture_report, section_tests

pytestmark = pytest.mark.skipif(
    browser.chromium() is None, reason="chromium is not installed (bash .ci/install-chromium)"
)

ARTEFACTS = Path(".portrait/artefacts/insight-browser")
SHOTS = (("desktop", 1280, 2400), ("desktop-full", 1280, 5200), ("phone", 390, 2400),
         ("phone-full", 390, 8000))  # fmt: skip


class Dom(HTMLParser):
    """Start tags with their attributes, the figure around each top-level svg, the text."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.svg_in: list[str] = []
        self.figure: str | None = None
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        self.elements.append((tag, attributes))
        if tag == "figure":
            self.figure = attributes.get("data-name")
        elif tag == "svg" and self.figure is not None:
            self.svg_in.append(self.figure)
            self.figure = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def classed(self, tag: str, cls: str) -> list[dict[str, str]]:
        return [a for t, a in self.elements if t == tag and cls in a.get("class", "").split()]


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
    dom = Dom(dom_text)
    names = [s["name"] for s in report["sections"]]
    assert [a["data-name"] for a in dom.classed("section", "section")] == names
    assert dom.svg_in == names  # every figure drawn inline, inside its section's figure
    assert len([t for t, _ in dom.elements if t == "svg"]) == len(names)
    assert len(dom.classed("table", "tests")) == 1
    rows = [a["data-section"] for t, a in dom.elements if t == "tr" and "data-section" in a]
    assert rows == [name for name, _ in section_tests(report)] and len(rows) == report["tests"]
    summaries = [a["data-audience"] for a in dom.classed("div", "summary")]
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
