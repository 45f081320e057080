"""Garbage collection tuned for a process that caches many small profile states: the worker,
and a direct replay, which runs the worker's own pipeline."""

from __future__ import annotations

import gc


def tune_gc() -> None:
    """Fewer, cheaper garbage collections for a process that caches many small states.

    The cached profile states are acyclic and freed by reference counting; with the default
    thresholds every full collection walked all of them, 19-25 % of the worker's time
    (bench/README.md). Objects alive at start-up (modules, classes) are frozen out of the scans.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 1_000)
