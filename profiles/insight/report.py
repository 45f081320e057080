"""The insight report document (version 1): audiences side by side, one section per dimension,
each difference with its test named, its effect size and whether it is significant.

Plain JSON, so that the pictures, the HTML page, the API and a JSON file all render the same
figures; every float is finite (``json.dumps(report, allow_nan=False)`` holds). Rules:

- sections follow the tallies' dimensions; a section without a known value in any audience is
  left out and named in ``notes`` (``no data: city, occupation``);
- category values: an enum's declared order (dimensions.domain), else by users over all
  audiences (ties by name), at most :data:`TOP` of them shown, the rest folded into
  ``(other)``; ``(other)`` and then ``(unknown)`` last. Shares are of the audience's users;
  the chi-square test compares the known values shown (``(unknown)`` left out);
- numbers: mean, quantiles and histogram over the users with a value; Mann-Whitney U (two
  audiences with values) or Kruskal-Wallis H (three or more) on the rounded values;
- lists (top categories, brands): the :data:`TOP` values by users, each with a chi-square test
  on users who have it against users who do not;
- hours: the mean of the users' weekly activity shares (each user weighs the same), 7 x 24,
  and by hour of day, over the users with any activity;
- all p values are adjusted together (Benjamini-Hochberg); significant: q < 0.05 and an effect
  that is not negligible (stats.py).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any, Final

from profiles.insight import numbers, stats
from profiles.insight.dimensions import NO, OTHER, UNKNOWN, YES, Dimension, domain
from profiles.insight.summary import summarize
from profiles.insight.tally import MAX_VALUES, Hours, Numbers, Part, Tally, Values

VERSION: Final = 1
TOP: Final = 12
QUANTILES: Final = (("p10", 0.1), ("p25", 0.25), ("p50", 0.5), ("p75", 0.75), ("p90", 0.9))
NO_AUDIENCES: Final = "fewer than 2 audiences with known values"
ONE_VALUE: Final = "fewer than 2 known values"
SAME_VALUE: Final = "every known value is the same"


def compare(
    tallies: Sequence[Tally], *, as_of: str, where: Any = None, notes: Sequence[str] = ()
) -> dict[str, Any]:
    """The report document of ``tallies`` (one per audience, in display order)."""
    if not tallies:
        raise ValueError("no audience to compare")
    users = [t.users for t in tallies]
    sections: list[dict[str, Any]] = []
    empty: list[str] = []
    for dim in tallies[0].dimensions:
        section = BUILDERS[dim.kind](dim, [_part(t, dim) for t in tallies], users)
        if section is None:
            empty.append(dim.name)
        else:
            sections.append({"name": dim.name, "label": dim.label, "kind": dim.kind, **section})
    tests = _settle_tests(sections)
    by_name = {s["name"]: s for s in sections}
    report = {
        "version": VERSION,
        "as_of": as_of,
        "where": where,
        "audiences": [
            {"name": t.name, "users": t.users, "summary": summarize(by_name, i, t.users)}
            for i, t in enumerate(tallies)
        ],
        "sections": sections,
        "tests": len(tests),
        "significant": sum(stats.significant(t) for t in tests),
        "notes": [*notes, *_notes(tallies, list(by_name), empty, tests)],
    }
    finite: dict[str, Any] = _finite(report)
    return finite


def _part(tally: Tally, dim: Dimension) -> Part:
    """``tally``'s part for ``dim``: empty when the tally was made without it."""
    empty = Tally(tally.name, [dim]).parts[dim.name]
    part = tally.parts.get(dim.name, empty)
    if type(part) is not type(empty):
        raise ValueError(f"{tally.name}: {dim.name} is not tallied as a {dim.kind}")
    return part


def _share(count: float, users: int, digits: int = 4) -> float:
    return round(count / users, digits) if users else 0.0


def _sig(x: float | None) -> float | None:
    """6 significant digits: interpolation of 3-digit values leaves 10.850000000000003."""
    return None if x is None else float(f"{x:.6g}")


def _order(name: str, totals: dict[str, int]) -> list[str]:
    """The known values shown, in display order (the others fold into ``(other)``)."""
    by_users = sorted(totals, key=lambda v: (-totals[v], v))
    values = domain(name) or ((YES, NO) if set(totals) <= {YES, NO} else ())
    ordered = [v for v in values if v in totals]
    rest = [v for v in by_users if v not in ordered]
    return ordered + rest[: max(0, TOP - len(ordered))]


def _values(
    parts: Sequence[Part], leave_out: frozenset[str]
) -> tuple[list[dict[str, int]], list[int], dict[str, int]] | None:
    """Each audience's users per value and known users, and the users per value over every
    audience (but the values left out); None when no audience knows a value."""
    counts_by = [p.counts for p in parts if isinstance(p, Values)]
    known = [p.known for p in parts if isinstance(p, Values)]
    if not any(known):
        return None
    totals: dict[str, int] = {}
    for counts in counts_by:
        for v, n in counts.items():
            if v not in leave_out:
                totals[v] = totals.get(v, 0) + n
    return counts_by, known, totals


