"""The 360° profile page (issue 13): server-rendered HTML and its bundled static files.

``render_profile_page``, ``render_search_page`` and ``render_not_found`` return whole HTML5
documents; ``STATIC_DIR`` holds the stylesheet, the page script and the chart library, served
by the API at the ``static_prefix`` the pages are rendered with (docs/ui.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from streams.api.ui.page import render_not_found, render_profile_page, render_search_page

STATIC_DIR: Final = Path(__file__).with_name("static")

__all__ = ["STATIC_DIR", "render_not_found", "render_profile_page", "render_search_page"]
