"""The scheduler's Lua scripts: each touches one user's keys (and the due index) atomically.

On Redis Cluster, where the due index and a user's keys are in different slots, APPLY and FINISH
are replaced by a user script (APPLY_USER, FINISH_USER) and scripts on the due index alone
(INDEX, SETTLE): streams/store/triggers_cluster.py orders them.

Times are epoch milliseconds, sent as decimal strings; a Lua number holds them exactly.
A pending trigger's record is JSON whose ``id`` names it (triggers/model.py); every script that
finishes a trigger checks that id first, so a trigger replaced or cancelled meanwhile is left
alone.
"""

from __future__ import annotations

from typing import Final

# Whether a schedule of ``id`` in ``slot`` comes too late: that id was sent, and is not the one
# pending (a lazy trigger has no record: it is pending in the due index alone).
WAS_SENT: Final = """local function was_sent(pending, sent, slot, id)
  if redis.call('HEXISTS', sent, id) == 0 then return false end
  local cur = redis.call('HGET', pending, slot)
  return not cur or cjson.decode(cur)['id'] ~= id
end
"""

# The rules' operations of one batch chunk, in one call. KEYS[1]: the due index; then per
# operation its user's pending hash and sent hash. ARGV[1]: JSON [[mode, slot, id, due, member,
# record length], ...]; ARGV[2]: the records, concatenated. Modes:
#   's' schedule: store the record in its slot and index it, unless this id was already sent
#       (and is not the one pending);
#   'l' lazy schedule: index only (the record is rebuilt when claimed: ~130 bytes per user
#       instead of ~550, for the win-back every eligible user has), dropping a stored copy;
#   'c' cancel: drop what the slot holds.
# Returns per operation: scheduled, updated, sent, cancelled or none.
APPLY: Final = (
    """
local ops = cjson.decode(ARGV[1])
local blobs = ARGV[2]
local pos = 1
local out = {}
"""
    + WAS_SENT
    + """for i, op in ipairs(ops) do
  local pending, sent = KEYS[2 * i], KEYS[2 * i + 1]
  local mode, slot, id, due, member = op[1], op[2], op[3], op[4], op[5]
  local record = string.sub(blobs, pos, pos + op[6] - 1)
  pos = pos + op[6]
  if mode == 'c' then
    local n = redis.call('HDEL', pending, slot)
    redis.call('ZREM', KEYS[1], member)
    if n == 1 then out[i] = 'cancelled' else out[i] = 'none' end
  elseif was_sent(pending, sent, slot, id) then
    out[i] = 'sent'
  elseif mode == 'l' then
    redis.call('HDEL', pending, slot)
    if redis.call('ZADD', KEYS[1], due, member) == 1 then out[i] = 'scheduled'
    else out[i] = 'updated' end
  else
    local existed = redis.call('HEXISTS', pending, slot)
    redis.call('HSET', pending, slot, record)
    redis.call('ZADD', KEYS[1], due, member)
    if existed == 1 then out[i] = 'updated' else out[i] = 'scheduled' end
  end
end
return out
"""
)

# KEYS: due index. ARGV: now, lease until, limit. Moves the due members' scores to the end of
# their lease (so no other scheduler takes them meanwhile) and returns [member, due, ...].
CLAIM: Final = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0,
                       tonumber(ARGV[3]))
for i = 1, #due, 2 do
  redis.call('ZADD', KEYS[1], 'XX', ARGV[2], due[i])
end
return due
"""

# The decision point's atomic half: caps and the minimum gap, counted from the user's sent
# records ("channel|kind|sent_ms"), checked and reserved in one step so that two schedulers
# never pass a cap together. KEYS: pending hash, sent hash, experiment hash. ARGV: slot, id,
# channel, now, local day start, local week start, day cap (-1: none), week cap (-1: none), min
# gap ms, forget sent records older than this, the record to store, dedupe ttl ms, the
# trigger's experiment ('' none: else its count of messages sent on the channel moves with it).
# Returns {'ok'}, {'resend'} (reserved before: a crash between reserve and ack), {'gone'},
# {'cap_day'}, {'cap_week'} or {'min_gap', last sent ms}.
RESERVE: Final = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur or cjson.decode(cur)['id'] ~= ARGV[2] then return {'gone'} end
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then return {'resend'} end
local now, day_start, week_start = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local cap_day, cap_week, gap = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local forget = tonumber(ARGV[10])
local day, week, last = 0, 0, 0
local all = redis.call('HGETALL', KEYS[2])
for i = 1, #all, 2 do
  local ch, ts = string.match(all[i + 1], '^([^|]*)|[^|]*|(%d+)')
  ts = tonumber(ts)
  if ts == nil or ts < forget then
    redis.call('HDEL', KEYS[2], all[i])
  elseif ch == ARGV[3] then
    if ts >= day_start then day = day + 1 end
    if ts >= week_start then week = week + 1 end
    if ts > last then last = ts end
  end
end
if cap_day >= 0 and day >= cap_day then return {'cap_day'} end
if cap_week >= 0 and week >= cap_week then return {'cap_week'} end
if gap > 0 and last > 0 and now - last < gap then return {'min_gap', last} end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[11])
redis.call('PEXPIRE', KEYS[2], ARGV[12])
if ARGV[13] and ARGV[13] ~= '' then
  redis.call('HINCRBY', KEYS[3], ARGV[13] .. '|sent:' .. ARGV[3], 1)
end
return {'ok'}
"""

