"""A loaded rules file: tags and segments, ordered, compiled once, versioned.

:meth:`RuleSet.evaluate` runs for every touched user of every batch, so everything that can be
decided when the rules load is: the evaluation order (a tag after the tags it reads), one
closure per tag and per segment, the segments in name order. An evaluation is then one dict
copy and one call per tag and per segment (docs/rules.md, "Cost").
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from profiles.rules.catalogue import BUILTIN_TYPES, DAY_COUNTERS, RulesError, TagType, unknown
from profiles.rules.conditions import Clause, Explained, Node, clauses, compile_node, explain, reads
from profiles.rules.fused import fuse_rules
from profiles.rules.manual import manual_value
from profiles.rules.nodes import ALWAYS, spec
from profiles.rules.scoring import Logistic, feature, scorer

Source = Literal["rule", "model", "manual"]
Tags = Mapping[str, Any]
VERSION_CHARS: Final = 12


@dataclass(frozen=True, slots=True)
class TagRule:
    """One business tag. Its one source: ``condition`` (a bool rule), ``buckets`` (the value
    of the first bucket whose condition holds, else null), ``model``, or ``manual`` (set by
    hand; ``values``: the allowed ones, None: any scalar; ``default`` when unset)."""

    name: str
    path: tuple[str, ...]
    description: str = ""
    owner: str = ""
    source: Source = "rule"
    condition: Node | None = None
    buckets: tuple[tuple[str, Node], ...] = ()
    model: Logistic | None = None
    values: tuple[Any, ...] | None = None
    default: Any = None

    def reads(self) -> frozenset[str]:
        """The tags this one reads."""
        if self.condition is not None:
            return reads(self.condition)
        if self.model is not None:
            return self.model.reads()
        return frozenset().union(*(reads(node) for _, node in self.buckets))

    def conditions(self) -> tuple[Node, ...]:
        return (
            (self.condition,) if self.condition is not None else tuple(n for _, n in self.buckets)
        )

    def spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "path": list(self.path),
                               "description": self.description, "owner": self.owner}  # fmt: skip
        if self.condition is not None:
            out["rule"] = spec(self.condition)
        elif self.model is not None:
            out["model"] = self.model.spec()
        elif self.source == "manual":
            values = None if self.values is None else list(self.values)
            out["manual"] = {"values": values, "default": self.default}
        else:
            out["buckets"] = [[value, spec(node)] for value, node in self.buckets]
        return out


@dataclass(frozen=True, slots=True)
class SegmentRule:
    name: str
    description: str = ""
    owner: str = ""
    where: Node = ALWAYS

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "owner": self.owner,
                "where": spec(self.where)}  # fmt: skip


class RuleSet:
    """Tags in evaluation order, segments, their version and what they read."""

    def __init__(
        self, tags: Iterable[TagRule], segments: Iterable[SegmentRule], types: Mapping[str, TagType]
    ) -> None:
        """``tags``: already in evaluation order (load.py orders them); ``types``: the tags'."""
        self.tags: tuple[TagRule, ...] = tuple(tags)
        self.segments: tuple[SegmentRule, ...] = tuple(segments)
        self.types: Mapping[str, TagType] = dict(types)
        canonical = {
            "tags": sorted((t.spec() for t in self.tags), key=lambda s: str(s["name"])),
            "segments": sorted((s.spec() for s in self.segments), key=lambda s: str(s["name"])),
        }
        text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        self.version: str = hashlib.sha256(text.encode()).hexdigest()[:VERSION_CHARS]
        read = frozenset().union(
            *(t.reads() for t in self.tags), *(reads(s.where) for s in self.segments)
        )
        self.inputs: frozenset[str] = frozenset(read & BUILTIN_TYPES.keys())
        self.manual: frozenset[str] = frozenset(t.name for t in self.tags if t.source == "manual")
        nodes = [*(n for t in self.tags for n in t.conditions()), *(s.where for s in self.segments)]
        self.day_marks: frozenset[int] = day_marks(c for n in nodes for c in clauses(n))
        self.daily: frozenset[str] = _daily(self.tags, self.segments)
        self._steps = tuple((t.name, _step(t)) for t in self.tags)
        ordered = sorted(self.segments, key=lambda s: s.name)
        self._segments = tuple((s.name, compile_node(s.where)) for s in ordered)
        self._fused = fuse_rules(
            [(t.name, t.condition, t.buckets, _function(t)) for t in self.tags],
            [(s.name, s.where) for s in ordered],
        )
        self._by_name: dict[str, TagRule | SegmentRule] = {
            **{s.name: s for s in self.segments},
            **{t.name: t for t in self.tags},
        }

    def evaluate(self, tags: Tags) -> tuple[dict[str, Any], list[str]]:
        """The rule, model and manual tags' values (None included) and the sorted names of
        the segments that hold, for ``tags`` (the built-in inputs plus the manual values)."""
        env = dict(tags)
        if self._fused is not None:
            return self._fused(env)
        return self.evaluate_closures(env)

    def evaluate_closures(self, env: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """The same as :meth:`evaluate` by one closure per tag and segment (the fallback of a
        rule set too deep to fuse; tests hold the two equal). Extends ``env``."""
        out: dict[str, Any] = {}
        for name, step in self._steps:
            env[name] = out[name] = step(env)
        return out, [name for name, holds in self._segments if holds(env)]

    def find(self, name: str) -> TagRule | SegmentRule | None:
        return self._by_name.get(name)

    def explain(self, name: str, tags: Tags) -> list[Explained]:
        """Why a tag has its value or why a segment holds: each clause with the user's value."""
        rule = self.find(name)
        if rule is None:
            raise RulesError(unknown("tag or segment", name, self._by_name))
        env = dict(tags)
        env.update(self.evaluate(tags)[0])
        if isinstance(rule, SegmentRule):
            return explain(rule.where, env)
        return _explain_tag(rule, env)

    def __repr__(self) -> str:
        counts = f"tags={len(self.tags)}, segments={len(self.segments)}"
        return f"RuleSet(version={self.version!r}, {counts})"


def _function(tag: TagRule) -> Callable[[Tags], Any] | None:
    """What a model or manual tag's value is computed by (conditions are fused inline)."""
    return _step(tag) if tag.model is not None or tag.source == "manual" else None


def _step(tag: TagRule) -> Callable[[Tags], Any]:
    if tag.condition is not None:
        return compile_node(tag.condition)
    if tag.model is not None:
        return scorer(tag.model)
    if tag.source == "manual":
        return manual_value(tag.name, tag.values, tag.default)
    buckets = tuple((value, compile_node(node)) for value, node in tag.buckets)

    def bucket(tags: Tags) -> Any:
        for value, holds in buckets:
            if holds(tags):
                return value
        return None

    return bucket


def _explain_tag(tag: TagRule, env: Tags) -> list[Explained]:
    value = env.get(tag.name)
    if tag.condition is not None:
        return explain(tag.condition, env)
    if tag.model is not None:
        lines = [Explained(0, f"{tag.name} = logistic({tag.model.intercept} + ...)", value, True)]
        for t, key, coefficient in tag.model.features:
            x = feature(env.get(t), key)
            label = t if key is None else f"{t}.{key}"
            lines.append(Explained(1, f"{label} x {coefficient}", x, True))
        return lines
    if tag.source == "manual":
        return [Explained(0, f"{tag.name} set by hand", value, value is not None)]
    lines = [Explained(0, f"{tag.name}: the first bucket that holds", value, value is not None)]
    for label, node in tag.buckets:
        part = explain(node, env, 2)
        lines.append(Explained(1, f"bucket {label}", None, part[0].held))
        lines.extend(part)
    return lines


def _daily(tags: Iterable[TagRule], segments: Iterable[SegmentRule]) -> frozenset[str]:
    """The tags and segments whose value can move on any day: model tags fed a day count (no
    day mark covers a continuous score), and whatever reads them."""
    moving: set[str] = set()
    for tag in tags:  # in evaluation order: what a tag reads is decided before it
        fed = tag.model is not None and tag.model.reads() & DAY_COUNTERS
        if fed or tag.reads() & moving:
            moving.add(tag.name)
    moving.update(s.name for s in segments if reads(s.where) & moving)
    return frozenset(moving)


def day_marks(found: Iterable[Clause]) -> frozenset[int]:
    """The whole-day values at which a clause on a ``days_since_*`` tag can flip: for an
    ordering, the operand's floor and the next day; for ==, in and their negations, each whole
    member and the next day (a day count leaves ``== 30`` when it reaches 31)."""
    marks: set[int] = set()
    for c in found:
        if c.tag not in DAY_COUNTERS or c.key is not None:
            continue
        operands = c.operand if isinstance(c.operand, tuple) else (c.operand,)
        for x in operands:
            if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
                continue
            if c.op in ("<", "<=", ">", ">=") or x == int(x):
                base = math.floor(x)
                marks.update(m for m in (base, base + 1) if m >= 0)
    return frozenset(marks)
