"""One plain-language paragraph per audience, from the report's sections alone ("68 % women,
mostly 25-34, evenings, apparel and beauty; median spend 221; mostly active customers.").

It reads what a marketer asks first: gender (declared; the gender inferred from purchases when
the declared one is mostly unknown), the commonest age band, the part of the day of the peak
activity (night 0-5, morning 6-11, afternoon 12-17, evening 18-23), the two top categories, the
median spend and the commonest lifecycle stage. A dimension known for fewer than half of the
audience's users says nothing about the audience, so it is skipped — never "mostly (unknown)".
Shares are of the users whose value is known. The audience's size comes from the report
(``users``; the spec's two-argument call reads it from a category section, where every user
counts once, ``(unknown)`` included, and from the largest ``known`` without one).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from profiles.insight.dimensions import OTHER, UNKNOWN, Section

EN_DASH: Final = "\u2013"  # 25-34 reads 25\u201334 in prose
MOSTLY_KNOWN: Final = 0.5  # below this share of users with a value, a dimension is skipped
PARTS_OF_DAY: Final = ((0, "nights"), (6, "mornings"), (12, "afternoons"), (18, "evenings"))
WOMEN: Final = frozenset({"female", "f", "woman", "women"})
MEN: Final = frozenset({"male", "m", "man", "men"})
LIFECYCLE: Final = {
    "new": "mostly new customers",
    "active": "mostly active customers",
    "dormant": "mostly dormant customers",
    "churn_risk": "mostly at risk of churning",
}
NOTHING: Final = "Too little is known about most of these users to summarise them."


def summarize(section_by_name: Mapping[str, Section], index: int, users: int | None = None) -> str:
    """The paragraph of audience ``index`` (its position in the report's audiences) of
    ``users`` users (None: read from a category section, where every user counts once)."""
    users = _users(section_by_name, index) if users is None else users
    if users == 0:
        return "No users."
    s = _Reader(section_by_name, index, users)
    ours = [s.gender(), s.age(), s.part_of_day()]
    names = s.categories()  # users' own words: never capitalised ("iPhone" stays)
    head = ", ".join(t for t in [*ours, names] if t)
    text = "; ".join(t for t in [head, s.median_spend(), s.lifecycle()] if t)
    if not text:
        return NOTHING
    return f"{text}." if names and not any(ours) else f"{text[0].upper()}{text[1:]}."


def _users(sections: Mapping[str, Section], index: int) -> int:
    for section in sections.values():
        if section.get("kind") == "category":
            return int(sum(section["counts"][index]))
    sizes = [int(s["known"][index]) for s in sections.values() if "known" in s]
    return max(sizes, default=0)


def number(x: float) -> str:
    """221, 1,230, 74.5: whole numbers with separators, others to 3 significant digits."""
    if float(x).is_integer():
        return f"{int(x):,}"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


class _Reader:
    """The phrases of one audience; each None when its dimension is missing or unknown-heavy."""

    def __init__(self, sections: Mapping[str, Section], index: int, users: int) -> None:
        self.sections, self.index, self.users = sections, index, users

    def _known(self, name: str, known_key: str = "known") -> Section | None:
        section = self.sections.get(name)
        if section is None or known_key not in section:
            return None
        return section if section[known_key][self.index] >= MOSTLY_KNOWN * self.users else None

    def _counts(self, section: Section) -> list[tuple[str, int]]:
        """The known values with users, in display order (commonest first when sorted)."""
        pairs = zip(section["values"], section["counts"][self.index], strict=True)
        return [(str(v), int(n)) for v, n in pairs if v not in (OTHER, UNKNOWN) and n > 0]

    def _commonest(self, name: str) -> str | None:
        section = self._known(name)
        counts = self._counts(section) if section else []
        return max(counts, key=lambda p: p[1])[0] if counts else None  # ties: display order

    def gender(self) -> str | None:
        declared = self._gender("gender", "")
        return declared or self._gender("purchase_gender", " (by purchases)")

    def _gender(self, name: str, how: str) -> str | None:
        section = self._known(name)
        if section is None:
            return None
        counts = self._counts(section)
        women = sum(n for v, n in counts if v.lower() in WOMEN)
        men = sum(n for v, n in counts if v.lower() in MEN)
        known = section["known"][self.index]
        if women + men == 0:
            return None
        share, word = (women, "women") if women >= men else (men, "men")
        return f"{round(100 * share / known)} % {word}{how}"

    def age(self) -> str | None:
        band = self._commonest("age_band")
        if band is None:
            return None
        return "mostly under 18" if band == "<18" else f"mostly {band.replace('-', EN_DASH)}"

    def part_of_day(self) -> str | None:
        section = self._known("active_hours", "users")
        if section is None:
            return None
        by_hour: Sequence[float] = section["by_hour"][self.index]
        if not any(by_hour):
            return None
        peak = max(range(24), key=lambda h: (by_hour[h], -h))
        return next(word for start, word in reversed(PARTS_OF_DAY) if peak >= start)

    def categories(self) -> str | None:
        section = self._known("top_categories")
        if section is None:
            return None
        top = sorted(self._counts(section), key=lambda p: -p[1])[:2]
        return " and ".join(v.rsplit(".", 1)[-1] for v, _ in top) or None

    def median_spend(self) -> str | None:
        """The median spend; where it is 0, the median orders (a log without prices, such as
        Taobao's, has buyers who spent 0), or that most have not bought."""
        median = self._median("spend_total")
        if median is None or median > 0:
            return None if median is None else f"median spend {number(median)}"
        orders = self._median("orders_total")
        if orders:
            return f"median {number(orders)} order{'s' if orders != 1 else ''}"
        return "most have not bought"

    def _median(self, name: str) -> float | None:
        section = self._known(name)
        median = section["quantiles"]["p50"][self.index] if section else None
        return None if median is None else float(median)

    def lifecycle(self) -> str | None:
        stage = self._commonest("lifecycle")
        return None if stage is None else LIFECYCLE.get(stage, f"mostly {stage}")
