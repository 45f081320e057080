"""Identity: the identifiers an event carries and the merge rules that link them into persons
(docs/identity.md). Pure: the store reads the graph, :func:`plan` decides, the store applies.

An identifier is a kind and a value: ``user_id`` and ``anonymous_id`` key profiles (``u-42``,
``anon:7c1e``); ``email``, ``phone`` (both SHA-256 of the normalised value, never the value)
and ``device_id`` only link. A **person** is the identifiers linked together, with one
canonical identifier whose profile holds the person's state: the first profile-keying kind in
the rules' priority (``user_id`` before ``anonymous_id``), then the earliest linked.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from profiles.timeutil import rfc3339

# Profiles of anonymous visitors are keyed by this prefix + anonymous_id.
ANON_PREFIX: Final = "anon:"
KINDS: Final = ("user_id", "email", "phone", "device_id", "anonymous_id")  # default priority
PROFILE_KINDS: Final = frozenset({"user_id", "anonymous_id"})
HASHED_KINDS: Final = frozenset({"email", "phone"})
DEFAULT_LIMITS: Final[Mapping[str, int]] = {
    "user_id": 1,
    "anonymous_id": 100,
    "email": 3,
    "phone": 3,
    "device_id": 10,
}
# Values analytics SDKs send when they know nothing: linking on one would merge strangers.
DEFAULT_BLOCKED: Final = frozenset(
    {"", "null", "none", "nil", "undefined", "unknown", "0", "-1", "n/a", "na", "anonymous"}
)
_HEX64: Final = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, order=True, slots=True)
class Identifier:
    kind: str
    value: str

    @property
    def text(self) -> str:
        """``kind:value``: how events carry it and the store names it."""
        return f"{self.kind}:{self.value}"

    @property
    def profile(self) -> str | None:
        """The profile key this identifier names (None: it only links)."""
        if self.kind == "user_id":
            return self.value
        if self.kind == "anonymous_id":
            return ANON_PREFIX + self.value
        return None

    @classmethod
    def parse(cls, text: str) -> Identifier:
        kind, sep, value = text.partition(":")
        if not sep or kind not in KINDS:
            raise ValueError(f"an identifier is KIND:VALUE with KIND one of {', '.join(KINDS)}")
        return cls(kind, value)

    @classmethod
    def of_profile(cls, key: str) -> Identifier:
        """The identifier that keys profile ``key``."""
        if key.startswith(ANON_PREFIX):
            return cls("anonymous_id", key[len(ANON_PREFIX) :])
        return cls("user_id", key)


def digest(kind: str, value: str) -> str:
    """How an email or phone is kept: SHA-256 hex of its normalised form (a value that already
    is a 64-digit hex digest is taken as hashed by the sender)."""
    text = value.strip().lower()
    if _HEX64.fullmatch(text):
        return text
    if kind == "phone":
        text = ("+" if text.startswith("+") else "") + re.sub(r"\D", "", text)
    return hashlib.sha256(text.encode()).hexdigest()


def links_of(obj: Mapping[str, Any], user_id: str) -> tuple[str, ...]:
    """The identifiers of a raw event other than the profile key ``user_id``, as ``kind:value``
    texts: the anonymous id beside a user id, hashed email and phone from ``traits`` or
    ``context.traits``, ``context.device.id`` or ``context.device_id``. Values that are not
    strings or integers, or that hold braces or control characters, are ignored (identity is
    best effort; the event itself stands)."""
    out: list[str] = []
    if not user_id.startswith(ANON_PREFIX):
        anon = link_value(obj.get("anonymous_id", obj.get("anonymousId")))
        if anon is not None:
            out.append(f"anonymous_id:{anon}")
    ctx = obj.get("context")
    ctx = ctx if isinstance(ctx, dict) else {}
    for source in (obj.get("traits"), ctx.get("traits")):
        if isinstance(source, dict):
            for kind in ("email", "phone"):
                value = link_value(source.get(kind))
                if value is not None:
                    out.append(f"{kind}:{digest(kind, value)}")
    device = ctx.get("device")
    device_id = link_value(device.get("id") if isinstance(device, dict) else ctx.get("device_id"))
    if device_id is not None:
        out.append(f"device_id:{device_id}")
    return tuple(dict.fromkeys(out))


def link_value(value: object) -> str | None:
    """An identifier's value as events may carry it (an integer, or a printable string of at
    most 512 characters without braces); None for anything else, which links nothing."""
    if type(value) is int:
        return str(value)
    if isinstance(value, str) and 0 < len(value) <= 512 and value.isprintable():
        return value if "{" not in value and "}" not in value else None
    return None


@dataclass(frozen=True)
class IdentityRules:
    """Which identifiers may link, how many of a kind one person may hold, which values never
    link, and the priority that picks the canonical identifier."""

    kinds: frozenset[str] = frozenset(KINDS)
    limits: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    blocked: frozenset[str] = DEFAULT_BLOCKED
    priority: tuple[str, ...] = KINDS

    def admits(self, ident: Identifier) -> str | None:
        """None if ``ident`` may link, else the reason it may not."""
        if ident.kind not in self.kinds:
            return "kind_not_linked"
        if ident.value.strip().casefold() in self.blocked:
            return "blocked_value"
        return None

    def rank(self, ident: Identifier) -> int:
        return self.priority.index(ident.kind) if ident.kind in self.priority else len(KINDS)


@dataclass
class Person:
    """A person as the store holds it: its canonical identifier and every identifier linked,
    in the order they were linked."""

    canonical: Identifier
    identifiers: list[Identifier]

    def count(self, kind: str) -> int:
        return sum(1 for i in self.identifiers if i.kind == kind)


@dataclass(frozen=True)
class Step:
    """One change to the graph: ``link`` adds ``ident`` to the person of ``into``; ``merge``
    folds the person of ``absorbed`` into the person of ``into``; ``refused`` changes nothing
    (``reason`` says why)."""

    action: Literal["link", "merge", "refused"]
    ident: Identifier
    into: Identifier
    absorbed: Identifier | None = None
    reason: str | None = None


def alone(ident: Identifier) -> Person:
    return Person(ident, [ident])


def plan(
    rules: IdentityRules,
    key: Identifier,
    links: Sequence[Identifier],
    persons: Mapping[Identifier, Person],
) -> list[Step]:
    """What an event keyed by ``key`` and carrying ``links`` changes in the graph, given the
    person of every identifier involved that the store knows (an identifier absent from
    ``persons`` is alone: a profile-keying one is a person of one, whose profile may hold
    history, so it merges; another kind is new, so it links). Steps run in order; each sees the
    graph the previous ones left."""
    copies: dict[Identifier, Person] = {}  # one copy per person (by canonical identifier)
    graph = {
        i: copies.setdefault(p.canonical, Person(p.canonical, list(p.identifiers)))
        for i, p in persons.items()
    }
    steps: list[Step] = []
    for ident in links:
        if ident == key:
            continue
        mine = graph.setdefault(key, alone(key))
        reason = rules.admits(ident)
        theirs = graph.get(ident)
        if theirs is None and ident.profile is not None:  # a profile of its own, maybe stored
            theirs = alone(ident)
        if reason is None and theirs is mine:
            continue
        if reason is None and theirs is None:
            reason = _over_limit(rules, [mine, alone(ident)])
            if reason is None:
                steps.append(Step("link", ident, mine.canonical))
                mine.identifiers.append(ident)
                graph[ident] = mine
                continue
        elif reason is None and theirs is not None:
            reason = _over_limit(rules, [mine, theirs])
            if reason is None:
                # the better canonical survives; on a tie the event's own person does (its
                # profile is the one this batch writes)
                into, absorbed = sorted((mine, theirs), key=lambda p: rules.rank(p.canonical))
                steps.append(Step("merge", ident, into.canonical, absorbed.canonical))
                into.identifiers.extend(absorbed.identifiers)
                for i in absorbed.identifiers:
                    graph[i] = into
                continue
        steps.append(Step("refused", ident, mine.canonical, reason=reason))
    return steps


def _over_limit(rules: IdentityRules, people: Iterable[Person]) -> str | None:
    """The first kind of which the people together would hold more than the rules allow."""
    people = list(people)
    for kind, limit in rules.limits.items():
        if sum(p.count(kind) for p in people) > limit:
            return f"limit_{kind}"
    return None


def audit(step: Step, at_ms: int, cause: str) -> dict[str, Any]:
    """The ``profile.changes`` message of a link or a merge (docs/identity.md, "Audit"): keyed
    by the surviving profile; ``change_id`` is the same however often the step is applied."""
    into = step.into.profile
    out: dict[str, Any] = {"user_id": into, "identity": step.ident.text, "change": step.action}
    if step.action == "merge" and step.absorbed is not None:
        out["change"] = "merged"
        out["from"] = step.absorbed.profile
    elif step.action == "link":
        out["change"] = "linked"
    out.update(into=into, rule=f"{step.ident.kind}", at=rfc3339(at_ms), at_ms=at_ms, cause=cause)
    key = f"{into}|{out['change']}|{step.ident.text}|{out.get('from', '')}|{at_ms}"
    return {"change_id": hashlib.blake2b(key.encode(), digest_size=16).hexdigest(), **out}
