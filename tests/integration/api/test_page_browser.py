"""The 360° page in a real headless browser (Debian's chromium) from a live API server over the
test Redis, with profiles replayed from the real Taobao and REES46 logs.

Each run keeps its screenshots (desktop 1280 px wide and phone 390 px) under
``.portrait/artefacts/page-browser/`` and prints where. Skipped only when chromium is not
installed (``make tools`` installs it: .ci/install-chromium).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from streams.connect.clients import redis_client
from streams.names import Keys
from streams.replay.command import replay
from streams.settings.tree import Settings
from streams.store.triggers import SentRecord, TriggerStore
from tests.integration.api import browser
from tests.integration.api.live import TOKENS, LiveApi, live_api
from triggers.model import Schedule, Trigger, make_trigger_id

pytestmark = pytest.mark.skipif(
    browser.chromium() is None, reason="chromium is not installed (bash .ci/install-chromium)"
)

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
TAOBAO = DATA / "taobao_userbehavior_by_user" / "UserBehavior.csv"
REES46 = DATA / "rees46_multicategory_2019oct_head" / "2019-Oct.head.csv"
TAOBAO_USER = "1000417"  # 456 events over 9 days: cart, repeat orders, a full week of hours
REES46_USER = "551349791"  # brands, prices and a purchase
LIBRARY_STYLE = "Applying inline style"  # frappe-charts colours bars with style attributes
ARTEFACTS = Path(".portrait/artefacts/page-browser")


class Dom(HTMLParser):
    """Start tags as (tag, attributes) of a dumped DOM."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))

    def classed(self, cls: str) -> list[dict[str, str]]:
        return [a for _, a in self.elements if cls in a.get("class", "").split()]


def slice_of(source: Path, user_id: str, target: Path, *, header: bool) -> Path:
    """The rows of one user from a real log (and its header line)."""
    lines = source.read_text().splitlines(keepends=True)
    field = re.compile(rf"(^|,){re.escape(user_id)}(,|$)")
    rows = [line for line in lines[1 if header else 0 :] if field.search(line)]
    target.write_text(("".join(lines[:1]) if header else "") + "".join(rows))
    return target


async def add_activity(settings: Settings, user_id: str) -> None:
    """A pending cart reminder through the trigger store, one sent message with its feedback as
    the sender and the feedback consumer record them."""
    redis = redis_client(settings)
    keys = Keys(settings.topics.prefix)
    now = int(time.time() * 1000)
    try:
        reminder = Trigger(
            make_trigger_id("cart_reminder", user_id, now), "cart_reminder", user_id,
            due_at=now + 3_600_000, created_at=now, expires_at=now + 86_400_000, priority=5,
            channels=("push", "email"),
        )  # fmt: skip
        await TriggerStore(redis, settings.topics.prefix).apply([Schedule(reminder)])
        sent = make_trigger_id("browse_reminder", user_id, 1)
        record = SentRecord("email", "browse_reminder", now - 7_200_000).encode()
        await redis.hset(keys.sent(user_id), sent, record)
        for status in ("delivered", "opened", "clicked"):
            await redis.hset(keys.feedback_seen(user_id), f"{sent}|{status}", now - 3_600_000)
            await redis.hincrby(keys.sensitivity(user_id), f"email:{status}", 1)
    finally:
        await redis.aclose()


async def profile_json(base: str, user_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, headers=LiveApi.auth("read")) as client:
        reply = await client.get(f"/v1/profiles/{user_id}")
    assert reply.status_code == 200, reply.text
    doc: dict[str, Any] = reply.json()
    return doc


def check_offline(dom: str, base: str) -> None:
    """Every src and href points at the page's own server (or is relative)."""
    for url in re.findall(r'(?:src|href)="([^"]*)"', dom):
        assert not re.match(r"(?i)^(https?:)?//", url) or url.startswith(base), url


@pytest.fixture
async def live(settings: Settings, tmp_path: Path) -> AsyncIterator[str]:
    """Both users replayed into the test Redis, activity added, the API serving."""
    if not TAOBAO.is_file() or not REES46.is_file():
        pytest.fail(f"the real logs are missing under {DATA}")
    taobao = slice_of(TAOBAO, TAOBAO_USER, tmp_path / "taobao.csv", header=False)
    rees46 = slice_of(REES46, REES46_USER, tmp_path / "rees46.csv", header=True)
    for path in (taobao, rees46):
        done = await replay(settings, path, sort=True, progress=False)
        assert done.events_applied > 0 and not done.rejected
    await add_activity(settings, TAOBAO_USER)
    async with live_api(settings) as api:
        yield api.url


