"""The cards of the 360° page made of tags and lists: layers and RFM, attributes, segments, the
cart, triggers and every tag with its change time. Pictures are in charts.py."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from streams.api.ui.markup import empty, esc, fmt_time, fmt_value, table

LAYERS: Final = (
    ("lifecycle", "Lifecycle"),
    ("value_layer", "Value layer"),
    ("rfm_segment", "RFM segment"),
    ("rfm", "RFM (R F M)"),
    ("shopping_type", "Shopping type"),
    ("price_band", "Price band"),
    ("high_value", "High value"),
    ("potential", "Potential"),
    ("churn_risk", "Churn risk"),
    ("churn_risk_strong", "Churn risk (strong)"),
)
DECLARED: Final = ("gender", "age_band", "city", "occupation", "income_band", "marital_status")
INFERRED: Final = (
    ("purchase_gender", "Purchase gender"),
    ("top_category", "Top category"),
    ("top_brand", "Top brand"),
    ("repeated_search", "Repeated search"),
    ("peak_hours", "Peak hours (local)"),
    ("peak_weekday", "Peak weekday"),
    ("timezone", "Time zone"),
    ("device_top", "Usual device"),
    ("channel_top", "Usual channel"),
    ("os_last", "Last OS"),
)
WEEKDAY_NAMES: Final = (
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
)
GROUPS: Final = (  # the all-tags table, first match wins; the rest are the business rules' tags
    ("Behaviour", re.compile(r"^(events_total|active_days_30d|[a-z_]+_(1d|7d|30d|180d|total))$")),
    ("Monetary", re.compile(r"^(spend_|orders_|order_days|max_order|avg_order|coupon|price_)")),
    ("Recency", re.compile(r"^(first_seen|last_seen|last_purchase_at|registered_at|days_since_)")),
    ("Layers and RFM", re.compile(r"^(rfm|lifecycle|high_value|potential|churn_|shopping_type)")),
    ("Interest", re.compile(r"^(top_|repeated_search|cart_|favorite_to|first_sight|decision)")),
    ("Active hours", re.compile(r"^(peak_|active_now|timezone)")),
    (
        "Traits and device",
        re.compile(
            r"^(gender|city|occupation|income_band|marital_status|age_band|purchase_gender|device_|channel_|os_)"
        ),
    ),
)
OUTCOMES: Final = ("sent", "delivered", "opened", "clicked", "converted")


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def records(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list | tuple) else []


def shown(tag: str, value: Any) -> str:
    """A tag's value for people: weekdays by name, the rest as fmt_value does."""
    if tag == "peak_weekday" and isinstance(value, int) and 0 <= value < 7:
        return WEEKDAY_NAMES[value]
    if tag == "peak_hours" and isinstance(value, list):
        return esc(", ".join(f"{h:02d}:00" for h in value if isinstance(h, int))) or "—"
    return fmt_value(value)


def facts(pairs: list[tuple[str, str, str]]) -> str:
    """A definition list of (label, escaped value, escaped change time or '')."""
    items = []
    for label, value, changed in pairs:
        when = f'<span class="since">changed {changed}</span>' if changed else ""
        items.append(f"<div><dt>{label}</dt><dd>{value}{when}</dd></div>")
    return f'<dl class="facts">{"".join(items)}</dl>'


def changed(doc: Mapping[str, Any], tag: str) -> str:
    moment = mapping(doc.get("changed_at")).get(tag)
    return fmt_time(moment) if moment else ""


def layers(doc: Mapping[str, Any]) -> str:
    """The lifecycle and value layers, RFM and the other segment-like built-in tags."""
    tags = mapping(doc.get("tags"))
    pairs = [
        (label, _badge(tag, tags.get(tag)), changed(doc, tag))
        for tag, label in LAYERS
        if tag in tags
    ]
    scores = "".join(
        f'<span class="rfm" data-rfm="{k}"><b>{k.upper()}</b>'
        f"{fmt_value(tags.get('rfm_' + k))}</span>"
        for k in "rfm"
    )
    return facts(pairs) + f'<p class="rfms">{scores}</p>' if pairs else empty("No tags yet.")


def _badge(tag: str, value: Any) -> str:
    if isinstance(value, bool):
        return f'<span class="badge {"yes" if value else "no"}">{"yes" if value else "no"}</span>'
    if value is None:
        return "—"
    return f'<span class="badge" data-tag="{esc(tag)}">{fmt_value(value)}</span>'


def attributes(doc: Mapping[str, Any]) -> str:
    """Declared traits (identify events) and what the model inferred."""
    tags = mapping(doc.get("tags"))
    declared = dict(mapping(doc.get("attributes")))
    for tag in DECLARED:
        if tags.get(tag) is not None:
            declared.setdefault(tag, tags[tag])
    left = (
        facts(
            [(esc(k.replace("_", " ")), fmt_value(v), changed(doc, k)) for k, v in declared.items()]
        )
        if declared
        else empty("Nothing declared (no identify event).")
    )
    right = facts(
        [(label, shown(tag, tags.get(tag)), changed(doc, tag)) for tag, label in INFERRED]
    )
    return f"<div><h3>Declared</h3>{left}</div><div><h3>Inferred</h3>{right}</div>"


