"""Small HTML helpers for the 360° page: every value from a profile is escaped here, once.

User ids, attributes, category and brand names come from events, so they are attacker-controlled:
nothing from a document reaches the page except through :func:`esc` (text and attribute values),
:func:`profile_href` (a path segment) or :func:`json_island` (data for the page's script).
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

UI_ROOT = "/ui/"


def esc(value: object) -> str:
    """Text or an attribute value, quotes included."""
    return html.escape(str(value), quote=True)


def profile_href(user_id: str) -> str:
    """The page of ``user_id`` (any character percent-encoded), ready for an attribute."""
    return esc(f"{UI_ROOT}profiles/{quote(user_id, safe='')}")


def asset(static_prefix: str, name: str) -> str:
    return esc(f"{static_prefix.rstrip('/')}/{name}")


def fmt_number(value: float) -> str:
    """A count as is; a real with at most 2 decimals, trailing zeros dropped."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return str(value)
    text = f"{value:,.2f}".rstrip("0").rstrip(".")
    return text if text not in ("-0", "") else "0"


def fmt_value(value: Any) -> str:
    """Any tag value as readable (escaped) text; None is an em dash."""
    if value is None:
        return "—"
    if isinstance(value, bool | int | float):
        return esc(fmt_number(value))
    if isinstance(value, list | tuple):
        return esc(", ".join(str(v) for v in value)) if value else "—"
    if isinstance(value, Mapping):
        return esc(", ".join(f"{k}: {v}" for k, v in value.items())) if value else "—"
    return esc(value)


def fmt_time(moment: object) -> str:
    """An RFC 3339 time as a ``<time>`` element (``2019-10-01 02:49 UTC``); else as text."""
    if not isinstance(moment, str) or not moment:
        return "—"
    shown = moment
    if len(moment) >= 16 and moment[10] == "T":
        shown = moment[:10] + " " + moment[11:16] + (" UTC" if moment.endswith("Z") else "")
    return f'<time datetime="{esc(moment)}">{esc(shown)}</time>'


def score_attr(score: float) -> str:
    """A score for a ``data-score`` attribute: 6 significant digits, enough to order by."""
    return esc(f"{score:.6g}")


def json_island(element_id: str, data: object) -> str:
    """Data for the page's script, in a non-executed ``<script type="application/json">``:
    ``<``, ``>`` and ``&`` are escaped as JSON ``\\u`` sequences so nothing can close it."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False, default=str)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" id="{esc(element_id)}">{text}</script>'


def table(head: list[str], rows: list[list[str]], *, cls: str = "") -> str:
    """A table of already-escaped cells (``head`` is trusted text)."""
    th = "".join(f'<th scope="col">{h}</th>' for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    klass = f' class="{esc(cls)}"' if cls else ""
    return f"<table{klass}><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def section(anchor: str, title: str, body: str, *, note: str = "") -> str:
    """A card of the page; ``title`` and ``note`` are trusted text, ``body`` already escaped."""
    extra = f'<p class="note">{note}</p>' if note else ""
    return f'<section class="card" id="{esc(anchor)}"><h2>{title}</h2>{extra}{body}</section>'


def empty(text: str) -> str:
    return f'<p class="empty">{text}</p>'
