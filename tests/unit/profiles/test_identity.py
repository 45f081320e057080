"""Identifiers of an event and the merge rules (profiles/identity.py), as tables."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from profiles import events, wire
from profiles.identity import (
    DEFAULT_LIMITS,
    Identifier,
    IdentityRules,
    Person,
    Step,
    digest,
    links_of,
    plan,
)

RULES = IdentityRules()
U1, U2 = Identifier("user_id", "u-1"), Identifier("user_id", "u-2")
A1, A2, A3 = (Identifier("anonymous_id", f"a-{i}") for i in (1, 2, 3))
D1 = Identifier("device_id", "dev-1")
EMAIL = Identifier("email", digest("email", "Ann@Example.com"))


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize(
    "kind,value,expected",
    [
        ("email", " Ann@Example.COM ", sha("ann@example.com")),
        ("phone", "+33 6 12-34-56-78", sha("+33612345678")),
        ("phone", "06 12 34 56 78", sha("0612345678")),
        ("email", sha("x@y.z").upper(), sha("x@y.z")),  # hashed by the sender: kept
    ],
)
def test_digest_normalises_then_hashes(kind: str, value: str, expected: str) -> None:
    assert digest(kind, value) == expected


@pytest.mark.parametrize(
    "event,user,expected",
    [
        ({"anonymous_id": "a-1"}, "u-1", ("anonymous_id:a-1",)),
        ({"anonymousId": 77}, "u-1", ("anonymous_id:77",)),
        ({"anonymous_id": "a-1"}, "anon:a-1", ()),  # the key itself
        ({"traits": {"email": "Ann@Example.com"}}, "u-1", (EMAIL.text,)),
        ({"context": {"traits": {"phone": "0612"}}}, "u-1", (f"phone:{sha('0612')}",)),
        ({"context": {"device": {"id": "dev-1", "type": "ios"}}}, "u-1", ("device_id:dev-1",)),
        ({"context": {"device_id": "dev-1"}}, "anon:a-1", ("device_id:dev-1",)),
        ({"anonymous_id": {"x": 1}, "traits": {"email": 3.5}}, "u-1", ()),  # ignored
        ({"anonymous_id": "a{1}"}, "u-1", ()),  # braces would break the key's hash tag
        (
            {"anonymous_id": "a-1", "traits": {"email": "ann@example.com"},
             "context": {"traits": {"email": "ANN@example.com"}}},
            "u-1",
            ("anonymous_id:a-1", EMAIL.text),  # one email, twice: once
        ),
    ],
)  # fmt: skip
def test_links_of(event: dict[str, Any], user: str, expected: tuple[str, ...]) -> None:
    assert links_of(event, user) == expected


@pytest.mark.parametrize(
    "text,kind,profile",
    [
        ("user_id:u-1", "user_id", "u-1"),
        ("anonymous_id:a:1", "anonymous_id", "anon:a:1"),
        ("device_id:d", "device_id", None),
    ],
)
def test_identifier_parse_and_profile(text: str, kind: str, profile: str | None) -> None:
    ident = Identifier.parse(text)
    assert (ident.kind, ident.profile, ident.text) == (kind, profile, text)
    if profile is not None:
        assert Identifier.of_profile(profile) == ident


@pytest.mark.parametrize("text", ["u-1", "twitter:x", ":x"])
def test_identifier_parse_refuses_unknown_kinds(text: str) -> None:
    with pytest.raises(ValueError, match="KIND:VALUE"):
        Identifier.parse(text)


@pytest.mark.parametrize(
    "ident,reason",
    [
        (A1, None),
        (Identifier("anonymous_id", "undefined"), "blocked_value"),
        (Identifier("anonymous_id", " NULL "), "blocked_value"),
        (Identifier("device_id", "0"), "blocked_value"),
        (Identifier("anonymous_id", "null-ish"), None),
    ],
)
def test_rules_admit(ident: Identifier, reason: str | None) -> None:
    assert RULES.admits(ident) == reason


def test_rules_may_leave_a_kind_out() -> None:
    rules = IdentityRules(kinds=frozenset({"user_id", "anonymous_id"}))
    assert rules.admits(D1) == "kind_not_linked"


def person(*idents: Identifier) -> Person:
    return Person(idents[0], list(idents))


def persons(*people: Person) -> dict[Identifier, Person]:
    return {i: p for p in people for i in p.identifiers}


@pytest.mark.parametrize(
    "key,links,known,expected",
    [
        # a login: the anonymous profile (stored or not) merges into the user
        (U1, [A1], {}, [Step("merge", A1, U1, A1)]),
        (U1, [A1], persons(person(A1)), [Step("merge", A1, U1, A1)]),
        # a new device links
        (U1, [D1], {}, [Step("link", D1, U1)]),
        # already linked: nothing
        (U1, [A1], persons(person(U1, A1)), []),
        # an anonymous event naming a user's email: the user survives
        (A2, [EMAIL], persons(person(U1, EMAIL), person(A2)), [Step("merge", EMAIL, U1, A2)]),
        # two anonymous profiles on one device: the event's own survives
        (A2, [D1], persons(person(A1, D1), person(A2)), [Step("merge", D1, A2, A1)]),
        # two user ids may not merge (at most one per person)
        (U2, [EMAIL], persons(person(U1, EMAIL)),
         [Step("refused", EMAIL, U2, reason="limit_user_id")]),
        (U1, [Identifier("anonymous_id", "unknown")], {},
         [Step("refused", Identifier("anonymous_id", "unknown"), U1, reason="blocked_value")]),
        # several links in one event, each seeing the graph the previous left
        (U1, [A1, D1, A2], persons(person(A1), person(A2, D1)),
         [Step("merge", A1, U1, A1), Step("merge", D1, U1, A2)]),
        (U1, [U1], {}, []),
    ],
)  # fmt: skip
def test_plan(
    key: Identifier,
    links: list[Identifier],
    known: dict[Identifier, Person],
    expected: list[Step],
) -> None:
    assert plan(RULES, key, links, known) == expected


def test_plan_keeps_to_the_anonymous_limit() -> None:
    rules = IdentityRules(limits={**DEFAULT_LIMITS, "anonymous_id": 2})
    steps = plan(rules, U1, [A1, A2, A3], {})
    assert [s.action for s in steps] == ["merge", "merge", "refused"]
    assert steps[-1].reason == "limit_anonymous_id"


def test_plan_does_not_change_what_it_is_given() -> None:
    known = persons(person(A1))
    plan(RULES, U1, [A1], known)
    assert known == persons(person(A1))


POOL = [A1, A2, A3, D1, EMAIL, U2]


@given(
    links=st.lists(st.sampled_from(POOL), max_size=8),
    owners=st.lists(st.sampled_from([None, A1, A2, U2]), min_size=6, max_size=6),
)
def test_plan_keeps_every_person_within_the_limits(
    links: list[Identifier], owners: list[Identifier | None]
) -> None:
    """Whatever persons the store holds (each identifier alone, unknown, or linked to one of
    three profiles), the persons after the steps respect every limit and the key's person
    holds every identifier that was linked or merged."""
    people: dict[Identifier, Person] = {}
    for ident, owner in zip(POOL, owners, strict=True):
        if owner is not None and (owner == ident or ident.profile is None):
            people.setdefault(owner, person(owner)).identifiers.append(ident)
    for p in people.values():
        p.identifiers = list(dict.fromkeys(p.identifiers))
    known = {i: p for p in people.values() for i in p.identifiers}
    steps = plan(RULES, U1, links, known)
    after = dict(known)
    for step in steps:  # what the store does with them
        into = after.setdefault(step.into, person(step.into))
        if step.action == "link":
            into.identifiers.append(step.ident)
            after[step.ident] = into
        elif step.action == "merge":
            assert step.absorbed is not None
            gone = after.get(step.absorbed) or person(step.absorbed)
            into.identifiers.extend(gone.identifiers)
            after.update(dict.fromkeys(gone.identifiers, into))
    for p in {id(p): p for p in after.values()}.values():
        assert all(p.count(kind) <= limit for kind, limit in DEFAULT_LIMITS.items()), p
    for step in steps:
        if step.action != "refused":
            assert after[step.ident] is after[U1]


@pytest.mark.parametrize("decode", [events.decode, wire.decode], ids=["reference", "fast"])
def test_both_decoders_carry_the_links(decode: Any) -> None:
    raw = (
        b'{"event_id":"e","type":"login","user_id":"u-1","anonymous_id":"a-1",'
        b'"ts":1700000000000,"context":{"device_id":"dev-1"},'
        b'"traits":{"email":"Ann@Example.com"}}'
    )
    event = decode(raw)
    assert event.user_id == "u-1"
    assert event.links == ("anonymous_id:a-1", EMAIL.text, "device_id:dev-1")
    plain = decode(b'{"event_id":"e","type":"view","user_id":"u-1","ts":1700000000000}')
    assert plain.links == ()
