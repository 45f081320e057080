"""The key scheme: one rule, every key under the namespace, one Cluster slot per user."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.crc import key_slot

from streams.names import (
    ABSORBING,
    MERGES,
    MOVED,
    PERSON,
    USER_KINDS,
    Keys,
    due_member,
    parse_due_member,
    user_id_from_key,
)


@pytest.mark.parametrize(
    "key,namespace,expected",
    [
        (lambda k: k.profile("u1"), "", "portrait:p2:{u1}"),
        (lambda k: k.profile("u1"), "acme.", "acme.portrait:p2:{u1}"),
        (lambda k: k.pending("u1"), "acme.", "acme.portrait:tq:{u1}"),
        (lambda k: k.sent("u1"), "acme.", "acme.portrait:ts:{u1}"),
        (lambda k: k.sensitivity("u1"), "acme.", "acme.portrait:tr:{u1}"),
        (lambda k: k.feedback_seen("u1"), "acme.", "acme.portrait:tf:{u1}"),
        (lambda k: k.recall("u1"), "acme.", "acme.portrait:trc:{u1}"),
        (lambda k: k.due, "", "portrait:tdue"),
        (lambda k: k.due, "acme.", "acme.portrait:tdue"),
        (lambda k: k.recall_index, "acme.", "acme.portrait:trecall"),
        (lambda k: k.census, "acme.", "acme.portrait:ops:census"),
        (lambda k: k.census_lock, "acme.", "acme.portrait:ops:census:lock"),
        (lambda k: k.user_pattern("p2"), "acme.", "acme.portrait:p2:{*}"),
        (lambda k: k.user_pattern("p2", "ab*"), "", "portrait:p2:{ab*}"),
    ],
)
def test_key_names(key: object, namespace: str, expected: str) -> None:
    assert key(Keys(namespace)) == expected  # type: ignore[operator]


# user ids reach Redis as UTF-8: no lone surrogates (the decoders refuse them)
users = st.text(
    st.characters(exclude_characters="{}", exclude_categories=("Cs",)), min_size=1, max_size=30
)
namespaces = st.from_regex(r"[a-zA-Z0-9._-]{0,12}", fullmatch=True)


@given(namespaces, users)
def test_a_users_keys_share_one_cluster_slot_and_name_the_user(namespace: str, user: str) -> None:
    keys = Keys(namespace)
    names = [keys.user(kind, user) for kind in (*USER_KINDS, PERSON, MERGES, MOVED, ABSORBING)]
    assert {key_slot(n.encode()) for n in names} == {key_slot(user.encode())}
    assert all(n.startswith(f"{namespace}portrait:") for n in names)
    assert {user_id_from_key(n) for n in names} == {user}


@given(namespaces, namespaces, users)
def test_two_namespaces_never_share_a_key(a: str, b: str, user: str) -> None:
    if a == b:
        return
    first, second = Keys(a), Keys(b)
    assert {first.profile(user), first.due, first.recall_index}.isdisjoint(
        {second.profile(user), second.due, second.recall_index}
    )


@given(st.text(st.characters(exclude_characters="\x1f")), users)
def test_due_member_round_trip(slot: str, user: str) -> None:
    assert parse_due_member(due_member(slot, user)) == (slot, user)
