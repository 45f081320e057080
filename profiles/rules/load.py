"""Rules files: YAML text (or an already-loaded mapping) -> a checked :class:`RuleSet`.

Every error is one line with its place: the YAML is composed into nodes first, the parsed data
is checked, and the ``path`` a check fails at (keys and indices) is walked back through the
nodes to the line and column of the part that caused it (a key for an unknown name, the value
for a bad value). docs/rules.md gives the format; parse.py reads the entries themselves.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from profiles.rules.catalogue import RulesError
from profiles.rules.parse import parse_mapping
from profiles.rules.ruleset import RuleSet

TOO_DEEP = "the rules nest too deeply"
DEFAULT = "default.yaml"  # the shipped pack, package data of profiles.rules
__all__ = ["RulesLoader", "default_rules", "load_rules", "load_rules_file", "parse_rules"]


def parse_rules(data: object, source: str = "<rules>") -> RuleSet:
    """A rule set from an already-loaded mapping (the ``rules:`` key of the config file);
    errors name the place as a path (``tags[2].rule``), having no line to name."""
    try:
        return parse_mapping(data)
    except RecursionError:
        raise RulesError(TOO_DEEP, source) from None
    except RulesError as e:
        place = path_text(e.path)
        message = f"{place}: {e.message}" if place else e.message
        raise RulesError(message, source, path=e.path, at_key=e.at_key) from None


class RulesLoader(yaml.SafeLoader):
    """Safe YAML read as YAML 1.2 reads booleans and numbers: ``true`` and ``false`` alone are
    booleans (``labels: [no, yes]``, a bucket ``[on, ...]`` or ``{vip: yes}`` are strings, as
    written), and ``1e3`` is a number."""


RulesLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
RulesLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
# YAML 1.2 exponents: 1e3 and 2.5E-4 are numbers (YAML 1.1 wants a dot and a signed exponent).
RulesLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def compose(text: str) -> tuple[yaml.Node | None, Any]:
    """The node tree and the data of a YAML text (one parse), duplicate keys refused."""
    loader = RulesLoader(text)
    try:
        root = loader.get_single_node()
        _no_duplicate_keys(root)
        data = None if root is None else loader.construct_document(root)
    finally:
        loader.dispose()
    return root, data


def load_rules(text: str, source: str = "<rules>", at: tuple[str, ...] = ()) -> RuleSet:
    """A rule set from YAML text; :class:`RulesError` ``SOURCE:LINE:COL: message``. ``at``:
    the keys leading to the rules mapping inside the document (``("rules",)`` for the
    ``rules:`` key of the config file), so that its errors too have a line and a column."""
    try:
        root, data = compose(text)
        for key in at:
            data = data.get(key) if isinstance(data, dict) else None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        message = " ".join(str(p) for p in (e.context, e.problem) if p) or "bad YAML"
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise RulesError(message, source, line, column) from None
    except yaml.YAMLError as e:
        raise RulesError(f"bad YAML: {e}", source) from None
    except RulesError as e:
        raise e.placed(source, e.line, e.column) from None
    except RecursionError:
        raise RulesError(TOO_DEEP, source) from None
    try:
        return parse_mapping({} if data is None else data)
    except RecursionError:
        raise RulesError(TOO_DEEP, source) from None
    except RulesError as e:
        line, column = locate(root, (*at, *e.path), e.at_key)
        raise e.placed(source, line, column) from None


def load_rules_file(path: str | Path) -> RuleSet:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise RulesError(f"cannot read the rules file: {e.strerror}", str(path)) from None
    except UnicodeDecodeError:
        raise RulesError("the rules file is not UTF-8 text", str(path)) from None
    return load_rules(text, str(path))


@lru_cache(maxsize=1)
def default_rules() -> RuleSet:
    """The shipped default pack (profiles/rules/default.yaml): the seeds' layers as rules."""
    try:
        text = resources.files("profiles.rules").joinpath(DEFAULT).read_text(encoding="utf-8")
    except OSError:  # an install without the package data
        raise RulesError(
            "the default rule pack is not installed", f"profiles/rules/{DEFAULT}"
        ) from None
    return load_rules(text, f"profiles/rules/{DEFAULT}")


def locate(
    root: yaml.Node | None, path: tuple[str | int, ...], at_key: bool
) -> tuple[int | None, int | None]:
    """The 1-based line and column of the node at ``path`` (its key if ``at_key``); the
    deepest node found when the path leaves the tree (an alias, a merge key)."""
    if root is None:
        return None, None
    node: yaml.Node = root
    for i, step in enumerate(path):
        last = i == len(path) - 1
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(step):
                    child = key if last and at_key else value
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(step, int)
            and 0 <= step < len(node.value)
        ):
            child = node.value[step]
        if child is None:
            break
        node = child
    return node.start_mark.line + 1, node.start_mark.column + 1


MAX_NODES = 200_000  # a rules file expanded through its aliases; far above any real pack


def _no_duplicate_keys(root: yaml.Node | None) -> None:
    """PyYAML keeps the last of two equal keys silently; a rules file refuses them. Walks the
    tree as the checks will (an alias once per use), so a file that aliases its way to an
    enormous tree is refused here rather than parsed for minutes."""
    stack = [root] if root is not None else []
    visited = 0
    while stack:
        node = stack.pop()
        visited += 1
        if visited > MAX_NODES:
            mark = node.start_mark
            raise RulesError(f"the rules expand to over {MAX_NODES} nodes (aliases?)", "",
                             mark.line + 1, mark.column + 1)  # fmt: skip
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in seen and key.value != "<<":
                        mark = key.start_mark
                        raise RulesError(
                            f"duplicate key {key.value!r}", "", mark.line + 1, mark.column + 1
                        )
                    seen.add(key.value)
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)


def path_text(path: tuple[Any, ...]) -> str:
    """``("tags", 2, "rule")`` -> ``tags[2].rule``."""
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out
