"""Behaviour triggers: rules, policy, trigger, feedback and campaign messages (pure)."""
