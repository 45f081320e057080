"""The 360° page's rendering (pure): documents made by the real profile model from contract
events, parsed back with html.parser. Hostile ids and names must come out as text only."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any, cast

import pytest

from profiles.events import from_dict
from profiles.model import ProfileModel
from profiles.rules.load import default_rules
from streams.api.ui import STATIC_DIR, render_not_found, render_profile_page, render_search_page
from streams.api.ui.charts import LEVELS, hour_scores, level, ranked
from streams.read.profile import ProfileReader

STATIC = "/ui/static"
EVIL = "<script>alert(1)</script>\"'&x"
AS_OF = 1_717_243_200_000  # 2024-06-01T12:00:00Z, a Saturday
T = 1_717_157_100_000  # 2024-05-31T12:05:00Z, a Friday


class Dom(HTMLParser):
    """Every start tag as (tag, attributes), text of <script type=application/json> kept."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.islands: list[str] = []
        self._island = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        self.elements.append((tag, found))
        self._island = tag == "script" and found.get("type") == "application/json"

    def handle_endtag(self, tag: str) -> None:
        self._island = False

    def handle_data(self, data: str) -> None:
        (self.islands if self._island else self.text).append(data)

    def having(self, cls: str) -> list[dict[str, str]]:
        return [a for _, a in self.elements if cls in a.get("class", "").split()]


def event(etype: str, ts: int, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": f"e{ts}{etype}", "type": etype, "user_id": EVIL, "ts": ts,
        "context": {"timezone": "Europe/Paris"}, **fields,
    }  # fmt: skip


def profile_doc() -> dict[str, Any]:
    """A document of a buyer with a cart, brands, a Paris time zone and hostile names."""
    raw = [
        event("identify", T, traits={"city": EVIL, "gender": "f"}),
        event("view", T, properties={"item_id": "a", "category": EVIL, "brand": "acme"}),
        event("view", T + 1, properties={"item_id": "b", "category": "shoes", "brand": "zeta"}),
        event("add_to_cart", T + 2, properties={"item_id": EVIL, "price": 9.5, "brand": "zeta"}),
        event("add_to_cart", T + 3, properties={"item_id": "c", "category": "shoes"}),
        event("purchase", T + 4, properties={"item_id": "c", "price": 120.0, "order_id": "o1"}),
    ]
    model = ProfileModel()
    state = model.initial()
    for obj in raw:
        model.apply_event(state, from_dict(obj))
    model.settle(state)
    reader = ProfileReader(cast(Any, None), "t.", model, default_rules())
    doc = reader.view(EVIL, state, {}, AS_OF)
    doc["segments"] = [*doc["segments"], EVIL]
    doc["segments_since"][EVIL] = "2024-05-31T12:05:00.000Z"
    return json.loads(json.dumps(doc))  # as the API's JSON would carry it: string hour keys


