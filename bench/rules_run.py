"""The business rules a benchmark's worker runs with, and what they cost (issue 12).

``--rules`` of bench.throughput and bench.hotpath names them:

* ``default``: the shipped default pack (profiles/rules/default.yaml: 4 tags, 5 segments);
* ``none``: an empty rules file (``tags: []``, ``segments: []``): the worker evaluates nothing;
* ``pack``: bench/rules_pack.py's 50 rule tags + 20 segments, generated into the run's directory;
* any other value: a rules file of your own (checked first: a bad one is a one-line error).

A worker reads them from ``PORTRAIT_RULES`` (streams/settings/rules.py). ``--compare-rules``
runs the worker twice over the same topic, once with ``none`` and once with the rules, and
needs the consumer group rewound in between (:func:`rewind_group`). What the rules produced is
counted here too: ``profile.changes`` on the broker, transitions from the worker's metrics.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import OffsetAndMetadata, TopicPartition

from bench.rules_pack import EMPTY, pack_yaml
from profiles.rules import RulesError, RuleSet, default_rules, load_rules_file

CHOICES: Final = ("none", "default", "pack")
PACK_TAGS, PACK_SEGMENTS = 50, 20


@dataclass(frozen=True, slots=True)
class Rules:
    """What a run evaluates: ``path`` for PORTRAIT_RULES (None: the default pack)."""

    choice: str
    path: Path | None
    rules: RuleSet

    def describe(self) -> dict[str, Any]:
        return {
            "rules": self.choice,
            "file": None if self.path is None else str(self.path),
            "version": self.rules.version,
            "tags": len(self.rules.tags),
            "segments": len(self.rules.segments),
            "inputs": len(self.rules.inputs),
        }


def resolve(choice: str, workdir: Path) -> Rules:
    """The rules ``choice`` names, written into ``workdir`` when generated; SystemExit (one
    line) when a file of one's own cannot be read or is wrong."""
    if choice == "default":
        return Rules(choice, None, default_rules())
    if choice in ("none", "pack"):
        path = workdir / f"rules-{choice}.yaml"
        path.write_text(EMPTY if choice == "none" else pack_yaml(PACK_TAGS, PACK_SEGMENTS))
    else:
        path = Path(choice)
    try:
        return Rules(choice, path.resolve(), load_rules_file(path))
    except RulesError as exc:
        raise SystemExit(f"--rules: {exc}") from None
    except OSError as exc:
        raise SystemExit(f"--rules: cannot read {choice}: {exc.strerror}") from None


async def end_offsets_total(bootstrap: str, topic: str) -> int:
    """Messages ever written to ``topic`` (the sum of its end offsets; 0 if it does not exist):
    the ``profile.changes`` count, read from the broker rather than from the worker."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        if topic not in await consumer.topics():  # also refreshes the metadata
            return 0
        found = consumer.partitions_for_topic(topic)
        if not found:
            return 0
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in found])
        return int(sum(ends.values()))
    finally:
        await consumer.stop()


@dataclass(slots=True)
class ChangeCounts:
    """The ``profile.changes`` topic read whole: its messages, and the distinct ``change_id`` s
    by kind (segment, tag) and by cause (event, time, rules, manual)."""

    messages: int = 0
    distinct: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    causes: dict[str, int] = field(default_factory=dict)

    def add(self, value: bytes, seen: set[str]) -> None:
        self.messages += 1
        message = orjson.loads(value)
        if message["change_id"] in seen:
            return
        seen.add(message["change_id"])
        self.distinct += 1
        kind = "segment" if "segment" in message else "tag"
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        cause = str(message.get("cause"))
        self.causes[cause] = self.causes.get(cause, 0) + 1


async def read_changes(bootstrap: str, topic: str, timeout_s: float = 300.0) -> ChangeCounts:
    """Every message of ``topic`` up to its end offsets now, counted (:class:`ChangeCounts`)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    counts, seen = ChangeCounts(), set[str]()
    try:
        if topic not in await consumer.topics():
            return counts
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        await consumer.seek_to_beginning(*tps)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            if loop.time() > deadline:
                raise TimeoutError(f"reading {topic}: not at its end after {timeout_s:.0f} s")
            batch = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for tp, records in batch.items():
                for r in records:
                    if r.offset < ends[tp] and r.value is not None:
                        counts.add(r.value, seen)
    finally:
        await consumer.stop()
    return counts


