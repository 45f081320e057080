"""The profile store: one Redis string per user, written once per batch, fenced by (partition,
offset).

The write is a Lua script that sets the state only when the incoming offset is above the fence
stored for that partition, so a replay after a crash, or a zombie owner after a rebalance, can
never put an older state over a newer one. One EVALSHA carries a whole chunk of users, its
states packed into one argument (redis-py's per-argument packing was the cost to cut); one MGET
loads a chunk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from profiles.codec import decode
from profiles.model import State
from profiles.timeutil import DAY_MS
from streams.names import ABSORBING, MOVED, PENDING, PRIVACY, PROFILE, Keys, user_id_from_key
from triggers.config import KINDS

# KEYS[i]: a profile. ARGV[1]: JSON [[partition, offset, length, exact, delta, home, erase],
# ...] per key; ARGV[2]: the state blobs, concatenated; ARGV[3]: JSON list of rule deltas [added
# segments, removed segments, profile.changes messages, due moment] that meta's 1-based `delta`
# points to (0: none), whose outbox and due entries go to the `home` partition (the user's
# partition of the events topic; a replay's fence is not one); ARGV[4..6]: the key prefixes of
# segment member sets, outboxes and due indexes; ARGV[7..8]: those of the privacy markers and
# pending triggers, ARGV[9] the trigger due index, ARGV[10] the tombstone's lifetime in ms,
# ARGV[11] the trigger kinds as JSON (a lazy kind is due with no pending record) (streams/names.py,
# docs/privacy.md); ARGV[12..13]: the key prefixes of the identity hand-overs and moved markers
# (docs/identity.md).
#
# A stored state starts with its fences, "p:offset,p:offset;" (profiles/codec.py). A write
# lands when its offset is above the fence stored for its partition (or equal to it, for an
# `exact` write: the rules' own re-evaluation of a stored state), and its rule delta with it,
# atomically: the member sets, the outbox (published later by the partition's owner) and the
# due index. A fence equal to the offset for a batch write means this very write already landed
# (a retried chunk), which is a no-op.
#
# Where no profile is stored, or the write completes an erasure (`erase`: its id), the user's
# privacy marker has its say first: while an erasure is on its way through the partition (a
# `pending` id other than this write's) nothing lands; a tombstone `fence` refuses an older
# write as a stored profile's fence would; a `suppressed` user gets no state at all. Those
# writes' pending triggers (written before the states) go too. An erase write without a state
# leaves only the tombstone, for ARGV[10] ms unless the user is suppressed.
#
# Identity: a profile merged into another (its `moved` marker set, its state handed over) gets no
# state again: the write is refused and reported, so that its owner forwards the events. A
# survivor's write that folds handed-over states in (meta's 8th item: [[profile, segments it was
# in, exit messages], ...]) removes the hand-overs, the absorbed profiles' memberships and writes
# their exits to the outbox, with the state.
# Returns {refused, suppressed, moved}: 1-based indexes of the keys not written (fence, erasure on
# its way), of the suppressed users' and of the moved profiles'.
FENCED_WRITE = """
local meta = cjson.decode(ARGV[1])
local blobs = ARGV[2]
local deltas = cjson.decode(ARGV[3])
local members, outbox, due = ARGV[4], ARGV[5], ARGV[6]
local privacy, pending, tdue, ttl = ARGV[7], ARGV[8], ARGV[9], ARGV[10]
local kinds = cjson.decode(ARGV[11])
local absorbing, moved_at = ARGV[12], ARGV[13]
local pos = 1
local skipped, suppressed, moved = {}, {}, {}

local function drop_triggers(user)
  local tq = pending .. '{' .. user .. '}'
  for _, slot in ipairs(redis.call('HKEYS', tq)) do
    redis.call('ZREM', tdue, slot .. '\\031' .. user)
  end
  for _, kind in ipairs(kinds) do redis.call('ZREM', tdue, kind .. '\\031' .. user) end
  redis.call('DEL', tq)
end

