"""The page's pictures: the active-hour heat map and the affinity bars (server-rendered, one DOM
element per cell or bar with its ``data-score``), and the data of the window charts drawn by the
bundled chart library (static/page.js)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Final

from streams.api.ui.markup import empty, esc, score_attr

WEEKDAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
LEVELS: Final = 8  # colour steps of the heat map: class h0 (no activity) .. h8 (the peak)
WINDOWS: Final = ("1d", "7d", "30d", "180d", "total")  # the tags' suffixes; total: lifetime
BEHAVIOURS: Final = (
    ("views", "views"),
    ("cart_adds", "cart adds"),
    ("purchases", "purchases"),
    ("favorites", "favourites"),
    ("searches", "searches"),
    ("clicks", "clicks"),
)


def number(value: Any) -> float:
    """A finite float from a tag or score (anything else counts as 0)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value) if math.isfinite(value) else 0.0


def hour_scores(active_hours: Any) -> list[float]:
    """The 168 scores by hour of the week (``weekday * 24 + local hour``, Monday 0), from the
    document's ``active_hours`` whose keys are ints or their strings (JSON); others dropped."""
    scores = [0.0] * 168
    if not isinstance(active_hours, Mapping):
        return scores
    for key, value in active_hours.items():
        try:
            how = int(key)
        except (TypeError, ValueError):
            continue
        if 0 <= how < 168:
            scores[how] = max(0.0, number(value))
    return scores


def level(score: float, peak: float) -> int:
    """The colour step of a score: 0 for none, else 1..LEVELS by its share of the peak."""
    if score <= 0 or peak <= 0:
        return 0
    return max(1, min(LEVELS, math.ceil(score / peak * LEVELS)))


def heat_map(active_hours: Any, timezone: Any) -> str:
    """7 rows (Monday first) x 24 local hours: exactly 168 ``.cell`` elements."""
    scores = hour_scores(active_hours)
    peak = max(scores)
    hours = "".join(
        f'<span class="hh">{h:02d}</span>' if h % 3 == 0 else '<span class="hh"></span>'
        for h in range(24)
    )
    rows = ['<div class="hrow hhead"><span class="wd"></span>' + hours + "</div>"]
    for day, name in enumerate(WEEKDAYS):
        cells = []
        for hour in range(24):
            score = scores[day * 24 + hour]
            cells.append(
                f'<span class="cell h{level(score, peak)}" data-weekday="{day}" '
                f'data-hour="{hour}" data-score="{score_attr(score)}" '
                f'title="{name} {hour:02d}:00, score {score_attr(score)}"></span>'
            )
        rows.append(f'<div class="hrow"><span class="wd">{name}</span>{"".join(cells)}</div>')
    legend = "".join(f'<span class="cell h{i}"></span>' for i in range(LEVELS + 1))
    zone = esc(timezone) if isinstance(timezone, str) and timezone else "UTC"
    caption = (
        f'<p class="note">Local time ({zone}); darker is more activity (decayed event '
        f'counts). <span class="legend">less {legend} more</span></p>'
    )
    if peak <= 0:
        caption += empty("No behaviour events yet.")
    label = "Activity by weekday and local hour"
    return f'<div class="heat" role="img" aria-label="{label}">{"".join(rows)}</div>{caption}'


def ranked(pairs: Any) -> list[tuple[str, float]]:
    """``[[name, score], ...]`` as (name, score), score descending then name; bad rows left out."""
    out: list[tuple[str, float]] = []
    for pair in pairs if isinstance(pairs, Iterable) and not isinstance(pairs, str) else ():
        if isinstance(pair, list | tuple) and len(pair) == 2:
            out.append((str(pair[0]), number(pair[1])))
    return sorted(out, key=lambda p: (-p[1], p[0]))


def affinity_bars(pairs: Any, kind: str) -> str:
    """One ``.affinity`` bar per entry, ordered by score, the longest the top score, each labelled
    with its share of the top score (decayed scores of an old profile are tiny numbers). The
    length is an SVG attribute, not an inline style: the page's CSP refuses those."""
    entries = ranked(pairs)
    if not entries:
        return empty(f"No {kind} affinity yet.")
    top = entries[0][1] or 1.0
    items = []
    for name, score in entries:
        width = max(1.0, score / top * 100) if score > 0 else 0.0
        share = f"{score / top * 100:.0f}%" if score > 0 else "0%"
        items.append(
            f'<li class="affinity" data-score="{score_attr(score)}" data-name="{esc(name)}">'
            f'<span class="bname" title="{esc(name)}">{esc(name)}</span>'
            f'<svg class="track" aria-hidden="true" focusable="false">'
            f'<rect class="fill" width="{width:.1f}%" height="100%" rx="3"></rect></svg>'
            f'<span class="bval" title="score {score_attr(score)}">{share}</span></li>'
        )
    return f'<ol class="bars" data-kind="{esc(kind)}">{"".join(items)}</ol>'


def window_label(window: str) -> str:
    return "lifetime" if window == "total" else window


def window_data(tags: Mapping[str, Any]) -> dict[str, Any]:
    """The window charts' data: spend and behaviour counts over 1, 7, 30 and 180 days and the
    lifetime (an old profile read today has empty windows but still its totals)."""
    behaviours = [
        {"name": label, "values": [number(tags.get(f"{key}_{w}")) for w in WINDOWS]}
        for key, label in BEHAVIOURS
        if any(number(tags.get(f"{key}_{w}")) for w in WINDOWS)
    ]
    return {
        "labels": [window_label(w) for w in WINDOWS],
        "spend": [round(number(tags.get(f"spend_{w}")), 2) for w in WINDOWS],
        "behaviours": behaviours,
    }
