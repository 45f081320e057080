"""profiles/names.py is the one list of behaviour, event-type and segment names: every module
that keys on them agrees with it."""

from __future__ import annotations

import profiles.changes
import profiles.events
from profiles import names
from profiles.aggregators import PREFIXES, SLOT, TOTAL_SLOT
from profiles.model import ProfileModel


def test_the_modules_use_the_one_list() -> None:
    assert profiles.events.EVENT_TYPES is names.EVENT_TYPES
    assert profiles.changes.SEGMENTS is names.SEGMENTS


def test_slots_follow_the_behaviours_then_the_other_types() -> None:
    assert tuple(SLOT) == names.BEHAVIOURS and len(PREFIXES) == len(names.BEHAVIOURS)
    assert tuple(TOTAL_SLOT) == (*names.BEHAVIOURS, *names.OTHER_TYPES)
    assert set(TOTAL_SLOT) == names.EVENT_TYPES
    assert len(names.EVENT_TYPES) == len(names.BEHAVIOURS) + len(names.OTHER_TYPES) == 10


def test_every_mapped_spec_event_is_a_known_type() -> None:
    assert set(profiles.events.SEGMENT_NAMES.values()) <= names.EVENT_TYPES


def test_the_segments_are_what_the_model_records() -> None:
    model = ProfileModel()
    assert sorted(model.segments(model.bare(), 0)) == sorted(names.SEGMENTS)
    assert len(set(names.SEGMENTS)) == len(names.SEGMENTS) == 20
    bounded = {*names.FLAG_SEGMENTS, *names.RFM_SCORE_SEGMENTS}
    assert bounded <= names.BOUNDED_SEGMENTS <= set(names.SEGMENTS)
