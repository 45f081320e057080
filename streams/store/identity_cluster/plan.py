"""The pure part of identity resolution on Redis Cluster (no Redis): the form of a journal (its
operations in stages), the journal of an apply computed from what was read under the locks, in
the safe order of the package docstring, the locks a plan takes, and the compare-and-set that
refuses a stale plan, as APPLY's (streams/store/identity.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from profiles.identity import Identifier, Person, Step, audit
from streams.names import Keys

Op = list[Any]  # ["hset", key, {field: value}] | ["set", key, value] | ["del", [keys]] | ...
Stage = list[Op]


@dataclass
class Journal:
    """A change's single-slot operations, in stages, and how many are done."""

    id: str
    kind: str  # "apply" or "forget" (a forget counts the keys it deletes)
    owner: str  # the name whose slot holds the journal (the survivor, the forgotten person)
    locks: list[str]
    stages: list[Stage]
    done: int = 0


@dataclass
class _Graph:
    """What an apply read under its locks."""

    idents: dict[str, str]  # identifier read -> its canonical ("" none)
    persons: dict[str, dict[str, str]]  # profile -> its person's hash ({} none)
    merges: dict[str, list[str]]  # profile -> its merge history


def _plan(
    keys: Keys,
    merges_kept: int,
    token: str,
    names: set[str],
    steps: Sequence[Step],
    graph: _Graph,
    at_ms: int,
    cause: str,
    outbox: str,
) -> tuple[Journal, list[str]]:
    """The journal of ``steps`` as APPLY would carry them out on what ``graph`` read under
    the locks, and the profiles absorbed."""
    k, now, keep = keys, str(at_ms), merges_kept
    persons = {p: dict(h) if h else None for p, h in graph.persons.items()}
    history = {p: list(h) for p, h in graph.merges.items()}
    stages: list[Stage] = []
    messages: list[str] = []
    absorbed: list[str] = []
    for s in steps:
        message = orjson.dumps(audit(s, at_ms, cause)).decode()
        into, intop = s.into.text, _profile(s.into)
        fields: dict[str, str] = {}
        point: dict[str, str] = {}
        mine = persons.get(intop)
        if mine is None:  # a lone profile becomes a person of one
            mine = persons[intop] = {into: now}
            fields[into] = now
            point[into] = into
        if s.action == "link":
            members = {s.ident.text: now}
        else:
            assert s.absorbed is not None
            gonep = _profile(s.absorbed)
            members = persons.get(gonep) or {s.absorbed.text: now}
            persons[gonep] = None
        mine.update(members)
        fields.update(members)
        point.update(dict.fromkeys(members, into))
        stages.append([["hset", k.person(intop), fields]])
        stages.append([["set", k.identifier(t), value] for t, value in point.items()])
        if s.action == "merge":
            lists = [*history.get(intop, []), *history.get(gonep, []), message]
            history[intop], history[gonep] = lists[-keep:], []
            stages.append([["hand", gonep, intop, history[intop]]])
            absorbed.append(gonep)
        messages.append(message)
    stages.append([["xadd", outbox, m] for m in messages])
    owner = _profile(steps[-1].into)  # the key's person's canonical once every step is made
    return Journal(token, "apply", owner, sorted(names), stages), absorbed


def _conflict(
    cas: Sequence[tuple[str, str]], sizes: Sequence[tuple[str, int]], graph: _Graph
) -> str:
    """What changed since the plan read the graph (APPLY's answer), "" nothing."""
    for text, canonical in cas:
        if graph.idents[text] != canonical:
            return text
    for profile, size in sizes:
        if len(graph.persons[profile]) != size:
            return profile
    return ""


def _lock_names(
    steps: Sequence[Step],
    known: Mapping[Identifier, Person],
    read: Sequence[Identifier],
    people: Sequence[Person],
) -> set[str]:
    """The locks a plan takes: each person's canonical profile, and each identifier of no person
    (its profile, or its text for one that only links)."""
    names = {_profile(p.canonical) for p in people}
    names.update(_name(i) for i in read if i not in known)
    for s in steps:
        names.update(_step_profiles([s]))
        if s.ident not in known:
            names.add(_name(s.ident))
    return names


def _name(ident: Identifier) -> str:
    return ident.profile if ident.profile is not None else ident.text


def _step_profiles(steps: Sequence[Step]) -> list[str]:
    out = []
    for s in steps:
        out.append(_profile(s.into))
        if s.absorbed is not None:
            out.append(_profile(s.absorbed))
    return list(dict.fromkeys(out))


def _profile(ident: Identifier) -> str:
    profile = ident.profile
    if profile is None:
        raise ValueError(f"{ident.text} keys no profile")
    return profile


def _keyed(text: str) -> str | None:
    """The profile an identifier's text keys, as FORGET derives it (None: it only links)."""
    kind, _, value = text.partition(":")
    if kind == "anonymous_id":
        return "anon:" + value
    return value if kind == "user_id" else None


def _pairs(flat: Sequence[Any]) -> dict[Any, Any]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _stage_name(stage: Stage) -> str:
    kinds = {op[0] for op in stage}
    if kinds == {"hset"}:
        return "person"
    if kinds == {"set"}:
        return "identifiers"
    if kinds == {"xadd"}:
        return "audit"
    return "deleted" if "del" in kinds else "unlinked"
