"""Did an experiment's user convert (or come back) after exposure? Measured alike for every arm.

The feedback a delivery service sends (clicked, converted) exists only for users who were sent
something; the holdout gets nothing, so its outcome can only come from what the user did. Each
arm is therefore judged on the profile, the same way:

- ``converted``: an order after exposure, on the exposure day or on one of the ``window_days``
  UTC days after it;
- ``recalled``: any behaviour event in that span.

The profile keeps per-day counts (180 days), not times, so the scheduler records the count the
exposure day had at exposure (:func:`baseline`); an order that day counts when the day's count
grew past it. A user's window closes at the end of day ``exposure day + window_days``; the
report counts a user's outcome only once the window has closed (the users whose window is still
open are shown apart), so that early and late exposures are judged over the same span.

An event that happened before exposure but reached the profile after it counts as an outcome:
the assignment is random, so such events fall on every arm alike and the uplift keeps no bias.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from profiles.state import State
from profiles.timeutil import DAY_MS
from triggers.config import Metric

SEPARATOR: Final = "|"


@dataclass(frozen=True, slots=True)
class Exposure:
    """A user's recorded arm: ``arm|exposed_ms|baseline`` in the user's experiment hash."""

    arm: str
    at: int  # epoch ms of the first time a trigger of the experiment held for the user
    baseline: int  # the exposure day's orders (converted) or events (recalled) at exposure

    def encode(self) -> str:
        return f"{self.arm}{SEPARATOR}{self.at}{SEPARATOR}{self.baseline}"

    @classmethod
    def decode(cls, raw: str) -> Exposure:
        arm, at, base = ([*raw.split(SEPARATOR), "0", "0"])[:3]
        return cls(arm, int(at or 0), int(base or 0))


def recorded_arms(fields: Mapping[str, str]) -> dict[str, Exposure]:
    """The arms of a user's experiment hash (``experiment -> arm|exposed_ms|baseline``), its
    counts (``experiment|...``) left out."""
    return {k: Exposure.decode(v) for k, v in fields.items() if SEPARATOR not in k}


def _count(state: State, metric: Metric, day: int) -> int:
    return state.orders_on(day) if metric == "converted" else state.events_on(day)


def baseline(state: State | None, metric: Metric, at_ms: int) -> int:
    """The exposure day's count as of now (0 without a profile)."""
    return 0 if state is None else _count(state, metric, at_ms // DAY_MS)


def window_end(exposed_ms: int, window_days: int) -> int:
    """The first moment after the user's outcome window (the end of its last UTC day)."""
    return (exposed_ms // DAY_MS + window_days + 1) * DAY_MS


def outcome(state: State | None, metric: Metric, exposure: Exposure, window_days: int) -> bool:
    """True when the user converted (or came back) within the window after exposure."""
    if state is None:
        return False
    first = exposure.at // DAY_MS
    if _count(state, metric, first) > exposure.baseline:
        return True
    return any(_count(state, metric, day) for day in range(first + 1, first + window_days + 1))
