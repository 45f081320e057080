"""The values table of each section kind: the numbers behind its figure, audiences side by side
(category and list shares with counts, a number's quantiles, the hours' peaks and parts of the
day). Every cell that carries users' data is escaped here."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from html import escape
from typing import Any, Final

from streams.insight.figures import colour
from streams.insight.text import NONE, number, share

PARTS: Final = (("night 0-6h", 0, 6), ("morning 6-12h", 6, 12), ("afternoon 12-18h", 12, 18),
                ("evening 18-24h", 18, 24))  # fmt: skip
WEEKDAYS: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def e(value: object) -> str:
    """``value`` as HTML text or attribute (quotes escaped too)."""
    return escape(str(value), quote=True)


def verdict(significant: bool) -> str:
    """The significance marker of a test row."""
    return '<span class="sig">yes</span>' if significant else '<span class="no">no</span>'


def _argmax(values: Sequence[float]) -> int:
    return max(range(len(values)), key=values.__getitem__)


def _difference(test: Mapping[str, Any]) -> str:
    """A list value's effect size, its magnitude and a ``*`` when significant (as in the
    figure)."""
    mark = ' <span class="sig" title="significant">*</span>' if test.get("significant") else ""
    return f"{float(test['effect']):.2f} <small>{e(test['magnitude'])}</small>{mark}"


def _table(
    first: str, names: Sequence[str], rows: Iterable[Sequence[str]], extra: Sequence[str] = ()
) -> str:
    """A values table: ``first`` then a column per audience headed by its colour and name;
    ``rows`` are already escaped cells."""
    head = "".join(
        f'<th style="--c:{colour(i)}"><span class="swatch"></span>'
        f'<span class="name" title="{e(n)}">{e(n)}</span></th>'
        for i, n in enumerate(names)
    ) + "".join(f"<th>{e(x)}</th>" for x in extra)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    head = f"<thead><tr><th>{e(first)}</th>{head}</tr></thead>"
    return f'<table class="values">{head}<tbody>{body}</tbody></table>'


def _shares_table(s: Mapping[str, Any], names: Sequence[str]) -> str:
    """Category and list sections: each value's share of each audience (and its count)."""
    values, counts, shares = s.get("values") or [], s.get("counts") or [], s.get("shares") or []
    rows = [
        [e(v)]
        + [
            f"{share(shares[a][j])} <small>{number(counts[a][j])}</small>"
            for a in range(len(names))
        ]
        for j, v in enumerate(values)
    ]
    tests = s.get("tests")
    if tests is not None:  # a list section: each value's own test beside it
        for row, test in zip(rows, tests, strict=False):
            row.append(_difference(test) if test else NONE)
        return _table("Value", names, rows, extra=("Effect size",))
    elif s.get("known") is not None:
        rows.append(["<small>users with a known value</small>", *(number(k) for k in s["known"])])
    return _table("Value", names, rows)


def _number_table(s: Mapping[str, Any], names: Sequence[str]) -> str:
    quantiles = s.get("quantiles") or {}
    rows = [["users with a value", *(number(k) for k in s["known"])]]
    rows.append(["mean", *(number(m) for m in s.get("mean") or [None] * len(names))])
    for key in ("p10", "p25", "p50", "p75", "p90"):
        label = "median (p50)" if key == "p50" else key
        rows.append([label, *(number(v) for v in quantiles.get(key) or [None] * len(names))])
    return _table("Statistic", names, rows)


def _hours_table(s: Mapping[str, Any], names: Sequence[str]) -> str:
    by_hour, matrix = s.get("by_hour") or [], s.get("matrix") or []
    rows = [["users with activity", *(number(u) for u in s.get("users") or [])]]
    peak = [_argmax(row) if any(row) else None for row in by_hour]
    rows.append(["peak hour", *(NONE if h is None else f"{h:02d}:00-{h + 1:02d}:00" for h in peak)])
    days = [_argmax([sum(d) for d in m]) if any(map(any, m)) else None for m in matrix]
    rows.append(["busiest day", *(NONE if d is None else WEEKDAYS[d] for d in days)])
    for label, lo, hi in PARTS:
        rows.append([label, *(share(sum(row[lo:hi])) for row in by_hour)])
    return _table("Hours", names, rows)


TABLES: Final[dict[str, Callable[[Mapping[str, Any], Sequence[str]], str]]] = {
    "category": _shares_table,
    "list": _shares_table,
    "number": _number_table,
    "hours": _hours_table,
}
