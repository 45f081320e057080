"""``portrait experiment report``'s reading: an experiment's ledger walked in chunks.

Each chunk of the ledger (oldest exposure first) costs one round trip for the users' records and
counts (streams/store/experiments.py) and one MGET for their profiles, whose day counts say
whether each user converted or came back within the window (triggers/experiment_outcome.py);
memory holds one chunk and the arms' tallies (one bit per measured user, for the frozen
decision). A profile that cannot be decoded counts as no outcome and is reported apart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis

from profiles.codec import decode
from profiles.state import State
from profiles.timeutil import rfc3339
from streams.store.experiments import ExperimentStore, Member
from streams.store.profiles import ProfileStore
from triggers.config import Experiment
from triggers.experiment_outcome import outcome, window_end
from triggers.experiment_report import Tally

log = logging.getLogger("portrait.experiments")
Progress = Callable[[int, int], None]  # (users read, users in the ledger)


async def read_report(
    redis: Redis,
    namespace: str,
    experiment: Experiment,
    prices: dict[str, float],
    as_of_ms: int,
    progress: Progress | None = None,
    chunk: int = 1000,
) -> dict[str, Any]:
    """The report of ``experiment`` as of ``as_of_ms`` (triggers/experiment_report.py)."""
    store, profiles = ExperimentStore(redis, namespace), ProfileStore(redis, namespace)
    total = await store.size(experiment.name)
    tally, done, undecodable = Tally(experiment), 0, 0
    async for members in store.members(experiment.name, chunk):
        blobs = await profiles.load_raw([m.user_id for m in members])
        for member in members:
            undecodable += _add(tally, member, blobs.get(member.user_id), experiment, as_of_ms)
        done += len(members)
        if progress is not None:
            progress(done, total)
    report = tally.report(prices, rfc3339(as_of_ms) or "")
    report["undecodable"] = undecodable
    return report


def _add(tally: Tally, m: Member, blob: bytes | None, e: Experiment, as_of_ms: int) -> int:
    """Add one user; 1 when their profile could not be decoded."""
    if m.exposure is None:
        tally.add(None, m.counts, None)
        return 0
    if as_of_ms < window_end(m.exposure.at, e.window_days):
        tally.add(m.exposure.arm, m.counts, None)
        return 0
    state: State | None = None
    bad = 0
    if blob:
        try:
            state = decode(blob)
        except Exception:  # one corrupt profile must not stop the report
            log.warning("cannot decode the profile of %s; counted without an outcome", m.user_id)
            bad = 1
    tally.add(m.exposure.arm, m.counts, outcome(state, e.metric, m.exposure, e.window_days))
    return bad
