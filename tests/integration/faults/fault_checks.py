"""What the fault suite sends and how it judges the result: every user's stored profile against
the pure model applied once to the same events, and the reminders published against the carts.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from profiles.model import ProfileModel, State
from tests.integration.faults.faults import Figures
from tests.integration.helpers import ev, expected_states, profile_view, traffic

HOUR = 3_600_000
Event = dict[str, Any]


def reminder_config(delay_s: int) -> dict[str, Any]:
    """Triggers with a cart reminder due ``delay_s`` after the add, sent at any hour."""
    return {
        "cart_reminder": {"delay": f"{delay_s}s"},
        "policy": {"quiet_hours": None, "min_gap": 0},
    }


@dataclass(frozen=True)
class Load:
    """The traffic of one run: ``events`` from ``users`` at ``rate`` per second, with
    ``carts`` more users each owed one cart reminder ``delay_s`` after their add."""

    users: int
    events: int
    rate: float
    carts: int = 0
    delay_s: int = 4
    seed: int = 7
    warm: int = 0  # >0: every other event comes from one of this many more users

    def messages(self, namespace: str) -> tuple[list[Event], list[str]]:
        half = self.events // 2 if self.warm else 0
        events = traffic(namespace, self.users, self.events - half, self.seed)
        if self.warm:  # users seen every few batches: cached, evicted, cached again
            often = traffic(namespace + "w", self.warm, half, self.seed + 1)
            events = [e for pair in zip(events, often, strict=False) for e in pair] + events[half:]
        now = int(time.time() * 1000)
        return with_carts(events, namespace, self.carts, now, self.rate)


def with_carts(
    events: Sequence[Event], namespace: str, carts: int, start_ms: int, rate: float
) -> tuple[list[Event], list[str]]:
    """``events`` with one add-to-cart of ``carts`` new users spread evenly through them, each
    stamped with the wall time it is planned to be sent at ``rate``: each of them is owed
    exactly one reminder."""
    users = [f"{namespace}cart{i}" for i in range(carts)]
    every = max(1, len(events) // (carts + 1))
    out: list[Event] = []
    pending = list(users)
    for i, event in enumerate(events):
        if pending and i > 0 and i % every == 0:
            ts = start_ms + int(len(out) / rate * 1000)
            out.append(ev("add_to_cart", pending.pop(), ts, item_id="i1", price=9.0))
        out.append(event)
    return out, users


def storm(events: Sequence[Event], rng: random.Random, late_share: float) -> list[Event]:
    """Every event 2 or 3 times with its own event_id, as producer retries: each copy follows
    the first within a few messages, or (``late_share`` of them) a few hundred to a few
    thousand messages later, when its user has newer events."""
    slots: list[list[Event]] = [[e] for e in events]
    last = len(events) - 1
    for i, event in enumerate(events):
        for _ in range(rng.choice((1, 2))):
            late = rng.random() < late_share
            gap = rng.randrange(300, 3000) if late else rng.randrange(0, 12)
            slots[min(i + gap, last)].append(dict(event))
    return [message for slot in slots for message in slot]


def late_copies(messages: Iterable[Event]) -> tuple[int, float]:
    """Copies sent when their user's newest event was at least an hour newer: how many, and
    the median of how much older (hours)."""
    seen: set[str] = set()
    newest: dict[str, int] = {}
    ages: list[int] = []
    for m in messages:
        user, ts = m["user_id"], m["ts"]
        if m["event_id"] in seen and newest[user] - ts >= HOUR:
            ages.append(newest[user] - ts)
        seen.add(m["event_id"])
        newest[user] = max(newest.get(user, ts), ts)
    ages.sort()
    return len(ages), (ages[len(ages) // 2] / HOUR if ages else 0.0)


def newest(events: Iterable[Event]) -> dict[str, int]:
    """Each user's newest event time: the moment their profile is viewed at (a view years
    after the events is as exact, and much slower)."""
    out: dict[str, int] = {}
    for e in events:
        out[e["user_id"]] = max(out.get(e["user_id"], e["ts"]), e["ts"])
    return out


def compare(
    figures: Figures, events: Sequence[Event], stored: dict[str, State], model: ProfileModel
) -> None:
    """Every user of ``events``: the stored profile against the model applied once to them."""
    expected = expected_states(events, model)
    as_of = newest(events)
    figures.events = len(events)
    figures.users = len(expected)
    for user, want in expected.items():
        got = stored.get(user)
        wanted: list[int] = want.totals
        counted: list[int] = got.totals if got is not None else [0] * len(wanted)
        figures.lost += sum(max(0, w - c) for w, c in zip(wanted, counted, strict=True))
        figures.doubled += sum(max(0, c - w) for w, c in zip(wanted, counted, strict=True))
        at = as_of[user]
        if got is None or profile_view(model, user, got, at) != profile_view(model, user, want, at):
            figures.differing.append(user)


def not_a_prefix(
    events: Sequence[Event], stored: dict[str, State], model: ProfileModel, users: Iterable[str]
) -> list[str]:
    """Of ``users``, those whose stored profile is not the model applied once to the first k of
    their events (k = the events it counts): a lost write may cost a user's latest events, but
    must never leave a profile that no prefix of the stream explains."""
    by_user: dict[str, list[Event]] = {}
    for e in events:
        by_user.setdefault(e["user_id"], []).append(e)
    as_of = newest(events)
    wrong = []
    for user in users:
        got = stored.get(user)
        k = sum(got.totals) if got is not None else 0
        if got is None or k == 0:
            continue  # nothing stored: the empty prefix
        want = expected_states(by_user[user][:k], model)[user]
        at = as_of[user]
        if profile_view(model, user, got, at) != profile_view(model, user, want, at):
            wrong.append(user)
    return wrong


def count_reminders(figures: Figures, users: Sequence[str], messages: Sequence[Event]) -> None:
    """One cart reminder is owed to each of ``users``: the ones never sent are lost; every other
    message (a trigger_id twice, two ids for one cart, a user owed none) is doubled."""
    reminders = [m for m in messages if m["kind"] == "cart_reminder"]
    reminded = {m["user_id"] for m in reminders} & set(users)
    figures.reminders = len(users)
    figures.reminders_lost = len(users) - len(reminded)
    figures.reminders_doubled = len(reminders) - len(reminded)
    ids = {m["trigger_id"] for m in reminders}
    figures.notes.append(f"{len(reminders)} reminders, {len(ids)} trigger ids")
    others = len(messages) - len(reminders)
    if others:
        figures.notes.append(f"{others} other trigger messages")
