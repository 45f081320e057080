"""Recall accounting per channel and per campaign, with re-churn (pure; docs/recall.md).

The input is every recall message sent in the period, each with its record (what the feedback
said of it, whether and when it recalled the user) and, for each recalled user, whether they were
lost again. Per channel and per campaign (a campaign's id, else the trigger kind):

- ``sent``, ``delivered``, ``clicked`` messages, and ``click_rate`` = clicked / sent;
- ``users`` sent at least one message, ``recalled`` users brought back (any touch: a user two
  channels' messages were pending for when they came back counts in both rows), ``recall_share``
  = recalled / users;
- ``recalled_last_touch``: users whose return is attributed to this row by the one rule below;
  these sum, over the rows, to the overall distinct ``recalled``;
- ``cost`` = sent times the channel's price, ``cost_per_recalled`` = cost / recalled;
- re-churn: of the recalled users whose follow-up has ended, how many were ``lost`` again.

**Attribution (last touch).** A recalled user's return is attributed to one message: of their
messages that recalled them, those of their latest return; of those, the one that reached them
last (delivered, else sent); ties go to the greater trigger id.

**Re-churn.** A user's latest return in the period is followed for ``follow_up`` days after its
UTC day; they are lost again when the last ``lost_after`` of those days hold no behaviour event.
The judgement waits until the follow-up's last day has ended (``judged`` counts the users it
has been made for).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from sys import intern
from typing import Any, Final

from triggers.config import DAY_MS, RecallConfig

ROWS: Final = ("channels", "campaigns")
ATTRIBUTION: Final = (
    "last touch: of the messages that recalled a user, those of their latest return, then the"
    " one delivered (else sent) last"
)


@dataclass(frozen=True, slots=True)
class RecallMessage:
    """One recall message and its record (``kind|channel|sent|delivered|deadline|state|
    recalled|clicked|campaign``, streams/store/feedback_lua.py)."""

    trigger_id: str
    user_id: str
    kind: str
    channel: str
    sent_ms: int
    delivered_ms: int = 0
    recalled_ms: int = 0  # 0: not recalled
    clicked: bool = False
    campaign_id: str = ""

    @property
    def campaign(self) -> str:
        return self.campaign_id or self.kind

    @property
    def touch_ms(self) -> int:
        return self.delivered_ms or self.sent_ms

    @classmethod
    def decode(cls, trigger_id: str, user_id: str, raw: str) -> RecallMessage:
        p = [*raw.split("|"), *[""] * 9][:9]
        recalled = int(p[6] or 0) if p[5] == "r" else 0
        if p[5] == "r" and not recalled:  # recalled before the time was recorded
            recalled = int(p[3] or 0) or int(p[2] or 0)
        kind, channel, campaign = intern(p[0]), intern(p[1]), intern(p[8])  # a few, shared
        return cls(
            trigger_id, user_id, kind, channel, int(p[2] or 0), int(p[3] or 0), recalled,
            p[7] == "1", campaign,
        )  # fmt: skip


def last_touch(messages: Iterable[RecallMessage]) -> RecallMessage | None:
    """The message a user's return is attributed to (None: not recalled)."""
    recalled = [m for m in messages if m.recalled_ms]
    if not recalled:
        return None
    return max(recalled, key=lambda m: (m.recalled_ms, m.touch_ms, m.trigger_id))