# KEYS: pending hash, due index. ARGV: slot, id, due member, mode ('done' or 'defer'), new due,
# new record. 'done' removes the trigger (sent, suppressed, expired); 'defer' moves it.
# Returns 0 when the pending trigger is no longer this id (replaced or cancelled meanwhile).
FINISH: Final = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur or cjson.decode(cur)['id'] ~= ARGV[2] then return 0 end
if ARGV[4] == 'defer' then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[6])
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[3])
else
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[3])
end
return 1
"""

# --- Redis Cluster (streams/store/triggers_cluster.py) --------------------------------------
# The due index is one key of its own slot, a user's keys are in theirs: no script may touch
# both, so each of APPLY and FINISH becomes a user script (below) and due-index scripts.

# APPLY's user half. KEYS: one user's pending hash and sent hash. ARGV[1]: JSON [[mode, slot,
# id, record length], ...] of that user's operations in order; ARGV[2]: the records. Returns
# per operation what APPLY does, except 'lazy' for a lazy schedule that is not 'sent': whether
# it is 'scheduled' or 'updated' depends on the due index, which the caller holds.
APPLY_USER: Final = (
    """
local ops = cjson.decode(ARGV[1])
local blobs = ARGV[2]
local pending, sent = KEYS[1], KEYS[2]
local pos = 1
local out = {}
"""
    + WAS_SENT
    + """for i, op in ipairs(ops) do
  local mode, slot, id = op[1], op[2], op[3]
  local record = string.sub(blobs, pos, pos + op[4] - 1)
  pos = pos + op[4]
  if mode == 'c' then
    if redis.call('HDEL', pending, slot) == 1 then out[i] = 'cancelled' else out[i] = 'none' end
  elseif was_sent(pending, sent, slot, id) then
    out[i] = 'sent'
  elseif mode == 'l' then
    redis.call('HDEL', pending, slot)
    out[i] = 'lazy'
  elseif redis.call('HSET', pending, slot, record) == 1 then
    out[i] = 'scheduled'
  else
    out[i] = 'updated'
  end
end
return out
"""
)

# FINISH's user half. KEYS: pending hash. ARGV: slot, id, mode ('done' or 'defer'), new
# record. Returns {0} when the pending trigger is no longer this id, else {1, the due of the
# record it replaced or removed}: the caller then moves the due member (SETTLE) if its score is
# still the claim's lease end or that due (a re-schedule of the same id seen here).
FINISH_USER: Final = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return {0} end
local record = cjson.decode(cur)
if record['id'] ~= ARGV[2] then return {0} end
if ARGV[3] == 'defer' then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
else
  redis.call('HDEL', KEYS[1], ARGV[1])
end
return {1, record['d']}
"""

# Index first, before the user scripts store the records. KEYS: due index. ARGV[1]: JSON
# [[member, due], ...], each member once. Sets each score, returns each score it replaced
# (nil: the member was absent), from which the caller tells 'scheduled' from 'updated' for a
# lazy schedule, and puts back a member whose schedule turned out 'sent'.
INDEX: Final = """
local out = {}
for i, e in ipairs(cjson.decode(ARGV[1])) do
  out[i] = redis.call('ZSCORE', KEYS[1], e[1])
  redis.call('ZADD', KEYS[1], e[2], e[1])
end
return out
"""

# KEYS: due index. ARGV[1]: JSON [[member, score, [expected, ...]], ...]: sets the member's
# score ('' removes it), only where its score is still one of the expected ones (none: whatever
# it is), so that a schedule or claim made meanwhile by another process stands.
SETTLE: Final = """
local function holds(cur, expected)
  if #expected == 0 then return true end
  if not cur then return false end
  for _, score in ipairs(expected) do
    if tonumber(cur) == tonumber(score) then return true end
  end
  return false
end
for _, e in ipairs(cjson.decode(ARGV[1])) do
  local member, score = e[1], e[2]
  if holds(redis.call('ZSCORE', KEYS[1], member), e[3]) then
    if score == '' then
      redis.call('ZREM', KEYS[1], member)
    else
      redis.call('ZADD', KEYS[1], score, member)
    end
  end
end
return 0
"""
