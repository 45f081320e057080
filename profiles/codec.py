"""A profile state as stored bytes: a text fence header, then the rest as MessagePack.

``0:1834,3:77;<msgpack>``: the header lists the user's write fences (``{partition: offset}``,
the state's ``fences``) so that the store's Lua script can read them with ``GETRANGE`` and
string matching, without decoding the state. MessagePack keeps integer keys (day numbers, hours
of the week) and raw bytes (event-id digests) as they are and is about half the size of the
JSON; the size of a profile is what bounds how many users one Redis holds (docs/tags.md,
docs/design.md).

The body is a v3 :class:`~profiles.state.State` (an array). A v2 body (a map with short keys,
written before the state was typed) is migrated on read; the next write stores it as v3.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from profiles.state import State, from_v2

_ENCODER: Final = msgspec.msgpack.Encoder()
_DECODER: Final = msgspec.msgpack.Decoder(State)
_V2_DECODER: Final = msgspec.msgpack.Decoder()
HEADER_END: Final = b";"
MAX_HEADER: Final = 4096  # bytes the store's script reads to find the fences
_NO_FENCES: Final[dict[str, int]] = {}


class CorruptState(ValueError):
    """Stored bytes that are not a profile state of this version."""


def frame(fences: dict[str, int], body: bytes) -> bytes:
    """The header of ``fences``, then ``body``."""
    header = ",".join(f"{p}:{o}" for p, o in fences.items()).encode()
    if len(header) >= MAX_HEADER:
        raise ValueError(f"fence header of {len(header)} bytes: too many partitions")
    return header + HEADER_END + body


def encode(state: State) -> bytes:
    """The stored form of ``state`` (left as it was: its fences go to the header, its segments
    are not stored)."""
    fences, segments = state.fences, state.segments
    state.fences, state.segments = _NO_FENCES, None
    try:
        body = _ENCODER.encode(state)
    finally:
        state.fences, state.segments = fences, segments
    return frame(fences, body)


def decode(blob: bytes | bytearray | memoryview) -> State:
    """Inverse of :func:`encode` (v2 bodies migrated); :class:`CorruptState` if ``blob`` is
    not one."""
    data = bytes(blob)
    end = data.find(HEADER_END, 0, MAX_HEADER)
    if end < 0:
        raise CorruptState("no fence header")
    try:
        state = _body(memoryview(data)[end + 1 :])
        fences: dict[str, int] = {}
        if end:
            for pair in data[:end].decode().split(","):
                partition, offset = pair.rsplit(":", 1)
                fences[partition] = int(offset)
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError, UnicodeDecodeError) as exc:
        raise CorruptState(str(exc)) from None
    state.fences = fences
    return state


def _body(body: memoryview) -> State:
    lead = body[0] if body else 0
    if 0x80 <= lead <= 0x8F or lead in (0xDE, 0xDF):  # a map: a v2 state
        old: Any = _V2_DECODER.decode(body)
        if not isinstance(old, dict) or old.get("v", 2) != 2:
            raise CorruptState("a map that is not a v2 state")
        try:
            return from_v2(old)
        except KeyError as exc:
            raise CorruptState(f"v2 state without {exc}") from None
    return _DECODER.decode(body)
