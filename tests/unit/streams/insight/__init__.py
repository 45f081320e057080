"""The insight report's pictures: its figures, its HTML page and the files written beside it,
from the hand-built report document in ``report.json`` (``fixture_report``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

REPORT_JSON = Path(__file__).with_name("report.json")


def fixture_report() -> dict[str, Any]:
    """A realistic report (version 1): two audiences, every section kind, a section without a
    test, and users' data with ``<script>`` and ``&`` in an audience name and a category."""
    report: dict[str, Any] = orjson.loads(REPORT_JSON.read_bytes())
    return report


def section_tests(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(section name, test) for every test of the report, a list section's one per value."""
    out = []
    for section in report["sections"]:
        tests = section.get("tests") if section.get("tests") is not None else [section.get("test")]
        out += [(section["name"], t) for t in tests if t]
    return out
