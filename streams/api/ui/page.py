"""The 360° profile page, its search box and its not-found page: whole HTML5 documents rendered
on the server from a profile document (streams.read.profile) and the user's trigger activity.

The page needs no network beyond its own origin: the stylesheet, the chart library and the
script that starts it are the package's static files, served under ``static_prefix``. Without
JavaScript every figure is still there (the heat map, the bars and the tables are HTML); the
chart library only draws the window charts. Data for it travels in a JSON island, not in inline
script, and no element carries a style attribute, so a Content-Security-Policy of
``default-src 'self'`` holds (the library's own stylesheet is linked as a file).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from streams.api.ui import charts, sections
from streams.api.ui.markup import (
    UI_ROOT,
    asset,
    empty,
    esc,
    fmt_time,
    fmt_value,
    json_island,
    profile_href,
    section,
    table,
)

CHART_LIBRARY: Final = "frappe-charts.min.umd.js"  # frappe-charts 1.6.2, MIT (static/README.md)
CHART_STYLE: Final = "frappe-charts.css"  # its stylesheet, which it would insert inline
SUMMARY: Final = (
    ("lifecycle", "Lifecycle"),
    ("rfm_segment", "RFM"),
    ("spend_total", "Spend"),
    ("orders_total", "Orders"),
    ("events_total", "Events"),
    ("cart_open_items", "In cart"),
)


def document(title: str, body: str, *, static_prefix: str, scripts: bool = False) -> str:
    """The HTML5 shell: viewport meta for phones, the bundled stylesheet (and scripts)."""
    js = css = ""
    if scripts:
        css = f'<link rel="stylesheet" href="{asset(static_prefix, CHART_STYLE)}">'
        js = (
            f'<script src="{asset(static_prefix, CHART_LIBRARY)}" defer></script>'
            f'<script src="{asset(static_prefix, "page.js")}" defer></script>'
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{esc(title)} · Portrait</title>"
        f'{css}<link rel="stylesheet" href="{asset(static_prefix, "page.css")}">{js}</head>'
        f"<body>{body}</body></html>\n"
    )


def search_form(query: str | None = None) -> str:
    value = f' value="{esc(query)}"' if query else ""
    return (
        f'<form class="search" method="get" action="{UI_ROOT}" role="search">'
        '<label for="q">User id</label>'
        '<input id="q" name="q" type="search" required autocomplete="off" spellcheck="false"'
        f"{value}>"
        '<button type="submit">Open profile</button></form>'
    )


def top_bar(query: str | None = None) -> str:
    return (
        f'<header class="top"><a class="brand" href="{UI_ROOT}">Portrait</a>'
        f"{search_form(query)}</header>"
    )


def render_search_page(
    query: str | None = None, error: str | None = None, *, static_prefix: str
) -> str:
    """The search box by user id (a GET form to /ui/ with ``q``), with an error if given."""
    alert = f'<p class="error" role="alert">{esc(error)}</p>' if error else ""
    body = (
        f'{top_bar(query)}<main class="narrow"><h1>Find a customer</h1>{alert}'
        '<p class="note">Type a user id to open their 360° profile: attributes, layers and RFM, '
        "segments, active hours, affinities, spend, cart and triggers.</p></main>"
    )
    return document("Search", body, static_prefix=static_prefix)


def render_not_found(user_id: str, *, static_prefix: str) -> str:
    """No profile for ``user_id``: say so and offer the search box again."""
    body = (
        f'{top_bar(user_id)}<main class="narrow"><h1>No profile</h1>'
        f'<p class="error" role="alert">No profile for user <code>{esc(user_id)}</code>: '
        "no event of this id has been applied, or it was erased.</p></main>"
    )
    return document(f"No profile {user_id}", body, static_prefix=static_prefix)


def render_profile_page(
    doc: Mapping[str, Any], activity: Mapping[str, Any], *, static_prefix: str
) -> str:
    """The 360° page of one profile document and its trigger activity."""
    user_id = str(doc.get("user_id", ""))
    tags = sections.mapping(doc.get("tags"))
    hours = charts.heat_map(doc.get("active_hours"), tags.get("timezone"))
    cards = [
        section("layers", "Layers and RFM", sections.layers(doc)),
        section("attributes", "Attributes", sections.attributes(doc)),
        section("segments", "Segments", sections.segments(doc)),
        section("hours", "Active hours", hours),
        section(
            "categories",
            "Category affinity",
            charts.affinity_bars(doc.get("categories"), "category"),
        ),
        section("brands", "Brand affinity", charts.affinity_bars(doc.get("brands"), "brand")),
        section("windows", "Spend and activity over windows", _windows(tags)),
        section("cart", "Cart", sections.cart(doc)),
        section("marketing", "Marketing response", sections.marketing(doc)),
        _wide(section("triggers", "Triggers", sections.triggers(activity))),
        _wide(section("tags", "All tags", _all_tags(doc, tags))),
    ]
    body = (
        f"{top_bar()}<main>{_summary(doc, user_id, tags)}"
        f'<div class="grid">{"".join(cards)}</div></main>'
        + json_island("portrait-data", charts.window_data(tags))
    )
    return document(f"Profile {user_id}", body, static_prefix=static_prefix, scripts=True)


def _wide(card: str) -> str:
    return card.replace('class="card"', 'class="card wide"', 1)


def _summary(doc: Mapping[str, Any], user_id: str, tags: Mapping[str, Any]) -> str:
    stats = "".join(
        f'<div class="stat" data-tag="{tag}"><span>{label}</span>'
        f"<b>{fmt_value(tags.get(tag))}</b></div>"
        for tag, label in SUMMARY
    )
    return (
        f'<section class="hero"><h1><a href="{profile_href(user_id)}">{esc(user_id)}</a></h1>'
        f'<p class="note">As of {fmt_time(doc.get("as_of"))} · last seen '
        f"{fmt_time(tags.get('last_seen'))} · first seen {fmt_time(tags.get('first_seen'))} · "
        f'rules {fmt_value(doc.get("rules_version"))}</p><div class="stats">{stats}</div></section>'
    )


def _windows(tags: Mapping[str, Any]) -> str:
    """Two charts drawn by the library (spend; behaviour counts) over a table of the figures."""
    data = charts.window_data(tags)
    head = ["", *(charts.window_label(w) for w in charts.WINDOWS)]
    rows = [["spend", *(fmt_value(v) for v in data["spend"])]]
    rows += [
        [esc(b["name"]), *(fmt_value(int(v)) for v in b["values"])] for b in data["behaviours"]
    ]
    spend = (
        '<div class="chart" id="chart-spend" data-chart="spend"></div>'
        if any(data["spend"])
        else empty("No spend (no purchase, or the events carry no prices).")
    )
    return (
        spend
        + '<div class="chart" id="chart-behaviour" data-chart="behaviour"></div>'
        + table(head, rows, cls="windows")
    )


def _all_tags(doc: Mapping[str, Any], tags: Mapping[str, Any]) -> str:
    return (
        f"<details><summary>Every tag ({len(tags)}) with its value and change time</summary>"
        f"{sections.all_tags(doc)}</details>"
    )
