"""What ``portrait insight`` and ``GET /v1/insight`` share: checking the audiences asked for,
reading ``where``, scanning the audiences one after the other, and the report with the notes a
reader must see (members left out, states that did not decode, members erased meanwhile).

Errors are :class:`~streams.errors.CommandError` (a bad condition, an audience twice) and
:class:`~streams.errors.NotFound` (an unknown segment): the CLI prints them in one line, the
API answers 400 and 404 with the same message."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import yaml
from redis.asyncio import Redis

from profiles.insight.report import compare
from profiles.model import ProfileModel
from profiles.rules import BUILTIN_TYPES, RuleSet
from profiles.rules.catalogue import RulesError, unknown
from profiles.rules.compiled import compile_node
from profiles.rules.conditions import parse_condition
from profiles.timeutil import rfc3339
from streams.errors import CommandError, NotFound
from streams.insight.scan import EVERYONE, Predicate, Scanned, Scanner
from streams.ops.progress import ProgressLine


def check_audiences(names: Sequence[str], rules: RuleSet) -> list[str]:
    """The audiences asked for, each once, each a segment of the rules or ``all``."""
    known = [s.name for s in rules.segments]
    for name in names:
        if name != EVERYONE and name not in known:
            raise NotFound(unknown("segment", name, [*known, EVERYONE]))
    if not names:
        raise CommandError("name at least one audience (a segment, or 'all')")
    if len(set(names)) != len(names):
        raise CommandError("each audience once: " + ", ".join(names))
    return list(names)


def parse_where(text: str | None, rules: RuleSet) -> tuple[Predicate | None, Any]:
    """``where``: YAML or JSON, a condition over the built-in and the rules' tags checked as a
    segment's ``where`` is (docs/rules.md); None for none. The predicate and the parsed spec."""
    if text is None or not text.strip():
        return None, None
    try:
        spec = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "cannot be read"
        raise CommandError(f"where: not YAML or JSON: {first}") from None
    try:
        node = parse_condition(spec, {**BUILTIN_TYPES, **rules.types}, where="where")
    except RulesError as exc:
        raise CommandError(str(exc)) from None
    return compile_node(node), spec


def notes(scans: Sequence[Scanned]) -> list[str]:
    """What the scans met that a reader should know."""
    out = []
    for s in scans:
        name, missing = s.tally.name, s.listed - s.tally.users - s.unreadable - s.filtered
        if s.filtered:
            out.append(f"{name}: {s.filtered:,} of {s.listed:,} members left out by where")
        if s.unreadable:
            out.append(f"{name}: {s.unreadable:,} stored states did not decode (skipped)")
        if missing > 0:
            out.append(f"{name}: {missing:,} members had no stored profile (erased meanwhile)")
    return out


async def scan_audiences(
    redis: Redis,
    namespace: str,
    model: ProfileModel,
    rules: RuleSet,
    names: Sequence[str],
    as_of_ms: int,
    where: Predicate | None,
    progress: Callable[[str, int, int], ProgressLine],
) -> list[Scanned]:
    """Each audience in turn (``progress(name, i, n)`` gives its progress line)."""
    scanner = Scanner(redis, namespace, model, rules, as_of_ms, where)
    out = []
    for i, name in enumerate(names, 1):
        line = progress(name, i, len(names))
        scanned = await scanner.scan(name, line)
        line.finish(f"{scanned.tally.users:,} profiles of {name}")
        out.append(scanned)
    return out


def report(scans: Sequence[Scanned], as_of_ms: int, where: Any) -> dict[str, Any]:
    """The report document (profiles/insight/report.py) of the scanned audiences."""
    as_of = rfc3339(as_of_ms) or str(as_of_ms)
    return compare([s.tally for s in scans], as_of=as_of, where=where, notes=notes(scans))
