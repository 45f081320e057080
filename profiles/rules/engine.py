"""The business rules applied to one user's state (pure; docs/rules.md, "Segments in the stream").

:meth:`RulesEngine.apply` evaluates the rules as of a moment, compares the outcome with the last
evaluation kept in the state (:class:`~profiles.state.RuleState`), records the new one and
returns the :class:`Transition` s: a segment entered or exited, a rule tag whose value changed.

Time only moves forward for the rules: an evaluation is never earlier than the last one (a late
event is evaluated as of the last evaluation), so a transition is never undone by a
re-evaluation of the past. Between events, time alone can flip a rule (30 days without a
purchase): :meth:`RulesEngine.due` is the next moment at which a built-in tag the rules read can
move with the clock (profiles/rules/timing.py), where the worker evaluates the user again
(:meth:`RulesEngine.catch_up`).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

import orjson
import xxhash

from profiles.model import ProfileModel
from profiles.rules.inputs import read_inputs
from profiles.rules.ruleset import RuleSet
from profiles.rules.timing import candidate_moments, needs
from profiles.state import RuleState, State
from profiles.timeutil import DAY_MS, rfc3339

SEGMENT: Final = "segment"
TAG: Final = "tag"
# How far past the last input a time flip is looked for: every window and day mark lies within.
HORIZON_DAYS: Final = 800
# Evaluations one catch-up may spend on a user before it re-schedules the rest.
MAX_EVALUATIONS: Final = 32


@dataclass(frozen=True, slots=True)
class Transition:
    """One change of one user's membership or rule tag (one ``profile.changes`` message)."""

    user_id: str
    kind: str  # SEGMENT or TAG
    name: str
    old: Any  # a segment: was a member; a tag: its value (None: none)
    new: Any
    at: int  # epoch ms: the moment the rules first held the new value
    rules_version: str
    cause: str
    published: bool = True  # on profile.changes (see RulesEngine._record); always recorded

    @property
    def change(self) -> str:
        if self.kind == SEGMENT:
            return "entered" if self.new else "exited"
        return "changed"

    @property
    def change_id(self) -> str:
        """The same transition gets the same id however often it is computed (a retry, a
        replay, a second owner during a rebalance): consumers drop repeats by it. The rules
        version is left out: a new version that leads to the same change is the same change."""
        key = orjson.dumps([self.user_id, self.kind, self.name, self.old, self.new, self.at])
        return xxhash.xxh3_128_hexdigest(key)

    def message(self) -> dict[str, Any]:
        """The ``profile.changes`` message (docs/rules.md, "profile.changes")."""
        out: dict[str, Any] = {"change_id": self.change_id, "user_id": self.user_id}
        out[self.kind] = self.name
        out["change"] = self.change
        if self.kind == TAG:
            out["from"], out["to"] = self.old, self.new
        out.update(
            at=rfc3339(self.at), at_ms=self.at, rules_version=self.rules_version, cause=self.cause
        )
        return out


@dataclass(frozen=True, slots=True)
class Outcome:
    values: dict[str, Any]  # rule tag -> value, nulls left out
    members: list[str]  # sorted


