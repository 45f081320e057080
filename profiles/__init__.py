"""The profile model (pure functions) and its Redis store."""
