"""The entries of a rules mapping -> checked tags and segments, in evaluation order.

Two passes: the first gives every declared tag its type (a bool rule is a bool, buckets are
one of their values, a model a probability or a label, a manual tag its values'), so that the
second can check each condition against built-in and declared tags alike, in any file order.
Then the tags are ordered so that each comes after the tags it reads; a cycle is refused and
named. Errors carry the ``path`` of the bad part (load.py turns it into a line and a column).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final

from profiles.names import TAG_NAME
from profiles.rules.catalogue import BUILTIN_TYPES, RulesError, TagType, bool_hint, unknown
from profiles.rules.conditions import Node, parse_condition
from profiles.rules.manual import manual_type, parse_manual
from profiles.rules.ruleset import RuleSet, SegmentRule, TagRule
from profiles.rules.scoring import parse_model

NAME: Final = TAG_NAME  # what a tag event may set too (profiles/names.py)
LEVEL: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")
SOURCES: Final = ("rule", "buckets", "model", "manual")
TAG_KEYS: Final = ("name", "path", "description", "owner", *SOURCES)
SEGMENT_KEYS: Final = ("name", "description", "owner", "where")
Path = tuple[str | int, ...]


def parse_mapping(data: object) -> RuleSet:
    if not isinstance(data, Mapping):
        raise RulesError(
            f"a rules file is a mapping with tags and segments, not {type(data).__name__}"
        )
    for key in data:
        if key not in ("tags", "segments"):
            raise RulesError(unknown("key", key, ("tags", "segments")), path=(key,), at_key=True)
    tags, segments = _list(data, "tags"), _list(data, "segments")
    segment_names = _names(segments, "segments", {})
    tag_names = _names(tags, "tags", {**BUILTIN_TYPES, **dict.fromkeys(segment_names)})
    types = {
        name: _declared_type(entry, ("tags", i))
        for i, (name, entry) in enumerate(zip(tag_names, tags, strict=True))
    }
    visible = {**BUILTIN_TYPES, **types}
    try:
        parsed = [
            _tag(entry, name, visible, ("tags", i))
            for i, (name, entry) in enumerate(zip(tag_names, tags, strict=True))
        ]
        rules = [
            _segment(entry, name, visible, ("segments", i))
            for i, (name, entry) in enumerate(zip(segment_names, segments, strict=True))
        ]
    except RulesError as e:
        if e.at_key and e.path and e.path[-1] in segment_names and e.message.startswith("unknown"):
            message = f"{e.path[-1]!r} is a segment: conditions read tags (make it a rule tag)"
            raise RulesError(message, path=e.path, at_key=True) from None
        raise
    return RuleSet(evaluation_order(parsed), rules, types)


def _list(data: Mapping[Any, Any], key: str) -> list[Mapping[str, Any]]:
    items = data.get(key)
    if items is None:
        return []
    if not isinstance(items, list):
        raise RulesError(f"{key} is a list of mappings", path=(key,))
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise RulesError(f"each of {key} is a mapping with a name", path=(key, i))
    return items


def _names(entries: list[Mapping[str, Any]], what: str, taken: Mapping[str, Any]) -> list[str]:
    allowed = TAG_KEYS if what == "tags" else SEGMENT_KEYS
    seen: set[str] = set()
    out: list[str] = []
    for i, entry in enumerate(entries):
        for key in entry:
            if key not in allowed:
                raise RulesError(unknown("key", key, allowed), path=(what, i, key), at_key=True)
        name = entry.get("name")
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise RulesError(
                f"a name is [a-z][a-z0-9_]{{0,63}}, not {name!r}", path=(what, i, "name")
            )
        if name in seen:
            raise RulesError(f"{name!r} is defined twice", path=(what, i, "name"))
        if name in taken:
            other = "a built-in tag" if name in BUILTIN_TYPES else "a segment"
            raise RulesError(f"{name!r} is already {other}", path=(what, i, "name"))
        seen.add(name)
        out.append(name)
    return out


def _text(entry: Mapping[str, Any], key: str, path: Path) -> str:
    value = entry.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RulesError(f"{key} is a string, not {value!r}", path=(*path, key))
    return value


def _source(entry: Mapping[str, Any], path: Path) -> str:
    given = [key for key in SOURCES if key in entry]
    if len(given) != 1:
        found = f"found {', '.join(given)}" if given else "found none"
        raise RulesError(
            f"a tag has exactly one of {', '.join(SOURCES)} ({found})", path=(*path, "name")
        )
    return given[0]


def _declared_type(entry: Mapping[str, Any], path: Path) -> TagType:
    source = _source(entry, path)
    if source == "rule":
        return TagType("bool")
    if source == "buckets":
        return TagType(
            "str", nullable=True, values=tuple(_bucket_values(entry["buckets"], (*path, "buckets")))
        )
    if source == "model":
        model = entry["model"]
        if isinstance(model, Mapping) and model.get("output") == "label":
            labels = model.get("labels", ["no", "yes"])
            values = (
                tuple(labels)
                if isinstance(labels, list) and all(isinstance(v, str) for v in labels)
                else None
            )
            return TagType("str", values=values)
        return TagType("float")
    return manual_type(*parse_manual(entry["manual"], (*path, "manual")))


def _bucket_values(buckets: object, path: Path) -> list[str]:
    if not isinstance(buckets, list) or not buckets:
        raise RulesError("buckets is a non-empty list of [value, condition]", path=path)
    values: list[str] = []
    for i, bucket in enumerate(buckets):
        if not isinstance(bucket, list) or len(bucket) != 2:
            raise RulesError("a bucket is [value, condition]", path=(*path, i))
        value = bucket[0]
        if not isinstance(value, str) or not value:
            what = f"a bucket's value is a non-empty string, not {value!r}{bool_hint(value)}"
            raise RulesError(what, path=(*path, i, 0))
        if value in values:
            raise RulesError(f"bucket {value!r} is listed twice", path=(*path, i, 0))
        values.append(value)
    return values


def _tag(entry: Mapping[str, Any], name: str, types: Mapping[str, TagType], path: Path) -> TagRule:
    source = _source(entry, path)
    common = TagRule(
        name,
        _taxonomy(entry.get("path"), (*path, "path")),
        _text(entry, "description", path),
        _text(entry, "owner", path),
    )
    if source == "rule":
        return replace(common, condition=_condition(entry["rule"], types, (*path, "rule")))
    if source == "buckets":
        where = (*path, "buckets")
        buckets = tuple(
            (value, _condition(bucket[1], types, (*where, i, 1)))
            for i, (value, bucket) in enumerate(
                zip(_bucket_values(entry["buckets"], where), entry["buckets"], strict=True)
            )
        )
        return replace(common, buckets=buckets)
    if source == "model":
        try:
            model = parse_model(entry["model"], types)
        except RulesError as e:
            raise e.inside(*path, "model") from None
        return replace(common, source="model", model=model)
    values, default = parse_manual(entry["manual"], (*path, "manual"))
    return replace(common, source="manual", values=values, default=default)


def _taxonomy(value: object, path: Path) -> tuple[str, ...]:
    if not isinstance(value, str) or not value:
        raise RulesError(
            "path is the tag's place in the taxonomy, e.g. consumption/value", path=path
        )
    levels = tuple(value.strip("/").split("/"))
    for level in levels:
        if not LEVEL.fullmatch(level):
            raise RulesError(f"a path level is [a-z][a-z0-9_]*, not {level!r}", path=path)
    return levels


def _condition(spec: object, types: Mapping[str, TagType], path: Path) -> Node:
    try:
        return parse_condition(spec, types)
    except RulesError as e:
        raise e.inside(*path) from None


def _segment(
    entry: Mapping[str, Any], name: str, types: Mapping[str, TagType], path: Path
) -> SegmentRule:
    description, owner = _text(entry, "description", path), _text(entry, "owner", path)
    return SegmentRule(name, description, owner, _where(entry, types, path))


def _where(entry: Mapping[str, Any], types: Mapping[str, TagType], path: Path) -> Node:
    if "where" not in entry:
        raise RulesError("a segment needs a where condition", path=(*path, "name"))
    return _condition(entry["where"], types, (*path, "where"))


def evaluation_order(tags: list[TagRule]) -> list[TagRule]:
    """The tags, each after those it reads (file order otherwise); a cycle is refused."""
    by_name = {t.name: t for t in tags}
    index = {t.name: i for i, t in enumerate(tags)}
    done: list[TagRule] = []
    state: dict[str, int] = {}  # 1: being visited, 2: done

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = [*trail[trail.index(name) :], name]
            raise RulesError(f"tags read each other in a cycle: {' -> '.join(cycle)}",
                             path=("tags", index[name], "name"))  # fmt: skip
        state[name] = 1
        for dep in sorted(by_name[name].reads() & by_name.keys(), key=index.__getitem__):
            visit(dep, [*trail, name])
        state[name] = 2
        done.append(by_name[name])

    for tag in tags:
        visit(tag.name, [])
    return done