def _category(dim: Dimension, parts: Sequence[Part], users: list[int]) -> dict[str, Any] | None:
    found = _values(parts, frozenset({OTHER, UNKNOWN}))
    if found is None:
        return None
    counts_by, known, totals = found
    shown = _order(dim.name, totals)
    rows = [[c.get(v, 0) for v in shown] for c in counts_by]
    for row, c, k in zip(rows, counts_by, known, strict=True):
        row.append(k - sum(row))  # (other): the known users of the values not shown
        row.append(c.get(UNKNOWN, 0))
    values = [*shown, OTHER, UNKNOWN]
    keep = [j for j in range(len(values)) if j < len(shown) or any(row[j] for row in rows)]
    table = [[row[j] for j in keep] for row in rows]
    test = stats.chi_square([row[: len(shown) + 1] for row in rows])
    return {
        "values": [values[j] for j in keep],
        "counts": table,
        "shares": [[_share(n, u) for n in row] for row, u in zip(table, users, strict=True)],
        "known": known,
        "test": test,
        "why_no_test": _why(known) if test is None else None,
        "on": "known values",
    }


def _why(known: Sequence[int], otherwise: str = ONE_VALUE) -> str:
    return NO_AUDIENCES if sum(k > 0 for k in known) < 2 else otherwise


def _number(dim: Dimension, parts: Sequence[Part], users: list[int]) -> dict[str, Any] | None:
    counts = [p.counts for p in parts if isinstance(p, Numbers)]
    known = [sum(c.values()) for c in counts]
    histogram = numbers.histogram(counts)
    if histogram is None:
        return None
    qs = [[_sig(q) for q in numbers.quantiles(c, [p for _, p in QUANTILES])] for c in counts]
    test = stats.rank_test(counts)
    return {
        "known": known,
        "mean": [_sig(numbers.mean(c)) for c in counts],
        "quantiles": {key: [q[i] for q in qs] for i, (key, _) in enumerate(QUANTILES)},
        "histogram": histogram,
        "test": test,
        "why_no_test": _why(known, SAME_VALUE) if test is None else None,
        "on": "known values",
    }


def _list(dim: Dimension, parts: Sequence[Part], users: list[int]) -> dict[str, Any] | None:
    found = _values(parts, frozenset())
    if found is None:
        return None
    counts_by, known, totals = found
    shown = sorted((v for v in totals if v != OTHER), key=lambda v: (-totals[v], v))[:TOP]
    values = shown + ([OTHER] if totals.get(OTHER) else [])
    table = [[c.get(v, 0) for v in values] for c in counts_by]
    return {
        "values": values,
        "counts": table,
        "shares": [[_share(n, u) for n in row] for row, u in zip(table, users, strict=True)],
        "known": known,
        "tests": [
            stats.chi_square([[row[j], u - row[j]] for row, u in zip(table, users, strict=True)])
            for j in range(len(values))
        ],
        "on": "users with and without the value",
    }


def _hours(dim: Dimension, parts: Sequence[Part], users: list[int]) -> dict[str, Any] | None:
    hours = [p for p in parts if isinstance(p, Hours)]
    if not any(h.users for h in hours):
        return None
    means = [[s / h.users if h.users else 0.0 for s in h.sums] for h in hours]
    return {
        "matrix": [[[round(m[d * 24 + h], 6) for h in range(24)] for d in range(7)] for m in means],
        "by_hour": [
            [round(math.fsum(m[d * 24 + h] for d in range(7)), 6) for h in range(24)] for m in means
        ],
        "users": [h.users for h in hours],
    }


Builder = Callable[[Dimension, Sequence[Part], list[int]], dict[str, Any] | None]
BUILDERS: Final[dict[str, Builder]] = {
    "category": _category,
    "number": _number,
    "list": _list,
    "hours": _hours,
}


def _test_json(test: stats.Test, on: str) -> dict[str, Any]:
    return {**dataclasses.asdict(test), "significant": stats.significant(test), "on": on}


def _settle_tests(sections: list[dict[str, Any]]) -> list[stats.Test]:
    """Adjusts every test of the report together and writes them into their sections as JSON;
    returns the adjusted tests."""
    found = [t for s in sections for t in ([s["test"]] if "test" in s else s.get("tests", []))]
    tests = stats.adjust([t for t in found if t is not None])
    adjusted = iter(tests)
    for section in sections:
        on = section.pop("on", "")
        if "test" in section and section["test"] is not None:
            section["test"] = _test_json(next(adjusted), on)
        elif "tests" in section:
            section["tests"] = [
                _test_json(next(adjusted), on) if t else None for t in section["tests"]
            ]
    return tests


def _notes(
    tallies: Sequence[Tally], shown: Sequence[str], empty: Sequence[str], tests: list[stats.Test]
) -> list[str]:
    """What a reader needs to read the figures right: sections left out, rounding, caps."""

    def flagged(check: Callable[[Part], bool]) -> str:
        names = (n for n in shown if any(n in t.parts and check(t.parts[n]) for t in tallies))
        return ", ".join(names)

    rounded = flagged(lambda p: isinstance(p, Numbers) and p.rounded)
    capped = flagged(lambda p: isinstance(p, Values) and OTHER in p.counts)
    out = [f"no data: {', '.join(empty)}"] if empty else []
    if rounded:
        out.append(f"numbers are compared on values rounded to 3 significant digits: {rounded}")
    if capped:
        out.append(f"over {MAX_VALUES} values, later ones counted as (other): {capped}")
    if any(t.name == "chi-square" and t.df == 1 for t in tests):
        out.append("chi-square tests with one degree of freedom (2x2) use Yates' correction")
    return out


def _finite(value: Any) -> Any:
    """The document with any non-finite float as null: JSON has no NaN, and a renderer must
    never meet one (by construction there is none; this is the guarantee)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
