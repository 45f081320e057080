"""Merging two profiles of one person: the bookkeeping beside the aggregators' own ``merge``
(docs/identity.md, "Merging state"). Pure: no I/O.

The aggregators fold their sub-states (:meth:`profiles.model.ProfileModel.merge` drives them);
what is left is the profile's own bookkeeping: the dedupe window unites, the stream and arrival
times take the later, and the business rules keep the surviving profile's last evaluation
(the worker evaluates the merged person again, so transitions are measured from what the
surviving profile's members saw) with the manual tags of both, the later setting winning.
The write fences are never merged: each profile's fences guard its own key's partition.
"""

from __future__ import annotations

from typing import Final

from profiles.state import RuleState

DIGEST: Final = 6  # bytes per remembered event id (profiles.model stores them so)


def merge_seen(seen: dict[int, bytes], other: dict[int, bytes]) -> dict[int, bytes]:
    """Both dedupe windows by arrival day, each digest once (the model's compaction then caps
    the window at its size, newest days first)."""
    known = {blob[i : i + DIGEST] for blob in seen.values() for i in range(0, len(blob), DIGEST)}
    out = dict(seen)
    for day, blob in sorted(other.items()):
        fresh = bytearray()
        for i in range(0, len(blob), DIGEST):
            digest = blob[i : i + DIGEST]
            if digest not in known:
                known.add(digest)
                fresh += digest
        if fresh:
            out[day] = out.get(day, b"") + bytes(fresh)
    return out


def merge_absorbed(absorbed: list[str], other: list[str]) -> list[str]:
    """The profiles folded into either state, each once, in the order they were."""
    return list(dict.fromkeys([*absorbed, *other]))


def merge_rules(rules: RuleState, other: RuleState) -> RuleState:
    """The surviving profile's evaluation, both profiles' manual tags (per tag the later
    setting in event time wins, as :func:`profiles.model.set_manual` decides)."""
    manual = dict(rules.manual)
    for name, (value, ms) in other.manual.items():
        current = manual.get(name)
        if current is None or ms > current[1]:
            manual[name] = [value, ms]
    return RuleState(
        rules.version,
        rules.at,
        dict(rules.values),
        list(rules.members),
        dict(rules.since),
        manual,
        rules.due,
        max(rules.quiet, other.quiet),
    )
