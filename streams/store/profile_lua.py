"""The profile store's Lua script (streams/store/profiles.py): the fenced write of a chunk of
users' states with their rule deltas, on one Redis, or of one user on Redis Cluster with the
shared writes deferred (streams/store/follow_up.py)."""

from __future__ import annotations

from typing import Final

# KEYS[i]: a profile. ARGV[1]: JSON [[partition, offset, length, exact, delta, home, erase],
# ...] per key; ARGV[2]: the state blobs, concatenated; ARGV[3]: JSON list of rule deltas [added
# segments, removed segments, profile.changes messages, due moment] that meta's 1-based `delta`
# points to (0: none), whose outbox and due entries go to the `home` partition (the user's
# partition of the events topic; a replay's fence is not one); ARGV[4..6]: the key prefixes of
# segment member sets, outboxes and due indexes; ARGV[7..8]: those of the privacy markers and
# pending triggers, ARGV[9] the trigger due index, ARGV[10] the tombstone's lifetime in ms,
# ARGV[11] the trigger kinds as JSON (a lazy kind is due with no pending record) (streams/names.py,
# docs/privacy.md); ARGV[12..13]: the key prefixes of the identity hand-overs and moved markers
# (docs/identity.md); ARGV[14]: '' on one Redis, where the shared keys (member sets, outboxes,
# due indexes) are written here, atomically with the state; on Redis Cluster, where a call may
# not span slots, the key prefix of the users' follow-up lists: one profile per call, and its
# shared writes are kept in the user's list, atomically with the state, and returned with the
# list's older entries and the trigger due entries to drop (streams/store/follow_up.py). There
# KEYS also names the user's other keys the script touches (privacy marker, pending triggers,
# moved marker, hand-overs, follow-up list): during a slot migration a call whose keys are not
# all on one node is redirected or told to try again, never run on half of the user's keys.
# ARGV[15]: '' on one Redis; on Redis Cluster the user's shard suffix (':{n}', streams/names.py
# sharded()) that follows a member set's prefix and name: each segment's member set is 16 keys
# there, a user's membership in the one its id hashes to, so that a broad segment's set and its
# transitions spread over the primaries (a shard is a whole key: SADD/SREM stay idempotent). A
# hand-over's item (meta's 8th) then carries the absorbed profile's own suffix as its 4th.
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
# its way), of the suppressed users' and of the moved profiles'; deferred, also the user's
# follow-up list and the due entries to drop (JSON, '' for none).
FENCED_WRITE: Final = """
local meta = cjson.decode(ARGV[1])
local blobs = ARGV[2]
local deltas = cjson.decode(ARGV[3])
local members, outbox, due = ARGV[4], ARGV[5], ARGV[6]
local privacy, pending, tdue, ttl = ARGV[7], ARGV[8], ARGV[9], ARGV[10]
local kinds = cjson.decode(ARGV[11])
local absorbing, moved_at = ARGV[12], ARGV[13]
local follow = ARGV[14]
local shard = ARGV[15] or ''
local pos = 1
local skipped, suppressed, moved = {}, {}, {}
local lasting, passing = {}, {}
if follow ~= '' and #meta ~= 1 then return redis.error_reply('one profile per deferred call') end

-- a write to a key no user owns: here on one Redis; on a cluster, noted for the caller
local function shared(notes, ...)
  if follow == '' then redis.call(...) else notes[#notes + 1] = {...} end
end

local function drop_triggers(user)
  local tq = pending .. '{' .. user .. '}'
  for _, slot in ipairs(redis.call('HKEYS', tq)) do
    shared(passing, 'ZREM', tdue, slot .. '\\031' .. user)
  end
  for _, kind in ipairs(kinds) do shared(passing, 'ZREM', tdue, kind .. '\\031' .. user) end
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

for i = 1, #meta do
  local key = KEYS[i]
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
      local theirs = gone[4] or ''  -- the absorbed profile's shard: not the user's
      for _, name in ipairs(gone[2]) do
        shared(lasting, 'SREM', members .. name .. theirs, gone[1])
      end
      for _, msg in ipairs(gone[3]) do
        shared(lasting, 'XADD', outbox .. m[6], '*', 'm', msg)
      end
    end
    if m[5] > 0 then
      local d = deltas[m[5]]
      local home = m[6]
      for _, name in ipairs(d[1]) do shared(lasting, 'SADD', members .. name .. shard, user) end
      for _, name in ipairs(d[2]) do shared(lasting, 'SREM', members .. name .. shard, user) end
      for _, msg in ipairs(d[3]) do
        shared(lasting, 'XADD', outbox .. home, '*', 'm', msg)
      end
      if d[4] == '0' then
        shared(lasting, 'ZREM', due .. home, user)
      else
        shared(lasting, 'ZADD', due .. home, d[4], user)
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
if follow == '' then return {skipped, suppressed, moved} end
-- deferred (Redis Cluster): the shared writes this state implies are kept with it, atomically,
-- in the user's follow-up list until the caller has made them (a replay would not redo them)
local list = follow .. '{' .. string.match(KEYS[1], '{(.*)}$') .. '}'
if #lasting > 0 then redis.call('RPUSH', list, cjson.encode(lasting)) end
local notes = ''
if #passing > 0 then notes = cjson.encode(passing) end
return {skipped, suppressed, moved, redis.call('LRANGE', list, 0, -1), notes}
"""
