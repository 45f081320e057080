"""A profile state as stored bytes: a text fence header, then the rest as MessagePack.

``0:1834,3:77;<msgpack>``: the header lists the user's write fences (``{partition: offset}``,
the state's ``o``) so that the store's Lua script can read them with ``GETRANGE`` and string
matching, without decoding the state. MessagePack keeps integer keys (day numbers, hours of the
week) and raw bytes (event-id digests) as they are and is about half the size of the JSON; the
size of a profile is what bounds how many users one Redis holds (docs/tags.md, docs/design.md).
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

_ENCODER: Final = msgspec.msgpack.Encoder()
_DECODER: Final = msgspec.msgpack.Decoder()
HEADER_END: Final = b";"
MAX_HEADER: Final = 4096  # bytes the store's script reads to find the fences
TRANSIENT: Final = "_t"  # a key of the in-memory state that is never stored


class CorruptState(ValueError):
    """Stored bytes that are not a profile state of this version."""


def encode(state: dict[str, Any]) -> bytes:
    """The stored form of ``state`` (``state`` itself is left as it was; its transient key is
    not stored)."""
    fences: dict[str, int] = state.pop("o")
    transient = state.pop(TRANSIENT, None)
    try:
        body = _ENCODER.encode(state)
    finally:
        state["o"] = fences
        if transient is not None:
            state[TRANSIENT] = transient
    header = ",".join(f"{p}:{o}" for p, o in fences.items()).encode()
    if len(header) >= MAX_HEADER:
        raise ValueError(f"fence header of {len(header)} bytes: too many partitions")
    return header + HEADER_END + body


def decode(blob: bytes | bytearray | memoryview) -> dict[str, Any]:
    """Inverse of :func:`encode`; :class:`CorruptState` if ``blob`` is not one."""
    data = bytes(blob)
    end = data.find(HEADER_END, 0, MAX_HEADER)
    if end < 0:
        raise CorruptState("no fence header")
    try:
        state = _DECODER.decode(memoryview(data)[end + 1 :])
        fences = {}
        if end:
            for pair in data[:end].decode().split(","):
                partition, offset = pair.rsplit(":", 1)
                fences[partition] = int(offset)
    except (msgspec.DecodeError, ValueError, UnicodeDecodeError) as exc:
        raise CorruptState(str(exc)) from None
    if not isinstance(state, dict):
        raise CorruptState(f"state is a {type(state).__name__}")
    state["o"] = fences
    return state