def follow_up_end(recalled_ms: int, config: RecallConfig) -> int:
    """The first moment after the follow-up of a return at ``recalled_ms``."""
    return (recalled_ms // DAY_MS + config.follow_up_ms // DAY_MS + 1) * DAY_MS


def lost_again(events_on: Callable[[int], int], recalled_ms: int, config: RecallConfig) -> bool:
    """No behaviour event (``events_on(day)``: the user's count that UTC day) on the last
    ``lost_after`` days of the follow-up of a return at ``recalled_ms``."""
    last = recalled_ms // DAY_MS + config.follow_up_ms // DAY_MS
    first = last - config.lost_after_ms // DAY_MS + 1
    return not any(events_on(day) for day in range(max(first, last - 366), last + 1))


@dataclass(slots=True)
class Row:
    sent: int = 0
    delivered: int = 0
    clicked: int = 0
    cost: float = 0.0
    users: set[str] = field(default_factory=set)
    recalled: set[str] = field(default_factory=set)
    last_touch: int = 0
    judged: int = 0
    lost: int = 0

    def add(self, m: RecallMessage, price: float) -> None:
        self.sent += 1
        self.delivered += m.delivered_ms > 0
        self.clicked += m.clicked
        self.cost += price
        self.users.add(m.user_id)
        if m.recalled_ms:
            self.recalled.add(m.user_id)

    def figures(self) -> dict[str, Any]:
        recalled = len(self.recalled)
        return {
            "sent": self.sent,
            "delivered": self.delivered,
            "clicked": self.clicked,
            "click_rate": _ratio(self.clicked, self.sent),
            "users": len(self.users),
            "recalled": recalled,
            "recall_share": _ratio(recalled, len(self.users)),
            "recalled_last_touch": self.last_touch,
            "cost": round(self.cost, 6),
            "cost_per_recalled": None if not recalled else round(self.cost / recalled, 6),
            "rechurn_judged": self.judged,
            "rechurn_lost": self.lost,
            "rechurn_share": _ratio(self.lost, self.judged),
        }


def _ratio(part: int, whole: int) -> float | None:
    return None if not whole else round(part / whole, 6)


class RecallTally:
    """The report's figures, fed one user (all their messages of the period) at a time."""

    def __init__(self, prices: Mapping[str, float]) -> None:
        self.prices = prices
        self.rows: dict[str, dict[str, Row]] = {name: {} for name in ROWS}
        self.overall = Row()

    def add(self, messages: list[RecallMessage], lost: bool | None) -> None:
        """One user's messages; ``lost``: re-churned (None: not recalled or not judged yet)."""
        mine: list[Row] = [self.overall]
        for m in messages:
            price = self.prices.get(m.channel, 0.0)
            for rows, key in zip(ROWS, (m.channel, m.campaign), strict=True):
                row = self.rows[rows].setdefault(key, Row())
                row.add(m, price)
                mine.append(row)
            self.overall.add(m, price)
        touch = last_touch(messages)
        if touch is None:
            return
        for rows, key in zip(ROWS, (touch.channel, touch.campaign), strict=True):
            self.rows[rows][key].last_touch += 1
        self.overall.last_touch += 1
        if lost is None:
            return
        for row in {id(r): r for r in mine if touch.user_id in r.recalled}.values():
            row.judged += 1
            row.lost += lost

    def report(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            name: {key: row.figures() for key, row in sorted(self.rows[name].items())}
            for name in ROWS
        }
        overall = self.overall.figures()
        channels = self.rows["channels"].values()
        overall["recalled_sum_over_channels"] = sum(len(r.recalled) for r in channels)
        overall["recalled_last_touch_sum"] = sum(r.last_touch for r in channels)
        out["overall"] = overall
        out["attribution"] = ATTRIBUTION
        return out


_COLUMNS: Final = (
    ("sent", "sent", "{:,}"),
    ("clicked", "clicked", "{:,}"),
    ("click_rate", "click %", "pct"),
    ("users", "users", "{:,}"),
    ("recalled", "recalled", "{:,}"),
    ("recall_share", "share %", "pct"),
    ("recalled_last_touch", "last touch", "{:,}"),
    ("cost", "cost", "{:,.2f}"),
    ("cost_per_recalled", "per recalled", "{:,.4f}"),
    ("rechurn_judged", "judged", "{:,}"),
    ("rechurn_share", "lost again %", "pct"),
)


def _cell(value: Any, form: str) -> str:
    if value is None:
        return "-"
    if form == "pct":
        return f"{100 * value:.1f}"
    return form.format(value)


def _line(cells: list[str], widths: list[int]) -> str:
    pairs = enumerate(zip(cells, widths, strict=True))
    padded = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in pairs]
    return "  ".join(padded)


def text(report: Mapping[str, Any]) -> str:
    """The report as aligned tables: by channel, by campaign, overall, and the checks."""
    head = ["", *(title for _, title, _ in _COLUMNS)]
    lines = [f"recall {report.get('since', '')} .. {report.get('until', '')}"
             f" (as of {report.get('as_of', '')})"]  # fmt: skip
    for section in (*ROWS, "overall"):
        rows = {"all": report[section]} if section == "overall" else report[section]
        table = [head] + [
            [name, *(_cell(fig[key], form) for key, _, form in _COLUMNS)]
            for name, fig in rows.items()
        ]
        widths = [max(len(r[i]) for r in table) for i in range(len(head))]
        lines.append("")
        lines.append(f"by {section[:-1]}" if section != "overall" else "overall (distinct users)")
        lines.extend(_line(r, widths) for r in table)
    o = report["overall"]
    same = o["recalled_last_touch_sum"] == o["recalled"]
    lines += [
        "",
        f"recalled users: {o['recalled']:,} distinct; {o['recalled_sum_over_channels']:,} summed"
        f" over channels (a user recalled by two channels counts in both);"
        f" {o['recalled_last_touch_sum']:,} by last touch"
        f" ({'equal to the distinct count' if same else 'MISMATCH'}).",
        f"attribution: {report['attribution']}.",
    ]
    if report.get("missing"):
        lines.append(
            f"{report['missing']:,} messages of the ledger had no record (erased or expired)."
        )
    return "\n".join(lines)
