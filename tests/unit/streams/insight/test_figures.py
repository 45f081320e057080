"""figures(): one deterministic matplotlib figure per section, as SVG fit to inline (parses as
XML, ids scoped to it) and as PNG, each audience in its own colour in every one of them."""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.insight import InsightError
from streams.insight.figures import Figure, colour, figures, file_stem, inline_svg
from tests.unit.streams.insight import fixture_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SVG = "{http://www.w3.org/2000/svg}svg"


@cache
def drawn() -> tuple[Figure, ...]:
    return tuple(figures(fixture_report()))


def category(values: list[str], names: tuple[str, ...] = ("a", "b")) -> dict[str, Any]:
    """A report of one category section over ``values``."""
    counts = [[i + 1 for i in range(len(values))] for _ in names]
    shares = [[c / sum(row) for c in row] for row in counts]
    return {
        "version": 1,
        "audiences": [{"name": n, "users": sum(counts[0]), "summary": ""} for n in names],
        "sections": [
            {"name": "city", "label": "City", "kind": "category", "values": values,
             "counts": counts, "shares": shares, "known": [sum(r) for r in counts],
             "test": None, "why_no_test": "fewer than 2 audiences with known values"}
        ],
    }  # fmt: skip


def test_one_figure_per_section_in_order() -> None:
    report = fixture_report()
    assert [(f.name, f.title) for f in drawn()] == [
        (s["name"], s["label"]) for s in report["sections"]
    ]
    assert {s["kind"] for s in report["sections"]} == {"category", "number", "list", "hours"}


def test_png_is_a_png() -> None:
    for figure in drawn():
        assert figure.png.startswith(PNG_MAGIC), figure.name
        assert len(figure.png) > 5_000


def test_svg_parses_and_is_fit_to_inline() -> None:
    seen: set[str] = set()
    for index, figure in enumerate(drawn(), 1):
        assert figure.svg.startswith("<svg "), figure.svg[:60]  # no prologue, no doctype
        root = ET.fromstring(figure.svg)
        assert root.tag == SVG
        assert root.get("id") == f"fig-{file_stem(index, figure.name)}"
        assert root.get("aria-label") == figure.title and root.get("viewBox")
        assert root.get("width") is None  # sized by the page's CSS from its viewBox
        ids = [e.get("id") for e in root.iter() if e.get("id")]
        assert all(i.startswith(root.get("id", "")) for i in ids)
        assert not seen & set(ids)  # unique across the page's figures
        seen |= set(ids)
        assert "<metadata" not in figure.svg and "Date" not in figure.svg


def test_svg_is_deterministic() -> None:
    again = figures(fixture_report())
    assert [f.svg for f in again] == [f.svg for f in drawn()]


def test_every_audience_keeps_its_colour_in_every_figure() -> None:
    n = len(fixture_report()["audiences"])
    assert len({colour(i) for i in range(n)}) == n
    for figure in drawn():
        used = set(re.findall(r"#[0-9a-f]{6}", figure.svg))
        assert {colour(i) for i in range(n)} <= used, figure.name


def test_ids_and_references_are_scoped_together() -> None:
    raw = (
        '<?xml version="1.0"?>\n<!DOCTYPE svg>\n<svg width="1pt" height="2pt" viewBox="0 0 1 2">'
        '<metadata>x</metadata><defs><path id="g1"/></defs><use xlink:href="#g1"/>'
        '<g clip-path="url(#g1)"/><a href="#elsewhere"/></svg>'
    )
    out = inline_svg(raw, "fig-01-x", 'a "title" & <more>')
    assert out.startswith('<svg viewBox="0 0 1 2" id="fig-01-x" role="img" aria-label="a &quot;')
    assert 'id="fig-01-x-g1"' in out and 'href="#fig-01-x-g1"' in out
    assert "url(#fig-01-x-g1)" in out and 'href="#elsewhere"' in out and "metadata" not in out


@pytest.mark.parametrize(
    "value",
    [
        "$5-$10",  # a pair of dollars would be mathtext
        "<script>alert(1)</script> & co",
        "_hidden",  # a leading underscore drops a legend entry
        "a" * 300,
        "tab\tnew\nline\x00nul",
        "100% \\ 50%",
        "",
    ],
)
def test_any_value_draws_as_text(value: str) -> None:
    (figure,) = figures(category([value, "other"], names=(value, "b")))
    ET.fromstring(figure.svg)
    assert figure.png.startswith(PNG_MAGIC)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(max_size=40), min_size=1, max_size=4, unique=True))
def test_users_values_never_break_a_figure(values: list[str]) -> None:
    (figure,) = figures(category(values))
    assert ET.fromstring(figure.svg).tag == SVG


def test_without_matplotlib_one_line_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    with pytest.raises(InsightError) as caught:
        figures(fixture_report())
    message = str(caught.value)
    assert "pip install 'portrait[insight]'" in message and "\n" not in message
    assert caught.value.code == 2
