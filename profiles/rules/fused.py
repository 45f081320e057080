"""A whole rule set fused into one generated Python function: the hot path without a call per
clause.

compiled.py makes one closure per clause and combinator, so an evaluation of 50 tags and 20
segments is some 300 Python calls. Here every condition becomes one inline expression and the
rule set one function (``t.get`` and a comparison per clause, ``and`` / ``or`` / ``not`` for the
combinators), which is several times faster. The generated source holds no value of the rules
file: every tag name, key and operand is an index into a tuple of constants (``C[3]``), so no
text of the file is ever executed. A condition too deep for the compiler falls back to the
closures of compiled.py. Semantics are those of reference.py; a property test holds the three
equal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from profiles.rules.compiled import compile_node
from profiles.rules.nodes import MISSING_SHARE, All, Clause, Node, Not

Evaluator = Callable[[dict[str, Any]], tuple[dict[str, Any], list[str]]]
NUMBERS: Final = frozenset({int, float})
HASHABLE: Final = frozenset({int, float, str, type(None)})
STRINGS: Final = frozenset({str})


def share(value: object, key: str) -> Any:
    """A lookup clause's value: the key's share, 0 when missing, None without a mapping."""
    return value.get(key, MISSING_SHARE) if isinstance(value, dict) else None


def contains_same(value: object, x: object) -> bool:
    """``contains`` of null or a bool: the same object (``True`` is not ``1``)."""
    return isinstance(value, list | tuple) and any(e is x for e in value)


def contains_number(value: object, x: object) -> bool:
    return isinstance(value, list | tuple) and any(e.__class__ in NUMBERS and e == x for e in value)


def contains_text(value: object, x: object) -> bool:
    return isinstance(value, list | tuple) and x in value


class Source:
    """Generated source and its constants."""

    def __init__(self) -> None:
        self.constants: list[Any] = []
        self.lines: list[str] = []

    def const(self, value: Any) -> str:
        self.constants.append(value)
        return f"C[{len(self.constants) - 1}]"

    def expression(self, node: Node) -> str:
        """A Python expression over the mapping ``t`` that is true when ``node`` holds."""
        if isinstance(node, Clause):
            return self._clause(node)
        if isinstance(node, Not):
            return f"(not {self.expression(node.child)})"
        if not node.children:
            return "True" if isinstance(node, All) else "False"
        joint = " and " if isinstance(node, All) else " or "
        return "(" + joint.join(self.expression(child) for child in node.children) + ")"

    def _clause(self, c: Clause) -> str:
        read = f"t.get({self.const(c.tag)})"
        if c.key is not None:
            read = f"share({read}, {self.const(c.key)})"
        op, x = c.op, c.operand
        if op in ("==", "!="):
            test = self._equals(read, x)
        elif op in ("in", "not_in"):
            bools = frozenset(o for o in x if o is True or o is False)
            others = frozenset(o for o in x if not (o is True or o is False))
            test = (
                f"(((v := {read}).__class__ is bool and v in {self.const(bools)})"
                f" or (v.__class__ in HASHABLE and v in {self.const(others)}))"
            )
        elif op == "contains":
            helper = (
                "contains_same"
                if x is None or x is True or x is False
                else "contains_text"
                if x.__class__ is str
                else "contains_number"
            )
            test = f"{helper}({read}, {self.const(x)})"
        else:
            kinds = "NUMBERS" if x.__class__ in NUMBERS else "STRINGS"
            test = f"((v := {read}).__class__ in {kinds} and v {op} {self.const(x)})"
        return f"(not {test})" if op in ("!=", "not_in") else test

    def _equals(self, read: str, x: Any) -> str:
        if x is None or x is True or x is False:
            return f"({read} is {self.const(x)})"
        if x.__class__ is str:
            return f"({read} == {self.const(x)})"
        return f"((v := {read}).__class__ in NUMBERS and v == {self.const(x)})"


_NAMESPACE: Final = {
    "share": share,
    "contains_same": contains_same,
    "contains_number": contains_number,
    "contains_text": contains_text,
    "NUMBERS": NUMBERS,
    "HASHABLE": HASHABLE,
    "STRINGS": STRINGS,
}


def fuse_node(node: Node) -> Callable[[Mapping[str, Any]], bool]:
    """One condition as one generated function (closures when too deep to compile)."""
    source = Source()
    try:
        text = f"def holds(t):\n    return {source.expression(node)}\n"
        holds: Callable[[Mapping[str, Any]], bool] = _build(text, source.constants, "holds")
        return holds
    except (SyntaxError, RecursionError, MemoryError):
        return compile_node(node)


Step = tuple[str, Node | None, Sequence[tuple[str, Node]], Callable[[Any], Any] | None]


def fuse_rules(steps: Sequence[Step], segments: Sequence[tuple[str, Node]]) -> Evaluator | None:
    """The whole evaluation as one function of the environment (a copy of the inputs, which
    it extends with each tag's value): returns (tag values, names of the segments that hold).
    ``steps``: per tag in order, its name and one of: a bool condition, buckets, or a
    function of the environment (models, manual tags). None when too deep to compile."""
    source = Source()
    lines = ["def evaluate(t):", "    out = {}"]
    for name, condition, buckets, function in steps:
        key = source.const(name)
        if condition is not None:
            lines.append(f"    x = {source.expression(condition)}")
        elif function is not None:
            lines.append(f"    x = {source.const(function)}(t)")
        elif not buckets:
            lines.append("    x = None")
        else:
            word = "if"
            for value, node in buckets:
                lines.append(f"    {word} {source.expression(node)}:")
                lines.append(f"        x = {source.const(value)}")
                word = "elif"
            lines.append("    else:")
            lines.append("        x = None")
        lines.append(f"    t[{key}] = out[{key}] = x")
    lines.append("    members = []")
    for name, node in segments:
        lines.append(f"    if {source.expression(node)}:")
        lines.append(f"        members.append({source.const(name)})")
    lines.append("    return out, members")
    try:
        evaluate: Evaluator = _build("\n".join(lines) + "\n", source.constants, "evaluate")
        return evaluate
    except (SyntaxError, RecursionError, MemoryError):
        return None


def _build(text: str, constants: list[Any], name: str) -> Any:
    namespace = {**_NAMESPACE, "C": tuple(constants)}
    exec(compile(text, f"<rules:{name}>", "exec"), namespace)
    return namespace[name]
