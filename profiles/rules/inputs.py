"""The inputs of an evaluation: built-in tags of a stored state as of a time, by the cheapest
path that gives them, plus the lookup tags and the manual tags.

The worker evaluates the rules for every touched user of every batch, so the built-in tags are
read like the triggers read theirs (triggers/audience.py ``tag_reader``): the recorded tags'
lean path (:meth:`ProfileModel.segments`) when the rules read only those, else only the
aggregators that make the tags read (:meth:`ProfileModel.tags_of`), else every tag. The plan is
made once per (model, names) and cached.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from functools import lru_cache
from typing import Any, Final

from profiles.aggregators import Aggregator, Tags
from profiles.interest import Affinity
from profiles.model import ProfileModel
from profiles.rules.catalogue import LOOKUP_TAGS
from profiles.state import State

Reader = Callable[[State, int], dict[str, Any]]


def read_inputs(
    model: ProfileModel, state: State, as_of_ms: int, names: frozenset[str]
) -> dict[str, Any]:
    """The built-in tags ``names`` of ``state`` as of ``as_of_ms`` (maybe more), the lookup
    tags among ``names`` (key -> share of the decayed score, 0..1) and the manual tags'
    values of ``state.rules.manual``."""
    out = reader(model, names)(state, as_of_ms)
    for name, (value, _) in state.rules.manual.items():
        out[name] = value
    return out


@lru_cache(maxsize=64)
def reader(model: ProfileModel, names: frozenset[str]) -> Reader:
    """How to read ``names`` (built-in and lookup tags) of a state, planned once."""
    plain = names - frozenset(LOOKUP_TAGS)
    base = builtin_reader(model, plain)
    lookups = tuple(
        (name, agg)
        for name, agg in (("category_affinity", model.categories), ("brand_affinity", model.brands))
        if name in names
    )
    if not lookups:
        return base

    def read(state: State, as_of_ms: int) -> dict[str, Any]:
        out: dict[str, Any] = base(state, as_of_ms)
        for name, agg in lookups:
            out[name] = shares(agg, getattr(state, agg.key), as_of_ms)
        return out

    return read


def shares(agg: Affinity, state: list[Any], as_of_ms: int) -> dict[str, float]:
    """Each key's share of the decayed score (the shares sum to 1; none: empty).

    Every key decays by the same factor, so a share is the same at every as-of time: the
    scores are read at their own reference time (factor exactly 1), which keeps the shares
    bit-for-bit equal as the clock moves (a tag must not change by rounding noise alone)."""
    scores = agg.scores(state, state[0])
    total = sum(score for _, score in scores)
    if total <= 0:
        return {}
    return {key: score / total for key, score in scores}


def builtin_reader(
    model: ProfileModel, names: Collection[str], fields: bool = True
) -> Callable[[State, int], Tags]:
    """The cheapest way to read the built-in tags ``names``: the lean fields and/or the
    segments' lean path when they cover them, the aggregators that make them when no derived
    tag is needed, else :meth:`ProfileModel.tags` (all give the values of the last).
    ``fields=False``: without the lean fields (the plan the triggers keep for now)."""
    wanted = frozenset(names)
    if not wanted:
        return lambda state, as_of_ms: {}
    if fields and wanted <= LEAN_FIELDS:
        return lambda state, as_of_ms: lean_fields(model, state, as_of_ms)
    if wanted <= segment_tags(model):
        return model.segments
    if fields and wanted <= segment_tags(model) | LEAN_FIELDS:

        def both(state: State, as_of_ms: int) -> Tags:
            out = model.segments(state, as_of_ms)
            out.update(lean_fields(model, state, as_of_ms))
            return out

        return both
    sources = [a for a in model.aggregators if wanted & made_by(a)]
    if wanted <= frozenset().union(*(made_by(a) for a in sources)):

        def some(state: State, as_of_ms: int) -> Tags:
            out: Tags = {}
            for agg in sources:
                out.update(model.tags_of(agg, state, as_of_ms))
            return out

        return some
    return model.tags


# The counts, sums and day counts the layers read, which the aggregators' lean methods give
# without a full read (the model's segments use them the same way); the most read by rules.
LEAN_FIELDS: Final = frozenset({
    "views_30d", "cart_adds_30d", "days_since_first_seen", "days_since_last_seen",
    "days_since_last_purchase", "spend_total", "spend_30d", "spend_180d", "orders_total",
    "orders_180d", "order_days_180d",
})  # fmt: skip


def lean_fields(model: ProfileModel, state: State, as_of_ms: int) -> Tags:
    """:data:`LEAN_FIELDS` by the aggregators' lean methods (equal to :meth:`ProfileModel.tags`,
    floats summed in the same order; a property test holds them so)."""
    money = state.money
    views, adds = model.counters.lean(state.counters, as_of_ms)
    first, last, purchase = model.recency.lean(state.recency, as_of_ms)
    spend_30d, spend_180d, orders_180d, order_days = model.monetary.lean(money, as_of_ms)
    return {
        "views_30d": views,
        "cart_adds_30d": adds,
        "days_since_first_seen": first,
        "days_since_last_seen": last,
        "days_since_last_purchase": purchase,
        "spend_total": money.spend,
        "spend_30d": spend_30d,
        "spend_180d": spend_180d,
        "orders_total": money.orders,
        "orders_180d": orders_180d,
        "order_days_180d": order_days,
    }


def made_by(aggregator: Aggregator) -> frozenset[str]:
    """The tag names an aggregator produces."""
    return frozenset(aggregator.tags(aggregator.initial(), 0))


def segment_tags(model: ProfileModel) -> frozenset[str]:
    """The tag names of the lean path (:meth:`ProfileModel.segments`)."""
    return frozenset(model.segments(model.initial(), 0))
