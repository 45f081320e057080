"""The simulator's purchase-gender lean (streams/sim/tastes.py): present, bounded, seeded."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.sim.catalogue import CATEGORY_NAMES, User, make_user
from streams.sim.personas import TrafficModel
from streams.sim.tastes import GENDER_LEAN, favourite_categories, lean_weights

T0 = 1_717_372_800_000
DAY = 86_400_000


@pytest.fixture(scope="module")
def population() -> list[User]:
    rng = random.Random(2024)
    return [make_user(rng, i) for i in range(5000)]


def women_share_of_fans(users: list[User], category: str) -> tuple[float, int]:
    """Among the women and men who favour ``category``: the women's share, and how many."""
    index = CATEGORY_NAMES.index(category)
    genders = Counter(u.traits["gender"] for u in users if index in u.fav_cats)
    fans = genders["female"] + genders["male"]
    return genders["female"] / fans, fans


# (category, lowest and highest share of women among its female and male fans, 5,000 users):
# the expected share (40,000 users, three seeds) +- 0.05, about four standard deviations; the
# old uniform favourites gave about 0.5 everywhere.
SHARES = [
    ("beauty", 0.72, 0.82),
    ("fashion", 0.61, 0.71),
    ("home", 0.50, 0.60),
    ("toys", 0.47, 0.57),
    ("books", 0.43, 0.53),
    ("grocery", 0.43, 0.53),
    ("sports", 0.28, 0.38),
    ("electronics", 0.20, 0.30),
]


@pytest.mark.parametrize(("category", "low", "high"), SHARES)
def test_women_share_among_fans_is_skewed_and_bounded(
    population: list[User], category: str, low: float, high: float
) -> None:
    share, fans = women_share_of_fans(population, category)
    assert fans > 1000
    assert low <= share <= high, share


def test_every_category_keeps_fans_of_both_genders(population: list[User]) -> None:
    for index in range(len(CATEGORY_NAMES)):
        genders = Counter(u.traits["gender"] for u in population if index in u.fav_cats)
        assert genders["female"] >= 200 and genders["male"] >= 200, (index, genders)


def test_gender_mix_and_persona_counts_are_the_catalogue_draws(population: list[User]) -> None:
    genders = Counter(u.traits["gender"] for u in population)
    assert 0.46 < genders["female"] / 5000 < 0.52 and 0.46 < genders["male"] / 5000 < 0.52
    assert {len(u.fav_cats) for u in population} == {2, 3}
    assert all(len(set(u.fav_cats)) == len(u.fav_cats) for u in population)
    for u in population:  # loyal buyers keep two favourites, everyone else three
        assert len(u.fav_cats) == (2 if u.persona.loyalty > 0.5 else 3)


def test_the_lean_names_the_catalogue_categories() -> None:
    assert set(GENDER_LEAN) == set(CATEGORY_NAMES)
    assert all(w > 0 for pair in GENDER_LEAN.values() for w in pair)


@pytest.mark.parametrize(
    ("gender", "expected"),
    [
        ("female", (0.55, 1.6, 1.2, 2.2, 0.7, 1.0, 1.0, 1.1)),
        ("male", (1.9, 0.65, 0.85, 0.45, 1.5, 1.0, 1.0, 0.9)),
        ("non_binary", (1.0,) * 8),
        (None, (1.0,) * 8),
        (3, (1.0,) * 8),
    ],
)
def test_lean_weights(gender: object, expected: tuple[float, ...]) -> None:
    assert CATEGORY_NAMES[:4] == ("electronics", "fashion", "home", "beauty")
    assert lean_weights(CATEGORY_NAMES, gender) == expected


@given(
    st.integers(0, 2**32),
    st.sampled_from(["female", "male", "non_binary", None]),
    st.integers(0, 10),
)
def test_favourites_are_distinct_valid_and_seeded(seed: int, gender: str | None, k: int) -> None:
    first = favourite_categories(random.Random(seed), CATEGORY_NAMES, gender, k)
    assert first == favourite_categories(random.Random(seed), CATEGORY_NAMES, gender, k)
    assert len(first) == min(k, len(CATEGORY_NAMES)) == len(set(first))
    assert all(0 <= i < len(CATEGORY_NAMES) for i in first)


def test_the_lean_reaches_the_events() -> None:
    """Women view beauty more and electronics less than men do, in the simulated stream."""
    model = TrafficModel(600, seed=5, activity=3.0)
    events = model.events_between(T0, T0 + DAY)
    gender = {e["user_id"]: e["traits"].get("gender") for e in events if e["type"] == "identify"}
    views: dict[str, Counter[str]] = {"female": Counter(), "male": Counter()}
    for e in events:
        g = gender.get(e["user_id"])
        if e["type"] == "view" and g in views:
            views[g][e["properties"]["category"]] += 1

    def share(g: str, category: str) -> float:
        return views[g][category] / sum(views[g].values())

    assert share("female", "beauty") > 1.5 * share("male", "beauty")
    assert share("male", "electronics") > 1.5 * share("female", "electronics")
