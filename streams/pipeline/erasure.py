"""Erase events in a batch (docs/privacy.md): where a user's history ends, and the dead letters
of a suppressed user's events.

The privacy service deletes what is stored about the user and then produces an ``erase`` event
keyed by the user. The worker, reaching it in the user's partition, restarts the user from an
empty state: whatever it still held (its cache, a batch in flight) is dropped there, and the
fenced write tells the store that the erasure has reached the stream.
"""

from __future__ import annotations

from collections.abc import Sequence

from profiles.names import ERASE_EVENT
from streams.pipeline.batch import BatchStats, DeadLetter, Located
from streams.pipeline.labels import SUPPRESSED

_DETAIL = "the user was erased with suppression: no profile is kept (docs/privacy.md)"


def last_erase(located: Sequence[Located]) -> int:
    """The index of the user's last erase event in the batch, -1 if none."""
    for i in range(len(located) - 1, -1, -1):
        if located[i][1].type == ERASE_EVENT:
            return i
    return -1


def after_erase(located: Sequence[Located]) -> Sequence[Located]:
    """The records the user's erasure leaves standing: those after its last erase event."""
    return located[last_erase(located) + 1 :]


def suppress(located: Sequence[Located], letters: list[DeadLetter], stats: BatchStats) -> None:
    """Dead letters, reason ``suppressed``, for a suppressed user's events (erase events apart:
    they are the erasure itself, not the user's behaviour)."""
    n = 0
    for record, event in located:
        if event.type != ERASE_EVENT:
            letters.append(
                DeadLetter(record, SUPPRESSED, "the user asked to be erased and left out")
            )
            n += 1
    if n:
        stats.rejected[SUPPRESSED] += n
