"""Stream processors: the worker, consumers, decode and hand-off to the profile model."""
