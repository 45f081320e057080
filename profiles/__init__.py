"""The profile model: the event contract, aggregators over a typed state, tags (pure, no I/O)."""
