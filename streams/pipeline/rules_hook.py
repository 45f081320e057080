"""The business rules in the worker's batch (docs/rules.md, "Segments in the stream").

After a user's events are applied and settled, :meth:`RulesHook.collect` evaluates the rules as
of the user's newest event, records the outcome in the state, and returns what the fenced write
must change with it: the segment member sets, the ``profile.changes`` messages for the outbox,
and the user's next due moment (when time alone may flip a rule). A replayed batch records
its transitions without publishing them (``quiet``), unless the replay asked for them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import orjson
from aiokafka.partitioner import DefaultPartitioner

from profiles.events import ANON_PREFIX
from profiles.rules.engine import SEGMENT, RulesEngine, Transition
from profiles.state import State
from streams.store.profiles import RulesDelta


class RulesHook:
    def __init__(self, engine: RulesEngine) -> None:
        self.engine = engine

    def collect(
        self,
        user_id: str,
        state: State,
        quiet_until: int | None,
        out: list[Transition],
        cause: str = "event",
    ) -> RulesDelta | None:
        """Evaluate after a batch; the delta to write (None: nothing but the state changes).
        ``quiet_until``: a replay's wall-clock time (its transitions up to then stay quiet)."""
        engine = self.engine
        old_due = state.rules.due
        transitions = engine.apply(user_id, state, engine.moment(state), cause)
        rules = state.rules
        if quiet_until is not None and quiet_until > rules.quiet:
            rules.quiet = quiet_until
        rules.due = engine.due(state, rules.at)
        out.extend(transitions)
        if not transitions and rules.due == old_due:
            return None
        return delta(transitions, rules.quiet, rules.due)


def delta(transitions: Sequence[Transition], quiet: int, due: int) -> RulesDelta:
    """The write's side effects of ``transitions`` (those at or before ``quiet``, and those not
    for publication, recorded only)."""
    added = tuple(t.name for t in transitions if t.kind == SEGMENT and t.new)
    removed = tuple(t.name for t in transitions if t.kind == SEGMENT and not t.new)
    messages = tuple(orjson.dumps(t.message()) for t in transitions if t.published and t.at > quiet)
    return RulesDelta(added, removed, messages, due)


def partitioner(partitions: int) -> Callable[[str], int]:
    """The partition of the events topic a user's events go to (Kafka's default partitioner
    on the key, the user id without the anonymous prefix: docs/events.md): where a replay
    puts the user's rule entries, so that the owner of that partition keeps them."""

    every = list(range(partitions))
    choose = DefaultPartitioner()  # the producer's own: the same partition, by construction

    def home(user_id: str) -> int:
        return int(choose(user_id.removeprefix(ANON_PREFIX).encode(), every, every))

    return home
