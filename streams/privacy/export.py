"""A stored profile state as plain JSON data, every part under its name (the right of access:
the export shows what is kept, not only what the profile document derives from it)."""

from __future__ import annotations

from typing import Any

import msgspec


def state_dict(value: Any) -> Any:
    """Structs as objects of their named fields, bytes as hex, mappings with text keys."""
    if isinstance(value, msgspec.Struct):
        return {name: state_dict(getattr(value, name)) for name in value.__struct_fields__}
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): state_dict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [state_dict(v) for v in value]
    return value