class RulesEngine:
    def __init__(self, model: ProfileModel, rules: RuleSet) -> None:
        self.model = model
        self.rules = rules
        self.version = rules.version
        self._inputs = rules.inputs
        self._names = frozenset(t.name for t in rules.tags) | {s.name for s in rules.segments}
        # whether the clock alone can move what the rules read (timing.py knows the families);
        # rules over lifetime totals and declared attributes never fall due
        config = model.config
        moving = needs(rules.inputs, rules.day_marks, config.rfm, config.layers).moves
        self._timed = moving or bool(rules.daily)
        # model tags that give a probability: a score that moves with nearly every event, so
        # its changes are recorded, not published (a label output or a segment on a threshold
        # of it is what consumers hear about)
        self._scores = frozenset(
            t.name for t in rules.tags if t.model is not None and t.model.output == "probability"
        )

    def _values(self, state: State, at_ms: int) -> tuple[dict[str, Any], list[str]]:
        return self.rules.evaluate(read_inputs(self.model, state, at_ms, self._inputs))

    def evaluate(self, state: State, at_ms: int) -> Outcome:
        values, members = self._values(state, at_ms)
        return Outcome({k: v for k, v in values.items() if v is not None}, sorted(members))

    def view(self, state: State, as_of_ms: int) -> dict[str, Any]:
        """What ``portrait profile get`` adds: every rule tag (nulls too) and the segments as
        of ``as_of_ms``, the change times the stream recorded, and the rules version."""
        values, members = self._values(state, as_of_ms)
        since = state.rules.since

        def changed(name: str) -> str | None:
            at = since.get(name)
            return None if at is None else rfc3339(at * 1000)

        return {
            "tags": {t.name: values.get(t.name) for t in self.rules.tags},
            "changed_at": {t.name: changed(t.name) for t in self.rules.tags},
            "segments": sorted(members),
            "segments_since": {name: changed(name) for name in sorted(members)},
            "rules_version": self.version,
        }

    def moment(self, state: State) -> int:
        """When a batch evaluates the user: its newest event, or the last evaluation if later
        (time only moves forward), or the latest manual tag if later still."""
        rules = state.rules
        at = max(state.newest, rules.at)
        for _, set_at in rules.manual.values():
            at = max(at, int(set_at))
        return at

    def apply(self, user_id: str, state: State, at_ms: int, cause: str) -> list[Transition]:
        """Evaluate as of ``at_ms`` (not before the last evaluation), record, and return what
        changed. A user never evaluated before starts from no tags and no segments."""
        at_ms = max(at_ms, state.rules.at)
        return self._record(user_id, state, self.evaluate(state, at_ms), at_ms, cause)

    def _record(
        self, user_id: str, state: State, new: Outcome, at_ms: int, cause: str
    ) -> list[Transition]:
        old = state.rules
        version = self.version
        if old.version == version and _same(old, new):
            old.at = at_ms  # the usual batch: nothing changed, only the moment moves
            return []
        if old.version and old.version != version and cause != "time":
            cause = "rules"
        out: list[Transition] = []
        before, after = set(old.members), set(new.members)
        for name in sorted(before ^ after):
            joined = name in after
            out.append(
                Transition(user_id, SEGMENT, name, not joined, joined, at_ms, version, cause)
            )
        for name in sorted(old.values.keys() | new.values.keys()):
            was, now = old.values.get(name), new.values.get(name)
            if was != now or type(was) is not type(now):
                shown = name not in self._scores and not (_untagged(was) and _untagged(now))
                out.append(Transition(user_id, TAG, name, was, now, at_ms, version, cause, shown))
        since = old.since
        if out or (old.version != version and since):
            # change times of the names the rules still define (a removed rule's go)
            since = {n: t for n, t in since.items() if n in self._names}
            since.update((t.name, at_ms // 1000) for t in out if t.name in self._names)
        state.rules = RuleState(
            version, at_ms, new.values, new.members, since, old.manual, old.due, old.quiet
        )
        return out

    def due(self, state: State, after_ms: int) -> int:
        """The next moment after ``after_ms`` at which time alone may flip a rule (0: never)."""
        if not self._timed:
            return 0
        return next(iter(self._moments(state, after_ms)), 0)

    def _moments(self, state: State, after_ms: int) -> Iterator[int]:
        until = max(state.newest, after_ms) + HORIZON_DAYS * DAY_MS
        rules = self.rules
        found = candidate_moments(self.model, state, after_ms, until, rules.day_marks, rules.inputs)
        if not rules.daily:
            return found
        # a model tag fed a day count moves every whole day after its anchor: every such moment
        return _unique(heapq.merge(found, *_daily(state, after_ms, until)))

    def catch_up(self, user_id: str, state: State, now_ms: int) -> list[Transition]:
        """Evaluate the user at each moment time could flip a rule, from its last evaluation up
        to ``now_ms``: the transitions at the moments they happened. Sets the next due moment
        (a user with more such moments than :data:`MAX_EVALUATIONS` continues next round)."""
        rules = state.rules
        if rules.version != self.version:  # new rules apply from now
            out = self.apply(user_id, state, now_ms, "rules")
            state.rules.due = self.due(state, state.rules.at)
            return out
        out = []
        for spent, moment in enumerate(self._moments(state, rules.at)):
            if moment > now_ms or spent >= MAX_EVALUATIONS:
                state.rules.due = moment
                return out
            new = self.evaluate(state, moment)
            current = state.rules
            if new.members != current.members or new.values != current.values:
                out.extend(self._record(user_id, state, new, moment, "time"))
            else:
                current.at = moment
        state.rules.due = 0
        return out


def _same(old: RuleState, new: Outcome) -> bool:
    """Whether ``new`` is the outcome ``old`` holds, value types included (``_record`` tells
    a tag's ``1`` from its ``1.0`` or ``True``)."""
    if old.members != new.members or old.values != new.values:
        return False
    values = old.values
    return all(type(v) is type(values[k]) for k, v in new.values.items())


def _untagged(value: Any) -> bool:
    """No value, or a bool tag's false: "not tagged", for publication (a new user's
    ``None -> False`` of every bool tag is not news)."""
    return value is None or value is False


def _daily(state: State, after_ms: int, until_ms: int) -> list[Iterator[int]]:
    """Each recency anchor's whole-day moments in ``(after_ms, until_ms]``."""
    out = []
    times = state.recency
    for anchor in (times.first, times.last, times.purchase):
        if anchor is not None:
            k = max(1, (after_ms - anchor) // DAY_MS + 1)
            out.append(iter(range(anchor + k * DAY_MS, until_ms + 1, DAY_MS)))
    return out


def _unique(moments: Iterator[int]) -> Iterator[int]:
    last = None
    for moment in moments:
        if moment != last:
            yield moment
            last = moment
