"""The business rules a benchmark's worker runs with, and what they cost (issue 12).

``--rules`` of bench.throughput and bench.hotpath names them:

* ``default``: the shipped default pack (profiles/rules/default.yaml: 4 tags, 5 segments);
* ``none``: an empty rules file (``tags: []``, ``segments: []``): the worker evaluates nothing;
* ``pack``: bench/rules_pack.py's 50 rule tags + 20 segments, generated into the run's directory;
* any other value: a rules file of your own (checked first: a bad one is a one-line error).

A worker reads them from ``PORTRAIT_RULES`` (streams/settings/rules.py). ``--compare-rules``
runs the worker twice over the same topic, once with ``none`` and once with the rules, and
needs the consumer group rewound in between (:func:`rewind_group`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

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
