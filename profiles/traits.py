"""Declared attributes, inferred purchase gender, device and channel (docs/tags.md)."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Final

from profiles.aggregators import Tags
from profiles.events import TRAIT_NAMES, Event
from profiles.timeutil import local_year

_AGE_BANDS: Final = (
    (18, "<18"), (25, "18-24"), (35, "25-34"), (45, "35-44"), (55, "45-54"), (65, "55-64"),
)  # fmt: skip
FEMALE_WORDS: Final = frozenset(
    ("women", "woman", "female", "lady", "ladies", "girl", "girls", "dress", "skirt", "bra",
     "lingerie", "makeup", "cosmetics")
)  # fmt: skip
MALE_WORDS: Final = frozenset(["men", "man", "male", "boy", "boys", "shaver", "beard"])
_WORD: Final = re.compile(r"[a-z]+")
_TRAIT_CODE: Final = {name: code for code, name in enumerate(TRAIT_NAMES)}
_BIRTH_YEAR: Final = _TRAIT_CODE["birth_year"]


def age_band(birth_year: object, as_of_ms: int) -> str | None:
    if isinstance(birth_year, bool) or not isinstance(birth_year, int | float):
        return None
    age = local_year(as_of_ms) - int(birth_year)
    if age < 0 or age > 130:
        return None
    for limit, band in _AGE_BANDS:
        if age < limit:
            return band
    return "65+"


def category_gender(category: str) -> int:
    """+1 female, -1 male, 0 neither or both, from the words of a category name."""
    words = set(_WORD.findall(category.lower()))
    female, male = bool(words & FEMALE_WORDS), bool(words & MALE_WORDS)
    return 0 if female == male else 1 if female else -1


class Attributes:
    """Declared traits; the latest by event time (to the second) wins per trait, ties to the
    larger value. State: ``{trait code: [value, seconds]}``, codes index ``TRAIT_NAMES``."""

    key: ClassVar[str] = "attributes"  # its field of profiles.state.State
    types: ClassVar[frozenset[str] | None] = frozenset({"identify"})

    def initial(self) -> dict[int, Any]:
        return {}

    def apply(self, state: dict[int, Any], event: Event, newest_ts: int = 0) -> dict[int, Any]:
        if event.traits:
            seconds = event.ts // 1000
            for name, value in event.traits.items():
                code = _TRAIT_CODE[name]
                current = state.get(code)
                if (
                    current is None
                    or seconds > current[1]
                    or (seconds == current[1] and str(value) > str(current[0]))
                ):
                    state[code] = [value, seconds]
        return state

    def compact(self, state: dict[int, Any], newest_ts: int) -> dict[int, Any]:
        return state

    def merge(self, state: dict[int, Any], other: dict[int, Any]) -> dict[int, Any]:
        """Per trait the later identify wins (ties: the larger value), as :meth:`apply`
        decides, so a merged person reads as if one profile had seen both."""
        for code, (value, seconds) in other.items():
            current = state.get(code)
            if current is None or (seconds, str(value)) > (current[1], str(current[0])):
                state[code] = [value, seconds]
        return state

    def changed_at(self, state: dict[int, Any]) -> dict[str, int | None]:
        """Each declared trait's tag changed with its latest identify (to the second)."""
        return {
            TRAIT_NAMES[code]: seconds * 1000
            for code, (_, seconds) in state.items()
            if TRAIT_NAMES[code] != "birth_year"
        }

    def values(self, state: dict[int, Any]) -> dict[str, Any]:
        return {TRAIT_NAMES[code]: pair[0] for code, pair in sorted(state.items())}

    def tags(self, state: dict[int, Any], as_of_ms: int) -> Tags:
        out: Tags = {}
        for code, name in enumerate(TRAIT_NAMES):
            if name != "birth_year":
                value = state[code][0] if code in state else None
                out[name] = value if value is None or isinstance(value, str) else str(value)
        out["age_band"] = self.age_band(state, as_of_ms)
        return out

    def age_band(self, state: dict[int, Any], as_of_ms: int) -> str | None:
        birth = state.get(_BIRTH_YEAR)
        return age_band(birth[0], as_of_ms) if birth else None


