"""The profile store: one Redis hash per user, written once per batch, fenced by (partition,
offset).

The write is a Lua script that sets the state only when the incoming offset is above the fence
stored for that partition, so a replay after a crash, or a zombie owner after a rebalance, can
never put an older state over a newer one. One EVALSHA carries a whole chunk of users.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from profiles.constants import FIELD_STATE, FIELD_UPDATED, fence_field, profile_key
from profiles.model import State

# KEYS[i]: profile hash; ARGV: now, then per key: fence field, offset, state blob.
# Returns the 1-based indexes of the keys it refused because their fence was above the offset.
# A fence equal to the offset means this very write already landed (a retried chunk): no-op.
FENCED_WRITE = """
local now = ARGV[1]
local skipped = {}
for i, key in ipairs(KEYS) do
  local base = 1 + (i - 1) * 3
  local field = ARGV[base + 1]
  local offset = tonumber(ARGV[base + 2])
  local fence = tonumber(redis.call('HGET', key, field) or '-1')
  if offset > fence then
    redis.call('HSET', key, 's', ARGV[base + 3], field, offset, 'u', now)
  elseif offset < fence then
    skipped[#skipped + 1] = i
  end
end
return skipped
"""

assert FIELD_STATE == "s" and FIELD_UPDATED == "u"  # the script spells them out


@dataclass(frozen=True, slots=True)
class Write:
    user_id: str
    partition: int
    offset: int
    state: bytes  # orjson-encoded State


class ProfileStore:
    """Reads and fenced writes of profile states."""

    def __init__(self, redis: Redis, chunk: int = 500) -> None:
        self.redis = redis
        self.chunk = chunk
        self._sha: str | None = None

    async def load_many(self, user_ids: Sequence[str]) -> dict[str, State]:
        """States of the users that have one (missing users are absent from the result)."""
        raw = await self.load_raw(user_ids)
        return {uid: orjson.loads(blob) for uid, blob in raw.items()}

    async def load_raw(self, user_ids: Sequence[str]) -> dict[str, bytes]:
        """The stored state blobs, undecoded (the caller decodes each and isolates failures)."""
        if not user_ids:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for user_id in user_ids:
                pipe.hget(profile_key(user_id), FIELD_STATE)
            blobs: list[bytes | None] = await pipe.execute()
        return {uid: b for uid, b in zip(user_ids, blobs, strict=True) if b}

    async def get(self, user_id: str) -> State | None:
        blob = await self.redis.hget(profile_key(user_id), FIELD_STATE)
        return orjson.loads(blob) if blob else None

    async def write(self, writes: Sequence[Write], now_ms: int) -> list[str]:
        """Write the states; return the user ids the fence refused (someone wrote newer)."""
        refused: list[str] = []
        for start in range(0, len(writes), self.chunk):
            part = writes[start : start + self.chunk]
            skipped = await self._eval(_keys(part), _args(part, now_ms))
            refused.extend(part[int(i) - 1].user_id for i in skipped)
        return refused

    async def _eval(self, keys: list[str], args: list[Any]) -> list[int]:
        if self._sha is None:
            self._sha = await self.redis.script_load(FENCED_WRITE)
        try:
            return await self.redis.evalsha(self._sha, len(keys), *keys, *args)  # type: ignore[no-any-return]
        except NoScriptError:  # the server restarted or flushed its scripts
            self._sha = await self.redis.script_load(FENCED_WRITE)
            return await self.redis.evalsha(self._sha, len(keys), *keys, *args)  # type: ignore[no-any-return]

    async def scan_user_ids(self, count: int = 1000) -> Iterable[str]:
        from profiles.constants import KEY_PREFIX, user_id_from_key

        pattern = f"{KEY_PREFIX}:p:*"
        return [user_id_from_key(k.decode()) async for k in self.redis.scan_iter(pattern, count)]


def _keys(part: Sequence[Write]) -> list[str]:
    return [profile_key(w.user_id) for w in part]


def _args(part: Sequence[Write], now_ms: int) -> list[Any]:
    args: list[Any] = [now_ms]
    for w in part:
        args.extend((fence_field(w.partition), w.offset, w.state))
    return args
