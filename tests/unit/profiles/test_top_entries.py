"""The hot path's best entries (``Affinity.top``, ``ActiveHours.peak_hour``) against the full
rankings they shortcut, near ties included: scores a rounding step apart, equal ones, and read
after many half-lives."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from profiles.hours import ActiveHours
from profiles.interest import CategoryAffinity, ranked
from profiles.timeutil import DAY_MS, decay

HALF_LIFE = 30 * DAY_MS
REF = 20_000 * DAY_MS
AFFINITY = CategoryAffinity({"view": 1.0}, HALF_LIFE)
HOURS = ActiveHours(HALF_LIFE, "UTC")
BASES = st.sampled_from((1.0, 0.5, 3.0, 1e-3, 2.0 / 3.0))
# offsets from a base: apart, within a rounding step at factor 1, and within one only later
NUDGES = st.sampled_from((0.0, 1e-12, 5e-10, 1e-9, 3e-9, 1e-7, 0.25))
SCORES = st.dictionaries(
    st.sampled_from(("a", "b", "c", "d", "e")),
    st.tuples(BASES, NUDGES).map(lambda bn: bn[0] + bn[1]),
    min_size=1,
)
DAYS = st.sampled_from((0, 1, 29, 30, 31, 200, 400, 900))
# hours of the week: a few, so that several land on the same hour of the day
BINS = st.dictionaries(
    st.sampled_from((0, 1, 24, 25, 49, 167)), st.tuples(BASES, NUDGES).map(sum), min_size=1
)


@settings(database=None, max_examples=500, deadline=None)
@given(SCORES, DAYS)
def test_the_best_entry_is_the_head_of_the_full_ranking(
    scores: dict[str, float], days: int
) -> None:
    as_of = REF + days * DAY_MS
    expected = ranked(scores, decay(REF, as_of, HALF_LIFE))[0][0]
    assert AFFINITY.top([REF, scores], as_of) == expected


@settings(database=None, max_examples=500, deadline=None)
@given(BINS, DAYS)
def test_the_peak_hour_is_the_head_of_the_full_ranking(bins: dict[int, float], days: int) -> None:
    state = [REF, bins, None, 0]
    as_of = REF + days * DAY_MS
    assert HOURS.peak_hour(state, as_of) == HOURS.tags(state, as_of)["peak_hour"]
