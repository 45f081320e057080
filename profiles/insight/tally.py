"""One audience's distributions, built one user at a time in memory bounded by caps, not by
the audience's size (a scan of a million profiles streams through it), and mergeable, so that
chunks or workers can tally apart and combine.

Bounds: a category or list dimension keeps at most :data:`MAX_VALUES` distinct values (a new
value past that counts under ``(other)``); a number keeps a counter of values rounded to 3
significant digits (dimensions.number_value); hours keep 168 sums. :meth:`Tally.merge` gives
what one tally fed both streams (``self``'s, then ``other``'s) gives, exactly while no category
reached the cap (hour sums up to floating-point rounding); past the cap, values ``other`` had
already put under ``(other)`` stay there even when ``self`` kept a place for them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, get_args

from profiles.insight.dimensions import (
    DIMENSIONS,
    HOURS_OF_WEEK,
    OTHER,
    UNKNOWN,
    Dimension,
    Kind,
    category_value,
    list_values,
    number_value,
)

MAX_VALUES: Final = 2000
VERSION: Final = 1
_SPECIAL: Final = frozenset({UNKNOWN, OTHER})
_KINDS: Final = frozenset(get_args(Kind))


class Values:
    """Users per value of a category or list dimension; ``known``: users with a value (a
    category other than ``(unknown)``, a non-empty list)."""

    __slots__ = ("counts", "known")

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.known = 0

    def _slot(self, value: str) -> str:
        """``value`` itself while there is room for it, else ``(other)``."""
        if value in self.counts or value in _SPECIAL:
            return value
        distinct = len(self.counts) - sum(s in self.counts for s in _SPECIAL)
        return value if distinct < MAX_VALUES else OTHER

    def _count(self, value: str, users: int) -> None:
        self.counts[value] = self.counts.get(value, 0) + users

    def add(self, value: str) -> None:
        self._count(self._slot(value), 1)
        self.known += value != UNKNOWN

    def add_list(self, items: Iterable[str]) -> None:
        """One user's list: each kept item once, and ``(other)`` once for any number of items
        past the cap."""
        slots = dict.fromkeys(self._slot(item) for item in items)
        for slot in slots:
            self._count(slot, 1)
        self.known += bool(slots)

    def merge(self, other: Values) -> None:
        for value, users in other.counts.items():
            self._count(self._slot(value), users)
        self.known += other.known

    def to_json(self) -> dict[str, Any]:
        return {"counts": [[v, n] for v, n in self.counts.items()], "known": self.known}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Values:
        out = cls()
        out.counts = {str(v): int(n) for v, n in data["counts"]}
        out.known = int(data["known"])
        return out


class Numbers:
    """Users per rounded value; ``rounded``: whether rounding changed any value (the report
    then says its test ran on rounded values)."""

    __slots__ = ("counts", "rounded")

    def __init__(self) -> None:
        self.counts: dict[float, int] = {}
        self.rounded = False

    @property
    def known(self) -> int:
        return sum(self.counts.values())

    def add(self, raw: Any) -> None:
        value = number_value(raw)
        if value is None:
            return
        self.counts[value] = self.counts.get(value, 0) + 1
        self.rounded = self.rounded or value != raw

    def merge(self, other: Numbers) -> None:
        for value, users in other.counts.items():
            self.counts[value] = self.counts.get(value, 0) + users
        self.rounded = self.rounded or other.rounded

    def to_json(self) -> dict[str, Any]:
        return {"counts": [[v, n] for v, n in self.counts.items()], "rounded": self.rounded}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Numbers:
        out = cls()
        out.counts = {float(v): int(n) for v, n in data["counts"]}
        out.rounded = bool(data["rounded"])
        return out


class Hours:
    """Sums over users of each user's share of activity per hour of the week, and the users
    with any activity: their mean is the audience's typical week, each user weighing the same
    whatever their volume of events."""

    __slots__ = ("sums", "users")

    def __init__(self) -> None:
        self.sums = [0.0] * HOURS_OF_WEEK
        self.users = 0

    def add(self, hours: Mapping[int, float]) -> None:
        scores = {
            h: s
            for h, s in hours.items()
            if 0 <= h < HOURS_OF_WEEK and isinstance(s, int | float) and math.isfinite(s) and s > 0
        }
        total = math.fsum(scores.values())
        if not (total > 0 and math.isfinite(total)):
            return  # a user without activity adds nothing
        for h, s in scores.items():
            self.sums[h] += s / total
        self.users += 1

    def merge(self, other: Hours) -> None:
        self.sums = [a + b for a, b in zip(self.sums, other.sums, strict=True)]
        self.users += other.users

    def to_json(self) -> dict[str, Any]:
        return {"sums": list(self.sums), "users": self.users}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Hours:
        out = cls()
        out.sums = [float(s) for s in data["sums"]]
        if len(out.sums) != HOURS_OF_WEEK:
            raise ValueError(f"hours: {len(out.sums)} sums, not {HOURS_OF_WEEK}")
        out.users = int(data["users"])
        return out


Part = Values | Numbers | Hours


def _part(dim: Dimension) -> Part:
    if dim.kind == "number":
        return Numbers()
    if dim.kind == "hours":
        return Hours()
    return Values()


def _part_from_json(dim: Dimension, data: Mapping[str, Any]) -> Part:
    if dim.kind == "number":
        return Numbers.from_json(data)
    if dim.kind == "hours":
        return Hours.from_json(data)
    return Values.from_json(data)


class Tally:
    """One audience's distributions, in memory bounded by the caps above (not by its size)."""

    def __init__(self, name: str, dimensions: Sequence[Dimension] = DIMENSIONS) -> None:
        self.name = name
        self.users = 0
        self.dimensions = tuple(dimensions)
        if len({d.name for d in self.dimensions}) != len(self.dimensions):
            raise ValueError("a dimension is named twice")
        self.parts: dict[str, Part] = {d.name: _part(d) for d in self.dimensions}

    def add(self, tags: Mapping[str, Any], hours: Mapping[int, float]) -> None:
        """One user: ``tags`` as ProfileModel.tags (plus the rules' tags), ``hours`` as
        ActiveHours.histogram (hour of week -> decayed score)."""
        self.users += 1
        for dim in self.dimensions:
            part = self.parts[dim.name]
            if isinstance(part, Hours):
                part.add(hours)
            elif isinstance(part, Numbers):
                part.add(tags.get(dim.name))
            elif dim.kind == "list":
                part.add_list(list_values(tags.get(dim.name)))
            else:
                part.add(category_value(tags.get(dim.name)))

    def merge(self, other: Tally) -> Tally:
        """A new tally: this one's users and then ``other``'s (same dimensions)."""
        if other.dimensions != self.dimensions:
            raise ValueError(f"cannot merge tallies of different dimensions: {other.name}")
        out = Tally.from_json(self.to_json())
        out.users += other.users
        for name, part in out.parts.items():
            part.merge(other.parts[name])  # type: ignore[arg-type]  # same kind: same dims
        return out

    def to_json(self) -> dict[str, Any]:
        """Plain JSON, lossless (floats survive JSON exactly; counts keep their order, which
        decides what a later value past the cap counts as)."""
        return {
            "version": VERSION,
            "name": self.name,
            "users": self.users,
            "dimensions": [[d.name, d.label, d.kind] for d in self.dimensions],
            "parts": {name: part.to_json() for name, part in self.parts.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Tally:
        if data.get("version") != VERSION:
            raise ValueError(f"tally version {data.get('version')!r}, expected {VERSION}")
        dims = [Dimension(str(n), str(label), kind) for n, label, kind in data["dimensions"]]
        if bad := [d.name for d in dims if d.kind not in _KINDS]:
            raise ValueError(f"tally dimensions of unknown kind: {', '.join(bad)}")
        out = cls(str(data["name"]), dims)
        out.users = int(data["users"])
        out.parts = {d.name: _part_from_json(d, data["parts"][d.name]) for d in dims}
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tally) and self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"Tally({self.name!r}, users={self.users})"
