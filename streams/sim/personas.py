"""Deterministic synthetic traffic from user personas (pure: no Kafka, Redis or asyncio).

Each user has a persona, a time zone, a device and favourite categories and brands. Session
starts are a non-homogeneous Poisson process (sampled by thinning) whose rate follows the local
hour of the user's time zone. A session is generated whole when its start time is reached
(:mod:`streams.sim.sessions`) and its events are released as the stream passes them. One seeded
``random.Random`` drives it all and sessions are generated in (start time, user) order, so the
stream does not depend on how it is cut into intervals: the same seed and first ``start_ms``
give the same events. :func:`malformed_event` makes the contract-breaking payloads of
dead-letter demos.
"""

from __future__ import annotations

import gc
import heapq
import random
from bisect import bisect_left
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final
from zoneinfo import ZoneInfo

import orjson

from streams.sim.catalogue import ITEMS, User, make_user
from streams.sim.sessions import Sessions, Slot

_HOUR_MS: Final = 3_600_000
_RAW_HOURS: Final = (
    0.35, 0.15, 0.08, 0.05, 0.05, 0.08, 0.2, 0.45, 0.6, 0.7, 0.75, 0.8,
    0.9, 0.85, 0.75, 0.75, 0.8, 0.9, 1.1, 1.35, 1.6, 1.6, 1.2, 0.7,
)  # fmt: skip
# Session-start intensity by local hour, mean 1: low at night, peaking in the evening.
HOUR_WEIGHTS: Final = tuple(w * 24 / sum(_RAW_HOURS) for w in _RAW_HOURS)
_W_MAX: Final = max(HOUR_WEIGHTS)
# Above this activity the pauses inside sessions shrink, so that sessions stay short next to
# the gaps between them and the event rate keeps following the activity.
_COMPRESS_ABOVE: Final = 4.0
_CHURNED_RATE: Final = 0.02  # share of its session rate a churned user keeps


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC: generation allocates millions of acyclic dicts, and collections
    triggered by them (over every live object) would otherwise cost up to half the time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@lru_cache(maxsize=65_536)
def _utc_offset_ms(tz: str, hour_epoch: int) -> int:
    offset = datetime.fromtimestamp(hour_epoch * 3600, UTC).astimezone(ZoneInfo(tz)).utcoffset()
    return 0 if offset is None else int(offset.total_seconds() * 1000)


