"""bench.rules_pack: the generated rules file loads, with the counts asked for, and is the
realistic mix the hot-path benchmark claims to measure (bench/README.md, "Business rules")."""

from __future__ import annotations

import pytest

from bench.rules_pack import pack_yaml
from profiles.rules import load_rules
from profiles.rules.conditions import reads


@pytest.mark.parametrize(("tags", "segments"), [(50, 20), (0, 0), (1, 3), (3, 9), (17, 8)])
def test_counts(tags: int, segments: int) -> None:
    rules = load_rules(pack_yaml(tags, segments), "<pack>")
    assert (len(rules.tags), len(rules.segments)) == (tags, segments)


def test_default_mix() -> None:
    text = pack_yaml()
    rules = load_rules(text, "<pack>")
    assert text == pack_yaml()  # deterministic
    sources = [("buckets" if t.buckets else t.source) for t in rules.tags]
    # 2 models, then 48 tags of rounds of 14 templates (4 of them buckets): 3 whole rounds
    # and the first 6 templates of a fourth (2 buckets among them): 14 buckets, 34 bools
    assert (sources.count("model"), sources.count("buckets"), sources.count("rule")) == (2, 14, 34)
    assert {"category_affinity", "days_since_last_purchase", "days_since_last_seen"} <= rules.inputs
    assert rules.day_marks  # time alone can flip some rules
    names = {t.name for t in rules.tags}
    # 8 kinds of segment, all but kind 2 (lapsed buyers) read rule tags; 20 = 8 + 8 + 4
    assert sum(bool(reads(s.where) & names) for s in rules.segments) == 17