def segments(doc: Mapping[str, Any]) -> str:
    names = [str(s) for s in doc.get("segments") or () if isinstance(s, str)]
    if not names:
        return empty("In no segment.")
    since = mapping(doc.get("segments_since"))
    items = "".join(
        f'<li class="segment" data-segment="{esc(n)}"><span class="badge">{esc(n)}</span>'
        + (f'<span class="since">since {fmt_time(since[n])}</span>' if since.get(n) else "")
        + "</li>"
        for n in sorted(names)
    )
    return f'<ul class="segments">{items}</ul>'


def cart(doc: Mapping[str, Any]) -> str:
    items = records(doc.get("cart"))
    if not items:
        return empty("The cart is empty.")
    rows = [
        [
            f'<span class="item" data-item="{esc(i.get("item_id", ""))}">'
            f"{esc(i.get('item_id', ''))}</span>",
            fmt_value(i.get("quantity")),
            fmt_value(i.get("price")),
            fmt_time(i.get("added_at")),
        ]
        for i in sorted(items, key=lambda i: str(i.get("added_at", "")), reverse=True)
    ]
    count = f'<p class="note">{len(items)} open item{"s" if len(items) != 1 else ""}</p>'
    return (
        count
        + f'<div class="cartbox">{table(["Item", "Qty", "Price", "Added"], rows, cls="cart")}</div>'
    )


def triggers(activity: Mapping[str, Any]) -> str:
    """Pending triggers (due first) and recent sends with their furthest feedback."""
    pending = records(activity.get("pending"))
    recent = records(activity.get("recent"))
    rows_p = [
        [fmt_value(t.get("kind")), fmt_value(t.get("channel")), fmt_time(t.get("due_at")),
         fmt_time(t.get("created_at")), fmt_value(t.get("campaign_id"))]
        for t in sorted(pending, key=lambda t: str(t.get("due_at", "")))
    ]  # fmt: skip
    rows_r = [
        [fmt_value(t.get("kind")), fmt_value(t.get("channel")), fmt_time(t.get("sent_at")),
         _outcome(t.get("outcome")), f'<code>{fmt_value(t.get("trigger_id"))}</code>']
        for t in sorted(recent, key=lambda t: str(t.get("sent_at", "")), reverse=True)
    ]  # fmt: skip
    first = table(["Kind", "Channel", "Due", "Created", "Campaign"], rows_p, cls="pending") \
        if rows_p else empty("Nothing pending.")  # fmt: skip
    second = table(["Kind", "Channel", "Sent", "Outcome", "Trigger"], rows_r, cls="recent") \
        if rows_r else empty("Nothing sent recently.")  # fmt: skip
    return f"<h3>Pending</h3>{first}<h3>Recent</h3>{second}"


def _outcome(value: Any) -> str:
    name = value if isinstance(value, str) else "sent"
    step = OUTCOMES.index(name) if name in OUTCOMES else 0
    return f'<span class="badge out{step}" data-outcome="{esc(name)}">{esc(name)}</span>'


def marketing(doc: Mapping[str, Any]) -> str:
    m = mapping(doc.get("marketing"))
    channels = mapping(m.get("channels"))
    head = facts(
        [
            ("Sensitivity", fmt_value(m.get("marketing_sensitivity")), ""),
            ("Coupon sensitive", fmt_value(m.get("coupon_sensitive")), ""),
            ("Responsive channels", fmt_value(m.get("responsive_channels")), ""),
        ]
    )
    rows = [
        [esc(ch)]
        + [
            fmt_value(mapping(v).get(k))
            for k in ("reached", "open_rate", "click_rate", "conversion_rate")
        ]
        for ch, v in channels.items()
    ]
    body = table(["Channel", "Reached", "Open", "Click", "Conversion"], rows) if rows else ""
    return head + body


def all_tags(doc: Mapping[str, Any]) -> str:
    """Every tag, grouped, with its value and when it last changed."""
    tags = mapping(doc.get("tags"))
    grouped: dict[str, list[str]] = {name: [] for name, _ in GROUPS}
    grouped["Business rules"] = []
    for tag in sorted(tags):
        group = next((name for name, rx in GROUPS if rx.match(tag)), "Business rules")
        grouped[group].append(tag)
    bodies = []
    for group, names in grouped.items():
        if not names:
            continue
        rows = "".join(
            f'<tr data-tag="{esc(t)}"><td><code>{esc(t)}</code></td><td>{shown(t, tags[t])}</td>'
            f"<td>{changed(doc, t) or '—'}</td></tr>"
            for t in names
        )
        bodies.append(f'<tbody><tr class="group"><th colspan="3">{group}</th></tr>{rows}</tbody>')
    head = "".join(f'<th scope="col">{h}</th>' for h in ("Tag", "Value", "Changed"))
    return (
        f'<div class="scroll"><table class="tags"><thead><tr>{head}</tr></thead>'
        f"{''.join(bodies)}</table></div>"
    )