class PurchaseGender:
    """Gendered categories of purchases and cart adds. State: ``[female, male]`` counts."""

    key: ClassVar[str] = "gender"  # its field of profiles.state.State
    types: ClassVar[frozenset[str] | None] = frozenset({"purchase", "add_to_cart"})

    def initial(self) -> list[int]:
        return [0, 0]

    def apply(self, state: list[int], event: Event, newest_ts: int = 0) -> list[int]:
        if event.category is not None:
            side = category_gender(event.category)
            if side:
                state[0 if side > 0 else 1] += 1
        return state

    def compact(self, state: list[int], newest_ts: int) -> list[int]:
        return state

    def merge(self, state: list[int], other: list[int]) -> list[int]:
        return [state[0] + other[0], state[1] + other[1]]

    def infer(self, state: list[int]) -> str | None:
        female, male = state
        if female + male < 2:
            return None
        if female >= 2 * male:
            return "female"
        return "male" if male >= 2 * female else None

    def tags(self, state: list[int], as_of_ms: int) -> Tags:
        return {"purchase_gender": self.infer(state)}


class Devices:
    """Last and most used device, channel and OS.

    State: ``{field code: {value: [count, latest seconds]}}``, codes index ``FIELDS``; at most
    8 values per field."""

    key: ClassVar[str] = "devices"  # its field of profiles.state.State
    types: ClassVar[frozenset[str] | None] = None
    FIELDS: ClassVar[tuple[str, ...]] = ("device", "channel", "os")  # codes 0, 1, 2
    MAX_VALUES: ClassVar[int] = 8

    def initial(self) -> dict[int, Any]:
        return {}

    def apply(self, state: dict[int, Any], event: Event, newest_ts: int = 0) -> dict[int, Any]:
        seconds = event.ts // 1000
        if event.device is not None:
            self._count(state, 0, event.device, seconds)
        if event.channel is not None:
            self._count(state, 1, event.channel, seconds)
        if event.os is not None:
            self._count(state, 2, event.os, seconds)
        return state

    def _count(self, state: dict[int, Any], code: int, value: str, seconds: int) -> None:
        seen = state.get(code)
        if seen is None:
            state[code] = {value: [1, seconds]}
            return
        entry = seen.get(value)
        if entry is not None:
            entry[0] += 1
            if seconds > entry[1]:
                entry[1] = seconds
        elif len(seen) < self.MAX_VALUES:
            seen[value] = [1, seconds]

    def compact(self, state: dict[int, Any], newest_ts: int) -> dict[int, Any]:
        return state

    def merge(self, state: dict[int, Any], other: dict[int, Any]) -> dict[int, Any]:
        """Counts add, latest times take the later; values new to ``state`` join in name
        order while a field has room (past :attr:`MAX_VALUES` a single profile keeps the first
        arrivals, which a merge cannot know)."""
        for code, values in other.items():
            seen = state.setdefault(code, {})
            for value, (count, seconds) in sorted(values.items()):
                entry = seen.get(value)
                if entry is not None:
                    entry[0] += count
                    entry[1] = max(entry[1], seconds)
                elif len(seen) < self.MAX_VALUES:
                    seen[value] = [count, seconds]
        return state

    def changed_at(self, state: dict[int, Any]) -> dict[str, int | None]:
        """``<field>_last`` changed with the latest event that had the field."""
        return {
            f"{name}_last": max(s for _, s in state[code].values()) * 1000
            for code, name in enumerate(self.FIELDS)
            if state.get(code)
        }

    def top(self, state: dict[int, Any], code: int) -> str | None:
        """The most frequent value of field ``code`` (ties: the smaller)."""
        seen = state.get(code)
        return min(seen.items(), key=lambda kv: (-kv[1][0], kv[0]))[0] if seen else None

    def tags(self, state: dict[int, Any], as_of_ms: int) -> Tags:
        out: Tags = {}
        for code, name in enumerate(self.FIELDS):
            seen = state.get(code)
            out[f"{name}_last"] = (
                max(seen.items(), key=lambda kv: (kv[1][1], kv[0]))[0] if seen else None
            )
            if name != "os":
                out[f"{name}_top"] = self.top(state, code)
        return out
