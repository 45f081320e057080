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
from typing import Any

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


def builtin_reader(model: ProfileModel, names: Collection[str]) -> Callable[[State, int], Tags]:
    """The cheapest way to read the built-in tags ``names``: the segments' lean path when it
    covers them, the aggregators that make them when no derived tag is needed, else
    :meth:`ProfileModel.tags` (all of them give the values of :meth:`ProfileModel.tags`)."""
    wanted = frozenset(names)
    if not wanted:
        return lambda state, as_of_ms: {}
    if wanted <= segment_tags(model):
        return model.segments
    sources = [a for a in model.aggregators if wanted & made_by(a)]
    if wanted <= frozenset().union(*(made_by(a) for a in sources)):

        def some(state: State, as_of_ms: int) -> Tags:
            out: Tags = {}
            for agg in sources:
                out.update(model.tags_of(agg, state, as_of_ms))
            return out

        return some
    return model.tags


def made_by(aggregator: Aggregator) -> frozenset[str]:
    """The tag names an aggregator produces."""
    return frozenset(aggregator.tags(aggregator.initial(), 0))


def segment_tags(model: ProfileModel) -> frozenset[str]:
    """The tag names of the lean path (:meth:`ProfileModel.segments`)."""
    return frozenset(model.segments(model.initial(), 0))
