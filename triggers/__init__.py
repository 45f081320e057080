"""Behaviour triggers: pure rules, a durable scheduler and a publisher (see the triggers issue)."""
