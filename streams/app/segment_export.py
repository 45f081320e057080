"""``portrait segment export NAME [--format csv|jsonl] [--tags a,b] [--out FILE]``.

The members come from the segment's Redis SET (``Keys.segment_members``), which the worker's
fenced write keeps exact, by SSCAN in chunks: a segment of millions streams in constant memory
but for the ids already written (SSCAN may return a member twice while the set is rehashed; the
export writes each once). On Redis Cluster the set is sharded by the user id: the segment store
SSCANs one shard after the other (no user is in two) and the progress's total is the sum of
their SCARDs (streams/store/segments.py). ``--tags`` reads the chunk's states (one MGET) and
writes the values as ``portrait profile get`` shows them as of ``--as-of``: the rule, model and
manual tags by the rules engine's view (profiles/rules/engine.py), the built-in ones by the
model.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import sys
from collections.abc import Sequence
from typing import Any, Final, TextIO

import orjson
from redis.asyncio import Redis

from profiles.model import ProfileModel, State
from profiles.rules import BUILTIN_TYPES, RuleSet
from profiles.rules.engine import RulesEngine
from streams.app.read import parse_as_of
from streams.app.rules_text import csv_cell, export_rows, unknown_name
from streams.connect.clients import redis_client
from streams.ops.progress import ProgressLine
from streams.settings.tree import Settings
from streams.store.profiles import ProfileStore
from streams.store.segments import SegmentStore

CHUNK: Final = 1000  # members per SSCAN call, and states per MGET


def tag_columns(text: str, rules: RuleSet) -> list[str]:
    """The ``--tags`` names, in order, each once; an unknown one is refused with the closest."""
    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    known = {t.name for t in rules.tags} | set(BUILTIN_TYPES)
    for name in names:
        if name not in known:
            raise unknown_name("tag", name, known)
    return names


def tag_values(
    engine: RulesEngine,
    state: State,
    as_of_ms: int,
    columns: Sequence[str],
    rule_tags: frozenset[str],
) -> dict[str, Any]:
    """The columns' values for one user as ``portrait profile get`` shows them as of
    ``as_of_ms``: the rule, model and manual tags from the engine's view, the built-in tags from
    the model (each side computed only when one of its tags is asked for)."""
    rules = engine.view(state, as_of_ms)["tags"] if any(c in rule_tags for c in columns) else {}
    builtin = engine.model.tags(state, as_of_ms) if any(c not in rules for c in columns) else {}
    return {c: rules[c] if c in rules else builtin.get(c) for c in columns}


class Writer:
    """csv (header ``user_id`` + the tag columns) or jsonl rows on ``out``."""

    def __init__(self, out: TextIO, fmt: str, columns: Sequence[str]) -> None:
        self.out = out
        self.csv = csv.writer(out, lineterminator="\n") if fmt == "csv" else None
        if self.csv is not None:
            self.csv.writerow(["user_id", *columns])

    def rows(self, rows: list[dict[str, Any]]) -> None:
        if self.csv is not None:
            self.csv.writerows([csv_cell(v) for v in row.values()] for row in rows)
        else:
            self.out.write("".join(orjson.dumps(row).decode() + "\n" for row in rows))


async def export(
    redis: Redis,
    settings: Settings,
    rules: RuleSet,
    name: str,
    writer: Writer,
    columns: Sequence[str],
    progress: ProgressLine,
    as_of_ms: int,
) -> int:
    """Write every member of segment ``name``; returns how many."""
    prefix = settings.topics.prefix
    segments = SegmentStore(redis, prefix)
    store = ProfileStore(redis, prefix, chunk=CHUNK)
    engine = RulesEngine(ProfileModel(settings.model), rules)
    rule_tags = frozenset(t.name for t in rules.tags)
    total = await segments.size(name)
    seen: set[str] = set()
    async for members in segments.members(name, CHUNK):
        chunk = [u for u in members if u not in seen]  # SSCAN may repeat one across chunks
        seen.update(chunk)
        values: dict[str, dict[str, Any]] = {}
        if columns and chunk:
            states = await store.load_many(chunk)
            values = {u: tag_values(engine, s, as_of_ms, columns, rule_tags)
                      for u, s in states.items()}  # fmt: skip
        writer.rows(list(export_rows(chunk, columns, values)))
        progress.update(len(seen), min(1.0, len(seen) / total) if total else 1.0)
    progress.finish(f"{len(seen):,} members of {name}")
    return len(seen)


def export_main(settings: Settings, args: argparse.Namespace) -> int:
    """0 once every member is written (to ``--out`` atomically: a partial file never stays)."""
    rules = settings.rules
    segments = [s.name for s in rules.segments]
    if args.name not in segments:
        raise unknown_name("segment", args.name, segments)
    columns = tag_columns(args.tags, rules)
    as_of_ms = parse_as_of(args.as_of)
    progress = ProgressLine(f"portrait segment export {args.name}", enabled=not args.quiet)
    if args.out is None:
        writer = Writer(sys.stdout, args.format, columns)
        asyncio.run(_run(settings, rules, args.name, writer, columns, progress, as_of_ms))
        sys.stdout.flush()
        return 0
    part = f"{args.out}.part"
    try:
        with open(part, "w", encoding="utf-8", newline="") as out:
            writer = Writer(out, args.format, columns)
            asyncio.run(_run(settings, rules, args.name, writer, columns, progress, as_of_ms))
        os.replace(part, args.out)
    finally:
        if os.path.exists(part):
            os.unlink(part)
    return 0


async def _run(
    settings: Settings,
    rules: RuleSet,
    name: str,
    writer: Writer,
    columns: Sequence[str],
    progress: ProgressLine,
    as_of_ms: int,
) -> int:
    redis = redis_client(settings, socket_connect_timeout=5, socket_timeout=30)
    try:
        return await export(redis, settings, rules, name, writer, columns, progress, as_of_ms)
    finally:
        await redis.aclose()
