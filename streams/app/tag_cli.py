"""``portrait tag set NAME VALUE --users FILE [--actor WHO] [--at TIME]``: batch manual tagging.

One tag event per user (docs/events.md, "Tag events") goes to the events topic, keyed by the
user id as every event is, so the worker that owns the user applies it in order with the
user's behaviour and its fenced write makes the effect exactly once. The event ids are
deterministic per (tag, value, user, request) and the request is the command's time (``--at``):
a retry of one run with the same ``--at`` sends the same ids, which the worker's dedupe drops,
and a later run applies again. Setting a tag to the value it holds changes nothing, so the
command is idempotent in effect. Each run is audited in the ``rules_audit`` stream once every
event is acknowledged.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
import time
from collections.abc import Sequence
from typing import Any, Final

import orjson
from aiokafka import AIOKafkaProducer

from profiles.events import (
    ANON_PREFIX,
    DEFAULT_BOUNDS,
    Rejected,
    TimeBounds,
    from_dict,
    parse_ts,
    tag_value,
)
from profiles.names import TAG_EVENT
from profiles.rules import RuleSet, TagRule
from profiles.timeutil import rfc3339
from streams.app.read import parse_as_of
from streams.app.rules_text import (
    file_sha256,
    parse_scalar,
    read_user_ids,
    show_value,
    tag_event_id,
    unknown_name,
)
from streams.connect.clients import kafka_options, redis_client
from streams.errors import CommandError, started
from streams.names import TOPIC_EVENTS, Keys
from streams.ops.progress import ProgressLine
from streams.settings.tree import Settings

NAME: Final = "portrait tag set"
CHUNK: Final = 5000  # events in flight before waiting for their acknowledgements


def manual_value(rules: RuleSet, name: str, text: str) -> Any:
    """The value to set: ``name`` must be a manual tag of the rules, and the value one it
    allows (when it lists some) and a scalar a tag event carries."""
    rule = rules.find(name)
    if not isinstance(rule, TagRule):
        raise unknown_name("manual tag", name, rules.manual)
    if rule.source != "manual":
        raise CommandError(
            f"{name!r} is a {rule.source} tag: its {rule.source} sets it, not a person"
            f" (manual tags: {', '.join(sorted(rules.manual)) or 'none'})"
        )
    value = parse_scalar(text)
    try:
        tag_value(value)
    except Rejected as exc:
        raise CommandError(f"value {text!r}: {exc.detail}") from None
    if rule.values is not None and value is not None and not _allowed(value, rule.values):
        allowed = ", ".join(show_value(v) for v in rule.values)
        raise CommandError(f"{name} takes one of {allowed} (or null to clear), not {text!r}")
    return value


def _allowed(value: Any, values: tuple[Any, ...]) -> bool:
    """``value`` is one of ``values``; true is not 1 (Python's ``in`` says it is)."""
    return any(v == value and isinstance(v, bool) == isinstance(value, bool) for v in values)


def tag_events(
    name: str,
    value: Any,
    users: Sequence[str],
    at_ms: int,
    source: str,
    bounds: TimeBounds = DEFAULT_BOUNDS,
) -> list[tuple[bytes, dict[str, Any]]]:
    """(key, event) per user, each checked by the decoder the worker runs, with its time bounds
    (a bad user id or time fails the whole command before anything is sent)."""
    try:
        parse_ts(at_ms, bounds)
        bounds.check_lead(at_ms, int(time.time() * 1000))
    except Rejected as exc:
        raise CommandError(f"--at: {exc.detail}") from None
    request = str(at_ms)
    out = []
    for user in users:
        who = {"anonymous_id": user[len(ANON_PREFIX) :]} if user.startswith(ANON_PREFIX) else {}
        event = {
            "event_id": tag_event_id(name, value, user, request),
            "type": TAG_EVENT,
            **(who or {"user_id": user}),
            "ts": at_ms,
            "properties": {"tag": name, "value": value},
        }
        try:
            decoded = from_dict(event, bounds)
        except Rejected as exc:
            raise CommandError(f"{source}: user id {user[:60]!r}: {exc.detail}") from None
        key = decoded.user_id[len(ANON_PREFIX) :] if who else decoded.user_id
        out.append((key.encode(), event))
    return out


async def send(
    settings: Settings, events: Sequence[tuple[bytes, dict[str, Any]]], progress: ProgressLine
) -> int:
    """Produce the events (acks=all) and wait for every acknowledgement."""
    topic = settings.topic(TOPIC_EVENTS)
    producer = AIOKafkaProducer(**kafka_options(settings), acks="all", linger_ms=5)
    await started(producer)
    try:
        metadata = await producer.client.fetch_all_metadata()
        if topic not in metadata.topics():
            raise CommandError(f"topic {topic} does not exist: start the worker first")
        sent = 0
        for start in range(0, len(events), CHUNK):
            futures = [
                await producer.send(topic, orjson.dumps(event), key=key)
                for key, event in events[start : start + CHUNK]
            ]
            await asyncio.gather(*futures)
            sent += len(futures)
            progress.update(sent, sent / len(events))
        return sent
    finally:
        await producer.stop()


async def audit(settings: Settings, entry: dict[str, str]) -> None:
    redis = redis_client(settings, socket_connect_timeout=5, socket_timeout=30)
    try:
        await redis.xadd(Keys(settings.topics.prefix).rules_audit, entry)  # type: ignore[arg-type]
    finally:
        await redis.aclose()


def _actor(given: str | None) -> str:
    if given:
        return given
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name (a container without a passwd entry)
        return "unknown"


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as f:
        return f.read()


def tag_set_main(settings: Settings, args: argparse.Namespace) -> int:
    """0 once every event is acknowledged and the run audited; the summary on stdout."""
    value = manual_value(settings.rules, args.name, args.value)
    data = _read(args.users)
    source = "stdin" if args.users == "-" else args.users
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CommandError(f"{source}: not UTF-8 text (one user id a line)") from None
    users, blank, duplicates = read_user_ids(text.splitlines(), source)
    at_ms = parse_as_of(args.at)
    events = tag_events(args.name, value, users, at_ms, source, settings.model.time_bounds)
    progress = ProgressLine(NAME, enabled=not args.quiet)
    sent = asyncio.run(send(settings, events, progress)) if events else 0
    progress.finish(f"{sent:,} tag events")
    entry = {
        "op": "tag_set", "tag": args.name, "value": show_value(value), "users": str(sent),
        "actor": _actor(args.actor), "at": rfc3339(at_ms), "request": str(at_ms),
        "file": source, "file_sha256": file_sha256(data),
    }  # fmt: skip
    asyncio.run(audit(settings, entry))
    print(
        f"{NAME}: {args.name}={show_value(value)} for {sent:,} users"
        f" ({duplicates} duplicate, {blank} blank lines ignored); --at {at_ms} repeats this run"
        " without applying it twice"
    )
    return 0