def local_hour(tz: str, ts_ms: int) -> int:
    """Hour of day (0..23) at epoch-ms ``ts_ms`` in IANA zone ``tz``."""
    return (ts_ms + _utc_offset_ms(tz, ts_ms // _HOUR_MS)) // _HOUR_MS % 24


class TrafficModel:
    """A population of ``users`` persona-driven users and their continuous event stream.

    ``activity`` multiplies every user's session rate (1: realistic, a few sessions a day).
    """

    def __init__(self, users: int, seed: int = 42, *, activity: float = 1.0) -> None:
        if users < 1:
            raise ValueError("users must be at least 1")
        self.seed = seed
        self._rng = random.Random(seed)
        self._users = [make_user(self._rng, i) for i in range(users)]
        self._sessions = Sessions(self._rng)
        self._by_id = {u.user_id: u for u in self._users}
        self._activity = 1.0
        self.activity = activity
        self._heap: list[tuple[int, int]] = []  # (next session start, user index)
        self._pending: list[Slot] = []  # heap of generated events at or after the cursor
        self._cursor = 0

    @property
    def activity(self) -> float:
        return self._activity

    @activity.setter
    def activity(self, value: float) -> None:
        """Applies to sessions scheduled from now on."""
        if not 0 < value < float("inf"):
            raise ValueError(f"activity must be a positive number, not {value!r}")
        self._activity = value
        self._sessions.dwell_scale = min(1.0, _COMPRESS_ABOVE / value)

    @property
    def user_ids(self) -> list[str]:
        return [u.user_id for u in self._users]

    def persona_of(self, user_id: str) -> str:
        return self._by_id[user_id].persona.name

    def expected_rate(self) -> float:
        """Long-run mean events per simulated second at this activity (churners churned).

        Averaged over a day; a session's own length delays the next one, which is counted.
        """
        total = 0.0
        for user in self._users:
            p = user.persona
            rate = user.sessions_per_ms * self._activity * (_CHURNED_RATE if p.churn_after else 1)
            length = p.events_per_session * (501 + 1000 * p.dwell_s) * self._sessions.dwell_scale
            total += p.events_per_session * rate / (1 + rate * length)
        return total * 1000

    def tune(self, events_per_s: float) -> float:
        """Set ``activity`` so that :meth:`expected_rate` is about ``events_per_s``; return it."""
        if not 0 < events_per_s < float("inf"):
            raise ValueError(f"events_per_s must be a positive number, not {events_per_s!r}")
        for _ in range(6):  # the rate is nearly proportional to activity: converges fast
            self.activity *= events_per_s / self.expected_rate()
        return self.activity

    def events_between(self, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
        """Events with ``start_ms <= ts < end_ms`` by ts; consecutive calls continue the stream.

        The first call starts the users' clocks at ``start_ms``. A later ``start_ms`` past the
        previous end skips the gap; time before the previous end is not generated again.
        """
        if not self._sessions.prefix:  # not started
            self._begin(start_ms)
        elif start_ms > self._cursor:
            self._skip_to(start_ms)
        if end_ms <= self._cursor:
            return []
        with _gc_paused():
            return self._generate(end_ms)

    def _generate(self, end_ms: int) -> list[dict[str, Any]]:
        self._cursor = end_ms
        heap, users = self._heap, self._users
        fresh: list[Slot] = []
        while heap[0][0] < end_ms:
            start, index = heap[0]
            user = users[index]
            ended = self._sessions.session(user, start, fresh)
            heapq.heapreplace(heap, (self._next_start(user, ended), index))
        # Slots sort by (ts, generation number): the order does not depend on how time is cut.
        fresh.sort()
        cut = bisect_left(fresh, (end_ms,))
        pending = self._pending
        due: list[Slot] = []
        while pending and pending[0][0] < end_ms:
            due.append(heapq.heappop(pending))
        for slot in fresh[cut:]:
            heapq.heappush(pending, slot)
        if due:  # older sessions' events, then this call's: merge the two sorted runs
            due += fresh[:cut]
            due.sort()
            return [slot[2] for slot in due]
        return [slot[2] for slot in fresh[:cut]]

    # --- scheduling -----------------------------------------------------------------------------
    def _begin(self, t0: int) -> None:
        self._cursor = t0
        self._sessions.prefix = f"s{self.seed}-{t0}-"
        self._heap = [(self._next_start(u, t0), i) for i, u in enumerate(self._users)]
        heapq.heapify(self._heap)

    def _skip_to(self, start_ms: int) -> None:
        self._cursor = start_ms
        self._pending = [slot for slot in self._pending if slot[0] >= start_ms]
        heapq.heapify(self._pending)
        while self._heap[0][0] < start_ms:
            index = self._heap[0][1]
            next_start = self._next_start(self._users[index], start_ms)
            heapq.heapreplace(self._heap, (next_start, index))

    def _next_start(self, user: User, after: int) -> int:
        """Thinning: candidates at the peak rate, kept with P(weight of the local hour / peak)."""
        rate = user.sessions_per_ms * self._activity
        if user.churn_after and user.sessions >= user.churn_after:
            rate *= _CHURNED_RATE
        peak = rate * _W_MAX
        rng, tz, t = self._rng, user.tz, after
        while True:
            t += 1 + int(rng.expovariate(peak))
            if rng.random() * _W_MAX < HOUR_WEIGHTS[local_hour(tz, t)]:
                return t


# --- malformed payloads for dead-letter demos -----------------------------------------------------
_UNKNOWN_TYPES: Final = ("page_scroll", "checkout_started", "Product Reviewed", "heartbeat")
_BAD_TS: Final = ("yesterday", "2024-13-45T25:00:00Z", "2024-06-01 12:00:00", None)


def malformed_event(rng: random.Random) -> bytes:
    """One realistic payload that breaks the contract (each kind is rejected by ``decode``)."""
    event: dict[str, Any] = {
        "event_id": f"bad-{rng.getrandbits(48):012x}",
        "type": "view",
        "user_id": f"u{rng.randrange(1_000_000):06d}",
        "ts": 1_700_000_000_000 + rng.randrange(100_000_000_000),
        "properties": ITEMS[rng.randrange(len(ITEMS))].props(),
    }
    kind = rng.randrange(6)
    if kind == 0:  # invalid JSON: truncated in flight, or a Python repr
        raw = orjson.dumps(event)
        return raw[: rng.randrange(1, len(raw))] if rng.random() < 0.7 else repr(event).encode()
    if kind == 1:  # no id at all, or an empty / null one
        del event["event_id"]
        if rng.random() < 0.5:
            event[rng.choice(("event_id", "messageId"))] = rng.choice((None, ""))
    elif kind == 2:
        event["type"] = rng.choice(_UNKNOWN_TYPES)
    elif kind == 3:  # seconds instead of milliseconds, or an unparsable time
        event["ts"] = event["ts"] // 1000 if rng.random() < 0.5 else rng.choice(_BAD_TS)
    elif kind == 4:  # a batch sent as an array, or a bare value
        return rng.choice((orjson.dumps([event, event]), b'"view"', b"null", b"42"))
    else:  # price as string
        event["properties"]["price"] = f"{event['properties']['price']:.2f}"
    return orjson.dumps(event)
