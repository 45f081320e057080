"""A realistic business-rules file for the benchmarks: N rule tags and M segments.

    python -m bench.rules_pack [--tags 50] [--segments 20] > /tmp/rules.yaml

Issue 12 asks what 50 rule tags and 20 segments cost on the worker's hot path. The default
pack (profiles/rules/default.yaml) has 4 tags and 5 segments, so the benchmarks generate a
bigger one here, shaped like what a marketing team writes: bools on windowed counts and sums,
enum buckets (price sensitivity, recency, frequency), category-affinity lookups over the
categories the synthetic traffic uses, two logistic model tags, tags that read other rule
tags, time-dependent clauses (``days_since_*``: they make the worker schedule time flips) and
segments nesting ``all`` / ``any`` / ``not`` over rule and built-in tags.

Deterministic: the same counts give the same file (and rules version). Templates are cycled;
each round shifts the thresholds a little so that no two tags are the same rule.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any, Final

import yaml

from bench.sources import CATEGORIES

Spec = dict[str, Any]
# (stem, taxonomy path, body of round v): the body is the tag's source key and its value.
TagTemplate = tuple[str, str, Callable[[int], Spec]]
OWNER: Final = "bench"


def _cat(v: int, shift: int = 0) -> str:
    return CATEGORIES[(v + shift) % len(CATEGORIES)]


TAG_TEMPLATES: Final[tuple[TagTemplate, ...]] = (
    ("active_viewer", "behaviour/engagement", lambda v: {"rule": {"views_7d": {">=": 3 + 2 * v}}}),
    ("cart_hesitant", "behaviour/cart",
     lambda v: {"rule": {"cart_adds_30d": {">=": 2 + v}, "purchases_30d": 0}}),
    ("spender", "consumption/value", lambda v: {"rule": {"spend_30d": {">=": 100 * (v + 1)}}}),
    ("lifetime_buyer", "consumption/value",
     lambda v: {"rule": {"spend_total": {">=": 300 * (v + 1)}, "orders_total": {">=": 2}}}),
    ("price_sensitivity", "consumption/price", lambda v: {"buckets": [
        ["high", {"any": [{"price_band": "budget"}, {"avg_order_value": {"<": 50 + 10 * v}}]}],
        ["medium", {"avg_order_value": {"<": 250 + 25 * v}}],
        ["low", {}],
    ]}),
    ("recency", "behaviour/recency", lambda v: {"buckets": [
        ["recent", {"days_since_last_purchase": {"<=": 7 + v}}],
        ["lapsing", {"days_since_last_purchase": {"<=": 30 + 2 * v}}],
        ["lapsed", {"orders_total": {">=": 1}}],
    ]}),
    ("frequency", "consumption/frequency", lambda v: {"buckets": [
        ["heavy", {"orders_180d": {">=": 5 + v}}],
        ["regular", {"orders_180d": {">=": 2}}],
        ["occasional", {"orders_180d": 1}],
        ["never", {}],
    ]}),
    ("likes", "preference/category",
     lambda v: {"rule": {"category_affinity": {_cat(v): {">": 0.2}}}}),
    ("quiet_browser", "behaviour/recency",
     lambda v: {"rule": {"days_since_last_seen": {">=": 3 + v}, "views_total": {">=": 5}}}),
    ("searcher", "behaviour/search", lambda v: {"rule": {"searches_30d": {">=": 2 + v}}}),
    ("deal_hunter", "preference/price", lambda v: {"rule": {"any": [
        {"coupon_share": {">": 0.3 + 0.05 * v}}, {"price_band": "budget"}]}}),
    ("daily_visitor", "behaviour/engagement",
     lambda v: {"rule": {"active_days_30d": {">=": 4 + v}, "logins_7d": {">=": 1}}}),
)  # fmt: skip
# Tags that read the tags of the same round (their stems must come earlier in TAG_TEMPLATES).
REF_TEMPLATES: Final[tuple[tuple[str, str, Callable[[Callable[[str], str]], Spec]], ...]] = (
    ("engaged_nonbuyer", "marketing/targets", lambda t: {"rule": {"all": [
        {t("active_viewer"): True}, {"not": {t("lifetime_buyer"): True}}]}}),
    ("value_tier", "marketing/tiers", lambda t: {"buckets": [
        ["gold", {t("spender"): True, t("frequency"): ["heavy", "regular"]}],
        ["silver", {"any": [{t("spender"): True}, {t("lifetime_buyer"): True}]}],
        ["bronze", {}],
    ]}),
)  # fmt: skip
MODEL_TAGS: Final[tuple[tuple[str, str, Spec], ...]] = (
    ("p_new_parent", "attributes/family", {"model": {
        "kind": "logistic", "intercept": -2.5, "output": "probability",
        "features": {"category_affinity.toys": 4.0, "category_affinity.books": 1.5,
                     "spend_30d": 0.002, "orders_180d": 0.1},
    }}),
    ("purchase_female", "attributes/gender", {"model": {
        "kind": "logistic", "intercept": -0.8, "output": "label", "threshold": 0.5,
        "labels": ["no", "yes"],
        "features": {"category_affinity.beauty": 3.0, "category_affinity.fashion": 1.2,
                     "category_affinity.electronics": -1.0},
    }}),
)  # fmt: skip


def tags(count: int) -> list[Spec]:
    """``count`` tags: the two models first (when there is room for more), then the rounds."""
    models = MODEL_TAGS if count >= 4 else ()
    out: list[Spec] = [{"name": n, "path": p, **body} for n, p, body in models]
    v = 0
    while len(out) < count:

        def name(stem: str, v: int = v) -> str:
            return f"{stem}_{v}"

        for stem, path, body in TAG_TEMPLATES:
            out.append({"name": name(stem), "path": path, **body(v)})
        for stem, path, ref in REF_TEMPLATES:
            out.append({"name": name(stem), "path": path, **ref(name)})
        v += 1
    return [_described(tag) for tag in out[:count]]


def _described(tag: Spec) -> Spec:
    name, path, *body = tag.items()
    return dict([name, path, ("description", f"bench rule {name[1]}"), ("owner", OWNER), *body])


class Refs:
    """The generated tag names by stem, so that a segment reads a tag that exists."""

    def __init__(self, generated: list[Spec]) -> None:
        self.by_stem: dict[str, list[str]] = {}
        for tag in generated:
            name = str(tag["name"])
            stem, _, round_ = name.rpartition("_")
            self.by_stem.setdefault(stem if round_.isdigit() else name, []).append(name)

    def clause(self, stem: str, v: int, value: Any, fallback: Spec) -> Spec:
        """``{name: value}`` for the round-``v`` tag of ``stem`` (or an earlier round's), else
        ``fallback`` (a built-in clause) when the pack is too small to hold that tag."""
        names = self.by_stem.get(stem)
        if not names:
            return fallback
        return {names[min(v, len(names) - 1)]: value}


def _segment_where(k: int, v: int, r: Refs) -> Spec:
    any_order = {"orders_total": {">=": 1}}
    if k == 0:
        return {"all": [r.clause("spender", v, True, {"spend_30d": {">=": 100}}),
                        {"any": [r.clause("recency", v, "recent", any_order),
                                 r.clause("frequency", v, "heavy", any_order)]}]}  # fmt: skip
    if k == 1:
        return {**r.clause("likes", v, True, {"category_affinity": {_cat(v): {">": 0.2}}}),
                "not": r.clause("deal_hunter", v, True, {"price_band": "budget"})}  # fmt: skip
    if k == 2:
        return {"orders_total": {">=": 1}, "days_since_last_purchase": {">=": 30 + 7 * v}}
    if k == 3:
        return {"any": [r.clause("cart_hesitant", v, True, {"cart_adds_30d": {">=": 2}}),
                        {"all": [{"views_7d": {">=": 10 + v}}, {"purchases_30d": 0}]}]}  # fmt: skip
    if k == 4:
        return {"not": {"any": [r.clause("active_viewer", v, True, {"views_7d": {">=": 3}}),
                                {"days_since_last_seen": {"<": 14 + v}}]}}  # fmt: skip
    if k == 5:
        fallback = {"avg_order_value": {"<": 100}}
        return {**r.clause("price_sensitivity", v, ["high", "medium"], fallback),
                "category_affinity": {_cat(v, 3): {">": 0.1}}}  # fmt: skip
    if k == 6:
        return {**r.clause("p_new_parent", 0, {">=": 0.5 - 0.05 * v}, {"orders_180d": {">=": 3}}),
                "days_since_last_seen": {"<=": 30}}  # fmt: skip
    return {"any": [r.clause("value_tier", v, "gold", {"spend_total": {">=": 1000}}),
                    {"all": [r.clause("engaged_nonbuyer", v, True, {"orders_total": 0}),
                             {"not": {"lifecycle": "churn_risk"}}]}]}  # fmt: skip


SEGMENT_KINDS: Final = 8


def segments(count: int, generated: list[Spec]) -> list[Spec]:
    refs = Refs(generated)
    out = []
    for i in range(count):
        k, v = i % SEGMENT_KINDS, i // SEGMENT_KINDS
        out.append({"name": f"seg_{i:02d}", "description": f"bench segment kind {k}",
                    "owner": OWNER, "where": _segment_where(k, v, refs)})  # fmt: skip
    return out


def pack(n_tags: int = 50, n_segments: int = 20) -> Spec:
    """The rules file's mapping: ``n_tags`` tags and ``n_segments`` segments."""
    generated = tags(n_tags)
    return {"tags": generated, "segments": segments(n_segments, generated)}


def pack_yaml(n_tags: int = 50, n_segments: int = 20) -> str:
    head = f"# bench.rules_pack: {n_tags} tags, {n_segments} segments (generated)\n"
    return head + yaml.safe_dump(pack(n_tags, n_segments), sort_keys=False, width=100)


EMPTY: Final = "tags: []\nsegments: []\n"  # no rules at all (the worker evaluates nothing)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.rules_pack", description=__doc__.split("\n")[0]
    )
    p.add_argument("--tags", type=int, default=50, help="rule tags (default 50)")
    p.add_argument("--segments", type=int, default=20, help="segments (default 20)")
    args = p.parse_args(argv)
    if args.tags < 0 or args.segments < 0:
        p.error("--tags and --segments are counts (0 or more)")
    sys.stdout.write(pack_yaml(args.tags, args.segments))
    return 0


if __name__ == "__main__":
    sys.exit(main())