ACTIVITY = {
    "pending": [
        {"kind": "cart_reminder", "channel": "push", "due_at": "2024-06-01T13:00:00.000Z",
         "created_at": "2024-06-01T12:00:00.000Z", "campaign_id": EVIL},
    ],
    "recent": [
        {"trigger_id": "t-1", "kind": "cart_reminder", "channel": "email",
         "sent_at": "2024-05-30T10:00:00.000Z", "outcome": "clicked"},
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return profile_doc()


@pytest.fixture(scope="module")
def page(doc: dict[str, Any]) -> str:
    return render_profile_page(doc, ACTIVITY, static_prefix=STATIC)


def test_page_is_a_whole_html5_document_for_phones(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    dom = Dom(page)
    metas = [a for t, a in dom.elements if t == "meta"]
    assert {"name": "viewport", "content": "width=device-width, initial-scale=1"} in metas
    assert ("link", {"rel": "stylesheet", "href": f"{STATIC}/page.css"}) in dom.elements
    scripts = [a["src"] for t, a in dom.elements if t == "script" and "src" in a]
    assert scripts == [f"{STATIC}/frappe-charts.min.umd.js", f"{STATIC}/page.js"]


def test_hostile_strings_are_text_never_markup(page: str) -> None:
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#x27;&amp;x" in page
    dom = Dom(page)
    assert [t for t, a in dom.elements if t == "script" and "src" not in a] == ["script"]
    assert sum(EVIL in t for t in dom.text) >= 5  # id, city, category, cart item, segment
    hrefs = [a["href"] for t, a in dom.elements if t == "a"]
    assert "/ui/profiles/%3Cscript%3Ealert%281%29%3C%2Fscript%3E%22%27%26x" in hrefs


def test_json_island_cannot_be_closed_by_data() -> None:
    doc = {"user_id": "u", "tags": {"spend_7d": 1.0, "spend_total": 3.5, "views_7d": 2}}
    page = render_profile_page(doc, {}, static_prefix=STATIC)
    island = Dom(page).islands
    assert len(island) == 1
    assert json.loads(island[0])["spend"] == [0.0, 1.0, 0.0, 0.0, 3.5]
    hostile = {"user_id": "</script><script>x()</script>", "tags": {}}
    out = render_profile_page(hostile, {}, static_prefix=STATIC)
    assert out.count("<script") == 3  # library, page script, the island: no injected one


def test_heat_map_has_168_cells_by_weekday_and_local_hour(doc: dict[str, Any], page: str) -> None:
    cells = Dom(page).having("cell")
    cells = [c for c in cells if "data-hour" in c]
    assert len(cells) == 168
    assert [(int(c["data-weekday"]), int(c["data-hour"])) for c in cells] == [
        (d, h) for d in range(7) for h in range(24)
    ]
    active = {int(c["data-weekday"]) * 24 + int(c["data-hour"]) for c in cells
              if float(c["data-score"]) > 0}  # fmt: skip
    assert active == {int(k) for k in doc["active_hours"]} == {4 * 24 + 14}  # Friday 14:05 Paris
    peak = next(c for c in cells if float(c["data-score"]) > 0)
    assert f"h{LEVELS}" in peak["class"].split()


def test_affinity_bars_are_ordered_by_score(doc: dict[str, Any], page: str) -> None:
    dom = Dom(page)
    for kind, key in (("category", "categories"), ("brand", "brands")):
        start = next(i for i, (t, a) in enumerate(dom.elements) if a.get("data-kind") == kind)
        bars = []
        for _, a in dom.elements[start + 1 :]:
            if a.get("data-kind"):
                break
            if "affinity" in a.get("class", "").split():
                bars.append((a["data-name"], float(a["data-score"])))
        assert [n for n, _ in bars] == [n for n, _ in ranked(doc[key])]
        assert [s for _, s in bars] == sorted((s for _, s in bars), reverse=True)
        assert len(bars) == len(doc[key]) >= 2


def test_segments_cart_triggers_and_change_times(doc: dict[str, Any], page: str) -> None:
    dom = Dom(page)
    shown = {a["data-segment"] for a in dom.having("segment")}
    assert shown == set(doc["segments"]) and EVIL in shown
    assert {a["data-item"] for a in dom.having("item")} == {i["item_id"] for i in doc["cart"]}
    assert [a["data-outcome"] for _, a in dom.elements if "data-outcome" in a] == ["clicked"]
    times = {a["datetime"] for t, a in dom.elements if t == "time"}
    assert "2024-06-01T13:00:00.000Z" in times  # the pending trigger's due time
    assert "2024-05-31T12:05:00.000Z" in times  # the segment's since
    rows = {a["data-tag"] for t, a in dom.elements if t == "tr" and "data-tag" in a}
    assert rows == set(doc["tags"])
    assert doc["changed_at"]["city"] in times and doc["changed_at"]["rfm_segment"] in times


def test_layers_rfm_and_attributes(doc: dict[str, Any], page: str) -> None:
    text = " ".join(Dom(page).text)
    for tag in ("lifecycle", "rfm_segment", "value_layer"):
        assert doc["tags"][tag] is not None and str(doc["tags"][tag]) in text
    assert "Europe/Paris" in text and "Friday" in text  # time zone, peak weekday


def test_a_bare_document_and_no_activity_render() -> None:
    for activity in ({}, {"pending": None, "recent": "x"}, {"pending": [1, None]}):
        page = render_profile_page({"user_id": "u1"}, activity, static_prefix=STATIC)
        dom = Dom(page)
        assert len([c for c in dom.having("cell") if "data-hour" in c]) == 168
        assert "Nothing pending." in page and "The cart is empty." in page


def test_search_page_is_a_get_form_to_ui_with_q() -> None:
    page = render_search_page(EVIL, "bad <id>", static_prefix=STATIC)
    dom = Dom(page)
    form = next(a for t, a in dom.elements if t == "form")
    assert (form["method"], form["action"]) == ("get", "/ui/")
    box = next(a for t, a in dom.elements if t == "input")
    assert (box["name"], box["value"]) == ("q", EVIL)
    assert "bad &lt;id&gt;" in page and "<script>" not in page
    assert 'role="alert"' not in render_search_page(static_prefix=STATIC)


def test_not_found_names_the_id_as_text() -> None:
    page = render_not_found(EVIL, static_prefix="/s/")
    assert "<script>alert" not in page and "No profile" in page
    assert ("link", {"rel": "stylesheet", "href": "/s/page.css"}) in Dom(page).elements


def test_no_external_url_in_any_page(page: str) -> None:
    others = render_search_page(static_prefix=STATIC), render_not_found("u", static_prefix=STATIC)
    for text in (page, *others):
        assert not re.search(r"https?://", text)


def test_hour_index_and_colour_steps() -> None:
    scores = hour_scores({"0": 1.0, 167: 2.0, "x": 5, 168: 3.0, "5": float("nan")})
    assert (scores[0], scores[167], scores[5], sum(scores)) == (1.0, 2.0, 0.0, 3.0)
    assert [level(s, 8.0) for s in (0.0, -1.0, 0.001, 1.0, 1.01, 8.0, 9.0)] == [0, 0, 1, 1, 2, 8, 8]
    assert ranked([["b", 1.0], ["a", 1.0], ["c", 2], "bad", ["d"]]) == [
        ("c", 2.0), ("a", 1.0), ("b", 1.0),
    ]  # fmt: skip


def test_static_files_are_in_the_package() -> None:
    names = {p.name for p in STATIC_DIR.iterdir()}
    assert {"page.css", "page.js", "frappe-charts.min.umd.js", "frappe-charts.LICENSE"} <= names
    assert "MIT License" in (STATIC_DIR / "frappe-charts.LICENSE").read_text()
