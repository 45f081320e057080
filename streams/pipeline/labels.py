"""The label values of the worker's metrics that the domain produces: a batch's segment changes
are counted by :func:`segment_label` (the processor aggregates with it, so that a batch's stats
stay bounded), and :data:`APPLY_ERROR` is a dead-letter reason beside the decoder's.

They live on the ops floor, below the worker, so the metric sets can create every series at 0
without importing the worker (the rooms' import contracts, pyproject.toml).
"""

from __future__ import annotations

from typing import Any

from profiles.names import BOUNDED_SEGMENTS

# DLQ reason for a valid event whose application raised (a bug, or a corrupt stored state);
# the decoder's reasons are profiles.events.REJECT_REASONS.
APPLY_ERROR = "apply_error"
# DLQ reason for the events of a user erased with suppression (docs/privacy.md).
SUPPRESSED = "suppressed"


def segment_label(name: str, value: Any) -> tuple[str, str]:
    """``(segment, new value)`` as metric labels, the value only where it is a small set (the
    others count as "*")."""
    if name not in BOUNDED_SEGMENTS:
        return name, "*"
    return name, "null" if value is None else str(value).lower()