async def rewind_group(
    bootstrap: str, group: str, topic: str, partitions: int, timeout_s: float = 120.0
) -> None:
    """Commit offset 0 on every partition for ``group``, so that the next worker in that group
    reads the whole topic again (the second run of ``--compare-rules``). The consumer joins
    the group first: a broker may refuse a commit from outside it (Tansu does)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=1,
    )
    await consumer.start()
    try:
        consumer.subscribe([topic])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while len(consumer.assignment()) < partitions:
            if loop.time() > deadline:
                raise TimeoutError(f"rewinding {group}: no assignment after {timeout_s:.0f} s")
            await consumer.getmany(timeout_ms=200)
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        await consumer.commit({tp: OffsetAndMetadata(0, "") for tp in tps})
    finally:
        await consumer.stop()


def per_thousand(count: float, events: int) -> float:
    return round(1000 * count / events, 2) if events else 0.0


def settle_changes(bootstrap: str, topic: str, quiet_s: float = 1.5, max_s: float = 15.0) -> int:
    """The ``profile.changes`` count once the worker has published the last batch's outbox
    (unchanged for ``quiet_s``, at most ``max_s``)."""
    deadline = time.monotonic() + max_s
    count, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now = asyncio.run(end_offsets_total(bootstrap, topic))
        if now != count:
            count, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            break
        time.sleep(0.3)
    return count


def rules_dict(
    rules: Rules, samples: dict[str, float], changes: ChangeCounts, total: int
) -> dict[str, Any]:
    """The rules the worker ran and what they produced, per 1000 events: ``profile.changes``
    as read on the broker (distinct, by kind and cause; ``repeated``: published twice), and
    the users that time alone re-evaluated (from the worker's metrics)."""
    due = samples.get("portrait_rules_due_users_total", 0.0)
    return {
        **rules.describe(),
        "changes_published": changes.messages,
        "changes_repeated": changes.messages - changes.distinct,
        "changes_by_kind": dict(sorted(changes.kinds.items())),
        "changes_by_cause": dict(sorted(changes.causes.items())),
        "changes_per_1000_events": per_thousand(changes.distinct, total),
        "segment_transitions_per_1000_events": per_thousand(changes.kinds.get("segment", 0), total),
        "tag_changes_per_1000_events": per_thousand(changes.kinds.get("tag", 0), total),
        "by_event_per_1000_events": per_thousand(changes.causes.get("event", 0), total),
        "by_time_per_1000_events": per_thousand(changes.causes.get("time", 0), total),
        "due_users_per_1000_events": per_thousand(due, total),
    }


def compare(result: dict[str, Any]) -> dict[str, Any] | None:
    """Both ratios against the one ceiling, and how much slower the rules make the worker."""
    ceiling = result.get("ceiling", {}).get("per_s")
    plain, ruled = result.get("worker_no_rules"), result["worker"]
    if plain is None or not ruled["per_s"]:
        return None
    return {
        "ratio_no_rules": round(plain["per_s"] / ceiling, 3) if ceiling else None,
        "ratio_rules": round(ruled["per_s"] / ceiling, 3) if ceiling else None,
        "slowdown": round(plain["per_s"] / ruled["per_s"], 3),
        "cpu_us_per_event_no_rules": _cpu_us(plain),
        "cpu_us_per_event_rules": _cpu_us(ruled),
    }


def _cpu_us(w: dict[str, Any]) -> float | None:
    cpu = w.get("cpu_seconds")
    return round(1e6 * cpu / w["events"], 1) if cpu and w["events"] else None


def rules_lines(result: dict[str, Any]) -> list[str]:
    """What each worker evaluated and produced; with ``--compare-rules``, the two ratios."""
    lines = []
    for name, key in (("worker/none", "worker_no_rules"), ("worker", "worker")):
        w = result.get(key)
        if w is None or "rules" not in w:
            continue
        r = w["rules"]
        lines.append(
            f"{name}: rules {r['rules']} ({r['tags']} tags, {r['segments']} segments, "
            f"{r['inputs']} inputs, version {r['version']}): per 1000 events "
            f"{r['changes_per_1000_events']} profile.changes "
            f"({r['segment_transitions_per_1000_events']} segment, "
            f"{r['tag_changes_per_1000_events']} tag; {r['by_event_per_1000_events']} by "
            f"event, {r['by_time_per_1000_events']} by time), "
            f"{r['due_users_per_1000_events']} users re-evaluated by time; "
            f"{r['changes_repeated']} messages repeated"
        )
    c = result.get("rules_compare")
    if c is not None:
        lines.append(
            f"RULES ratio worker/ceiling {_ratio(c['ratio_no_rules'])} without -> "
            f"{_ratio(c['ratio_rules'])} with ({c['slowdown']:.2f}x slower; CPU "
            f"{c['cpu_us_per_event_no_rules']} -> {c['cpu_us_per_event_rules']} us/event)"
        )
    return lines


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
