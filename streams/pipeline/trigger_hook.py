"""Where the event worker hands each user's settled batch to the trigger rules.

The rules are pure (triggers/rules.py); this hook gathers their operations per batch and writes
them, before the batch's profile writes, in one pipelined round trip. A batch read again after a
crash yields the same operations, so writing them first loses nothing and doubles nothing.
It also notes, for the recall tracker, the users it watches who came back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import replace
from typing import Any, Protocol

from profiles.model import State
from streams.store.triggers import TriggerStore
from triggers.model import Op, Schedule
from triggers.rules import Before, TriggerRules


class ReturnWatch(Protocol):
    """The recall tracker (streams/feedback/recall.py): which users to look out for, and recording
    their return."""

    def watching(self, user_id: str) -> bool: ...

    async def returned(self, visits: Sequence[tuple[str, int]]) -> list[tuple[str, str]]: ...


class TriggerHook:
    def __init__(
        self, rules: TriggerRules, store: TriggerStore, recall: ReturnWatch | None = None
    ) -> None:
        self.rules = rules
        self.store = store
        self.recall = recall

    @staticmethod
    def before(state: State) -> Before:
        return Before.of(state)

    def collect(
        self,
        user_id: str,
        before: Before,
        state: State,
        applied: AbstractSet[str],
        changed: Mapping[str, tuple[Any, Any]],
        now: int,
        ops: list[Op],
        visits: list[tuple[str, int]],
        source: tuple[str, int] | None = None,
    ) -> None:
        """The rules' operations for one user's settled batch; ``source`` (fence id, offset of
        the batch's last record of the user) goes on every trigger scheduled, so that the
        scheduler judges it only on a stored profile that has applied it."""
        for op in self.rules.ops(user_id, before, state, applied, changed, now):
            if source is not None and isinstance(op, Schedule):
                op = Schedule(replace(op.trigger, source=source))
            ops.append(op)
        if applied and self.recall is not None and self.recall.watching(user_id):
            visits.append((user_id, state.newest))

    async def write_ops(self, ops: Sequence[Op]) -> Counter[tuple[str, str]]:
        return await self.store.apply(ops)

    async def record_visits(self, visits: Sequence[tuple[str, int]]) -> list[tuple[str, str]]:
        return await self.recall.returned(visits) if self.recall is not None else []
