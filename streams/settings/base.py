"""Decoding a YAML-loaded mapping into the typed sections, and one-line errors that name the path.

msgspec does the type checks (``forbid_unknown_fields`` on every section); this module only words
its :class:`msgspec.ValidationError` for a person: ``profile.layers.high_vlue: unknown key; did
you mean high_value?``, ``triggers.scheduler.batch: expected a whole number, got 'many'``.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import re
import typing
from typing import Annotated, Any, Literal, TypeVar, Union

import msgspec

from streams.settings.values import dec_hook

_T = TypeVar("_T")
_MESSAGE = re.compile(r"^(?P<what>.*) - at `\$(?P<path>[^`]*)`$", re.S)
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<key>[^`]*)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<key>[^`]*)`$")
_WHOLE = re.compile(r"^\s*-?\d+\s*$")
_EXPECTED = re.compile(r"^Expected `(?P<type>[^`]*)`(?:, got `(?P<got>[^`]*)`)?(?P<rest>.*)$")
_WORDS = {
    "int": "a whole number",
    "float": "a number",
    "str": "text",
    "bool": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}


class ConfigError(ValueError):
    """The configuration file or environment holds a value Portrait cannot use."""


class Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A mapping of the YAML file: unknown keys are errors, not ignored."""


def section_of(kind: type[Any], *, skip: frozenset[str] = frozenset()) -> type[Section]:
    """The YAML section holding the fields of the frozen dataclass ``kind`` (same names and
    defaults), so that the runtime object and the file cannot drift apart."""
    hints = typing.get_type_hints(kind)
    fields = [
        (f.name, hints[f.name], f.default) for f in dataclasses.fields(kind) if f.name not in skip
    ]
    made = msgspec.defstruct(f"{kind.__name__}Section", fields, bases=(Section,), kw_only=True)
    return typing.cast(type[Section], made)


def build(kind: type[_T], section: Section, **extra: Any) -> _T:
    """``kind`` from a section made by :func:`section_of` (plus the fields the file cannot set)."""
    return kind(**msgspec.structs.asdict(section), **extra)


def decode(data: object, kind: type[_T], where: str = "") -> _T:
    """``data`` (from ``yaml.safe_load``) as ``kind``, or a :class:`ConfigError` naming the path.

    Strict types (``enabled: 1`` is not a boolean), but a quoted whole number (``'50'``) is still
    read as one where a whole number is expected, as it always was.
    """
    data = copy.deepcopy(data)
    while True:
        try:
            return msgspec.convert(data, kind, dec_hook=dec_hook)
        except msgspec.ValidationError as exc:
            if not _unquote_whole(str(exc), data):
                raise ConfigError(explain(str(exc), data, kind, where)) from None


def _unquote_whole(message: str, data: object) -> bool:
    match = _MESSAGE.match(message)
    if match is None or not match["what"].startswith("Expected `int") or "got `str`" not in message:
        return False
    *parents, last = _parts(match["path"])
    parent = _value_at(data, parents)
    value = parent.get(last) if isinstance(parent, dict) else None
    if not isinstance(value, str) or not _WHOLE.match(value):
        return False
    parent[last] = int(value)  # type: ignore[index]
    return True


def _parts(path: str) -> list[str]:
    return [p for p in re.split(r"\.(?![.\]])|(?=\[)", path) if p]


def explain(message: str, data: object, kind: type[Any], where: str = "") -> str:
    """msgspec's ``Expected `int`, got `str` - at `$.a.b``` in the words of the YAML file."""
    match = _MESSAGE.match(message)
    what, path = (match["what"], match["path"]) if match else (message, "")
    parts = _parts(path)
    at = ".".join(p for p in [where, *parts] if p).replace(".[", "[")
    unknown = _UNKNOWN.match(what)
    if unknown:
        key = unknown["key"]
        hint = _closest(key, _keys(type_at(kind, parts)))
        return _join(at, key, f"unknown key{hint}")
    missing = _MISSING.match(what)
    if missing:
        return _join(at, missing["key"], "required")
    if what.startswith("Invalid enum value"):
        allowed = _keys(type_at(kind, parts))
        value = what.removeprefix("Invalid enum value ").strip()
        hint = _closest(value.strip("'\""), allowed)
        return f"{at}: {value} is not one of {', '.join(allowed)}{hint}"
    expected = _EXPECTED.match(what)
    if expected:
        words = " or ".join(_WORDS.get(t.strip(), t.strip()) for t in expected["type"].split("|"))
        rest = expected["rest"].rstrip()
        got = _value_at(data, parts)
        shown = f", got {got!r}" if got is not _NOTHING and not isinstance(got, dict) else ""
        return f"{at or 'the file'}: expected {words}{rest}{shown}"
    return f"{at or 'the file'}: {what}"


def _join(at: str, key: str, text: str) -> str:
    return f"{at}.{key}: {text}" if at else f"{key}: {text}"


def _closest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1) or [
        c for c in choices if len(word) >= 3 and (c.startswith(word) or word.startswith(c))
    ]
    return f"; did you mean {close[0]}?" if close else ""


def type_at(kind: Any, parts: list[str]) -> Any:
    """The type found at ``parts`` of a YAML path in the section type ``kind``."""
    for part in parts:
        kind = _strip(kind)
        if part.startswith("["):
            kind = next((_strip(a) for a in _union(kind) if typing.get_origin(a) is list), kind)
            args = typing.get_args(kind)
            kind = args[0] if args else kind
            continue
        struct = next((a for a in _union(kind) if _is_struct(a)), None)
        if struct is None:
            return kind
        fields = {f.name: f.type for f in msgspec.structs.fields(struct)}
        kind = fields.get(part, kind)
    return kind


def _keys(kind: Any) -> list[str]:
    """The keys (a section's fields) or values (a Literal's) a person could have meant."""
    for arg in _union(_strip(kind)):
        arg = _strip(arg)
        if _is_struct(arg):
            return [f.name for f in msgspec.structs.fields(arg)]
        if typing.get_origin(arg) is Literal:
            return [str(a) for a in typing.get_args(arg)]
        if typing.get_origin(arg) is list:
            found = _keys(typing.get_args(arg)[0])
            if found:
                return found
    return []


def _strip(kind: Any) -> Any:
    while typing.get_origin(kind) is Annotated:
        kind = typing.get_args(kind)[0]
    return kind


def _union(kind: Any) -> tuple[Any, ...]:
    if typing.get_origin(kind) in (Union, type(int | str)):
        return tuple(_strip(a) for a in typing.get_args(kind))
    return (kind,)


def _is_struct(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, msgspec.Struct)


_NOTHING = object()


def _value_at(data: object, parts: list[str]) -> object:
    for part in parts:
        if part.startswith("[") and part[1:-1].isdigit() and isinstance(data, list):
            index = int(part[1:-1])
            data = data[index] if index < len(data) else _NOTHING
        elif isinstance(data, dict) and part in data:
            data = data[part]
        else:
            return _NOTHING
    return data