def page_url(base: str, user_id: str) -> str:
    """Sign in as a browser does (``/ui/?token=`` sets the cookie, then ``q`` opens the page):
    each chromium run starts with an empty profile, so every load signs in again."""
    return f"{base}/ui/?{urlencode({'token': TOKENS['read'], 'q': user_id})}"


async def test_profile_page_in_a_real_browser(live: str) -> None:
    url = page_url(live, TAOBAO_USER)
    dom_text, console = await asyncio.to_thread(browser.dump_dom_and_console, url)
    assert not [line for line in console if "Uncaught" in line or "Failed to load" in line]
    refused = [line for line in console if "Content Security Policy" in line]
    assert all(LIBRARY_STYLE in line for line in refused), refused  # restated in page.css
    dom = Dom(dom_text)
    html_el = next(a for t, a in dom.elements if t == "html")
    assert html_el.get("data-charts") == "drawn"  # page.js ran after the bundled library
    svgs = [a for t, a in dom.elements if t == "svg" and "frappe-chart" in a.get("class", "")]
    assert svgs, "the bundled chart library drew no SVG"
    cells = [c for c in dom.classed("cell") if "data-hour" in c]
    assert len(cells) == 168
    assert {(c["data-weekday"], c["data-hour"]) for c in cells} == {
        (str(d), str(h)) for d in range(7) for h in range(24)
    }
    assert sum(float(c["data-score"]) > 0 for c in cells) > 20  # a real week of activity
    doc = await profile_json(live, TAOBAO_USER)  # the same read path, as JSON
    bars = [(a["data-name"], float(a["data-score"])) for a in dom.classed("affinity")]
    assert [s for _, s in bars] == sorted((s for _, s in bars), reverse=True) and len(bars) == 20
    scores = dict(doc["categories"])  # the document's own order ties scores rounded to 1e-9:
    assert all(s == pytest.approx(scores[n], rel=1e-5) for n, s in bars)  # years later, all
    segments = [a["data-segment"] for a in dom.classed("segment")]
    assert segments == sorted(doc["segments"]) and "repeat_buyers" in segments
    items = {a["data-item"] for a in dom.classed("item")}
    assert items == {i["item_id"] for i in doc["cart"]} and len(items) == 44  # the open cart
    assert [a["data-outcome"] for _, a in dom.elements if "data-outcome" in a] == ["clicked"]
    assert "cart_reminder" in dom_text and "Asia/Shanghai" in dom_text
    check_offline(dom_text, live)
    shots = await screenshots(url, "taobao")
    print(f"\nscreenshots: {', '.join(str(p) for p in shots)}")


async def test_brands_spend_and_a_phone(live: str) -> None:
    url = page_url(live, REES46_USER)
    dom_text = await asyncio.to_thread(browser.dump_dom, url, width=390, height=2400)
    dom = Dom(dom_text)
    brands = [
        (a["data-name"], float(a["data-score"]))
        for a in dom.classed("affinity")
        if a["data-name"] in {"xiaomi", "huawei", "oppo"}
    ]
    assert [n for n, _ in brands] == ["xiaomi", "huawei", "oppo"]
    charts = [a for t, a in dom.elements if t == "svg" and "frappe-chart" in a.get("class", "")]
    assert len(charts) == 2  # spend and events: this user paid
    assert len(dom.classed("item")) == 1
    check_offline(dom_text, live)
    shots = await screenshots(url, "rees46")
    print(f"\nscreenshots: {', '.join(str(p) for p in shots)}")


async def test_search_and_unknown_user_pages(live: str) -> None:
    found = await asyncio.to_thread(browser.dump_dom, f"{live}/ui/?token={TOKENS['read']}")
    form = next(a for t, a in Dom(found).elements if t == "form")
    assert (form["action"], form["method"]) == ("/ui/", "get")
    missing = await asyncio.to_thread(browser.dump_dom, page_url(live, "nobody-here"))
    assert "No profile" in missing and "nobody-here" in missing


async def screenshots(url: str, name: str) -> list[Path]:
    desktop = ARTEFACTS / f"{name}-desktop.png"
    phone = ARTEFACTS / f"{name}-phone.png"
    await asyncio.to_thread(browser.screenshot, url, desktop, width=1280, height=2400)
    await asyncio.to_thread(browser.screenshot, url, phone, width=390, height=2400)
    return [desktop.resolve(), phone.resolve()]