-- 'write', 'skip', 'suppressed' or 'erased' (landed: the tombstone and nothing else)
local function verdict(user, partition, offset, at, absent, erase, has_state)
  local mk = privacy .. '{' .. user .. '}'
  local r = redis.call('HMGET', mk, 'pending', 'suppressed', 'fence')
  local pend, sup, mfence = r[1], r[2], r[3]
  if pend and pend ~= erase then return 'skip' end
  if absent and mfence then
    local p, o = string.match(mfence, '^(.*):(%-?%d+)$')
    if p == partition and offset <= tonumber(o) then return 'skip' end
  end
  if pend then redis.call('HDEL', mk, 'pending') end
  if sup then
    redis.call('HSET', mk, 'fence', partition .. ':' .. at)
    return 'suppressed'
  end
  if erase ~= '' and not has_state then
    redis.call('HSET', mk, 'fence', partition .. ':' .. at)
    redis.call('PEXPIRE', mk, ttl)
    return 'erased'
  end
  if erase ~= '' then redis.call('DEL', mk) end  -- the new profile's own fence takes over
  if absent and redis.call('EXISTS', moved_at .. '{' .. user .. '}') == 1 then return 'moved' end
  return 'write'
end

for i, key in ipairs(KEYS) do
  local m = meta[i]
  local partition = m[1]
  local offset = tonumber(m[2])  -- sent as a string: Lua prints big integers with an exponent
  local blob = string.sub(blobs, pos, pos + m[3] - 1)
  pos = pos + m[3]
  local head = redis.call('GETRANGE', key, 0, 4095)
  local fence = -1
  local stop = string.find(head, ';', 1, true)
  if stop then
    for p, o in string.gmatch(string.sub(head, 1, stop - 1), '([^:,]+):(%-?%d+)') do
      if p == partition then fence = tonumber(o) end
    end
  end
  local user = string.match(key, '{(.*)}$')
  local say = 'write'
  if offset > fence or (m[4] == 1 and offset == fence) then
    if head == '' or m[7] ~= '' then
      say = verdict(user, partition, offset, m[2], head == '', m[7], m[3] > 0)
    end
  elseif offset < fence then
    say = 'skip'
  else
    say = 'landed'
  end
  if say == 'write' then
    redis.call('SET', key, blob)
    for _, gone in ipairs(m[8]) do
      redis.call('HDEL', absorbing .. '{' .. user .. '}', gone[1])
      for _, name in ipairs(gone[2]) do redis.call('SREM', members .. name, gone[1]) end
      for _, msg in ipairs(gone[3]) do
        redis.call('XADD', outbox .. m[6], '*', 'm', msg)
      end
    end
    if m[5] > 0 then
      local d = deltas[m[5]]
      local home = m[6]
      for _, name in ipairs(d[1]) do redis.call('SADD', members .. name, user) end
      for _, name in ipairs(d[2]) do redis.call('SREM', members .. name, user) end
      for _, msg in ipairs(d[3]) do
        redis.call('XADD', outbox .. home, '*', 'm', msg)
      end
      if d[4] == '0' then
        redis.call('ZREM', due .. home, user)
      else
        redis.call('ZADD', due .. home, d[4], user)
      end
    end
  elseif say == 'skip' then
    skipped[#skipped + 1] = i
    if head == '' then drop_triggers(user) end
  elseif say == 'suppressed' then
    suppressed[#suppressed + 1] = i
    drop_triggers(user)
  elseif say == 'moved' then
    moved[#moved + 1] = i
  end
end
return {skipped, suppressed, moved}
"""


@dataclass(frozen=True, slots=True)
class RulesDelta:
    """What a write changes besides the state: segment memberships, the ``profile.changes``
    messages to publish (JSON), and the next moment time alone may flip a rule (0: none)."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    messages: tuple[bytes, ...] = ()
    due: int = 0


@dataclass(frozen=True, slots=True)
class Write:
    user_id: str
    partition: int | str
    offset: int
    state: bytes  # profiles.codec.encode(state): fence header + MessagePack
    rules: RulesDelta | None = None
    exact: bool = False  # may land at an equal fence (a re-evaluation of the stored state)
    home: int | str | None = None  # the rules' partition (outbox, due index); None: partition
    erase: str = ""  # the id of the erasure this write completes (state b"": nothing after it)
    absorbed: tuple[Absorbed, ...] = ()  # handed-over states this write folds in (identity)


@dataclass(frozen=True, slots=True)
class Absorbed:
    """A merged profile whose handed-over state a survivor's write folds in: the segments it
    was in (it leaves them) and their exit messages for ``profile.changes``."""

    profile: str
    segments: tuple[str, ...] = ()
    messages: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class Refusals:
    """The users whose write did not land: refused by a fence (or an erasure on its way), and
    suppressed (no state may be stored for them: their events go to the DLQ)."""

    refused: list[str]
    suppressed: list[str]
    moved: list[str] = field(default_factory=list)  # merged into another profile: forward


class ProfileStore:
    """Reads and fenced writes of profile states."""

    def __init__(
        self, redis: Redis, namespace: str, chunk: int = 1000, tombstone_ms: int = DAY_MS
    ) -> None:
        self.redis = redis
        self.keys = Keys(namespace)
        self.chunk = chunk
        self._write = redis.register_script(FENCED_WRITE)  # NOSCRIPT: redis-py loads it again
        keys = self.keys
        self._prefixes = (
            keys.segment_members(""), keys.changes_outbox(""), keys.rules_due(""),
            keys.user_prefix(PRIVACY), keys.user_prefix(PENDING), keys.due, str(tombstone_ms),
            orjson.dumps(KINDS).decode(), keys.user_prefix(ABSORBING), keys.user_prefix(MOVED),
        )  # fmt: skip

    async def load_raw(self, user_ids: Sequence[str]) -> dict[str, bytes]:
        """The stored state blobs, undecoded (the caller decodes each and isolates failures)."""
        out: dict[str, bytes] = {}
        for start in range(0, len(user_ids), self.chunk):
            part = user_ids[start : start + self.chunk]
            blobs = await _mget(self.redis, [self.keys.profile(u) for u in part])
            out.update(
                (uid, blob)
                for uid, blob in zip(part, blobs, strict=True)
                if isinstance(blob, bytes) and blob
            )
        return out

    async def load_many(self, user_ids: Sequence[str]) -> dict[str, State]:
        """States of the users that have one (missing users are absent from the result)."""
        raw = await self.load_raw(user_ids)
        return {uid: decode(blob) for uid, blob in raw.items()}

    async def get(self, user_id: str) -> State | None:
        blob = await self.redis.get(self.keys.profile(user_id))
        return decode(blob) if isinstance(blob, bytes) and blob else None

    async def write(self, writes: Sequence[Write]) -> list[str]:
        """Write the states; return the user ids whose write did not land (a fence refused it:
        someone wrote newer; an erasure is on its way; the user is suppressed; the profile was
        merged into another)."""
        out = await self.write_all(writes)
        return out.refused + out.suppressed + out.moved

    async def write_all(self, writes: Sequence[Write]) -> Refusals:
        """Write the states; the users refused, and the suppressed ones apart."""
        refused: list[str] = []
        suppressed: list[str] = []
        moved: list[str] = []
        for start in range(0, len(writes), self.chunk):
            part = writes[start : start + self.chunk]
            deltas: list[tuple[list[str], list[str], list[str], str]] = []
            meta = []
            for w in part:
                delta = 0
                if w.rules is not None:
                    d = w.rules
                    deltas.append(
                        (
                            list(d.added),
                            list(d.removed),
                            [m.decode() for m in d.messages],
                            str(d.due),
                        )
                    )
                    delta = len(deltas)
                home = str(w.partition if w.home is None else w.home)
                gone = [
                    [a.profile, list(a.segments), [m.decode() for m in a.messages]]
                    for a in w.absorbed
                ]
                meta.append(
                    (
                        str(w.partition), str(w.offset), len(w.state), int(w.exact), delta,
                        home, w.erase, gone,
                    )
                )  # fmt: skip
            args: list[bytes | str] = [
                orjson.dumps(meta),
                b"".join(w.state for w in part),
                orjson.dumps(deltas) if deltas else b"[]",
                *self._prefixes,
            ]
            skipped, kept_out, gone = await self._write(
                [self.keys.profile(w.user_id) for w in part], args
            )
            refused.extend(part[int(i) - 1].user_id for i in skipped)
            suppressed.extend(part[int(i) - 1].user_id for i in kept_out)
            moved.extend(part[int(i) - 1].user_id for i in gone)
        return Refusals(refused, suppressed, moved)

    async def user_ids(self, count: int = 1000) -> list[str]:
        """Every user with a profile (SCAN: for tools and tests, not the hot path)."""
        pattern = self.keys.user_pattern(PROFILE)
        return [user_id_from_key(k.decode()) async for k in self.redis.scan_iter(pattern, count)]


async def _mget(redis: Redis, keys: list[str]) -> list[Any]:
    """MGET; on Redis Cluster, where one MGET may not span slots, one per slot, in parallel
    across the primaries (``mget_nonatomic``; docs/cluster.md)."""
    if isinstance(redis, RedisCluster):
        return list(await redis.mget_nonatomic(keys))
    return list(await redis.mget(keys))
