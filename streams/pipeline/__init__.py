"""The hot path the worker and a direct replay share: batch, apply, fenced write, DLQ, retry,
trigger hand-off."""
